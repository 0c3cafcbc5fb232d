"""The producer worker: claims shards, follows the control state, paces the sim clock,
generates, encodes and produces, and reports itself on ``sim.fleet``.

Shards are claimed through one consumer group on ``sim.shards`` (one partition per shard):
Kafka does membership and rebalancing, cooperatively (a join or a death moves only the shards
that must move). A worker's follow-up queues live in memory: a shard revoked and given back to
the same worker (a broker pause, a rebalance) resumes from its cursor; a shard that moves to
another worker loses the follow-ups it had pending (requests whose outcome had not come yet)
and starts at the new owner's "now"; it never emits an outcome without its request.

With each heartbeat it also reports, per shard, what it produced per topic and sim minute since
the last report (``ShardCounts`` on ``sim.counts``): the live metrics are summed from these.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import structlog
from confluent_kafka import Consumer, TopicPartition

from producers.chaos import Chaos, Encoded, InForce
from producers.engine import ShardEngine
from producers.runtime import modifiers_at
from simfleet.clock import wall_ms
from simfleet.cluster import ClusterWatch
from simfleet.codec import TopicEncoder, encoders_for
from simfleet.columns import Batch
from simfleet.control import (
    COUNTS_GRAIN_MS,
    COUNTS_TOPIC,
    FLEET_TOPIC,
    SHARDS_TOPIC,
    ControlState,
    Heartbeat,
    ShardCounts,
    StreamCounters,
)
from simfleet.control_io import ControlFollower, reported_shards
from simfleet.domain.pack import Project
from simfleet.domain.params import ModifiersAt
from simfleet.domain.spec import DomainSpec
from simfleet.kafka import AccountedProducer
from simfleet.scenarios import CampaignWindow, campaigns_at, chaos_at
from simfleet.settings import KafkaSettings
from simfleet.topology import truth_topic

__all__ = ["ShardTally", "Worker", "late_by"]

log = structlog.get_logger()

MAX_TICK_MS = 3_600_000  # catch-up after a stall is done in ticks of at most one sim hour
PARK_TTL_MS = 300_000  # how long a revoked shard's engines wait to be given back


def late_by(version: ControlState, cursors: Iterable[int]) -> int:
    """How far (sim ms) the furthest of ``cursors`` had generated past ``version``'s
    effective_at when the version was read; 0 when none had (it arrived in time)."""
    return max(0, max(cursors, default=version.effective_at) - version.effective_at)


class ShardTally:
    """What one shard produced since its last report: records per topic per sim minute."""

    def __init__(self, since: int) -> None:
        self.since = since
        self.counts: dict[str, dict[int, int]] = {}

    def add(self, batch: Batch, t0: int) -> None:
        """Count a batch of the tick starting at ``t0`` (one bincount: no sort, no loop); ground
        truth is labels, not a stream: live metrics leave it out."""
        if batch.n == 0 or batch.is_truth:
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
            shard=shard, worker_id=worker_id, since=self.since, until=until, counts=self.counts
        )
        self.since, self.counts = until, {}
        return out


class Worker:
    """One worker process's loop."""

    def __init__(
        self,
        settings: KafkaSettings,
        project: Project,
        worker_id: str | None = None,
        tick_s: float = 0.25,
        heartbeat_s: float = 2.0,
        read_wall: Callable[[], int] = wall_ms,
        group_id: str = "simfleet-workers",
    ) -> None:
        self.settings = settings
        self.project = project
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.tick_s = tick_s
        self.heartbeat_s = heartbeat_s
        self.read_wall = read_wall
        self.group_id = group_id
        self.engines: dict[int, list[ShardEngine]] = {}
        self.cursor: dict[int, int] = {}
        self.tallies: dict[int, ShardTally] = {}
        # group membership changes in the order Kafka announced them
        self._membership: list[tuple[str, int]] = []
        # engines of revoked shards, kept a while: a shard that comes back (after a broker
        # pause, or a rebalance that gave it back) resumes from its cursor, with no hole and
        # no id drawn twice; shard -> (engines, cursor, wall ms parked)
        self._parked: dict[int, tuple[list[ShardEngine], int, int]] = {}
        self.chaos: dict[int, dict[str, Chaos]] = {}
        self.encoders: dict[str, TopicEncoder] = {}
        self._chaos_gone: dict[str, int] = {}  # counts of shards this worker no longer holds
        self.last_heartbeat: Heartbeat | None = None
        # the sim instant the fleet began (its first control version): a shard no worker has
        # held yet starts there, so that a slow group join loses no sim time at high speed
        self.origin: int | None = None
        # the newest control version read, the wall instant it was first read, and how many
        # versions came after a shard had already generated past their effective_at
        self.seen_version = 0
        self.seen_wall: int | None = None
        self.control_late = 0
        self._started_wall = 0
        self._last_beat = 0

    def _on_assign(self, _c: Consumer, parts: list[TopicPartition]) -> None:
        self._membership += [("assign", p.partition) for p in parts]

    def _on_revoke(self, _c: Consumer, parts: list[TopicPartition]) -> None:
        self._membership += [("revoke", p.partition) for p in parts]

    def _apply_membership(
        self,
        state: ControlState,
        domains: dict[str, DomainSpec],
        now: int,
        producer: AccountedProducer,
    ) -> None:
        wall = self.read_wall()
        before: set[int] | None = None  # shards held before, read when a fresh one comes
        for what, shard in self._membership:
            if what == "revoke":
                if shard in self.cursor:
                    self._report(producer, shard)
                    self._parked[shard] = (self.engines.pop(shard), self.cursor.pop(shard), wall)
                    self.tallies.pop(shard, None)
                # records chaos still holds back are produced now: a delay never loses a record
                for ch in self.chaos.pop(shard, {}).values():
                    _send(producer, ch.drain())
                    for action, n in ch.counts.items():
                        self._chaos_gone[action] = self._chaos_gone.get(action, 0) + n
                log.info("shard_revoked", worker=self.worker_id, shard=shard)
                continue
            if shard in self.engines or shard >= state.shards:
                continue
            parked = self._parked.pop(shard, None)
            if parked is not None:
                engines, cursor, _ = parked
                log.info("shard_resumed", worker=self.worker_id, shard=shard, cursor=cursor)
            else:
                engines = [
                    ShardEngine(
                        spec,
                        shard,
                        state.shards,
                        state.seed,
                        state.scale,
                        schemas=self.project.schemas(),
                    )
                    for spec in domains.values()
                ]
                if before is None:
                    before = reported_shards(self.settings)
                cursor = now if shard in before or self.origin is None else min(now, self.origin)
                log.info("shard_assigned", worker=self.worker_id, shard=shard, cursor=cursor)
            self.engines[shard] = engines
            self.chaos[shard] = {
                d: Chaos(state.seed, shard, d, self.encoders, share=1 / state.shards)
                for d in domains
            }
            self.cursor[shard] = cursor
            self.tallies[shard] = ShardTally(cursor)
        self._membership.clear()
        for shard in [s for s, (_, _, at) in self._parked.items() if wall - at > PARK_TTL_MS]:
            del self._parked[shard]  # it lives on another worker now

    def _report(self, producer: AccountedProducer, shard: int) -> None:
        counts = self.tallies[shard].report(shard, self.worker_id, self.cursor[shard])
        producer.send_raw(COUNTS_TOPIC, counts.model_dump_json().encode(), str(shard).encode())

    def _heartbeat(
        self, producer: AccountedProducer, state: ControlState, sim: int, stopping: bool = False
    ) -> None:
        for shard in self.tallies:
            self._report(producer, shard)
        clock = state.clock.clock()
        behind = clock.sim_at(self.read_wall()) - min(self.cursor.values(), default=sim)
        hb = Heartbeat(
            worker_id=self.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            wall_ms=self.read_wall(),
            sim_ms=sim,
            shards=tuple(sorted(self.engines)),
            control_version=state.version,
            topics={
                t: StreamCounters(produced=c.produced, delivered=c.delivered, failed=c.failed)
                for t, c in producer.counters.items()
            },
            dropped_followups=sum(e.dropped_followups for es in self.engines.values() for e in es),
            chaos=self.chaos_counts(),
            stopping=stopping,
            queued=producer.in_flight,
            tick_lag_ms=max(0, round(behind / clock.speed)),
            reached_ms=min(self.cursor.values(), default=None),
            control_seen_wall_ms=self.seen_wall,
            control_late=self.control_late,
        )
        self.last_heartbeat = hb  # what --metrics-port serves, read at scrape time
        producer.send_raw(FLEET_TOPIC, hb.model_dump_json().encode(), self.worker_id.encode())

    def _follow(
        self, follower: ControlFollower, producer: AccountedProducer, sim: int
    ) -> ControlState:
        """Read what ``sim.control`` brought; a new version is stamped with the wall instant
        it was read, checked against the shards' cursors and told on ``sim.fleet`` at once."""
        follower.poll(0)
        state = follower.latest
        if state.version <= self.seen_version:
            return state
        wall = self.read_wall()
        for version in follower.versions:
            # a version issued before this worker started is history it reads on joining
            if version.version <= self.seen_version or version.issued_at_wall < self._started_wall:
                continue
            lag = late_by(version, self.cursor.values())
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
        self._beat(producer, state, sim, wall)
        return state

    def _beat(self, producer: AccountedProducer, state: ControlState, sim: int, wall: int) -> None:
        self._last_beat = wall
        self._heartbeat(producer, state, sim)

    def chaos_counts(self) -> dict[str, int]:
        """Chaos applications per action, over the shards this worker holds."""
        out: dict[str, int] = dict(self._chaos_gone)
        for per in self.chaos.values():
            for ch in per.values():
                for action, n in ch.counts.items():
                    out[action] = out.get(action, 0) + n
        return out

    def _tick(
        self,
        producer: AccountedProducer,
        shard: int,
        eng: ShardEngine,
        t0: int,
        t1: int,
        params: dict[str, float],
        in_force: InForce,
        acting: list[CampaignWindow],
    ) -> None:
        """One engine's tick (with the campaigns acting in it), produced; chaos, when any is
        in force, on the way out."""
        tally = self.tallies[shard]
        ch = self.chaos[shard][eng.domain.domain]
        for batch in eng.tick(t0, t1, params, acting):
            # ground truth (a journey's episodes) is labels, not traffic: no chaos
            chaotic = in_force and not batch.is_truth
            actions = ch.actions_for(in_force, batch.topic) if chaotic else ()
            if actions:
                encoded, truth = ch.apply(batch, t0, actions, t1)
                _send(producer, encoded)
                producer.send_records(truth_topic(ch.domain), truth, "event_id")
            else:
                producer.send_batch(batch)
            tally.add(batch, t0)
        if ch.held:
            _send(producer, ch.due(t1))

    def run(self, stop: threading.Event) -> dict[str, Any]:
        """Produce until ``stop`` is set; flush; return the final counters."""
        follower = ControlFollower(self.settings)
        self._started_wall = self.read_wall()
        state = follower.wait_first(30.0)
        self.seen_version, self.seen_wall = state.version, self.read_wall()
        first = follower.versions[0]
        self.origin = first.effective_at if first.version == 1 else None
        watch = ClusterWatch(self.settings, worker_id=self.worker_id)  # a replaced cluster stops it
        domains = {d: self.project.spec(d) for d in state.domains}
        graphs = {d: self.project.graph(d) for d in state.domains}
        encoders = encoders_for(self.project.schemas(), self.settings.registry_url)
        self.encoders.update(encoders)
        producer = AccountedProducer(self.settings, encoders)
        shards = Consumer(
            {
                **self.settings.client_config(),
                "group.id": self.group_id,
                "session.timeout.ms": 6000,
                # a join or a death moves only the shards that must move (pinned in tests/broker)
                "partition.assignment.strategy": "cooperative-sticky",
                "heartbeat.interval.ms": 1000,
                "enable.auto.commit": False,
            }
        )
        shards.subscribe([SHARDS_TOPIC], on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info("worker_started", worker=self.worker_id, control_version=state.version)
        beat_ms = self.heartbeat_s * 1000
        mods_by_version: dict[int, ModifiersAt] = {}
        sim = state.clock.clock().sim_at(self.read_wall())
        try:
            while not stop.is_set():
                watch.check(f"Worker {self.worker_id}", producer)
                shards.poll(0)  # serves group membership; the topic itself carries no records
                state = self._follow(follower, producer, sim)
                sim = state.clock.clock().sim_at(self.read_wall())
                if self._membership or self._parked:
                    self._apply_membership(state, domains, sim, producer)
                # shards usually share t0: evaluate each control version's parameters once
                params_at: dict[tuple[int, str, int], dict[str, float]] = {}
                for shard, engines in self.engines.items():
                    t0 = self.cursor[shard]
                    while t0 < sim:
                        t1 = min(sim, t0 + MAX_TICK_MS)
                        version = follower.at(t0)
                        mods = mods_by_version.get(version.version)
                        if mods is None:
                            mods_by_version.clear()  # only the newest versions are still in use
                            mods = mods_by_version[version.version] = modifiers_at(
                                version.instances()
                            )
                        in_force = chaos_at(version.scenarios, t0)
                        for eng in engines:
                            key = (version.version, eng.domain.domain, t0)
                            params = params_at.get(key)
                            if params is None:
                                params = params_at[key] = graphs[key[1]].evaluate(t0, mods)
                            acting = campaigns_at(version.instances(), eng.domain.domain, t0, t1)
                            self._tick(producer, shard, eng, t0, t1, params, in_force, acting)
                        t0 = self.cursor[shard] = t1
                        # a long catch-up still reads control versions as they come (the next
                        # tick applies them) and still reports itself
                        state = self._follow(follower, producer, sim)
                        wall = self.read_wall()
                        if wall - self._last_beat >= beat_ms:
                            self._beat(producer, state, sim, wall)
                        if stop.is_set():
                            break  # the cursor is where this tick ended: nothing is lost
                producer.poll(0)
                wall = self.read_wall()
                if wall - self._last_beat >= beat_ms:
                    self._beat(producer, state, sim, wall)
                stop.wait(self.tick_s)  # pacing the loop to the clock, not synchronisation
        finally:
            watch.close(producer)  # on a replaced cluster: what is queued is written off
            for per in self.chaos.values():
                for ch in per.values():
                    _send(producer, ch.drain())
            try:
                producer.flush(30.0)
            finally:
                self._heartbeat(producer, state, sim, stopping=True)
                producer.poll(0)
                producer.drain(5.0)  # the last heartbeat itself
                shards.close()
                follower.close()
        produced, delivered, failed = producer.totals()
        log.info(
            "worker_stopped",
            worker=self.worker_id,
            produced=produced,
            delivered=delivered,
            failed=failed,
        )
        return {"produced": produced, "delivered": delivered, "failed": failed}


def _send(producer: AccountedProducer, encoded: list[Encoded]) -> None:
    """Produce chaos output, accounted like every other record."""
    for e in encoded:
        if e.values:
            buf, offsets = e.framed()
            producer.send_encoded(e.topic, buf, offsets, e.keys, e.timestamps)
