"""The client's batch call (``Producer.produce_batch``) beside ``produce()``, against the broker.

The bench measures both as ceilings; whether the data plane could move to the batch call
rests on what is pinned here: where keys land, what the call refuses, and that every record
is accounted for when the local queue fills.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from simfleet.kafka import PRODUCER_DEFAULTS, AccountedProducer
from simfleet.settings import KafkaSettings

TopicFactory = Callable[..., str]

PARTITIONS = 6
KEYS = [f"account-{i:05d}".encode() for i in range(400)]


def _framed(n: int) -> tuple[bytes, list[int]]:
    """``n`` values of 1-9 bytes back to back, with their offsets."""
    sizes = [1 + i % 9 for i in range(n)]
    offsets = [0]
    for s in sizes:
        offsets.append(offsets[-1] + s)
    return b"v" * offsets[-1], offsets


def _partition_of_key(bootstrap: str, topic: str, expected: int) -> dict[bytes, int]:
    """Every record of ``topic`` read back: key -> partition (each key is written once)."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    out: dict[bytes, int] = {}
    deadline = time.monotonic() + 30
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for m in c.consume(500, 0.5):
                key = m.key()
                if m.error() is None and key is not None:
                    out[key] = m.partition()
    finally:
        c.close()
    assert len(out) == expected, f"read {len(out)} of {expected} records of {topic}"
    return out


def test_batch_call_puts_each_key_where_produce_does(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    """Same keys through ``send_encoded`` (produce) and ``send_untimed`` (produce_batch): each
    key in the same partition (the configured murmur2_random), spread over all of them."""
    one, other = topic_factory("keys-produce", PARTITIONS), topic_factory("keys-batch", PARTITIONS)
    buf, offsets = _framed(len(KEYS))
    producer = AccountedProducer(KafkaSettings(bootstrap_servers=bootstrap))
    producer.send_encoded(one, buf, offsets, KEYS, [1_700_000_000_000] * len(KEYS))
    producer.send_untimed(other, buf, offsets, KEYS)
    producer.flush(30)
    by_produce = _partition_of_key(bootstrap, one, len(KEYS))
    by_batch = _partition_of_key(bootstrap, other, len(KEYS))
    assert len(set(by_produce.values())) == PARTITIONS
    moved = [k for k in KEYS if by_produce[k] != by_batch[k]]
    assert moved == []


def test_batch_call_ignores_a_partition_per_record(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    """A ``partition`` in a record's dict is not honoured (the call passes no per-message
    partition flag): computing partitions ourselves would need ``produce()``."""
    topic = topic_factory("batch-partition", PARTITIONS)
    p = Producer({**PRODUCER_DEFAULTS, "bootstrap.servers": bootstrap})
    queued = p.produce_batch(topic, [{"value": b"v", "key": k, "partition": 5} for k in KEYS])
    assert queued == len(KEYS)
    assert p.flush(30) == 0
    assert set(_partition_of_key(bootstrap, topic, len(KEYS)).values()) != {5}


def test_batch_call_refuses_timestamps() -> None:
    """Records of the data plane carry sim time as their timestamp; the batch call refuses
    one (confluent-kafka 2.16), which keeps the data plane on ``produce()``. If this starts
    to pass through, the batch path becomes a candidate for ``send_encoded``."""
    p = Producer({"bootstrap.servers": "127.0.0.1:1"})  # nothing is sent: it fails first
    with pytest.raises(NotImplementedError):
        p.produce_batch("t", [{"value": b"v", "key": b"k", "timestamp": 1_700_000_000_000}])


def test_batch_path_accounts_for_every_record_through_a_full_queue(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    """A local queue of 50 records and 2,000 records in one call: those it cannot queue are
    retried once reports free room; all delivered, each counted once, and all on the topic."""
    topic = topic_factory("batch-full", PARTITIONS)
    n = 2000
    keys = [f"k{i}".encode() for i in range(n)]
    buf, offsets = _framed(n)
    producer = AccountedProducer(
        KafkaSettings(bootstrap_servers=bootstrap),
        overrides={"queue.buffering.max.messages": 50},
    )
    producer.send_untimed(topic, buf, offsets, keys)
    producer.flush(30)
    assert producer.totals() == (n, n, 0)
    assert len(_partition_of_key(bootstrap, topic, n)) == n


def test_per_record_path_waits_for_room_in_a_full_queue(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    """``produce()`` per record (the data path) through a local queue of 50 records: each
    refused record waits for reports and goes again; all delivered, each counted once."""
    topic = topic_factory("per-record-full", PARTITIONS)
    n = 2000
    keys: list[bytes | None] = [f"k{i}".encode() for i in range(n)]
    buf, offsets = _framed(n)
    producer = AccountedProducer(
        KafkaSettings(bootstrap_servers=bootstrap),
        overrides={"queue.buffering.max.messages": 50},
    )
    producer.send_encoded(topic, buf, offsets, keys, [1_772_409_600_000 + i for i in range(n)])
    producer.flush(30)
    assert producer.totals() == (n, n, 0)
    assert len(_partition_of_key(bootstrap, topic, n)) == n
