"""`simctl tail` reads back what the pipeline produced, as JSON lines, on the embedded broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simfleet.codec import encoders_for
from simfleet.domain.pack import Project, load_domain
from simfleet.kafka import AccountedProducer, TopicSpec, ensure_topics
from simfleet.producers.backfill import backfill
from simfleet.settings import KafkaSettings
from simfleet.timeutil import parse_instant_ms
from tests.live import simctl, state_env

pytestmark = pytest.mark.integration


def test_tail_prints_decoded_events_as_json_lines(bootstrap: str, tmp_path: Path) -> None:
    """Produce an hour of bookings, then `simctl tail --from-beginning --max 5`: 5 JSON lines."""
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    domain = load_domain("marketplace")
    topic = "marketplace.booking.requested"
    ensure_topics(settings, [TopicSpec(topic, 3)])
    producer = AccountedProducer(settings, encoders_for(Project().schemas(), None))
    start = parse_instant_ms("2026-03-03T12:00:00Z")
    sent = []
    for batches in backfill(domain, start, start + 3_600_000, seed=3, shards=1):
        for b in batches:
            if b.topic == topic:
                producer.send_batch(b)
                sent.extend(r["booking_id"] for r in b.to_records())
    producer.flush(30)
    assert len(sent) >= 5
    out = simctl(
        *("tail", topic, "--from-beginning", "--max", "5", "--bootstrap-servers", bootstrap),
        env=state_env(tmp_path),
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 5
    for line in lines:
        rec = json.loads(line)
        assert rec["booking_id"] in sent
        assert rec["student_id"].startswith("stu-")


def test_tail_of_a_misspelt_topic_suggests_the_right_one(bootstrap: str, tmp_path: Path) -> None:
    """`simctl tail marketplace.booking.requestd`: exit 3, did-you-mean, and a command that
    exists (`simctl topics`) to list them."""
    ensure_topics(
        KafkaSettings(bootstrap_servers=bootstrap), [TopicSpec("marketplace.booking.requested", 3)]
    )
    env = state_env(tmp_path)
    out = simctl("tail", "marketplace.booking.requestd", "-b", bootstrap, "--timeout", "1", env=env)
    assert out.returncode == 3, out.stderr
    assert "did you mean `marketplace.booking.requested`?" in out.stderr
    assert "`simctl topics`" in out.stderr
    listed = simctl("topics", "-b", bootstrap, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "marketplace.booking.requested  (3 partitions)" in listed.stdout


@pytest.mark.parametrize(
    ("lines", "code", "needle"),
    [
        ("security.protocol=PLAINTEXT\nclient.id=tail-test\n", 0, "events"),
        ("securty.protocol=PLAINTEXT\nsasl.password=hunter2\n", 2, "securty.protocol"),
    ],
)
def test_tail_takes_kafka_properties(
    bootstrap: str, tmp_path: Path, lines: str, code: int, needle: str
) -> None:
    """`--kafka-properties` reaches tail's consumer; an unknown librdkafka key is refused in
    one paragraph naming the file and the key, never a traceback, never a secret."""
    props = tmp_path / "client.properties"
    props.write_text(lines)
    out = simctl(
        *("tail", "marketplace.booking.requested", "-b", bootstrap),
        *("--kafka-properties", str(props), "--timeout", "1"),
        env=state_env(tmp_path),
    )
    assert out.returncode == code, out.stderr
    assert needle in out.stderr
    assert "Traceback" not in out.stderr
    assert "hunter2" not in out.stderr


def test_tail_shows_key_partition_offset_and_time(bootstrap: str, tmp_path: Path) -> None:
    """`--format json` wraps each value with its key, partition, offset and timestamp;
    `--format table` shows the same as columns under a header; `--last N` starts N events
    before the end of each partition."""
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    topic = "marketplace.booking.requested"
    ensure_topics(settings, [TopicSpec(topic, 3)])
    producer = AccountedProducer(settings, encoders_for(Project().schemas(), None))
    start = parse_instant_ms("2026-03-03T12:00:00Z")
    # an hour, then ten minutes more in a flush of their own: a last batch of a few records
    for t0, t1 in ((start, start + 3_600_000), (start + 3_600_000, start + 4_200_000)):
        for batches in backfill(load_domain("marketplace"), t0, t1, seed=4, shards=1):
            for b in batches:
                if b.topic == topic:
                    producer.send_batch(b)
        producer.flush(30)
    env = state_env(tmp_path)
    common = ("-b", bootstrap, "--timeout", "3")
    as_json = simctl(
        "tail", topic, "--from-beginning", "--max", "3", "--format", "json", *common, env=env
    )
    assert as_json.returncode == 0, as_json.stderr
    lines = as_json.stdout.splitlines()
    assert len(lines) == 3
    for line in lines:
        rec = json.loads(line)
        assert set(rec) == {"key", "partition", "offset", "timestamp", "value"}
        assert isinstance(rec["key"], str) and rec["partition"] in (0, 1, 2)
        assert rec["offset"] >= 0 and rec["timestamp"].endswith("Z")
        assert rec["value"]["booking_id"]
    table = simctl("tail", topic, "--last", "2", "--format", "table", *common, env=env)
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.startswith("time (record timestamp)")
    everything = simctl("tail", topic, "--from-beginning", *common, env=env)
    # on Kafka two rows per partition; the embedded broker lists a partition's end at its last
    # batch (tests/broker/test_tansu_behaviours.py), so there the last batch comes whole too
    assert 1 <= len(rows) < len(everything.stdout.splitlines())
    assert "the last 2 of each partition" in table.stderr
    bad = simctl("tail", topic, "--format", "xml", *common, env=env)
    assert bad.returncode != 0 and "value, json, table" in bad.stderr
