"""The produce loop in a child process (``SenderProcess``), against the embedded broker.

A worker hands its data records to the child; what a reader sees must be what the inline
producer writes (partitions, order, keys, timestamps, headers), every record accounted, a
settled producer's records all on the broker, and the child gone when its parent is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable

import numpy as np
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from simfleet.errors import DeliveryError
from simfleet.kafka import PRODUCED_AT_HEADER, AccountedProducer
from simfleet.sender import SenderProcess, data_producer
from simfleet.settings import KafkaSettings

TopicFactory = Callable[..., str]

PARTITIONS = 4


def _records(n: int, seed: int) -> tuple[bytes, list[int], list[bytes | None], list[int]]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 40, n)
    offsets = [0, *np.cumsum(sizes).tolist()]
    keys: list[bytes | None] = [f"acct-{int(k):04d}".encode() for k in rng.integers(0, 50, n)]
    ts = (1_772_409_600_000 + np.arange(n) * 7).tolist()
    return rng.bytes(offsets[-1]), offsets, keys, ts


def _read(bootstrap: str, topic: str, expected: int) -> dict[int, list[tuple[object, ...]]]:
    """Every record of ``topic`` by partition: (key, value, timestamp, header names)."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    out: dict[int, list[tuple[object, ...]]] = {}
    got = 0
    deadline = time.monotonic() + 30
    try:
        while got < expected and time.monotonic() < deadline:
            for m in c.consume(500, 0.5):
                if m.error() is not None:
                    continue
                names = tuple(h[0] for h in m.headers() or [])
                out.setdefault(m.partition(), []).append(
                    (m.key(), m.value(), m.timestamp()[1], names)
                )
                got += 1
    finally:
        c.close()
    assert got == expected, f"read {got} of {expected} records of {topic}"
    return out


def test_the_child_writes_what_the_inline_producer_writes(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    """The same batches, as lists and as arrays, stamped and not: per partition, the same
    records in the same order; every record counted delivered."""
    inline_topic = topic_factory("sender-inline", PARTITIONS)
    child_topic = topic_factory("sender-child", PARTITIONS)
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    inline = AccountedProducer(settings, stamp_topics=frozenset({inline_topic}))
    child = SenderProcess(settings, stamp_topics=frozenset({child_topic}))
    try:
        n = 0
        for seed, stamp in ((1, True), (2, False), (3, True)):
            buf, offsets, keys, ts = _records(300, seed)
            inline.send_encoded(inline_topic, buf, offsets, keys, ts, stamp=stamp)
            child.send_encoded(
                child_topic, buf, np.asarray(offsets), keys, np.asarray(ts), stamp=stamp
            )
            n += len(keys)
        inline.flush(30)
        child.flush(30)
        assert child.totals() == (n, n, 0)
        assert child.in_flight == 0
    finally:
        child.close()
    a = _read(bootstrap, inline_topic, n)
    b = _read(bootstrap, child_topic, n)
    assert a == b
    stamped = sum(1 for recs in b.values() for r in recs if r[3] == (PRODUCED_AT_HEADER,))
    assert stamped == 600  # the two stamped batches, and only them


def test_settle_returns_once_every_record_is_on_the_broker(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("sender-settle", PARTITIONS)
    producer = data_producer(KafkaSettings(bootstrap_servers=bootstrap), {}, None, "process")
    try:
        buf, offsets, keys, ts = _records(2000, 4)
        producer.send_encoded(topic, buf, offsets, keys, ts)
        assert producer.settle(30) == 0
        assert producer.totals() == (2000, 2000, 0)  # acknowledged before settle returned
    finally:
        producer.close()
    assert sum(len(v) for v in _read(bootstrap, topic, 2000).values()) == 2000


def test_a_dead_child_is_an_error_not_a_silent_loss(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("sender-dead", PARTITIONS)
    producer = SenderProcess(KafkaSettings(bootstrap_servers=bootstrap))
    try:
        os.kill(producer.child_pid, signal.SIGKILL)
        # it is gone; the pipe's end tells the parent (whose reader thread may reap it first,
        # so wait through the Popen, which knows)
        producer._child.wait(30)
        buf, offsets, keys, ts = _records(10, 5)
        with pytest.raises(DeliveryError, match="producing process"):
            producer.send_encoded(topic, buf, offsets, keys, ts)
            producer.flush(5)  # waits for the answer, or for the reader to see the pipe close
    finally:
        producer.close()


def test_the_child_dies_with_its_parent(bootstrap: str) -> None:
    """A worker SIGKILLed takes its producing process along at once: nothing of it is still
    writing when a shard's next owner reads the partitions."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from simfleet.sender import SenderProcess
        from simfleet.settings import KafkaSettings
        p = SenderProcess(KafkaSettings(bootstrap_servers={bootstrap!r}))
        print(p.child_pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        os.kill(child, 0)  # alive
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(child):
            time.sleep(0.05)
        assert not _alive(child), "the producing process outlived its parent"
    finally:
        parent.kill()
        parent.wait(10)
        if parent.stdout is not None:
            parent.stdout.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _count(bootstrap: str, topic: str, idle_s: float = 3.0) -> int:
    """Records of ``topic`` now on the broker (read until ``idle_s`` without one)."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    got = 0
    last = time.monotonic()
    try:
        while time.monotonic() - last < idle_s:
            for m in c.consume(500, 0.2):
                if m.error() is None:
                    got += 1
                    last = time.monotonic()
    finally:
        c.close()
    return got


def test_a_frozen_child_lands_nothing_it_held(bootstrap: str, topic_factory: TopicFactory) -> None:
    """The fence (``simfleet.sender_child``): records the client held when its process was
    stopped (SIGSTOP, longer than the linger) are purged on SIGCONT, not sent; the parent is
    told, withdraws them (no longer produced) and produces again."""
    topic = topic_factory("sender-frozen", PARTITIONS)
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    producer = SenderProcess(settings, overrides={"linger.ms": 2000})
    try:
        buf, offsets, keys, ts = _records(500, 6)
        producer.send_encoded(topic, buf, offsets, keys, ts)
        assert producer._ask("ready", timeout=30) is not None  # the child has them queued
        os.kill(producer.child_pid, signal.SIGSTOP)
        time.sleep(3)  # the fault itself: frozen past the linger
        os.kill(producer.child_pid, signal.SIGCONT)
        deadline = time.monotonic() + 30
        while not producer.fenced and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the reader thread's flag with a deadline
        assert producer.fenced
        producer.send_encoded(topic, buf, offsets[:11], keys[:10], ts[:10])  # dropped: fenced
        assert producer.withdraw(10) == 0
        assert producer.totals() == (0, 0, 0), producer.totals()
        producer.send_encoded(topic, buf, offsets[:21], keys[:20], ts[:20])
        assert producer.settle(30) == 0
        errors = {t: c.last_error for t, c in producer.counters.items()}
        assert producer.totals() == (20, 20, 0), errors
    finally:
        producer.close()
    assert _count(bootstrap, topic) == 20
