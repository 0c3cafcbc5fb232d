"""What a worker tells the fleet: each shard's counts on ``sim.counts``, its heartbeat on
``sim.fleet``, and the control versions it reads (each told at once, counted late when a
shard had already generated past its instant).

With each heartbeat a worker reports, per shard, what it produced per topic and sim minute
since the last report (``ShardCounts``): the live metrics are summed from these.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

import numpy as np
import structlog

from simfleet.columns import Batch
from simfleet.control import (
    COUNTS_GRAIN_MS,
    COUNTS_TOPIC,
    FLEET_TOPIC,
    ControlState,
    Heartbeat,
    ShardCounts,
    StreamCounters,
)
from simfleet.kafka import AccountedProducer

if TYPE_CHECKING:
    from simfleet.producers.custody import Custody

__all__ = ["Reports", "ShardTally", "Versions", "late_by"]

log = structlog.get_logger()


def late_by(version: ControlState, cursors: Iterable[int]) -> int:
    """How far (sim ms) the furthest of ``cursors`` had generated past ``version``'s
    effective_at when the version was read; 0 when none had (it arrived in time)."""
    return max(0, max(cursors, default=version.effective_at) - version.effective_at)


class ShardTally:
    """What one shard produced since its last report: records per topic per sim minute."""

    def __init__(self, since: int) -> None:
        self.since = since
        self.counts: dict[str, dict[int, int]] = {}
        # ticks before this instant were counted by the shard's last owner (a resumed shard
        # regenerates them): not counted again
        self.floor = since

    def add(self, batch: Batch, t0: int) -> None:
        """Count a batch of the tick starting at ``t0`` (one bincount: no sort, no loop); ground
        truth is labels, not a stream: live metrics leave it out."""
        if batch.n == 0 or batch.is_truth or t0 < self.floor:
            return
        base = t0 - t0 % COUNTS_GRAIN_MS
        idx = (batch.occurred_at - base) // COUNTS_GRAIN_MS
        if int(idx.min()) < 0:  # not expected (events fall in their tick), but never miscount
            base = int(batch.occurred_at.min()) // COUNTS_GRAIN_MS * COUNTS_GRAIN_MS
            idx = (batch.occurred_at - base) // COUNTS_GRAIN_MS
        per = np.bincount(idx)
        minutes = np.flatnonzero(per)
        c = self.counts.setdefault(batch.topic, {})
        starts = (base + minutes * COUNTS_GRAIN_MS).tolist()
        for m, k in zip(starts, per[minutes].tolist(), strict=True):
            c[m] = c.get(m, 0) + k

    def report(self, shard: int, worker_id: str, until: int) -> ShardCounts:
        """The counts of ``[since, until)``; the next report starts at ``until``."""
        out = ShardCounts(
            shard=shard,
            worker_id=worker_id,
            since=max(self.since, min(self.floor, until)),
            until=until,
            counts=self.counts,
        )
        self.since, self.counts = until, {}
        return out


class Versions(Protocol):
    """What a worker reads of ``ControlFollower``: the versions that have arrived."""

    versions: list[ControlState]

    def poll(self, timeout: float = 0.0) -> bool:
        """Read what has arrived."""
        ...

    @property
    def latest(self) -> ControlState:
        """The newest version."""
        ...


class Reports:
    """A worker's reports: counts per shard, heartbeats, and the control versions it read."""

    def __init__(self, worker_id: str, read_wall: Callable[[], int], heartbeat_s: float) -> None:
        self.worker_id = worker_id
        self.read_wall = read_wall
        self.beat_ms = heartbeat_s * 1000
        self.last_heartbeat: Heartbeat | None = None
        self.counted_until: dict[int, int] = {}
        # the newest control version read, the wall instant it was first read, and how many
        # versions came after a shard had already generated past their effective_at
        self.seen_version = 0
        self.seen_wall: int | None = None
        self.control_late = 0
        self.started_wall = 0
        self.last_beat = 0

    def counts(
        self, producer: AccountedProducer, shard: int, tally: ShardTally, cursor: int
    ) -> None:
        """A shard's counts up to its cursor, on ``sim.counts``."""
        counts = tally.report(shard, self.worker_id, cursor)
        self.counted_until[shard] = cursor
        producer.send_raw(COUNTS_TOPIC, counts.model_dump_json().encode(), str(shard).encode())

    def heartbeat(
        self,
        producer: AccountedProducer,
        state: ControlState,
        sim: int,
        held: Custody,
        stopping: bool = False,
    ) -> None:
        """Every held shard's counts, then this worker's heartbeat on ``sim.fleet``."""
        for shard, st in held.shards.items():
            self.counts(producer, shard, st.tally, st.cursor)
        cursors = [st.cursor for st in held.shards.values()]
        clock = state.clock.clock()
        behind = clock.sim_at(self.read_wall()) - min(cursors, default=sim)
        hb = Heartbeat(
            worker_id=self.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            wall_ms=self.read_wall(),
            sim_ms=sim,
            shards=tuple(sorted(held.shards)),
            control_version=state.version,
            topics={
                t: StreamCounters(produced=c.produced, delivered=c.delivered, failed=c.failed)
                for t, c in producer.counters.items()
            },
            dropped_followups=sum(
                e.dropped_followups for st in held.shards.values() for e in st.engines
            ),
            chaos=held.chaos_counts(),
            stopping=stopping,
            queued=producer.in_flight,
            tick_lag_ms=max(0, round(behind / clock.speed)),
            reached_ms=min(cursors, default=None),
            control_seen_wall_ms=self.seen_wall,
            control_late=self.control_late,
            # shards given up too: their next owner counts from there
            counted_until=dict(self.counted_until),
            resumed_skipped=held.resumed_skipped + sum(d.skipped for d in held.dedupe.values()),
            checkpoint_wall_ms=held.checkpoint_wall_ms,
        )
        self.last_heartbeat = hb  # what --metrics-port serves, read at scrape time
        producer.send_raw(FLEET_TOPIC, hb.model_dump_json().encode(), self.worker_id.encode())

    def beat(
        self, producer: AccountedProducer, state: ControlState, sim: int, held: Custody, wall: int
    ) -> None:
        """A heartbeat now."""
        self.last_beat = wall
        self.heartbeat(producer, state, sim, held)

    def beat_if_due(
        self, producer: AccountedProducer, state: ControlState, sim: int, held: Custody, wall: int
    ) -> None:
        """A heartbeat when the last is ``heartbeat_s`` old."""
        if wall - self.last_beat >= self.beat_ms:
            self.beat(producer, state, sim, held, wall)

    def follow(
        self, follower: Versions, producer: AccountedProducer, sim: int, held: Custody
    ) -> ControlState:
        """Read what ``sim.control`` brought; a new version is stamped with the wall instant
        it was read, checked against the shards' cursors and told on ``sim.fleet`` at once."""
        follower.poll(0)
        state = follower.latest
        if state.version <= self.seen_version:
            return state
        wall = self.read_wall()
        cursors = [st.cursor for st in held.shards.values()]
        for version in follower.versions:
            # a version issued before this worker started is history it reads on joining
            if version.version <= self.seen_version or version.issued_at_wall < self.started_wall:
                continue
            lag = late_by(version, cursors)
            if lag:
                # its effective_at is behind a cursor: those records followed the old version
                self.control_late += 1
                log.warning(
                    "control_late",
                    worker=self.worker_id,
                    version=version.version,
                    lag_sim_ms=lag,
                    lag_wall_ms=round(lag / version.clock.speed),
                    read_after_wall_ms=wall - version.issued_at_wall,
                )
        self.seen_version, self.seen_wall = state.version, wall
        self.beat(producer, state, sim, held, wall)
        return state
