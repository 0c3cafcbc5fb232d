"""Entity pools: the population of one shard, made once from (seed, shard) with Faker.

Ids are ``<prefix>-<shard>-<n>`` so they are unique across shards and join across topics.
Each entity has an activity weight (lognormal), so some students search far more than others.

Entities have a lifecycle: a share starts inactive (``initial_active``); streams that
``activates`` a field make one active, streams that ``retires`` it take it out for good.
Ordinary draws see active entities only; the CDF over them is rebuilt only when the active set
changes, so sampling stays one ``searchsorted`` per field per tick.
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
        self._activity: npt.NDArray[np.float64] = activity
        life = np.random.default_rng([seed, shard, stable_hash("pool-life", kind)])
        self.initially_active = np.ones(self.size, dtype=np.bool_)
        n_inactive = min(self.size - 1, round(self.size * (1.0 - spec.initial_active)))
        self.initially_active[life.choice(self.size, n_inactive, replace=False)] = False
        self.active = self.initially_active.copy()
        self.reserved = np.zeros(self.size, dtype=np.bool_)  # picked while inactive
        self.retired = np.zeros(self.size, dtype=np.bool_)
        # the latest due time of a pending follow-up that carries the entity
        self.busy_until = np.full(self.size, np.iinfo(np.int64).min, dtype=np.int64)
        self._active_idx: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._cdf: npt.NDArray[np.float64] = np.empty(0)
        self._dirty = True
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

    def _refresh(self) -> None:
        self._active_idx = np.flatnonzero(self.active).astype(np.int64)
        if len(self._active_idx) == 0:  # nobody left: draw from everyone rather than fail
            self._active_idx = np.arange(self.size, dtype=np.int64)
        cdf = np.cumsum(self._activity[self._active_idx])
        self._cdf = cdf / cdf[-1]
        self._dirty = False

    def sample(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.int64]:
        """``n`` active entity indices, weighted by activity."""
        if self._dirty:
            self._refresh()
        pos = np.searchsorted(self._cdf, rng.random(n), side="right")
        return self._active_idx[np.minimum(pos, len(self._active_idx) - 1)]

    def candidates(self, pick: str, t0: int) -> npt.NDArray[np.int64]:
        """Indices a ``pick: inactive | idle`` draw may take at a tick starting at ``t0``."""
        if pick == "inactive":
            mask = ~self.active & ~self.reserved & ~self.retired
        else:
            mask = self.active & (self.busy_until < t0)
        return np.flatnonzero(mask).astype(np.int64)

    def take(self, rng: np.random.Generator, pick: str, t0: int, n: int) -> npt.NDArray[np.int64]:
        """``n`` distinct candidates of a ``pick`` (the caller caps ``n``); inactive ones are
        reserved so no later draw picks them again."""
        cand = self.candidates(pick, t0)
        chosen = rng.choice(cand, size=min(n, len(cand)), replace=False).astype(np.int64)
        if pick == "inactive":
            self.reserved[chosen] = True
        return chosen

    def activate(self, idx: npt.NDArray[np.int64]) -> None:
        """Make entities active (from the next draw on)."""
        idx = idx[idx >= 0]
        if len(idx):
            self.active[idx] = True
            self.retired[idx] = False
            self._dirty = True

    def retire(self, idx: npt.NDArray[np.int64]) -> None:
        """Take entities out of every later draw."""
        idx = idx[idx >= 0]
        if len(idx):
            self.active[idx] = False
            self.retired[idx] = True
            self._dirty = True

    def mark_busy(self, idx: npt.NDArray[np.int64], due: npt.NDArray[np.int64]) -> None:
        """Note that follow-ups due at ``due`` carry these entities."""
        ok = idx >= 0
        np.maximum.at(self.busy_until, idx[ok], due[ok])
