"""The per-record produce loop of the data path, and its delivery counter.

In a module of its own, with no import but the client's: ``AccountedProducer`` runs it in a
worker, and the producing child process (``simfleet.sender_child``) runs it with nothing else of
simfleet loaded, so that the child's memory is the interpreter and the client.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

__all__ = [
    "PRODUCED_AT_HEADER",
    "RECORD_HEADER_KINDS",
    "Counter",
    "ProduceRefusedError",
    "produce_each",
    "produced_at_header",
    "purge",
    "record_headers",
    "withdraw_queued",
    "write_off",
]

# every record of a label's subject carries the wall-clock instant it was handed to Kafka
# (epoch ms, ASCII): a consumer's latency is its own output's timestamp minus this
PRODUCED_AT_HEADER = "simfleet-produced-at"


def produced_at_header(ms: int | None = None) -> list[tuple[str, bytes | None]]:
    """The headers of a record handed to Kafka at wall-clock ``ms`` (default: now)."""
    if ms is None:
        ms = time.time_ns() // 1_000_000
    return [(PRODUCED_AT_HEADER, str(ms).encode())]


# per-record headers a fleet can add (`--trace-headers`, `--cloudevents`)
RECORD_HEADER_KINDS = ("traceparent", "cloudevents")
_CONTENT_TYPES = {
    "avro": b"application/avro",
    "protobuf": b"application/x-protobuf",
    "json-schema": b"application/json",
    "json": b"application/json",
}
Headers = list[tuple[str, str | bytes | None]]
HeaderMaker = Callable[[bytes, int], Headers]


def record_headers(kinds: Sequence[str], topic: str, value_format: str) -> HeaderMaker | None:
    """Per-record headers of ``topic`` for ``kinds`` (None for none): a W3C ``traceparent``
    and/or CloudEvents binary-mode ``ce_*`` headers. Ids come from a hash of the topic and the
    value, so a record made again (a resumed shard, ``generate`` then ``replay``) has the same
    trace and event ids, and a consumer can join its spans to the record it read."""
    trace = "traceparent" in kinds
    ce = "cloudevents" in kinds
    if not (trace or ce):
        return None
    salt = topic.encode() + b"\0"
    source = f"/simfleet/{topic.split('.', 1)[0]}".encode()
    ctype = _CONTENT_TYPES.get(value_format, b"application/octet-stream")
    kind = topic.encode()

    def make(value: bytes, ts: int) -> Headers:
        digest = hashlib.blake2b(salt + value, digest_size=24).digest()
        out: Headers = []
        if trace:
            # version 00, a 16-byte trace id, an 8-byte parent (span) id, flags 01 (sampled)
            out.append(
                (
                    "traceparent",
                    b"00-%s-%s-01" % (digest[:16].hex().encode(), digest[16:].hex().encode()),
                )
            )
        if ce:
            when = datetime.fromtimestamp(ts / 1000, UTC).isoformat(timespec="milliseconds")
            out += [
                ("ce_specversion", b"1.0"),
                ("ce_id", digest[:16].hex().encode()),
                ("ce_source", source),
                ("ce_type", kind),
                ("ce_time", when.replace("+00:00", "Z").encode()),
                ("content-type", ctype),
            ]
        return out

    return make


# a fence's purge, or the broker refusing a fenced producer's request: never written
NOT_WRITTEN = frozenset(
    {
        KafkaError._PURGE_QUEUE,
        KafkaError._FENCED,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
    }
)


class Counter:
    """Records of one topic: handed over, delivered, failed, withdrawn (purged from the
    queue by a fence: never sent, so no longer produced), and the last error."""

    __slots__ = ("delivered", "failed", "last_error", "produced", "withdrawing", "withdrawn")

    def __init__(self) -> None:
        self.produced = 0
        self.delivered = 0
        self.failed = 0
        self.withdrawn = 0
        self.withdrawing = False  # while a fence purges: a purged record is withdrawn
        self.last_error: str | None = None

    def on_delivery(self, err: KafkaError | None, _msg: Any) -> None:
        if err is None:
            self.delivered += 1
        elif self.withdrawing and err.code() in NOT_WRITTEN:
            self.withdrawn += 1
            self.produced -= 1
        else:
            self.failed += 1
            self.last_error = err.str()


class ProduceRefusedError(Exception):
    """The client refused a record: ``handed`` records of the call were handed over."""

    def __init__(self, handed: int, error: str) -> None:
        super().__init__(error)
        self.handed = handed
        self.error = error


def produce_each(
    producer: Producer,
    topic: str,
    buf: bytes,
    offsets: list[int],
    keys: list[bytes | None],
    timestamps: list[int],
    headers: list[tuple[str, str | bytes | None]] | None,
    on_delivery: Any,
    prefix: bytes = b"",
    per_record: HeaderMaker | None = None,
) -> int:
    """Produce records ``prefix + buf[offsets[i]:offsets[i+1]]``, one ``produce()`` each, key
    ``keys[i]``, timestamp ``timestamps[i]``; wait for room when the local queue is full.
    ``per_record`` adds headers of each record's own to ``headers``.
    Returns how many were handed over; raises ``ProduceRefusedError`` if the client refuses one."""
    produce = producer.produce
    poll = producer.poll
    n = len(keys)
    i = 0
    start = offsets[0]
    try:
        for i in range(n):
            end = offsets[i + 1]
            value = prefix + buf[start:end] if prefix else buf[start:end]
            hdrs = (
                headers
                if per_record is None
                else [*(headers or ()), *per_record(value, timestamps[i])]
            )
            while True:
                try:
                    produce(
                        topic,
                        value,
                        keys[i],
                        on_delivery=on_delivery,
                        timestamp=timestamps[i],
                        headers=hdrs,
                    )
                    break
                except BufferError:
                    poll(0.05)  # the local queue is full: serve delivery reports first
            start = end
    except KafkaException as exc:
        raise ProduceRefusedError(i, exc.args[0].str()) from exc
    poll(0)
    return n


def purge(producer: Producer, in_flight: bool = False) -> None:
    """Purge what the client holds and has not sent (and, with ``in_flight``, what awaits an
    answer), waiting for the client's broker threads to have done it: a record produced
    after this returns is not purged. confluent-kafka maps its ``blocking=True`` to
    librdkafka's ``RD_KAFKA_PURGE_F_NON_BLOCKING`` (the flag reads inverted), so the waiting
    purge is ``blocking=False``; ``tests/broker/test_purge.py`` pins it."""
    producer.purge(in_queue=True, in_flight=in_flight, blocking=False)


def write_off(producer: Producer, timeout: float = 5.0) -> None:
    """Purge what is queued or in flight (each reported failed) and wait for those reports:
    an in-flight record's report may come a moment after the purge (the client's broker
    thread makes it)."""
    purge(producer, in_flight=True)
    deadline = time.monotonic() + timeout
    producer.poll(0)
    while len(producer) and time.monotonic() < deadline:
        producer.poll(0.05)


def withdraw_queued(producer: Producer, counters: Any, timeout: float = 10.0) -> int:
    """Purge what is queued and not yet sent (each counted withdrawn: no longer produced),
    then wait for what is in flight: afterwards nothing this producer was given can still
    land. Returns how many are still unreported at ``timeout``."""
    for c in counters:
        c.withdrawing = True
    try:
        purge(producer)
        producer.poll(0)
        return int(producer.flush(timeout))
    finally:
        for c in counters:
            c.withdrawing = False
