"""Shard checkpoints: an engine restored from its checkpoint continues byte for byte like the
engine that never stopped (random streams, id counters, pending follow-ups, aggregates,
lifecycle, relations and stocks all travel), and a checkpoint copies no fixed table."""

from __future__ import annotations

import pickle

import pytest

from simfleet.codec import encoders_for
from simfleet.domain.pack import Project
from simfleet.producers.chaos import Chaos
from simfleet.producers.checkpoint import CheckpointCodec, ShardState
from simfleet.producers.engine import ShardEngine
from simfleet.producers.ticking import modifiers_at
from simfleet.timeutil import parse_instant_ms

H = 3_600_000
START = parse_instant_ms("2026-03-02T00:00:00Z")
CUT = START + 30 * H  # a day and more in: follow-ups, aggregates and retirements are pending
END = CUT + 12 * H


def _engines(project: Project, shard: int) -> list[ShardEngine]:
    return [
        ShardEngine(project.spec(d), shard, 4, 7, 0.3, schemas=project.schemas())
        for d in project.domains()
    ]


def _run(project: Project, engines: list[ShardEngine], t0: int, t1: int) -> list[bytes]:
    """Every record of ``[t0, t1)`` in hourly ticks, encoded, in order."""
    encoders = encoders_for(project.schemas(), None)
    out: list[bytes] = []
    for t in range(t0, t1, H):
        for eng in engines:
            params = project.graph(eng.domain.domain).evaluate(t, modifiers_at(()))
            for b in eng.tick(t, t + H, params):
                buf, offsets = encoders[b.topic].encode(b.columns, b.n)
                out += [b.topic.encode() + buf[offsets[i] : offsets[i + 1]] for i in range(b.n)]
    return out


@pytest.fixture(scope="module")
def project() -> Project:
    """The repository's packs."""
    return Project()


def test_a_restored_shard_continues_exactly_like_the_one_that_never_stopped(
    project: Project,
) -> None:
    """Checkpoint after 30 sim hours; the restored engines (on fresh reference engines) and
    the originals then produce the same 12 hours, record for record."""
    specs = {d: project.spec(d) for d in project.domains()}
    encoders = encoders_for(project.schemas(), None)
    codec = CheckpointCodec(specs, encoders)
    original = _engines(project, 1)
    _run(project, original, START, CUT)
    assert sum(e.pending for e in original) > 0  # follow-ups are waiting at the cut
    chaos = {d: Chaos(7, 1, d, encoders) for d in specs}
    blob = codec.dump(ShardState(1, CUT, original, chaos, None, 3))
    restored = codec.load(blob, _engines(project, 1))
    assert (restored.shard, restored.cursor, restored.seq) == (1, CUT, 3)
    assert [e.pending for e in restored.engines] == [e.pending for e in original]
    after = _run(project, original, CUT, END)
    assert len(after) > 1000
    assert _run(project, restored.engines, CUT, END) == after


def test_a_checkpoint_refers_to_the_pools_tables_instead_of_copying_them(
    project: Project,
) -> None:
    """The id and attribute tables are rebuilt from the seed, not carried: a checkpoint is a
    fraction of the engine's full pickle."""
    specs = {d: project.spec(d) for d in project.domains()}
    encoders = encoders_for(project.schemas(), None)
    engines = _engines(project, 2)
    _run(project, engines, START, START + 6 * H)
    blob = CheckpointCodec(specs, encoders).dump(ShardState(2, START, engines, {}, None, 0))
    full = pickle.dumps(engines, protocol=5)
    assert len(blob) < 0.5 * len(full)


def test_the_last_checkpoint_is_joined_from_its_parts_and_an_unfinished_one_is_not_read() -> None:
    """A checkpoint larger than a record travels in parts (headers seq, part, parts): the
    reader joins the last seq's parts, and asks to read further back when some are missing."""
    from simfleet.producers.handoff import checkpoint_of

    def rec(seq: int, part: int, parts: int, value: bytes) -> tuple[bytes, dict[str, bytes]]:
        heads = {"seq": str(seq).encode(), "part": str(part).encode()}
        return value, heads | {"parts": str(parts).encode()}

    tail = [rec(4, 0, 1, b"old"), rec(5, 0, 3, b"a"), rec(5, 1, 3, b"b"), rec(5, 2, 3, b"c")]
    joined = checkpoint_of(tail)
    assert joined is not None and joined[0] == b"abc" and joined[1]["seq"] == b"5"
    assert checkpoint_of(tail[2:]) is None  # the first part lies further back
    assert checkpoint_of([]) is None
