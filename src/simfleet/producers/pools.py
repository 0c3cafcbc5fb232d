"""Entity pools: the population of one shard, made once from (seed, shard) with Faker.

Ids are ``<prefix>-<shard>-<n>`` so they are unique across shards and join across topics.
Each entity has an activity weight (lognormal), so some students search far more than others.
"""

from __future__ import annotations

import zlib

import numpy as np
import numpy.typing as npt
from faker import Faker

from simfleet.core.columns import StrTable
from simfleet.producers.spec import EntitySpec, FieldSpec

__all__ = ["EntityPool", "stable_hash"]

FAKER_VOCABULARY = 1024


def stable_hash(*parts: object) -> int:
    """A process-independent hash (Python's hash() is salted per process)."""
    return zlib.crc32("\x1f".join(map(str, parts)).encode())


class EntityPool:
    """The entities of one kind in one shard."""

    def __init__(
        self, kind: str, spec: EntitySpec, shard: int, shards: int, seed: int, scale: float
    ) -> None:
        self.kind = kind
        self.size = max(1, round(spec.count * scale / shards))
        self.ids = StrTable(tuple(f"{spec.prefix}-{shard:03d}-{i:06d}" for i in range(self.size)))
        rng = np.random.default_rng([seed, shard, stable_hash("pool", kind)])
        activity = (
            rng.lognormal(0.0, spec.activity_sigma, self.size)
            if spec.activity_sigma
            else (np.ones(self.size))
        )
        cdf = np.cumsum(activity)
        self._cdf: npt.NDArray[np.float64] = cdf / cdf[-1]
        self.attributes: dict[str, tuple[StrTable, npt.NDArray[np.int64]]] = {}
        fake = Faker()
        fake.seed_instance(stable_hash(seed, shard, kind))
        for name, attr in spec.attributes.items():
            if isinstance(attr, FieldSpec):
                values = self._draw_choice(attr, rng)
                table = StrTable(tuple(dict.fromkeys(values)))
                idx = np.fromiter((table.lookup[v] for v in values), np.int64, count=self.size)
            else:
                # Faker is slow (tens of µs a call): draw a bounded vocabulary, then assign it
                provider = getattr(fake, attr["faker"])
                vocab = [str(provider()) for _ in range(min(self.size, FAKER_VOCABULARY))]
                table = StrTable(tuple(dict.fromkeys(vocab)))
                idx = rng.integers(0, len(table), self.size, dtype=np.int64)
            self.attributes[name] = (table, idx)

    def _draw_choice(self, attr: FieldSpec, rng: np.random.Generator) -> list[str]:
        if attr.choice is None:
            raise ValueError(f"entity attributes take `choice` or `faker`; {self.kind} has {attr}")
        p = None
        if attr.weights is not None:
            w = np.asarray(attr.weights, dtype=np.float64)
            p = w / w.sum()
        picks = rng.choice(len(attr.choice), size=self.size, p=p)
        return [str(attr.choice[i]) for i in picks]

    def sample(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.int64]:
        """``n`` entity indices, weighted by activity."""
        return np.searchsorted(self._cdf, rng.random(n), side="right").astype(np.int64)
