"""How a worker takes in control versions: the instant it read each, told at once on
``sim.fleet``, and the versions that came after a shard had generated past their instant."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simfleet.control import ControlState
from simfleet.domain.pack import Project
from simfleet.kafka import AccountedProducer
from simfleet.orchestrator.transitions import LEAD_WALL_MS, initial_state
from simfleet.producers.checkpoint import ShardState
from simfleet.producers.reports import ShardTally
from simfleet.producers.worker import Worker, late_by
from simfleet.settings import KafkaSettings

WALL0 = 1_800_000_000_000
SIM0 = 1_772_409_600_000  # 2026-03-02T00:00Z
SPEED = 3600.0
NOBODY = KafkaSettings(bootstrap_servers="127.0.0.1:1")  # records are queued, never sent


class _Versions:
    """What a worker reads of ``ControlFollower``: the versions that have arrived."""

    def __init__(self, first: ControlState) -> None:
        self.versions = [first]

    def poll(self, timeout: float = 0.0) -> bool:
        return False

    @property
    def latest(self) -> ControlState:
        return self.versions[-1]


def _version(prev: ControlState, issued_wall: int) -> ControlState:
    """The next version, published at ``issued_wall`` to apply a lead later."""
    effective = prev.clock.clock().sim_at(issued_wall + LEAD_WALL_MS)
    return prev.model_copy(
        update={
            "version": prev.version + 1,
            "effective_at": effective,
            "issued_at_wall": issued_wall,
        }
    )


def _hold(worker: Worker, cursors: dict[int, int]) -> None:
    """The worker holds these shards at these cursors (no engines: nothing is ticked)."""
    worker.custody.shards = {
        s: ShardState(s, c, [], {}, ShardTally(c), 0) for s, c in cursors.items()
    }


@pytest.fixture
def producer() -> Iterator[AccountedProducer]:
    p = AccountedProducer(NOBODY)
    yield p
    p.abandon()


def test_late_by_is_how_far_the_furthest_cursor_passed_the_instant() -> None:
    """0 when every cursor is at or before effective_at, else the furthest one's lead."""
    v = initial_state(WALL0, SIM0, SPEED, 7, 1.0, 4, ("marketplace",), Project())
    assert late_by(v, [SIM0 - 5, SIM0]) == 0
    assert late_by(v, []) == 0
    assert late_by(v, [SIM0 - 5, SIM0 + 700, SIM0 + 200]) == 700


def test_a_new_version_is_stamped_beaten_at_once_and_counted_when_late(
    producer: AccountedProducer,
) -> None:
    """v2 read after a shard passed its instant: counted late; v3 read in time: not; each
    read is told by a heartbeat carrying the version, the wall instant and the late count."""
    wall = [WALL0]
    v1 = initial_state(WALL0, SIM0, SPEED, 7, 1.0, 4, ("marketplace",), Project())
    worker = Worker(NOBODY, Project(), worker_id="w", read_wall=lambda: wall[0])
    worker.reports.started_wall, worker.reports.seen_version = WALL0, 1
    follower = _Versions(v1)
    clock = v1.clock.clock()
    # shard 0 has generated 4 wall seconds' worth; v2 (published at +1 s) applies at +2.5 s
    _hold(worker, {0: clock.sim_at(WALL0 + 4000), 1: clock.sim_at(WALL0 + 2000)})
    v2 = _version(v1, WALL0 + 1000)
    follower.versions.append(v2)
    wall[0] = WALL0 + 4100
    sim = clock.sim_at(wall[0])

    assert worker._follow(follower, producer, sim).version == 2  # type: ignore[arg-type]
    hb = worker.last_heartbeat
    assert hb is not None
    assert (hb.control_version, hb.control_seen_wall_ms, hb.control_late) == (2, WALL0 + 4100, 1)

    # nothing new: no heartbeat
    wall[0] += 100
    worker._follow(follower, producer, sim)  # type: ignore[arg-type]
    assert worker.last_heartbeat is hb

    v3 = _version(v2, WALL0 + 4000)  # applies at +5.5 s: ahead of every cursor
    follower.versions.append(v3)
    wall[0] = WALL0 + 4300
    worker._follow(follower, producer, sim)  # type: ignore[arg-type]
    hb = worker.last_heartbeat
    assert hb is not None
    assert (hb.control_version, hb.control_seen_wall_ms, hb.control_late) == (3, WALL0 + 4300, 1)


def test_history_read_on_joining_is_not_late(producer: AccountedProducer) -> None:
    """A version published before the worker started is history, whatever its instant."""
    v1 = initial_state(WALL0, SIM0, SPEED, 7, 1.0, 4, ("marketplace",), Project())
    v2 = _version(v1, WALL0 + 1000)
    worker = Worker(NOBODY, Project(), worker_id="w", read_wall=lambda: WALL0 + 60_000)
    worker.reports.started_wall, worker.reports.seen_version = WALL0 + 50_000, 1
    cursor = v1.clock.clock().sim_at(WALL0 + 55_000)
    _hold(worker, {0: cursor})
    follower = _Versions(v1)
    follower.versions.append(v2)
    worker._follow(follower, producer, cursor)  # type: ignore[arg-type]
    assert (worker.reports.seen_version, worker.reports.control_late) == (2, 0)


def test_abandon_counts_every_written_off_record_failed() -> None:
    """Records queued for a cluster that is gone: after ``abandon`` each is failed, none is
    left uncounted (produced = delivered + failed), and nothing more is produced."""
    p = AccountedProducer(NOBODY)
    buf, offsets = b"abcdef" * 50, list(range(0, 301, 3))
    p.send_encoded("t", buf, offsets, [None] * 100, [SIM0] * 100)
    p.abandon()
    assert p.totals() == (100, 0, 100)
    p.send_encoded("t", buf, offsets, [None] * 100, [SIM0] * 100)
    assert p.totals() == (100, 0, 100)
