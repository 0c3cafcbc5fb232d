"""Shard engines pickle (workers checkpoint them, with the string tables passed as references,
since engines key their pools by the identity of the pools' id tables): an engine of every
domain, pickled after a few ticks, goes on to produce exactly what the original produces."""

from __future__ import annotations

import hashlib
import io
import pickle

import pytest

from simfleet.codec import encoders_for
from simfleet.columns import StrTable
from simfleet.domain.pack import Project
from simfleet.domain.params import ParamGraph
from simfleet.producers.engine import ShardEngine
from simfleet.producers.ticking import modifiers_at
from simfleet.timeutil import parse_instant_ms

H = 3_600_000
PROJECT = Project()


class _Pickler(pickle.Pickler):
    """Tables by reference, as a checkpoint within one process passes them."""

    def __init__(self, file: io.BytesIO, tables: dict[int, StrTable]) -> None:
        super().__init__(file)
        self.tables = tables

    def persistent_id(self, obj: object) -> int | None:
        if isinstance(obj, StrTable):
            self.tables[id(obj)] = obj
            return id(obj)
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, tables: dict[int, StrTable]) -> None:
        super().__init__(file)
        self.tables = tables

    def persistent_load(self, pid: object) -> StrTable:
        assert isinstance(pid, int)
        return self.tables[pid]


def round_trip(eng: ShardEngine) -> ShardEngine:
    """The engine through pickle, its tables by reference."""
    buf = io.BytesIO()
    tables: dict[int, StrTable] = {}
    _Pickler(buf, tables).dump(eng)
    buf.seek(0)
    copy = _Unpickler(buf, tables).load()
    assert isinstance(copy, ShardEngine)
    return copy


def _ticks(eng: ShardEngine, graph: ParamGraph, t: int, hours: int) -> str:
    """Digest of ``hours`` ticks of an engine's encoded batches and keys."""
    encoders = encoders_for(PROJECT.schemas(), None)
    h = hashlib.sha256()
    for k in range(hours):
        t0 = t + k * H
        for b in eng.tick(t0, t0 + H, graph.evaluate(t0, modifiers_at(())), []):
            if b.n:
                buf, _ = encoders[b.topic].encode(b.columns, b.n)
                keys = b.keys()
                h.update(buf + b"".join(k or b"\xff" for k in keys))
    return h.hexdigest()


@pytest.mark.parametrize("domain", PROJECT.domains())
def test_a_pickled_engine_goes_on_as_the_original(domain: str) -> None:
    """Pickle after 3 ticks; the next 3 ticks of the copy and of the original are identical."""
    spec = PROJECT.spec(domain)
    graph = ParamGraph.from_domain(spec)
    t = parse_instant_ms("2026-03-03T08:00:00Z")
    eng = ShardEngine(spec, 1, 2, 5, 0.2, schemas=PROJECT.schemas())
    _ticks(eng, graph, t, 3)
    copy = round_trip(eng)
    kind = next(iter(eng.pools))
    assert copy.pools[kind] is not eng.pools[kind]  # a copy, sharing only the tables
    assert copy.pools[kind].ids is eng.pools[kind].ids
    assert copy.pools.keys() == eng.pools.keys()
    assert _ticks(copy, graph, t + 3 * H, 3) == _ticks(eng, graph, t + 3 * H, 3)
