"""The producer worker: claims shards, follows the control state, paces the sim clock,
generates, encodes and produces, and reports itself on ``sim.fleet``.

Its parts, each with one concern:

    producers.membership   which shards the consumer group on ``sim.shards`` gives it
    producers.custody      the shards it holds: taken (resumed, deduplicated), checkpointed,
                           produced through chaos, given up
    producers.ticking      what is in force when, and the ticks (shared with generate)
    producers.reports      counts on ``sim.counts``, heartbeats, the control versions read

A shard ticks in fixed sim quanta (``ControlState.quantum_ms``), so its records depend only on
its state and the quanta, never on which worker ticked them or when.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from simfleet.clock import quantum_for, wall_ms
from simfleet.cluster import ClusterWatch
from simfleet.codec import encoders_for
from simfleet.control import ControlState, Heartbeat
from simfleet.control_io import ControlFollower
from simfleet.domain.pack import Project
from simfleet.domain.spec import DomainSpec
from simfleet.kafka import AccountedProducer
from simfleet.producers.custody import CHECKPOINT_MS, Custody
from simfleet.producers.membership import Membership
from simfleet.producers.reports import Reports, ShardTally, Versions, late_by
from simfleet.producers.ticking import ByVersion, Grid, Ticker
from simfleet.sender import data_producer
from simfleet.settings import KafkaSettings
from simfleet.topology import stamped_topics

# ShardTally: checkpoints written before it moved to producers.reports name it here
__all__ = ["CHECKPOINT_MS", "ShardTally", "Worker", "late_by"]

log = structlog.get_logger()

# after a fence, how long the group has to take this worker's shards away before it takes
# them back itself (a thawed consumer learns of its expired session in well under a second)
FENCE_HOLD_MS = 3_000


@dataclass
class _Run:
    """What one run of a worker reads and writes through, and where it is."""

    follower: ControlFollower
    producer: AccountedProducer
    watch: ClusterWatch
    ticker: Ticker
    domains: dict[str, DomainSpec]
    state: ControlState
    sim: int
    live_from: int | None


class Worker:
    """One worker process's loop: its parts joined, round after round."""

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
        self.read_wall = read_wall
        self.quantum = 0
        self.reports = Reports(self.worker_id, read_wall, heartbeat_s)
        self.custody = Custody(settings, project, self.reports, checkpoint_ms)
        self.membership = Membership(settings, group_id, self.worker_id)

    @property
    def last_heartbeat(self) -> Heartbeat | None:
        """The newest heartbeat (what ``--metrics-port`` serves, read at scrape time)."""
        return self.reports.last_heartbeat

    def run(self, stop: threading.Event) -> dict[str, Any]:
        """Produce until ``stop`` is set; flush; return the final counters."""
        run = self._join()
        if threading.current_thread() is threading.main_thread():
            # SIGCONT: this process was stopped (SIGSTOP, Ctrl-Z), long enough perhaps for
            # its shards to move; the handler runs before the main loop's next step
            signal.signal(signal.SIGCONT, lambda *_: setattr(run.producer, "fenced", True))
        try:
            while not stop.is_set():
                self._round(run, stop)
                run.producer.poll(0)
                self._housekeep(run)
                stop.wait(self.tick_s)  # pacing the loop to the clock, not synchronisation
        finally:
            self._leave(run)
        produced, delivered, failed = run.producer.totals()
        log.info(
            "worker_stopped",
            worker=self.worker_id,
            produced=produced,
            delivered=delivered,
            failed=failed,
            resumed_skipped=self.custody.resumed_skipped,
        )
        return {"produced": produced, "delivered": delivered, "failed": failed}

    def _join(self) -> _Run:
        """Read the control state, open every connection, join the group."""
        follower = ControlFollower(self.settings)
        self.reports.started_wall = self.read_wall()
        state = follower.wait_first(30.0)
        self.reports.seen_version, self.reports.seen_wall = state.version, self.read_wall()
        first = follower.versions[0]
        origin = state.origin_ms
        if origin is None and first.version == 1:
            origin = first.effective_at
        self.custody.origin = origin
        self.custody.run_id = state.run or f"v1-{first.issued_at_wall}"
        self.quantum = state.quantum_ms or quantum_for(state.clock.speed)
        watch = ClusterWatch(self.settings, worker_id=self.worker_id)  # a replaced cluster stops it
        domains = {d: self.project.spec(d) for d in state.domains}
        graphs = {d: self.project.graph(d) for d in state.domains}
        encoders = encoders_for(
            self.project.schemas(), self.settings.registry_url, fmt=self.settings.value_format
        )
        self.custody.open(domains, encoders, socket.gethostname(), os.getpid())
        producer = data_producer(
            self.settings,
            encoders,
            stamped_topics(self.project, state.domains),
            self.sender,
        )
        self.membership.join()
        log.info(
            "worker_started",
            worker=self.worker_id,
            control_version=state.version,
            quantum_ms=self.quantum,
        )
        self.custody.last_checkpoint = self.read_wall()
        return _Run(
            follower,
            producer,
            watch,
            # what is in force at a quantum's start is the control version in force there
            Ticker(graphs, ByVersion(follower.at)),
            domains,
            state,
            state.clock.clock().sim_at(self.read_wall()),
            state.live_from_ms,
        )

    def _round(self, run: _Run, stop: threading.Event) -> None:
        """One round: the cluster checked, control read, shards claimed and given up, every
        held shard ticked up to the clock (or the fleet's end) in whole quanta."""
        run.watch.check(f"Worker {self.worker_id}", run.producer)
        self.membership.poll()
        if self._fence(run):
            return
        run.state = self._follow(run.follower, run.producer, run.sim)
        run.sim = run.state.clock.clock().sim_at(self.read_wall())
        if self.membership.changing or self.custody.parked:
            self._claims(run)
        end = run.state.end_ms
        limit = run.sim if end is None else min(run.sim, end)
        # whole quanta only: a shard's records depend on its quanta, not on when the loop ran
        # (so that its next owner regenerates the same records); the history goes in hours
        grid = Grid.live(self.quantum, run.live_from, end)
        for shard, held in self.custody.shards.items():
            for tick in run.ticker.ticks(held.engines, grid, held.cursor, limit):
                if run.producer.fenced:
                    return  # the next round fences (the shards are no longer this one's)
                for step in tick.steps:
                    self.custody.emit(run.producer, shard, step, tick.chaos)
                self.custody.advanced(shard, tick.t1)
                # a long catch-up still reads control versions as they come (the next tick
                # applies them) and still reports itself
                run.state = self._follow(run.follower, run.producer, run.sim)
                self._housekeep(run)
                if stop.is_set():
                    break  # the cursor is where this tick ended: nothing is lost

    def _fence(self, run: _Run) -> bool:
        """If this worker was frozen: everything it had queued withdrawn, its shards given up
        without a word (their next owners may have resumed them from their newest
        checkpoint and read what was written); the group says next whether it keeps them."""
        if not run.producer.fenced:
            return False
        wall = self.read_wall()
        shards = self.custody.forfeit()
        left = run.producer.withdraw()
        self.membership.forfeit(shards, wall, FENCE_HOLD_MS)
        log.warning("worker_fenced", worker=self.worker_id, shards=shards, unreported=left)
        self.reports.beat(run.producer, run.state, run.sim, self.custody, self.read_wall())
        return True

    def _claims(self, run: _Run) -> None:
        """Give up the shards the group took, take the ones it gave (once free); a change in
        what this worker holds is told at once."""
        wall = self.read_wall()
        held = set(self.custody.shards)
        for shard in self.membership.revoked(held, run.state.shards, wall):
            self.custody.release(run.producer, shard, wall)
        self.custody.expire_parked(wall)
        for shard in self.membership.free(wall, self.custody.holder):
            self.custody.take(run.state, run.domains, run.sim, run.producer, shard)
        if set(self.custody.shards) != held:
            self.reports.beat(run.producer, run.state, run.sim, self.custody, self.read_wall())

    def _follow(self, follower: Versions, producer: AccountedProducer, sim: int) -> ControlState:
        """What ``sim.control`` brought (``Reports.follow``)."""
        return self.reports.follow(follower, producer, sim, self.custody)

    def _housekeep(self, run: _Run) -> None:
        """A heartbeat and a checkpoint round, each when due (neither once fenced: the
        shards it would name may be someone else's now)."""
        if run.producer.fenced:
            return
        wall = self.read_wall()
        self.reports.beat_if_due(run.producer, run.state, run.sim, self.custody, wall)
        self.custody.checkpoint_if_due(run.producer, wall)

    def _leave(self, run: _Run) -> None:
        """Flush, checkpoint every shard as given up, say so, close everything."""
        producer = run.producer
        self._fence(run)  # frozen just before: nothing held is this worker's to let go
        run.watch.close(producer)  # on a replaced cluster: what is queued is written off
        self.custody.drain_chaos(producer)
        try:
            producer.flush(30.0)
            if not producer.abandoned:
                self.custody.let_go(producer)
        finally:
            self.reports.heartbeat(producer, run.state, run.sim, self.custody, stopping=True)
            producer.poll(0)
            producer.drain(10.0)  # the last heartbeat and checkpoints
            producer.close()
            self.membership.close()
            run.follower.close()
            self.custody.close()
