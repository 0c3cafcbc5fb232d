"""What the memory-only embedded broker (Tansu 0.6.0) frees, and what it does not.

The fleet's plan for a broker that is left running rests on these (docs/ARCHITECTURE.md,
"The embedded broker's memory"): Tansu keeps every record of every topic in its process
memory; it refuses DeleteRecords, ignores retention settings, and frees a topic's memory only
when the topic is deleted. Each test starts a broker of its own, so its memory is the test's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from simfleet.broker import EmbeddedBroker, free_port

pytestmark = pytest.mark.integration

MIB = 2**20
_DEADLINE = 60.0


def rss(pid: int) -> int:
    """The process's resident memory, bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) * 1024


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    b = EmbeddedBroker()
    b.start(port=free_port(), log_path=tmp_path / "tansu.log")
    try:
        yield b
    finally:
        b.stop()


def _topic(bootstrap: str, name: str, config: dict[str, str] | None = None) -> AdminClient:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 1, 1, config=config or {})])[name].result(30)
    return admin


def _fill(bootstrap: str, topic: str, mib: int) -> None:
    """Write ``mib`` MiB of incompressible 1 KiB records and wait for every report."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    payload = os.urandom(1024)
    for _ in range(mib * 1024):
        while True:
            try:
                p.produce(topic, payload)
                break
            except BufferError:
                p.poll(0.05)  # the local queue is full: let reports drain
    assert p.flush(120) == 0


def _first_offset(bootstrap: str, topic: str) -> int:
    """The offset of the first record still readable (the low watermark, read back)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wm"})
    try:
        lo, _ = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        c.assign([TopicPartition(topic, 0, int(lo))])
        deadline = time.monotonic() + _DEADLINE
        while time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is not None and m.error() is None:
                return int(m.offset())
        raise AssertionError("no record could be read")
    finally:
        c.close()


def test_every_record_is_held_in_the_brokers_memory(broker: EmbeddedBroker) -> None:
    assert broker.pid is not None
    _topic(broker.bootstrap, "held")
    before = rss(broker.pid)
    _fill(broker.bootstrap, "held", 40)
    assert rss(broker.pid) - before >= 30 * MIB


def test_delete_records_is_refused_and_deletes_nothing(broker: EmbeddedBroker) -> None:
    admin = _topic(broker.bootstrap, "dr")
    _fill(broker.bootstrap, "dr", 1)
    futures = admin.delete_records([TopicPartition("dr", 0, 512)], request_timeout=10)
    with pytest.raises(KafkaException):
        for f in futures.values():
            f.result(30)
    assert _first_offset(broker.bootstrap, "dr") == 0


def test_retention_settings_are_ignored(broker: EmbeddedBroker) -> None:
    config = {"retention.ms": "1000", "segment.ms": "500", "retention.bytes": "65536"}
    _topic(broker.bootstrap, "ret", config)
    _fill(broker.bootstrap, "ret", 1)
    # well past the retention, more records (a broker would roll and delete segments now)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(0.5)  # letting wall time pass is the point here
    _fill(broker.bootstrap, "ret", 1)
    assert _first_offset(broker.bootstrap, "ret") == 0


def test_deleting_a_topic_frees_its_memory(broker: EmbeddedBroker) -> None:
    assert broker.pid is not None
    admin = _topic(broker.bootstrap, "freed")
    before = rss(broker.pid)
    _fill(broker.bootstrap, "freed", 40)
    full = rss(broker.pid)
    assert full - before >= 30 * MIB
    admin.delete_topics(["freed"])["freed"].result(30)
    deadline = time.monotonic() + _DEADLINE
    while rss(broker.pid) - before > 10 * MIB and time.monotonic() < deadline:
        time.sleep(0.2)  # polling a condition with a deadline
    assert rss(broker.pid) - before <= 10 * MIB, f"{(rss(broker.pid) - before) / MIB:.0f} MiB"


def test_deleting_topics_under_a_producer_fails_records(broker: EmbeddedBroker) -> None:
    """Why the fleet cannot empty topics while it produces: records in flight to topics that
    are deleted and made again fail (an idempotent producer is fenced: PRODUCER_FENCED)."""
    names = [f"busy-{i}" for i in range(6)]
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for name in names:
        admin.create_topics([NewTopic(name, 2, 1)])[name].result(30)
    failed: list[str] = []
    p = Producer(
        {"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 25}
    )

    def report(err: object, _msg: object) -> None:
        if err is not None:
            failed.append(str(err))

    deadline = time.monotonic() + _DEADLINE
    next_delete = time.monotonic() + 2
    n = deleted = 0
    while time.monotonic() < deadline and not failed:
        try:
            p.produce(names[n % 6], b"x" * 300, key=str(n % 100).encode(), on_delivery=report)
            n += 1
        except BufferError:
            p.poll(0.01)
        p.poll(0)
        if time.monotonic() > next_delete:  # one topic emptied every 2 s, round the six
            name = names[deleted % 6]
            admin.delete_topics([name])[name].result(30)
            _recreate(admin, name, 2)
            deleted += 1
            next_delete = time.monotonic() + 2
    p.flush(60)
    assert failed, f"{deleted} topics emptied under {n:,} records and none failed"


def _recreate(admin: AdminClient, name: str, partitions: int) -> None:
    deadline = time.monotonic() + _DEADLINE
    while True:
        try:
            admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
            return
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # the deletion is still settling: polling with a deadline
