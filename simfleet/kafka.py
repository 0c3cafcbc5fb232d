"""Kafka I/O: topic admin, and a producer whose every delivery report is counted.

Errors of confluent-kafka are mapped to ``BrokerError`` / ``DeliveryError`` here, the one
boundary with the client library.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from simfleet.codec import TopicEncoder, records_to_columns
from simfleet.columns import Batch
from simfleet.errors import BrokerError, DeliveryError
from simfleet.settings import KafkaSettings

__all__ = [
    "PRODUCER_DEFAULTS",
    "AccountedProducer",
    "TopicSpec",
    "ensure_topics",
]

# Idempotent, acks=all, lz4, lingering batches; murmur2 so keys land where Java clients put them.
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
) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    admin = AdminClient(settings.client_config())
    try:
        existing = set(admin.list_topics(timeout=min(timeout, 10.0)).topics)
    except KafkaException as exc:
        raise BrokerError(
            f"Cannot reach the Kafka broker at {settings.bootstrap_servers} to create topics: "
            f"{exc.args[0].str() if exc.args else exc}. Check --bootstrap-servers."
        ) from exc
    new = [
        NewTopic(t.name, t.partitions, 1, config=dict(t.config))
        for t in topics
        if t.name not in existing
    ]
    if not new:
        return
    for name, fut in admin.create_topics(new, request_timeout=timeout).items():
        try:
            fut.result(timeout=timeout)
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            if err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerError(f"Cannot create topic {name}: {err.str()}.") from exc
    deadline = time.monotonic() + timeout
    want = {t.topic for t in new}
    while time.monotonic() < deadline:
        if want <= set(admin.list_topics(timeout=5).topics):
            return
        time.sleep(0.05)  # polling a condition with a deadline: metadata propagation
    raise BrokerError(f"Topics {sorted(want)} were created but did not appear within {timeout} s.")


class _Counter:
    __slots__ = ("delivered", "failed", "last_error", "produced")

    def __init__(self) -> None:
        self.produced = 0
        self.delivered = 0
        self.failed = 0
        self.last_error: str | None = None

    def on_delivery(self, err: KafkaError | None, _msg: Any) -> None:
        if err is None:
            self.delivered += 1
        else:
            self.failed += 1
            self.last_error = err.str()


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
    ) -> None:
        conf = {**PRODUCER_DEFAULTS, **settings.client_config(), **(overrides or {})}
        try:
            self._producer = Producer(conf)
        except KafkaException as exc:
            raise BrokerError(
                f"Cannot create a Kafka producer: {exc}. Check the settings."
            ) from exc
        self._encoders = dict(encoders or {})
        self.counters: dict[str, _Counter] = {}

    def _counter(self, topic: str) -> _Counter:
        c = self.counters.get(topic)
        if c is None:
            c = self.counters[topic] = _Counter()
        return c

    def send_batch(self, batch: Batch) -> None:
        """Encode a batch and produce one record per event: key = entity id, ts = occurred_at."""
        if batch.n == 0:
            return
        enc = self._encoders[batch.topic]
        buf, offsets = enc.encode(batch.columns, batch.n)
        self.send_encoded(
            batch.topic, buf, offsets.tolist(), batch.keys(), batch.occurred_at.tolist()
        )

    def send_records(self, topic: str, records: list[dict[str, Any]], key_field: str) -> None:
        """Encode and produce records given as dicts (the edges: metrics, not the hot path)."""
        if not records:
            return
        enc = self._encoders[topic]
        buf, offsets = enc.encode(records_to_columns(enc.schema.parsed, records), len(records))
        self.send_encoded(
            topic,
            buf,
            offsets.tolist(),
            [str(r[key_field]).encode() for r in records],
            [int(r["occurred_at"]) for r in records],
        )

    def send_encoded(
        self,
        topic: str,
        buf: bytes,
        offsets: list[int],
        keys: list[bytes | None],
        timestamps: list[int],
    ) -> None:
        """Produce records ``buf[offsets[i]:offsets[i+1]]``; the hot loop of the data plane."""
        counter = self._counter(topic)
        cb = counter.on_delivery
        produce = self._producer.produce
        poll = self._producer.poll
        n = len(keys)
        i = 0
        start = offsets[0]
        try:
            for i in range(n):
                end = offsets[i + 1]
                try:
                    produce(topic, buf[start:end], keys[i], on_delivery=cb, timestamp=timestamps[i])
                except BufferError:
                    # the local queue is full: serve delivery reports until there is room
                    while True:
                        poll(0.05)
                        try:
                            produce(
                                topic,
                                buf[start:end],
                                keys[i],
                                on_delivery=cb,
                                timestamp=timestamps[i],
                            )
                            break
                        except BufferError:
                            continue
                start = end
        except KafkaException as exc:
            counter.produced += i
            raise DeliveryError(f"Producing to {topic} failed: {exc.args[0].str()}.") from exc
        counter.produced += n
        poll(0)

    def send_raw(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        timestamp: int | None = None,
        on_delivery: Callable[[KafkaError | None, Any], None] | None = None,
    ) -> None:
        """Produce one record outside the accounted data path (heartbeats, commands)."""
        kwargs: dict[str, Any] = {}
        if timestamp is not None:
            kwargs["timestamp"] = timestamp
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

    def drain(self, timeout: float = 5.0) -> int:
        """Wait for outstanding records without accounting (heartbeats); returns those left."""
        return int(self._producer.flush(timeout))

    def flush(self, timeout: float = 30.0) -> None:
        """Wait for every delivery report; raise ``DeliveryError`` if any failed or is missing."""
        remaining = self._producer.flush(timeout)
        produced, delivered, failed = self.totals()
        if remaining or failed:
            errors = {t: c.last_error for t, c in self.counters.items() if c.last_error}
            raise DeliveryError(
                f"{failed} record(s) failed and {remaining} were still in flight after {timeout} s "
                f"(produced {produced}, delivered {delivered}). Last errors: {errors or 'none'}. "
                "Check that the broker is up and the topics exist."
            )
