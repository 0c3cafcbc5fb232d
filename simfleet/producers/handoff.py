"""Shard handoff: checkpoints on ``sim.shard_state``, what a shard's last owner already wrote,
and the records a new owner must not write again.

A shard's output is a pure function of its checkpointed state and the fixed sim quanta it
ticks (``ControlState.quantum_ms``), so a new owner that resumes from a checkpoint generates
exactly the records its last owner generated after it, byte for byte. Some of those may
already be on the broker (the last owner died between a checkpoint and the next). The new
owner reads every data partition from the checkpoint's ``scan_from`` offsets to the end,
counts what it finds by (topic, key, value), and drops each regenerated record that is
already there, once per copy found, until it has caught up with the instant it took the
shard over. No transaction is involved: on Tansu 0.6.0 a transaction neither hides records
that reached the broker and were aborted, nor aborts a dead producer's open transaction
(both pinned in ``tests/broker/test_tansu_behaviours.py``), so the broker cannot make a
tick atomic; regeneration and this count can.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from simfleet.columns import Batch
from simfleet.control import COUNTS_TOPIC, HEARTBEAT_TIMEOUT_MS, SHARD_STATE_TOPIC, ShardCounts
from simfleet.control_io import FleetWatcher
from simfleet.errors import BrokerError
from simfleet.kafka import AccountedProducer
from simfleet.settings import KafkaSettings

__all__ = [
    "CHECKPOINT_PART",
    "Dedupe",
    "Holders",
    "latest_checkpoint",
    "listed_ends",
    "record_hash",
    "scan_written",
    "write_checkpoint",
]

log = structlog.get_logger()

CHECKPOINT_PART = 512 * 1024  # bytes per checkpoint record (a broker refuses records over 1 MB)
# a worker that held a shard and has not beaten for this long is gone: its consumer-group
# session (6 s) has expired too, so it no longer holds the shard in the group either
HOLDER_SILENT_MS = 6_000
Parts = list[tuple[bytes, dict[str, bytes]]]


def record_hash(topic: str, key: bytes | None, value: bytes) -> int:
    """What identifies a record for the handoff: its topic, key and value bytes (the event's
    own id is in the value; the produce-time header is not part of it)."""
    return hash((topic, key, value))


def write_checkpoint(
    producer: AccountedProducer, shard: int, blob: bytes, seq: int, cursor: int, run: str
) -> Callable[[float], bool]:
    """Produce a shard's checkpoint to its partition of ``sim.shard_state``, in parts; returns
    a wait: called with a timeout, it serves delivery reports until every part is
    acknowledged and says whether they were."""
    parts = [blob[i : i + CHECKPOINT_PART] for i in range(0, len(blob), CHECKPOINT_PART)] or [b""]
    acked: list[bool] = []

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        acked.append(err is None)

    def wait(timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while len(acked) < len(parts) and time.monotonic() < deadline:
            producer.poll(0.05)
        return len(acked) == len(parts) and all(acked)

    for i, part in enumerate(parts):
        producer.send_raw(
            SHARD_STATE_TOPIC,
            part,
            str(shard).encode(),
            partition=shard,
            headers=[
                ("run", run.encode()),
                ("seq", str(seq).encode()),
                ("cursor", str(cursor).encode()),
                ("part", str(i).encode()),
                ("parts", str(len(parts)).encode()),
            ],
            on_delivery=on_delivery,
        )
    return wait


def _parts_of_last(records: Parts) -> Parts | None:
    """The parts of the last checkpoint, in order; None when they do not all appear."""
    if not records:
        return None
    seq = records[-1][1].get("seq")
    parts = int(records[-1][1].get("parts", b"1"))
    mine = [r for r in records if r[1].get("seq") == seq]
    return mine[-parts:] if len(mine) >= parts else None


def checkpoint_of(records: Parts) -> tuple[bytes, dict[str, bytes]] | None:
    """The last whole checkpoint among a partition's last records (its parts joined) and its
    headers; None if there is none."""
    parts = _parts_of_last(records)
    if parts is None:
        return None
    return b"".join(v for v, _ in parts), parts[-1][1]


def _consumer(settings: KafkaSettings) -> Consumer:
    try:
        return Consumer(
            {
                **settings.client_config("consumer"),
                "group.id": f"simfleet-handoff-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "fetch.max.bytes": 8 * 1024 * 1024,
            }
        )
    except KafkaException as exc:
        raise BrokerError(f"Cannot create a Kafka consumer: {exc}. Check the settings.") from exc


def last_records(
    settings: KafkaSettings,
    topic: str,
    partition: int,
    complete: Callable[[Parts], bool] = bool,
    timeout: float = 30.0,
) -> Parts:
    """The last records of one partition (values and headers, in order): from a few offsets
    back to the end, further back until ``complete`` accepts them; empty when there are none.

    Read to the consumer's own end of the partition, not to the listed high watermark:
    Tansu lists it at the first offset of the last batch plus one.
    """
    consumer = _consumer(settings)
    deadline = time.monotonic() + timeout
    try:
        tp = TopicPartition(topic, partition)
        low, high = consumer.get_watermark_offsets(tp, timeout=timeout)
        if high <= low:
            return []
        back = 16
        while True:
            start = max(low, high - back)
            consumer.assign([TopicPartition(topic, partition, start)])
            got: Parts = []
            while True:
                if time.monotonic() > deadline:
                    raise BrokerError(
                        f"Reading the end of {topic} partition {partition} took more than "
                        f"{timeout} s. Check that the broker is up."
                    )
                m = consumer.poll(0.05)
                if m is None:
                    continue
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        break
                    raise BrokerError(f"Reading {topic} partition {partition}: {err.str()}.")
                raw = m.headers() or []
                pairs = raw.items() if isinstance(raw, dict) else raw
                got.append((m.value() or b"", {k: v for k, v in pairs if isinstance(v, bytes)}))
            if complete(got) or start <= low:
                return got
            back *= 4
    except KafkaException as exc:
        raise BrokerError(
            f"Cannot read {topic} partition {partition}: {exc.args[0].str()}. Check that the "
            "broker is up."
        ) from exc
    finally:
        consumer.close()


def latest_checkpoint(settings: KafkaSettings, shard: int) -> tuple[bytes, dict[str, bytes]] | None:
    """The shard's newest whole checkpoint (bytes and headers), or None."""
    return checkpoint_of(
        last_records(settings, SHARD_STATE_TOPIC, shard, lambda r: _parts_of_last(r) is not None)
    )


def listed_ends(
    admin: AdminClient, partitions: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """Each partition's listed end offset. On Tansu the listed end is at or before the real
    one, so every record produced after this call lies at or after it."""
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    wanted = {TopicPartition(t, p): latest for t, p in partitions}
    if not wanted:
        return {}
    out: dict[tuple[str, int], int] = {}
    try:
        for tp, fut in admin.list_offsets(wanted, request_timeout=30).items():
            out[(tp.topic, tp.partition)] = max(0, fut.result().offset)
    except KafkaException as exc:
        raise BrokerError(
            f"Cannot list the data partitions' offsets: {exc.args[0].str()}. Check that the "
            "broker is up."
        ) from exc
    return out


def scan_written(
    settings: KafkaSettings,
    partitions: Iterable[tuple[str, int]],
    scan_from: Mapping[tuple[str, int], int],
    timeout: float = 120.0,
) -> Counter[int]:
    """Every record now on ``partitions`` from ``scan_from`` on (from the start where a
    partition is not in it), counted by ``record_hash``."""
    seen: Counter[int] = Counter()
    assign = [TopicPartition(t, p, scan_from.get((t, p), OFFSET_BEGINNING)) for t, p in partitions]

    def visit(m: Any) -> None:
        seen[record_hash(m.topic() or "", m.key(), m.value() or b"")] += 1

    _read_to_end(settings, assign, visit, timeout)
    return seen


def scan_counted(
    settings: KafkaSettings,
    shard: int,
    offset: int,
    timeout: float = 120.0,
    topic: str = COUNTS_TOPIC,
) -> int:
    """The sim instant up to which any worker reported ``shard``'s counts on ``sim.counts``
    from ``offset`` on (0: none). A frozen owner's counts may have reached the broker while the
    heartbeat that said so did not: its successor counts from here, not from the heartbeat."""
    until = 0
    key = str(shard).encode()

    def visit(m: Any) -> None:
        nonlocal until
        if m.key() == key:
            until = max(until, ShardCounts.model_validate_json(m.value() or b"{}").until)

    _read_to_end(settings, [TopicPartition(topic, 0, offset)], visit, timeout)
    return until


def _read_to_end(
    settings: KafkaSettings,
    assign: list[TopicPartition],
    visit: Callable[[Any], None],
    timeout: float,
) -> None:
    """Every record of ``assign`` (from their offsets) to the end, each given to ``visit``."""
    if not assign:
        return
    consumer = _consumer(settings)
    open_parts = {(tp.topic, tp.partition) for tp in assign}
    deadline = time.monotonic() + timeout
    try:
        consumer.assign(assign)
        while open_parts:
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"Reading what a shard's last owner wrote took more than {timeout} s "
                    f"({len(open_parts)} partitions unfinished). Check that the broker is up."
                )
            for m in consumer.consume(10_000, 0.2):
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        open_parts.discard((m.topic(), m.partition()))
                        continue
                    raise BrokerError(f"Reading {m.topic()}: {err.str()}.")
                visit(m)
    except KafkaException as exc:
        raise BrokerError(
            f"Cannot read the data topics: {exc.args[0].str()}. Check that the broker is up."
        ) from exc
    finally:
        consumer.close()


class Dedupe:
    """A producer for one resumed shard that drops what its last owner already wrote: each
    regenerated record found in ``written`` is dropped once per copy found."""

    def __init__(self, producer: AccountedProducer, written: Counter[int], until: int) -> None:
        self.producer = producer
        self.written = written
        self.until = until  # sim ms: past it, nothing of the last owner's can be regenerated
        self.skipped = 0

    def send_batch(self, batch: Batch) -> None:
        if batch.n:
            self.send_encoded(batch.topic, *self.producer.encode_batch(batch))

    def send_records(self, topic: str, records: list[dict[str, Any]], key_field: str) -> None:
        if records:
            self.send_encoded(topic, *self.producer.encode_records(topic, records, key_field))

    def send_encoded(
        self,
        topic: str,
        buf: bytes,
        offsets: list[int],
        keys: list[bytes | None],
        timestamps: list[int],
    ) -> None:
        written = self.written
        keep: list[int] = []
        for i, key in enumerate(keys):
            h = record_hash(topic, key, buf[offsets[i] : offsets[i + 1]])
            if written.get(h, 0) > 0:
                written[h] -= 1
                self.skipped += 1
            else:
                keep.append(i)
        if len(keep) == len(keys):
            self.producer.send_encoded(topic, buf, offsets, keys, timestamps)
            return
        if not keep:
            return
        values = [buf[offsets[i] : offsets[i + 1]] for i in keep]
        joined = b"".join(values)
        starts = [0]
        for v in values:
            starts.append(starts[-1] + len(v))
        self.producer.send_encoded(
            topic, joined, starts, [keys[i] for i in keep], [timestamps[i] for i in keep]
        )


class Holders:
    """Which other live worker process says it holds a shard, from ``sim.fleet``."""

    def __init__(self, settings: KafkaSettings, host: str, pid: int) -> None:
        self._watcher = FleetWatcher(settings, history=2000)
        self._watcher.read_to_end(5.0)
        self._me = (host, pid)

    def holder(self, shard: int, now_wall: int) -> str | None:
        """The worker id of another process whose newest beat lists ``shard`` and is recent
        (it has not given the shard up yet); None when there is none."""
        self._watcher.poll(0)
        for (wid, host, pid), hb in self._watcher.processes.items():
            if (host, pid) == self._me or hb.stopping or shard not in hb.shards:
                continue
            if now_wall - hb.wall_ms < min(HOLDER_SILENT_MS, HEARTBEAT_TIMEOUT_MS):
                return wid
        return None

    def counted_until(self, shard: int) -> int:
        """The furthest sim instant another process reported ``shard``'s counts up to."""
        self._watcher.poll(0)
        return max(
            (
                hb.counted_until.get(shard, 0)
                for (_, host, pid), hb in self._watcher.processes.items()
                if (host, pid) != self._me
            ),
            default=0,
        )

    def close(self) -> None:
        self._watcher.close()
