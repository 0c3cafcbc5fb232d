"""The producer worker: claims shards, follows the control state, paces the sim clock,
generates, encodes and produces, and reports itself on ``sim.fleet``.

Shards are claimed through one consumer group on ``sim.shards`` (one partition per shard):
Kafka does membership and rebalancing, cooperatively (a join or a death moves only the shards
that must move). A shard ticks in fixed sim quanta (``ControlState.quantum_ms``), so its
records depend only on its state and the quanta, never on which worker ticked them or when.

Every ``CHECKPOINT_MS`` of wall time, once all it produced is acknowledged, a worker writes
each shard's state to ``sim.shard_state`` (``producers.handoff``); a shard it gives up gets a
last checkpoint that says so. A worker given a shard waits until no other live worker says it
holds it, resumes from its newest checkpoint, and catches up to the clock: a shard moved from
a worker that died regenerates what came after the checkpoint and drops each record its last
owner had already written. So a join, a death or a broker pause writes no record twice,
skips no sim instant and loses no follow-up.

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
from confluent_kafka.admin import AdminClient

from simfleet.clock import quantum_for, wall_ms
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
from simfleet.control_io import ControlFollower
from simfleet.domain.pack import Project
from simfleet.domain.spec import DomainSpec
from simfleet.kafka import AccountedProducer
from simfleet.producers.chaos import Chaos, Encoded, InForce
from simfleet.producers.checkpoint import CheckpointCodec, ShardState
from simfleet.producers.engine import ShardEngine
from simfleet.producers.handoff import (
    Dedupe,
    Holders,
    latest_checkpoint,
    listed_ends,
    scan_written,
    write_checkpoint,
)
from simfleet.producers.ticking import ByVersion, Grid, Step, Ticker
from simfleet.sender import data_producer
from simfleet.settings import KafkaSettings
from simfleet.topology import stamped_topics, truth_topic

__all__ = ["ShardTally", "Worker", "late_by"]

log = structlog.get_logger()

PARK_TTL_MS = 300_000  # how long a revoked shard's engines wait to be given back
CHECKPOINT_MS = 10_000  # wall ms between a worker's checkpoints of its shards
FLUSH_S = 5.0  # how long a checkpoint waits for what came before it to be acknowledged
# a shard whose holder never says it let go is taken anyway after this long (its worker hangs)
HANDOFF_WAIT_MS = 30_000


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
        checkpoint_ms: int = CHECKPOINT_MS,
        sender: str = "process",
    ) -> None:
        self.settings = settings
        # where the data records are produced: a child process (`simfleet.sender`) or inline
        self.sender = sender
        self.project = project
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.tick_s = tick_s
        self.heartbeat_s = heartbeat_s
        self.read_wall = read_wall
        self.group_id = group_id
        self.checkpoint_ms = checkpoint_ms
        self.engines: dict[int, list[ShardEngine]] = {}
        self.cursor: dict[int, int] = {}
        self.tallies: dict[int, ShardTally] = {}
        self.seq: dict[int, int] = {}  # each held shard's newest checkpoint number
        # group membership changes in the order Kafka announced them
        self._membership: list[tuple[str, int]] = []
        # shards given to this worker that another live worker still says it holds:
        # shard -> wall ms when given
        self._waiting: dict[int, int] = {}
        # resumed shards still regenerating what their last owner may have written
        self._dedupe: dict[int, Dedupe] = {}
        # engines of revoked shards, kept a while: a shard that comes back with no checkpoint
        # after this worker's resumes from them; shard -> (state, wall ms parked)
        self._parked: dict[int, tuple[ShardState, int]] = {}
        self.chaos: dict[int, dict[str, Chaos]] = {}
        self.encoders: dict[str, TopicEncoder] = {}
        self._chaos_gone: dict[str, int] = {}  # counts of shards this worker no longer holds
        self.last_heartbeat: Heartbeat | None = None
        # the sim instant the fleet began: a shard no worker has held yet starts there, so
        # that a slow group join loses no sim time at high speed
        self.origin: int | None = None
        self.run_id = ""
        self.quantum = 0
        self.counted_until: dict[int, int] = {}
        self.resumed_skipped = 0
        # the newest control version read, the wall instant it was first read, and how many
        # versions came after a shard had already generated past their effective_at
        self.seen_version = 0
        self.seen_wall: int | None = None
        self.control_late = 0
        self._started_wall = 0
        self._last_beat = 0
        self._last_checkpoint = 0
        self.checkpoint_wall_ms = 0  # spent on checkpoints (the handoff's cost, in the bench)
        self._codec: CheckpointCodec | None = None
        self._admin: AdminClient | None = None
        self._holders: Holders | None = None
        self._partitions: list[tuple[str, int]] = []

    def _on_assign(self, _c: Consumer, parts: list[TopicPartition]) -> None:
        self._membership += [("assign", p.partition) for p in parts]

    def _on_revoke(self, _c: Consumer, parts: list[TopicPartition]) -> None:
        self._membership += [("revoke", p.partition) for p in parts]

    # -- membership and handoff -------------------------------------------------------------

    def _apply_membership(
        self,
        state: ControlState,
        domains: dict[str, DomainSpec],
        now: int,
        producer: AccountedProducer,
    ) -> None:
        wall = self.read_wall()
        for what, shard in self._membership:
            if what == "revoke":
                self._waiting.pop(shard, None)
                if shard in self.cursor:
                    self._release(producer, shard, wall)
                continue
            if shard in self.engines or shard >= state.shards:
                continue
            self._waiting.setdefault(shard, wall)
        self._membership.clear()
        for shard in [s for s, (_, at) in self._parked.items() if wall - at > PARK_TTL_MS]:
            del self._parked[shard]  # it lives on another worker now
        for shard, since in list(self._waiting.items()):
            holder = self._holders.holder(shard, wall) if self._holders else None
            if holder is not None and wall - since < HANDOFF_WAIT_MS:
                continue  # its holder has not let it go yet (it writes a last checkpoint)
            if holder is not None:
                log.warning("shard_taken_from_silent_holder", shard=shard, holder=holder)
            del self._waiting[shard]
            self._resume(state, domains, now, producer, shard)

    def _release(self, producer: AccountedProducer, shard: int, wall: int) -> None:
        """Give a shard up: once what it produced is acknowledged, a last checkpoint that says
        nothing came after it; its engines wait a while in case it comes back."""
        self._report(producer, shard)
        st = self._state_of(shard, released=True)
        if shard in self._dedupe:
            # still regenerating what its last owner wrote: its next owner needs the older
            # checkpoint, whose reading covers those records
            log.info("shard_released_mid_check", worker=self.worker_id, shard=shard)
        elif producer.settle(FLUSH_S) == 0:
            self._write(producer, st, self._ends())
        else:
            # not all acknowledged: its next owner reads what landed from the last checkpoint
            log.warning("shard_released_unflushed", worker=self.worker_id, shard=shard)
        self._parked[shard] = (st, wall)
        for ch in self.chaos.pop(shard, {}).values():
            for action, n in ch.counts.items():
                self._chaos_gone[action] = self._chaos_gone.get(action, 0) + n
        for d in (self.engines, self.cursor, self.tallies, self.seq, self._dedupe):
            d.pop(shard, None)
        log.info("shard_revoked", worker=self.worker_id, shard=shard)

    def _fresh(
        self, state: ControlState, domains: dict[str, DomainSpec], shard: int
    ) -> list[ShardEngine]:
        return [
            ShardEngine(
                spec, shard, state.shards, state.seed, state.scale, schemas=self.project.schemas()
            )
            for spec in domains.values()
        ]

    def _resume(
        self,
        state: ControlState,
        domains: dict[str, DomainSpec],
        now: int,
        producer: AccountedProducer,
        shard: int,
    ) -> None:
        """Take a shard: from its newest checkpoint of this run (or its start), with what its
        last owner wrote after that checkpoint dropped from the regeneration."""
        assert self._codec is not None
        found = latest_checkpoint(self.settings, shard)
        st: ShardState | None = None
        if found is not None and found[1].get("run", b"").decode() == self.run_id:
            seq = int(found[1].get("seq", b"0"))
            parked = self._parked.pop(shard, None)
            if parked is not None and parked[0].seq == seq:
                st = parked[0]  # nobody moved it since this worker gave it up
            else:
                st = self._codec.load(found[0], self._fresh(state, domains, shard))
            for ch in st.chaos.values():
                ch.counts = {}  # what it applied before is counted where it happened
            how = "resumed"
        else:
            cursor = now if self.origin is None else min(now, self.origin)
            st = ShardState(
                shard,
                cursor,
                self._fresh(state, domains, shard),
                {
                    d: Chaos(state.seed, shard, d, self.encoders, share=1 / state.shards)
                    for d in domains
                },
                ShardTally(cursor),
                0,
                self.run_id,
                {},
                False,
            )
            how = "started"
        self.engines[shard] = st.engines
        self.chaos[shard] = st.chaos
        self.cursor[shard] = st.cursor
        self.seq[shard] = st.seq
        tally = st.tally if isinstance(st.tally, ShardTally) else ShardTally(st.cursor)
        # what the last owner reported on sim.counts past the checkpoint is counted already
        tally.floor = max(tally.floor, self._counted_elsewhere(shard))
        self.tallies[shard] = tally
        skipped = 0
        if how == "resumed" and not st.released:
            # its last owner may have written past the checkpoint: read what it did
            written = scan_written(self.settings, self._partitions, st.scan_from)
            if written:
                self._dedupe[shard] = Dedupe(producer, written, now)
                skipped = sum(written.values())
        if shard not in self._dedupe:
            # a checkpoint of its own, acknowledged before it produces: a later owner reads
            # what this one writes from here on (the one it resumed from may say "released";
            # a shard with none would otherwise be read from the start of every partition)
            self.seq[shard] = st.seq + 1
            self._write(producer, self._state_of(shard), self._ends(), wait=True)
        log.info(
            f"shard_{how}",
            worker=self.worker_id,
            shard=shard,
            cursor=st.cursor,
            behind_sim_ms=max(0, now - st.cursor),
            records_to_check=skipped,
        )

    def _counted_elsewhere(self, shard: int) -> int:
        """The sim instant up to which this or another worker reported the shard's counts."""
        mine = self.counted_until.get(shard, 0)
        if self._holders is None:
            return mine
        return max(mine, self._holders.counted_until(shard))

    def _state_of(self, shard: int, released: bool = False) -> ShardState:
        return ShardState(
            shard,
            self.cursor[shard],
            self.engines[shard],
            self.chaos[shard],
            self.tallies[shard],
            self.seq[shard],
            self.run_id,
            {},
            released,
        )

    def _ends(self) -> dict[tuple[str, int], int]:
        assert self._admin is not None
        return listed_ends(self._admin, self._partitions)

    def _write(
        self,
        producer: AccountedProducer,
        st: ShardState,
        ends: dict[tuple[str, int], int],
        wait: bool = False,
    ) -> None:
        assert self._codec is not None
        st.scan_from = ends
        done = write_checkpoint(
            producer, st.shard, self._codec.dump(st), st.seq, st.cursor, self.run_id
        )
        if wait and not done(FLUSH_S * 2):
            log.warning("checkpoint_unacknowledged", worker=self.worker_id, shard=st.shard)

    def _checkpoint(self, producer: AccountedProducer, wall: int) -> None:
        """Every shard's state, once what it produced so far is acknowledged (a shard still
        checking its last owner's records waits for the next round)."""
        self._last_checkpoint = wall
        ready = [s for s in self.engines if s not in self._dedupe]
        if not ready:
            return
        for shard in ready:
            self._report(producer, shard)
        try:
            if producer.settle(FLUSH_S) != 0:
                log.warning(
                    "checkpoint_postponed", worker=self.worker_id, in_flight=producer.in_flight
                )
                return
            ends = self._ends()
            for shard in ready:
                self.seq[shard] += 1
                self._write(producer, self._state_of(shard), ends)
            producer.poll(0)
        finally:
            self.checkpoint_wall_ms += self.read_wall() - wall

    # -- reports --------------------------------------------------------------------------

    def _report(self, producer: AccountedProducer, shard: int) -> None:
        counts = self.tallies[shard].report(shard, self.worker_id, self.cursor[shard])
        self.counted_until[shard] = self.cursor[shard]
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
            # shards given up too: their next owner counts from there
            counted_until=dict(self.counted_until),
            resumed_skipped=self.resumed_skipped + sum(d.skipped for d in self._dedupe.values()),
            checkpoint_wall_ms=self.checkpoint_wall_ms,
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

    def _tick(self, producer: AccountedProducer, shard: int, step: Step, in_force: InForce) -> None:
        """One engine's step, produced; chaos, when any is in force, on the way out; through
        the shard's dedupe while it has one."""
        out: AccountedProducer | Dedupe = self._dedupe.get(shard, producer)
        tally = self.tallies[shard]
        ch = self.chaos[shard][step.engine.domain.domain]
        t0, t1 = step.t0, step.t1
        for batch in step.batches:
            # ground truth (a journey's episodes) is labels, not traffic: no chaos
            chaotic = in_force and not batch.is_truth
            actions = ch.actions_for(in_force, batch.topic) if chaotic else ()
            if actions:
                encoded, truth = ch.apply(batch, t0, actions, t1)
                _send(out, encoded)
                out.send_records(truth_topic(ch.domain), truth, "event_id")
            else:
                out.send_batch(batch)
            tally.add(batch, t0)
        if ch.held:
            _send(out, ch.due(t1))

    def _caught_up(self, shard: int) -> None:
        """A resumed shard past the instant it was taken over: nothing more to check."""
        d = self._dedupe.get(shard)
        if d is not None and self.cursor[shard] >= d.until:
            del self._dedupe[shard]
            self.resumed_skipped += d.skipped
            log.info(
                "shard_caught_up",
                worker=self.worker_id,
                shard=shard,
                already_written=d.skipped,
                unmatched=sum(v for v in d.written.values() if v > 0),
            )

    def run(self, stop: threading.Event) -> dict[str, Any]:
        """Produce until ``stop`` is set; flush; return the final counters."""
        follower = ControlFollower(self.settings)
        self._started_wall = self.read_wall()
        state = follower.wait_first(30.0)
        self.seen_version, self.seen_wall = state.version, self.read_wall()
        first = follower.versions[0]
        self.origin = state.origin_ms
        if self.origin is None and first.version == 1:
            self.origin = first.effective_at
        self.run_id = state.run or f"v1-{first.issued_at_wall}"
        self.quantum = state.quantum_ms or quantum_for(state.clock.speed)
        watch = ClusterWatch(self.settings, worker_id=self.worker_id)  # a replaced cluster stops it
        domains = {d: self.project.spec(d) for d in state.domains}
        graphs = {d: self.project.graph(d) for d in state.domains}
        encoders = encoders_for(self.project.schemas(), self.settings.registry_url)
        self.encoders.update(encoders)
        self._codec = CheckpointCodec(domains, self.encoders)
        self._admin = AdminClient(self.settings.client_config())
        self._partitions = self._data_partitions(state.domains)
        self._holders = Holders(self.settings, socket.gethostname(), os.getpid())
        producer = data_producer(
            self.settings,
            encoders,
            stamped_topics(self.project, state.domains),
            self.sender,
        )
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
        log.info(
            "worker_started",
            worker=self.worker_id,
            control_version=state.version,
            quantum_ms=self.quantum,
        )
        beat_ms = self.heartbeat_s * 1000
        # what is in force at a quantum's start is the control version in force there
        ticker = Ticker(graphs, ByVersion(follower.at))
        sim = state.clock.clock().sim_at(self.read_wall())
        self._last_checkpoint = self.read_wall()
        q = self.quantum
        live_from = state.live_from_ms
        try:
            while not stop.is_set():
                watch.check(f"Worker {self.worker_id}", producer)
                shards.poll(0)  # serves group membership; the topic itself carries no records
                state = self._follow(follower, producer, sim)
                sim = state.clock.clock().sim_at(self.read_wall())
                if self._membership or self._parked or self._waiting:
                    held = set(self.engines)
                    self._apply_membership(state, domains, sim, producer)
                    if set(self.engines) != held:
                        self._beat(producer, state, sim, self.read_wall())  # tell it at once
                end = state.end_ms
                limit = sim if end is None else min(sim, end)
                # whole quanta only: a shard's records depend on its quanta, not on when the
                # loop ran (so that its next owner regenerates the same records); the
                # backfill before live_from goes in hours
                grid = Grid.live(q, live_from, end)
                for shard, engines in self.engines.items():
                    for tick in ticker.ticks(engines, grid, self.cursor[shard], limit):
                        for step in tick.steps:
                            self._tick(producer, shard, step, tick.chaos)
                        self.cursor[shard] = tick.t1
                        if shard in self._dedupe:
                            self._caught_up(shard)
                        # a long catch-up still reads control versions as they come (the next
                        # tick applies them) and still reports itself
                        state = self._follow(follower, producer, sim)
                        wall = self.read_wall()
                        if wall - self._last_beat >= beat_ms:
                            self._beat(producer, state, sim, wall)
                        if wall - self._last_checkpoint >= self.checkpoint_ms:
                            self._checkpoint(producer, wall)  # each shard at its own cursor
                        if stop.is_set():
                            break  # the cursor is where this tick ended: nothing is lost
                producer.poll(0)
                wall = self.read_wall()
                if wall - self._last_beat >= beat_ms:
                    self._beat(producer, state, sim, wall)
                if wall - self._last_checkpoint >= self.checkpoint_ms:
                    self._checkpoint(producer, wall)
                stop.wait(self.tick_s)  # pacing the loop to the clock, not synchronisation
        finally:
            watch.close(producer)  # on a replaced cluster: what is queued is written off
            for shard, per in self.chaos.items():
                for ch in per.values():
                    _send(self._dedupe.get(shard, producer), ch.drain())
            try:
                producer.flush(30.0)
                if not producer.abandoned:
                    # a fleet started again on this cluster resumes each shard from here
                    self._last_checkpoint = 0
                    ends = self._ends()
                    for shard in [s for s in self.engines if s not in self._dedupe]:
                        self.seq[shard] += 1
                        self._write(producer, self._state_of(shard, released=True), ends)
            finally:
                self._heartbeat(producer, state, sim, stopping=True)
                producer.poll(0)
                producer.drain(10.0)  # the last heartbeat and checkpoints
                producer.close()
                shards.close()
                follower.close()
                self._holders.close()
        produced, delivered, failed = producer.totals()
        log.info(
            "worker_stopped",
            worker=self.worker_id,
            produced=produced,
            delivered=delivered,
            failed=failed,
            resumed_skipped=self.resumed_skipped,
        )
        return {"produced": produced, "delivered": delivered, "failed": failed}

    def _data_partitions(self, domains: Iterable[str]) -> list[tuple[str, int]]:
        """Every partition a shard of ``domains`` may write (its streams, truth, chaos)."""
        names = {truth_topic(d) for d in domains}
        names |= {
            self.project.spec(d).topic(n) for d in domains for n in self.project.spec(d).streams
        }
        assert self._admin is not None
        meta = self._admin.list_topics(timeout=30)
        return sorted(
            (name, p) for name in names if name in meta.topics for p in meta.topics[name].partitions
        )


def _send(out: AccountedProducer | Dedupe, encoded: list[Encoded]) -> None:
    """Produce chaos output, accounted like every other record."""
    for e in encoded:
        if e.values:
            buf, offsets = e.framed()
            out.send_encoded(e.topic, buf, offsets, e.keys, e.timestamps)
