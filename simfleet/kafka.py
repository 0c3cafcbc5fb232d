"""Kafka I/O: topic admin, and a producer whose every delivery report is counted.

Errors of confluent-kafka are mapped to ``BrokerError`` / ``DeliveryError`` here, the one
boundary with the client library.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from simfleet.clock import wall_ms
from simfleet.codec import TopicEncoder, records_to_columns
from simfleet.columns import Batch
from simfleet.errors import BrokerError, ConfigError, DeliveryError
from simfleet.produce_loop import (
    PRODUCED_AT_HEADER,
    Counter,
    HeaderMaker,
    ProduceRefusedError,
    produce_each,
    produced_at_header,
    record_headers,
    withdraw_queued,
    write_off,
)
from simfleet.settings import KafkaSettings

__all__ = [
    "ANY_AHEAD_MS",
    "PRODUCED_AT_HEADER",
    "PRODUCER_DEFAULTS",
    "TIMESTAMP_AHEAD_CONFIG",
    "AccountedProducer",
    "TopicSpec",
    "check_timestamp_headroom",
    "ensure_topics",
    "needed_ahead_ms",
    "produced_at_header",
    "timestamp_problems",
]

_log = structlog.get_logger()

# How far ahead of the broker's clock a record timestamp may be (Kafka >= 3.6; the default is
# unbounded before 4.0 and 1 h since). Record timestamps are sim time, hours ahead at 60x.
TIMESTAMP_AHEAD_CONFIG = "message.timestamp.after.max.ms"
ANY_AHEAD_MS = 2**63 - 1  # Long.MAX_VALUE: no limit

PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "compression.type": "lz4",
    "linger.ms": 25,
    "batch.size": 262_144,
    "queue.buffering.max.messages": 100_000,
    "queue.buffering.max.kbytes": 64 * 1024,  # bounded: backpressure, not RSS growth
    "partitioner": "murmur2_random",
}


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic to create if absent."""

    name: str
    partitions: int = 3
    config: Mapping[str, str] = field(default_factory=dict)


def ensure_topics(
    settings: KafkaSettings, topics: Iterable[TopicSpec], timeout: float = 15.0
) -> set[str]:
    """Create the topics that do not exist yet; existing ones are left as they are.

    Returns the names of the topics this call created (not those another client created
    between our listing and our request: their settings are not ours either).
    """
    admin = AdminClient(settings.client_config("admin"))
    try:
        existing = set(admin.list_topics(timeout=min(timeout, 10.0)).topics)
    except KafkaException as exc:
        raise BrokerError(
            f"Cannot reach the Kafka broker at {settings.bootstrap_servers} to create topics: "
            f"{exc.args[0].str() if exc.args else exc}. Check --bootstrap-servers."
        ) from exc
    new = [
        # -1: the broker's default.replication.factor (KIP-464), so a three-broker cluster
        # gets its usual copies and the embedded broker its one (tests/broker pins it)
        NewTopic(t.name, t.partitions, settings.replication_factor, config=dict(t.config))
        for t in topics
        if t.name not in existing
    ]
    if not new:
        return set()
    created: set[str] = set()
    for name, fut in admin.create_topics(new, request_timeout=timeout).items():
        try:
            fut.result(timeout=timeout)
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            if err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerError(f"Cannot create topic {name}: {err.str()}.") from exc
        else:
            created.add(name)
    deadline = time.monotonic() + timeout
    want = {t.topic for t in new}
    while time.monotonic() < deadline:
        if want <= set(admin.list_topics(timeout=5).topics):
            return created
        time.sleep(0.05)  # polling a condition with a deadline: metadata propagation
    raise BrokerError(f"Topics {sorted(want)} were created but did not appear within {timeout} s.")


def needed_ahead_ms(
    speed: float, start_ms: int, wall_ms: int, duration_ms: int | None
) -> int | None:
    """How far ahead of the wall clock record timestamps (sim time) can get in a run, in ms.

    The sim clock starts at ``start_ms`` when the wall clock reads ``wall_ms`` and runs at
    ``speed``; the run lasts ``duration_ms`` of wall time (None: until stopped). The lead
    ``start - wall + (speed - 1) * elapsed`` is linear in the elapsed time, so its largest value
    is at the start or at the end. 0 when timestamps never lead (speed <= 1 and a start not
    after now); None when the lead grows without bound (speed > 1 and no duration). A speed
    change during the run is not foreseen here: pass the highest speed the run may use.
    """
    at_start = start_ms - wall_ms
    if speed <= 1:
        return max(0, at_start)
    if duration_ms is None:
        return None
    return max(0, at_start, at_start + math.ceil((speed - 1) * duration_ms))


def timestamp_problems(configs: Mapping[str, str | None], needed_ms: int | None) -> list[str]:
    """The topics whose ``message.timestamp.after.max.ms`` is below what a run needs, sorted.

    ``configs`` maps each topic to the value its broker reports for the setting, or None when
    the broker reports none (nothing to judge: the topic passes). ``needed_ms`` is what
    ``needed_ahead_ms`` returned; None (unbounded) needs ``ANY_AHEAD_MS``. A broker refuses a
    record whose timestamp leads its clock by more than the limit, so a limit equal to the
    need is enough.
    """
    need = ANY_AHEAD_MS if needed_ms is None else needed_ms
    bad = []
    for topic, value in configs.items():
        if value is None:
            continue
        try:
            limit = int(value)
        except ValueError:
            continue  # not a number we can compare: leave it to the broker to judge
        if limit < need:
            bad.append(topic)
    return sorted(bad)


def _describe_ahead_limits(
    admin: AdminClient, topics: Sequence[str], timeout: float
) -> dict[str, str | None]:
    """Each topic's reported ``message.timestamp.after.max.ms`` (None: not reported)."""
    resources = [ConfigResource(ResourceType.TOPIC, t) for t in topics]
    out: dict[str, str | None] = {}
    for resource, fut in admin.describe_configs(resources, request_timeout=timeout).items():
        topic = resource.name
        try:
            entries = fut.result(timeout=timeout)
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            if err.code() in (
                KafkaError.TOPIC_AUTHORIZATION_FAILED,
                KafkaError.CLUSTER_AUTHORIZATION_FAILED,
            ):
                # no DescribeConfigs right: we cannot tell, the broker will refuse if it must
                _log.warning("topic_config_not_readable", topic=topic, error=err.str())
                out[topic] = None
                continue
            raise BrokerError(
                f"Cannot read the configuration of topic {topic}: {err.str()}. Check "
                "--bootstrap-servers and the client's DescribeConfigs permission."
            ) from exc
        entry = entries.get(TIMESTAMP_AHEAD_CONFIG)
        out[topic] = None if entry is None else entry.value
    return out


def _duration_text(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    if hours >= 48:
        return f"{ms / 86_400_000:.1f} days"
    if hours:
        return f"{hours} h {rest // 60_000} min"
    return f"{rest / 1000:g} s"


def check_timestamp_headroom(
    settings: KafkaSettings,
    topics: Sequence[str],
    needed_ms: int | None,
    created: set[str],
    timeout: float = 15.0,
) -> None:
    """Refuse to run when an existing topic would reject this run's future record timestamps.

    Topics in ``created`` were made by this run with an unbounded limit (``topology``) and are
    not asked about. For the others the broker is asked for ``message.timestamp.after.max.ms``;
    a value below ``needed_ms`` (see ``needed_ahead_ms``; None: unbounded) raises
    ``ConfigError`` naming the topics and the fix. A broker that does not report the setting
    passes: Tansu, the embedded broker, reports only what was set when a topic was created,
    and enforces no limit at all (pinned in ``tests/broker/test_tansu_behaviours.py``); a
    broker that enforces a limit reports it.
    """
    existing = [t for t in dict.fromkeys(topics) if t not in created]
    if not existing or needed_ms == 0:
        return
    admin = AdminClient(settings.client_config("admin"))
    try:
        limits = _describe_ahead_limits(admin, existing, timeout)
    except KafkaException as exc:
        raise BrokerError(
            f"Cannot reach the Kafka broker at {settings.bootstrap_servers} to read topic "
            f"configurations: {exc.args[0].str() if exc.args else exc}. "
            "Check --bootstrap-servers."
        ) from exc
    bad = timestamp_problems(limits, needed_ms)
    if not bad:
        return
    current = ", ".join(f"{t} ({TIMESTAMP_AHEAD_CONFIG}={limits[t]})" for t in bad)
    need = (
        "an unbounded lead (speed above 1 with no duration), i.e. "
        f"{TIMESTAMP_AHEAD_CONFIG}={ANY_AHEAD_MS}"
        if needed_ms is None
        else f"a lead of up to {_duration_text(needed_ms)} ({needed_ms} ms)"
    )
    name = bad[0] if len(bad) == 1 else "<topic>"
    each = "" if len(bad) == 1 else " for each of them"
    raise ConfigError(
        f"Existing topic(s) {current} refuse records whose timestamp is further ahead of the "
        f"broker's clock than that limit, and this run's record timestamps (sim time) need "
        f"{need}; simfleet did not create these topics, so it leaves their settings alone. "
        f"Raise the limit{each}: `kafka-configs.sh --bootstrap-server "
        f"{settings.bootstrap_servers} --alter --entity-type topics --entity-name {name} "
        f"--add-config {TIMESTAMP_AHEAD_CONFIG}={ANY_AHEAD_MS}`, or run at `--speed 1` with a "
        "start no later than now so that timestamps never lead the wall clock."
    )


# what ``send_encoded`` takes after the topic: buffer, offsets, keys, timestamps
EncodedArgs = tuple[bytes, list[int], list[bytes | None], list[int]]


class AccountedProducer:
    """A confluent-kafka producer that encodes batches and counts every delivery report.

    produced = delivered + failed + in flight, per topic; ``flush`` raises ``DeliveryError``
    when anything failed or is still in flight at its deadline.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        encoders: Mapping[str, TopicEncoder] | None = None,
        overrides: Mapping[str, Any] | None = None,
        stamp_topics: frozenset[str] | None = None,
    ) -> None:
        conf = {**PRODUCER_DEFAULTS, **settings.client_config("producer"), **(overrides or {})}
        try:
            self._producer = Producer(conf)
        except KafkaException as exc:
            raise BrokerError(
                f"Cannot create a Kafka producer: {exc}. Check the settings."
            ) from exc
        self._encoders = dict(encoders or {})
        # the topics whose records get the produce-time header (None: every topic)
        self.stamp_topics = stamp_topics
        # per-record headers (`--trace-headers`, `--cloudevents`), a maker per data topic
        self.header_kinds = settings.record_headers
        self.value_format = settings.value_format
        self._makers: dict[str, HeaderMaker | None] = {}
        self.counters: dict[str, Counter] = {}
        self.abandoned = False
        # set when this process was frozen (SIGSTOP then SIGCONT, ``simfleet.fence``): the
        # shards it held may have moved meanwhile, so nothing more is produced for them
        # until the worker has withdrawn what is queued and given them up (``withdraw``)
        self.fenced = False

    def _maker(self, topic: str) -> HeaderMaker | None:
        if topic not in self._makers:
            self._makers[topic] = record_headers(self.header_kinds, topic, self.value_format)
        return self._makers[topic]

    def _counter(self, topic: str) -> Counter:
        c = self.counters.get(topic)
        if c is None:
            c = self.counters[topic] = Counter()
        return c

    def encode_batch(self, batch: Batch) -> EncodedArgs:
        """A batch as ``send_encoded``'s arguments: key = entity id, ts = occurred_at."""
        buf, offsets = self._encoders[batch.topic].encode(batch.columns, batch.n)
        return buf, offsets.tolist(), batch.keys(), batch.occurred_at.tolist()

    def encode_records(
        self, topic: str, records: list[dict[str, Any]], key_field: str
    ) -> EncodedArgs:
        """Records given as dicts as ``send_encoded``'s arguments (the edges, not the hot
        path)."""
        enc = self._encoders[topic]
        buf, offsets = enc.encode(records_to_columns(enc.schema.parsed, records), len(records))
        keys: list[bytes | None] = [str(r[key_field]).encode() for r in records]
        return buf, offsets.tolist(), keys, [int(r["occurred_at"]) for r in records]

    def send_batch(self, batch: Batch) -> None:
        """Encode a batch and produce one record per event: key = entity id, ts = occurred_at."""
        if batch.n:
            self.send_encoded(batch.topic, *self.encode_batch(batch))

    def send_records(self, topic: str, records: list[dict[str, Any]], key_field: str) -> None:
        """Encode and produce records given as dicts (the edges: metrics, not the hot path)."""
        if records:
            self.send_encoded(topic, *self.encode_records(topic, records, key_field))

    def send_encoded(
        self,
        topic: str,
        buf: bytes,
        offsets: list[int],
        keys: list[bytes | None],
        timestamps: list[int],
        stamp: bool = True,
    ) -> None:
        """Produce records ``buf[offsets[i]:offsets[i+1]]``; the hot loop of the data plane.
        Records of ``stamp_topics`` carry the produce-time header (one instant per call: a call
        takes milliseconds) unless ``stamp`` is False (the bench measures what it costs)."""
        if self.abandoned:
            return
        counter = self._counter(topic)
        stamped = stamp and (self.stamp_topics is None or topic in self.stamp_topics)
        headers: list[tuple[str, str | bytes | None]] | None = (
            [*produced_at_header(wall_ms())] if stamped else None
        )
        try:
            counter.produced += produce_each(
                self._producer,
                topic,
                buf,
                offsets,
                keys,
                timestamps,
                headers,
                counter.on_delivery,
                per_record=self._maker(topic),
            )
        except ProduceRefusedError as exc:
            counter.produced += exc.handed
            raise DeliveryError(f"Producing to {topic} failed: {exc.error}.") from exc

    def send_framed(
        self,
        topic: str,
        prefix: bytes,
        buf: bytes,
        offsets: list[int],
        keys: list[bytes | None],
        timestamps: list[int],
        stamp: bool = True,
    ) -> None:
        """Produce records ``prefix + buf[offsets[i]:offsets[i+1]]`` (replay: datums read as
        they lie in a file, the framing given apart), accounted like ``send_encoded``, with
        the produce-time header unless ``stamp`` is False."""
        if self.abandoned:
            return
        counter = self._counter(topic)
        headers: list[tuple[str, str | bytes | None]] | None = (
            [*produced_at_header(wall_ms())] if stamp else None
        )
        try:
            counter.produced += produce_each(
                self._producer,
                topic,
                buf,
                offsets,
                keys,
                timestamps,
                headers,
                counter.on_delivery,
                prefix,
                per_record=self._maker(topic),
            )
        except ProduceRefusedError as exc:
            counter.produced += exc.handed
            raise DeliveryError(f"Producing to {topic} failed: {exc.error}.") from exc

    def send_untimed(
        self, topic: str, buf: bytes, offsets: list[int], keys: list[bytes | None]
    ) -> None:
        """Produce records ``buf[offsets[i]:offsets[i+1]]`` with one ``produce_batch`` call,
        accounted like ``send_encoded``.

        The client's batch call (confluent-kafka 2.16) refuses timestamps and drops headers:
        records get the produce instant as their timestamp and no produce-time header. The
        data plane stamps records with sim time, so it cannot use this; the bench measures it
        as the client's other ceiling. Keys land where ``send_encoded`` puts them (the same
        partitioner; pinned in tests/broker), a ``partition`` per record is ignored.
        """
        if self.abandoned:
            return
        counter = self._counter(topic)
        pending: list[dict[str, Any]] = [
            {"value": buf[offsets[i] : offsets[i + 1]], "key": keys[i]} for i in range(len(keys))
        ]
        while pending:
            try:
                queued = self._producer.produce_batch(
                    topic, pending, on_delivery=counter.on_delivery
                )
            except KafkaException as exc:
                raise DeliveryError(f"Producing to {topic} failed: {exc.args[0].str()}.") from exc
            counter.produced += queued
            if queued == len(pending):
                break
            # a record the call could not queue carries its error and gets no delivery report
            refused = [m for m in pending if "_error" in m]
            other = [m["_error"] for m in refused if m["_error"].code() != KafkaError._QUEUE_FULL]
            if other:
                # counted handed over and failed; those refused for a full queue were not
                counter.produced += len(other)
                counter.failed += len(other)
                counter.last_error = other[0].str()
                raise DeliveryError(f"Producing to {topic} failed: {other[0].str()}.")
            for m in refused:
                del m["_error"]
            pending = refused
            self._producer.poll(0.05)  # the local queue is full: serve reports first
        self._producer.poll(0)

    def send_message(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        timestamp: int,
        partition: int | None = None,
        headers: list[tuple[str, bytes | None]] | None = None,
    ) -> None:
        """Produce one accounted record (replay): an explicit partition and headers allowed."""
        if self.abandoned:
            return
        counter = self._counter(topic)
        kwargs: dict[str, Any] = {"timestamp": timestamp, "on_delivery": counter.on_delivery}
        if partition is not None:
            kwargs["partition"] = partition
        if headers:
            kwargs["headers"] = headers
        try:
            while True:
                try:
                    self._producer.produce(topic, value, key, **kwargs)
                    break
                except BufferError:
                    self._producer.poll(0.05)  # the local queue is full: serve reports first
        except KafkaException as exc:
            raise DeliveryError(f"Producing to {topic} failed: {exc.args[0].str()}.") from exc
        counter.produced += 1

    def send_raw(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        timestamp: int | None = None,
        on_delivery: Callable[[KafkaError | None, Any], None] | None = None,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Produce one record outside the accounted data path (heartbeats, commands,
        checkpoints)."""
        if self.abandoned:
            return
        kwargs: dict[str, Any] = {}
        if timestamp is not None:
            kwargs["timestamp"] = timestamp
        if partition is not None:
            kwargs["partition"] = partition
        if headers:
            kwargs["headers"] = headers
        self._producer.produce(topic, value, key, on_delivery=on_delivery, **kwargs)

    def poll(self, timeout: float = 0.0) -> None:
        """Serve delivery reports."""
        self._producer.poll(timeout)

    @property
    def in_flight(self) -> int:
        """Records handed over and not yet reported."""
        return len(self._producer)

    def totals(self) -> tuple[int, int, int]:
        """(produced, delivered, failed) over all topics."""
        p = sum(c.produced for c in self.counters.values())
        d = sum(c.delivered for c in self.counters.values())
        f = sum(c.failed for c in self.counters.values())
        return p, d, f

    def abandon(self) -> None:
        """Write off what is queued or in flight (each counted failed) and produce nothing
        more: the cluster it was meant for is gone (``simfleet.cluster``)."""
        self.abandoned = True
        write_off(self._producer)  # the purged records' reports count them failed

    def settle(self, timeout: float) -> int:
        """Wait until every record handed over is acknowledged (or ``timeout``), raising
        nothing; returns how many are still in flight."""
        if self.abandoned:
            return 0
        return int(self._producer.flush(timeout))

    def withdraw(self, timeout: float = 10.0) -> int:
        """Purge the data records queued and not yet sent (no longer produced: the shards'
        next owners write them), wait for those in flight, and produce again; returns how
        many are still unreported."""
        left = withdraw_queued(self._producer, list(self.counters.values()), timeout)
        self.fenced = False
        return left

    def drain(self, timeout: float = 5.0) -> int:
        """Wait for outstanding records without accounting (heartbeats); returns those left."""
        if self.abandoned:
            return 0
        return int(self._producer.flush(timeout))

    def close(self) -> None:
        """Release what this producer holds besides the client (``SenderProcess``: its
        child); after ``flush``."""

    def flush(self, timeout: float = 30.0) -> None:
        """Wait for every delivery report; raise ``DeliveryError`` if any failed or is missing
        (unless the producer was abandoned: what it wrote off is told by whoever did that)."""
        if self.abandoned:
            self._producer.poll(0)
            return
        remaining = self._producer.flush(timeout)
        produced, delivered, failed = self.totals()
        if remaining or failed:
            errors = {t: c.last_error for t, c in self.counters.items() if c.last_error}
            raise DeliveryError(
                f"{failed} record(s) failed and {remaining} were still in flight after {timeout} s "
                f"(produced {produced}, delivered {delivered}). Last errors: {errors or 'none'}. "
                "Check that the broker is up and the topics exist."
            )
