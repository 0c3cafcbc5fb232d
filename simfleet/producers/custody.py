"""The shards a worker holds: taken from their newest checkpoint (or their start), produced
through chaos and, while resumed, a dedupe; checkpointed; and given up.

Every ``CHECKPOINT_MS`` of wall time, once all it produced is acknowledged, a worker writes
each shard's state to ``sim.shard_state`` (``producers.handoff``); a shard it gives up gets a
last checkpoint that says so. A worker given a shard resumes from its newest checkpoint and
catches up to the clock: a shard moved from a worker that died regenerates what came after
the checkpoint and drops each record its last owner had already written. So a join, a death
or a broker pause writes no record twice, skips no sim instant and loses no follow-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import structlog
from confluent_kafka.admin import AdminClient

from simfleet.codec import TopicEncoder
from simfleet.control import COUNTS_TOPIC, ControlState
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
    scan_counted,
    scan_written,
    write_checkpoint,
)
from simfleet.producers.reports import Reports, ShardTally
from simfleet.producers.ticking import Step
from simfleet.settings import KafkaSettings
from simfleet.topology import truth_topic

__all__ = ["CHECKPOINT_MS", "FLUSH_S", "PARK_TTL_MS", "Custody", "send_encoded"]

log = structlog.get_logger()

PARK_TTL_MS = 300_000  # how long a revoked shard's engines wait to be given back
CHECKPOINT_MS = 10_000  # wall ms between a worker's checkpoints of its shards
FLUSH_S = 5.0  # how long a checkpoint waits for what came before it to be acknowledged

Out = AccountedProducer | Dedupe


def send_encoded(out: Out, encoded: list[Encoded]) -> None:
    """Produce chaos output, accounted like every other record."""
    for e in encoded:
        if e.values:
            buf, offsets = e.framed()
            out.send_encoded(e.topic, buf, offsets, e.keys, e.timestamps)


class Custody:
    """The shards one worker holds (``shards``: each one's state, as a checkpoint holds it),
    the ones it gave up lately (``parked``), and their checkpoints."""

    def __init__(
        self,
        settings: KafkaSettings,
        project: Project,
        reports: Reports,
        checkpoint_ms: int = CHECKPOINT_MS,
    ) -> None:
        self.settings = settings
        self.project = project
        self.reports = reports
        self.worker_id = reports.worker_id
        self.read_wall = reports.read_wall
        self.checkpoint_ms = checkpoint_ms
        self.shards: dict[int, ShardState] = {}
        # resumed shards still regenerating what their last owner may have written
        self.dedupe: dict[int, Dedupe] = {}
        # engines of revoked shards, kept a while: a shard that comes back with no checkpoint
        # after this worker's resumes from them; shard -> (state, wall ms parked)
        self.parked: dict[int, tuple[ShardState, int]] = {}
        self.encoders: dict[str, TopicEncoder] = {}
        self._chaos_gone: dict[str, int] = {}  # counts of shards this worker no longer holds
        # the sim instant the fleet began: a shard no worker has held yet starts there, so
        # that a slow group join loses no sim time at high speed
        self.origin: int | None = None
        self.run_id = ""
        self.resumed_skipped = 0
        self.last_checkpoint = 0
        self.checkpoint_wall_ms = 0  # spent on checkpoints (the handoff's cost, in the bench)
        self._codec: CheckpointCodec | None = None
        self._admin: AdminClient | None = None
        self._holders: Holders | None = None
        self._partitions: list[tuple[str, int]] = []

    # -- opening and closing ----------------------------------------------------------------

    def open(
        self,
        domains: dict[str, DomainSpec],
        encoders: dict[str, TopicEncoder],
        host: str,
        pid: int,
    ) -> None:
        """Ready to take shards of ``domains``: the checkpoint codec, the data partitions a
        resumed shard scans, and who else holds what."""
        self.encoders.update(encoders)
        self._codec = CheckpointCodec(domains, self.encoders)
        self._admin = AdminClient(self.settings.client_config("admin"))
        self._partitions = self._data_partitions(domains)
        self._holders = Holders(self.settings, host, pid)

    def close(self) -> None:
        """Stop reading who holds what."""
        if self._holders is not None:
            self._holders.close()

    def drain_chaos(self, producer: AccountedProducer) -> None:
        """What chaos still holds back (delayed records), produced."""
        for shard, st in self.shards.items():
            for ch in st.chaos.values():
                send_encoded(self.dedupe.get(shard, producer), ch.drain())

    def let_go(self, producer: AccountedProducer) -> None:
        """At a clean stop, each shard's last checkpoint, saying nothing came after it: a
        fleet started again on this cluster resumes each shard from here."""
        ends = self._ends()
        for shard in [s for s in self.shards if s not in self.dedupe]:
            self.shards[shard].seq += 1
            self._write(producer, self._state_of(shard, released=True), ends)

    # -- taking and giving up -----------------------------------------------------------------

    def holder(self, shard: int, wall: int) -> str | None:
        """Another live worker that says it holds ``shard``; None when none does."""
        return self._holders.holder(shard, wall) if self._holders else None

    def expire_parked(self, wall: int) -> None:
        """Forget the parked shards nobody gave back in time: they live on another worker."""
        for shard in [s for s, (_, at) in self.parked.items() if wall - at > PARK_TTL_MS]:
            del self.parked[shard]

    def release(self, producer: AccountedProducer, shard: int, wall: int) -> None:
        """Give a shard up: once what it produced is acknowledged, a last checkpoint that says
        nothing came after it; its engines wait a while in case it comes back."""
        held = self.shards[shard]
        self.reports.counts(producer, shard, held.tally, held.cursor)
        st = self._state_of(shard, released=True)
        if shard in self.dedupe:
            # still regenerating what its last owner wrote: its next owner needs the older
            # checkpoint, whose reading covers those records
            log.info("shard_released_mid_check", worker=self.worker_id, shard=shard)
        elif producer.settle(FLUSH_S) == 0 and not producer.fenced:
            self._write(producer, st, self._ends())
        else:
            # not all acknowledged: its next owner reads what landed from the last checkpoint
            log.warning("shard_released_unflushed", worker=self.worker_id, shard=shard)
        self.parked[shard] = (st, wall)
        for ch in held.chaos.values():
            for action, n in ch.counts.items():
                self._chaos_gone[action] = self._chaos_gone.get(action, 0) + n
        del self.shards[shard]
        self.dedupe.pop(shard, None)
        log.info("shard_revoked", worker=self.worker_id, shard=shard)

    def forfeit(self) -> list[int]:
        """Give up every held shard without a word (no counts, no checkpoint): this worker
        was frozen and their next owners may have resumed them meanwhile from the newest
        checkpoint; what it had queued is withdrawn (``AccountedProducer.withdraw``). The
        shards, in case the group still gives them to it."""
        shards = sorted(self.shards)
        for shard in shards:
            for ch in self.shards[shard].chaos.values():
                for action, n in ch.counts.items():
                    self._chaos_gone[action] = self._chaos_gone.get(action, 0) + n
        self.shards.clear()
        self.dedupe.clear()
        self.parked.clear()
        log.warning("shards_forfeited", worker=self.worker_id, shards=shards)
        return shards

    def _fresh(
        self, state: ControlState, domains: dict[str, DomainSpec], shard: int
    ) -> list[ShardEngine]:
        return [
            ShardEngine(
                spec, shard, state.shards, state.seed, state.scale, schemas=self.project.schemas()
            )
            for spec in domains.values()
        ]

    def take(
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
            parked = self.parked.pop(shard, None)
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
        tally = st.tally if isinstance(st.tally, ShardTally) else ShardTally(st.cursor)
        # what the last owner reported on sim.counts past the checkpoint is counted already
        tally.floor = max(tally.floor, self._counted_elsewhere(shard))
        self.shards[shard] = replace(st, tally=tally, run=self.run_id, scan_from={}, released=False)
        skipped = 0
        if how == "resumed" and not st.released:
            # its last owner may have written past the checkpoint: read what it did
            written = scan_written(self.settings, self._partitions, st.scan_from)
            if written:
                self.dedupe[shard] = Dedupe(producer, written, now)
                skipped = sum(written.values())
            # and what it counted past the checkpoint (its heartbeat may not have said so)
            counts_from = st.scan_from.get((COUNTS_TOPIC, 0))
            if counts_from is not None:
                tally.floor = max(tally.floor, scan_counted(self.settings, shard, counts_from))
        if shard not in self.dedupe:
            # a checkpoint of its own, acknowledged before it produces: a later owner reads
            # what this one writes from here on (the one it resumed from may say "released";
            # a shard with none would otherwise be read from the start of every partition)
            self.shards[shard].seq = st.seq + 1
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
        mine = self.reports.counted_until.get(shard, 0)
        if self._holders is None:
            return mine
        return max(mine, self._holders.counted_until(shard))

    # -- producing ---------------------------------------------------------------------------

    def emit(self, producer: AccountedProducer, shard: int, step: Step, in_force: InForce) -> None:
        """One engine's step of a held shard, produced; chaos, when any is in force, on the
        way out; through the shard's dedupe while it has one."""
        out: Out = self.dedupe.get(shard, producer)
        held = self.shards[shard]
        ch = held.chaos[step.engine.domain.domain]
        t0, t1 = step.t0, step.t1
        for batch in step.batches:
            # ground truth (a journey's episodes) is labels, not traffic: no chaos
            chaotic = in_force and not batch.is_truth
            actions = ch.actions_for(in_force, batch.topic) if chaotic else ()
            if actions:
                encoded, truth = ch.apply(batch, t0, actions, t1)
                send_encoded(out, encoded)
                out.send_records(truth_topic(ch.domain), truth, "event_id")
            else:
                out.send_batch(batch)
            held.tally.add(batch, t0)
        if ch.held:
            send_encoded(out, ch.due(t1))

    def advanced(self, shard: int, cursor: int) -> None:
        """A held shard ticked up to ``cursor``; a resumed one past the instant it was taken
        over has nothing more to check."""
        self.shards[shard].cursor = cursor
        d = self.dedupe.get(shard)
        if d is not None and cursor >= d.until:
            del self.dedupe[shard]
            self.resumed_skipped += d.skipped
            log.info(
                "shard_caught_up",
                worker=self.worker_id,
                shard=shard,
                already_written=d.skipped,
                unmatched=sum(v for v in d.written.values() if v > 0),
            )

    def chaos_counts(self) -> dict[str, int]:
        """Chaos applications per action, over the shards this worker holds and held."""
        out: dict[str, int] = dict(self._chaos_gone)
        for st in self.shards.values():
            for ch in st.chaos.values():
                for action, n in ch.counts.items():
                    out[action] = out.get(action, 0) + n
        return out

    # -- checkpoints -------------------------------------------------------------------------

    def _state_of(self, shard: int, released: bool = False) -> ShardState:
        return replace(self.shards[shard], scan_from={}, released=released)

    def _ends(self) -> dict[tuple[str, int], int]:
        assert self._admin is not None
        # sim.counts too: a later owner reads the counts written past the checkpoint
        return listed_ends(self._admin, [*self._partitions, (COUNTS_TOPIC, 0)])

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

    def checkpoint_if_due(self, producer: AccountedProducer, wall: int) -> None:
        """Every shard's checkpoint when the last round is ``checkpoint_ms`` old."""
        if wall - self.last_checkpoint >= self.checkpoint_ms:
            self.checkpoint(producer, wall)  # each shard at its own cursor

    def checkpoint(self, producer: AccountedProducer, wall: int) -> None:
        """Every shard's state, once what it produced so far is acknowledged (a shard still
        checking its last owner's records waits for the next round)."""
        self.last_checkpoint = wall
        ready = [s for s in self.shards if s not in self.dedupe]
        if not ready:
            return
        for shard in ready:
            held = self.shards[shard]
            self.reports.counts(producer, shard, held.tally, held.cursor)
        try:
            if producer.settle(FLUSH_S) != 0:
                log.warning(
                    "checkpoint_postponed", worker=self.worker_id, in_flight=producer.in_flight
                )
                return
            if producer.fenced:
                return  # frozen meanwhile: the worker gives the shards up (``Worker._fence``)
            ends = self._ends()
            for shard in ready:
                self.shards[shard].seq += 1
                self._write(producer, self._state_of(shard), ends)
            producer.poll(0)
        finally:
            self.checkpoint_wall_ms += self.read_wall() - wall

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
