"""Shard checkpoints: everything that makes a shard's next tick, as bytes.

A checkpoint holds the shard's cursor (the sim instant it reached), its engines (random
streams, id counters, pending follow-ups, partial aggregates, relations, lifecycle, stocks,
campaigns), the records chaos holds back, and the tally of counts not yet reported. It is a
zlib-compressed pickle in which what never changes after construction is a reference, not a
copy: the domain spec's models (the worker loads the same pack) and each pool's id and
attribute tables (a fresh engine of the same shard rebuilds them from the seed). So a
checkpoint stays small, and loading needs a *reference* engine of the same shard: a fresh
one, or the live one when a worker rolls back to its last committed state.

Objects are keyed by ``id()`` in a few caches of the engine (tables to pools, weight tables,
stock levels, chaos matches); ``ShardEngine.rebind`` and ``Chaos.rebind`` rebuild them after a
load. ``tests/unit/test_checkpoint.py`` pins that a restored engine continues byte for byte
like the one that never stopped.
"""

from __future__ import annotations

import io
import pickle
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from simfleet.codec import TopicEncoder
from simfleet.domain.spec import DomainSpec
from simfleet.errors import DomainError
from simfleet.producers.chaos import Chaos
from simfleet.producers.engine import ShardEngine

__all__ = ["CheckpointCodec", "ShardState"]

_FORMAT = 1
_PLAIN = frozenset({int, float, str, bytes, bool, type(None)})


@dataclass
class ShardState:
    """What a shard needs for its next tick, and where its later records may lie."""

    shard: int
    cursor: int
    engines: list[ShardEngine]
    chaos: dict[str, Chaos]
    tally: Any  # the worker's ShardTally (counts since the shard's last report)
    seq: int  # checkpoints of this shard in this run: a parked copy is current if equal
    run: str = ""  # the fleet run (``ControlState.run``) it belongs to
    # per data partition, an offset at or before the first record generated after ``cursor``
    # (the partition's listed end when the checkpoint was taken); a partition not listed is
    # read from its start
    scan_from: dict[tuple[str, int], int] = field(default_factory=dict)
    # its worker gave the shard up cleanly: nothing after ``cursor`` was produced
    released: bool = False


def _models(obj: object, path: tuple[object, ...]) -> Iterator[tuple[tuple[object, ...], object]]:
    """Every pydantic model inside a spec (and each container holding them), with its path."""
    if isinstance(obj, BaseModel):
        yield path, obj
        for name in type(obj).model_fields:
            yield from _models(getattr(obj, name), (*path, name))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _models(v, (*path, k))
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            yield from _models(v, (*path, i))


class _Compressing:
    """A write-only file that deflates what is written to it (level 1: a third of the size for
    about a millisecond; numpy state compresses well)."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(1)
        self._parts: list[bytes] = []

    def write(self, data: Any) -> int:
        view = memoryview(data)  # bytes, or a pickle.PickleBuffer of a large array
        self._parts.append(self._z.compress(view))
        return view.nbytes

    def finish(self) -> bytes:
        """The compressed stream (``zlib.decompress`` reads it)."""
        self._parts.append(self._z.flush())
        return b"".join(self._parts)


class _Pickler(pickle.Pickler):
    def __init__(
        self, out: _Compressing, fixed: dict[int, tuple[tuple[object, ...], object]]
    ) -> None:
        super().__init__(out, protocol=5)
        self._fixed = fixed

    def persistent_id(self, obj: Any) -> tuple[object, ...] | None:
        hit = self._fixed.get(id(obj))
        return None if hit is None else hit[0]


class _Unpickler(pickle.Unpickler):
    def __init__(self, buf: io.BytesIO, objects: dict[tuple[object, ...], object]) -> None:
        super().__init__(buf)
        self._objects = objects

    def persistent_load(self, pid: Any) -> object:
        try:
            return self._objects[tuple(pid)]
        except KeyError:
            raise DomainError(
                f"A shard checkpoint refers to {pid}, which this worker's packs do not have: "
                "the fleet's domains changed under a running cluster. Start over with "
                "`simctl up --reset`."
            ) from None


class CheckpointCodec:
    """Dumps and loads the shard states of one worker (its packs and encoders)."""

    def __init__(
        self, specs: Mapping[str, DomainSpec], encoders: Mapping[str, TopicEncoder]
    ) -> None:
        self.encoders = encoders
        # the spec's models are walked once: a checkpoint is dumped at every commit
        self._spec_fixed: dict[int, tuple[tuple[object, ...], object]] = {
            id(encoders): (("encoders",), encoders)
        }
        for d, spec in specs.items():
            for path, model in _models(spec, ("spec", d)):
                self._spec_fixed.setdefault(id(model), (path, model))

    def _fixed(self, engines: list[ShardEngine]) -> dict[int, tuple[tuple[object, ...], object]]:
        """id -> (token, object) of every object a checkpoint refers to instead of copying."""
        out = dict(self._spec_fixed)
        for eng in engines:
            d = eng.domain.domain
            for kind, pool in eng.pools.items():
                out[id(pool.ids)] = (("ids", d, kind), pool.ids)
                out[id(pool._activity)] = (("activity", d, kind), pool._activity)
                for name, (table, idx) in pool.attributes.items():
                    out[id(table)] = (("attr", d, kind, name), table)
                    out[id(idx)] = (("attr_idx", d, kind, name), idx)
        return out

    def dump(self, state: ShardState) -> bytes:
        """The shard's state as bytes (a pickle whose fixed parts are references), compressed
        as it is pickled: the whole pickle is never held (a worker's memory peaks here)."""
        out = _Compressing()
        _Pickler(out, self._fixed(state.engines)).dump((_FORMAT, state))
        return out.finish()

    def load(self, blob: bytes, reference: list[ShardEngine]) -> ShardState:
        """A shard's state from ``dump``'s bytes; ``reference``: engines of the same shard
        whose fixed parts (pool tables) the loaded state shares."""
        resolved = {tok: obj for tok, obj in self._fixed(reference).values()}
        fmt, state = _Unpickler(io.BytesIO(zlib.decompress(blob)), resolved).load()
        if fmt != _FORMAT or not isinstance(state, ShardState):
            raise DomainError(
                f"A shard checkpoint has format {fmt}, this worker reads {_FORMAT}: a worker "
                "of another simfleet version wrote it. Run one version per fleet, or `--reset`."
            )
        for eng in state.engines:
            eng.rebind()
        for ch in state.chaos.values():
            ch.rebind()
        return state
