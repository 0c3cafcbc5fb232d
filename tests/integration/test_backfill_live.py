"""Backfill, then live: `simctl up --backfill 2d` writes two sim days before `--start` at full
speed, then carries on live from the same engine state until `--until`. Read back from the
broker: no duplicate, no orphan, no hole at the seam, follow-ups of the history resolved live,
and the whole run identical (`simctl diff`) to `simctl generate` of the same range."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from itertools import pairwise

import pytest

from simfleet.broker.embedded import EmbeddedBroker
from simfleet.capture import BEGINNING, StopRule, capture, consumer_for
from simfleet.codec import Decoder
from simfleet.control import COUNTS_TOPIC, ShardCounts
from simfleet.domain.pack import Project
from simfleet.recording import Message
from simfleet.settings import KafkaSettings
from simfleet.timeutil import parse_instant_ms
from tests.live import simctl, state_env

pytestmark = [pytest.mark.integration]

START = "2026-03-05T00:00:00Z"
UNTIL = "2026-03-05T08:00:00Z"
H = 3_600_000
SHARDS = 2
OUTCOMES = ("confirmed", "declined", "expired")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The fleet run, its records and counts read back, and the diff against generate."""
    tmp = tmp_path_factory.mktemp("backfill")
    env = state_env(tmp / "state")
    broker = EmbeddedBroker()
    bs = broker.start(log_path=tmp / "tansu.log")
    try:
        up = simctl(
            *("up", "-b", bs, "--speed", "3600", "--scale", "0.05", "--shards", str(SHARDS)),
            *("--workers", "2", "--start", START, "--until", UNTIL, "--backfill", "2d"),
            *("--no-stats", "--no-external-events", "--no-admin", "--domain", "marketplace"),
            env=env,
            timeout=180,
        )
        assert up.returncode == 0, up.stderr[-3000:]
        assert f"every shard reached --until {UNTIL[:19]}" in up.stderr, up.stderr[-2000:]
        project = Project()
        spec = project.spec("marketplace")
        topics = {spec.topic(n): s.partitions for n, s in spec.streams.items()}
        got: list[Message] = []
        consumer = consumer_for(KafkaSettings(bootstrap_servers=bs))
        try:
            capture(
                consumer, {**topics, COUNTS_TOPIC: 1}, BEGINNING, StopRule(idle_s=3.0), got.append
            )
        finally:
            consumer.close()
        rec = simctl(
            *("record", "--topics", "marketplace.*", "-b", bs, "--from-beginning"),
            *("--idle", "3", "--out", str(tmp / "live")),
            env=env,
            timeout=180,
        )
        assert rec.returncode == 0, rec.stderr[-2000:]
    finally:
        broker.stop()
    gen = simctl(
        *("generate", "--start", "2026-03-03T00:00:00Z", "--duration", "56h"),
        *("--domain", "marketplace", "--scale", "0.05", "--shards", str(SHARDS)),
        *("--no-external-events", "--format", "avro", "--out", str(tmp / "gen")),
        env=env,
        timeout=180,
    )
    assert gen.returncode == 0, gen.stderr[-2000:]
    diff = simctl("diff", str(tmp / "live"), str(tmp / "gen"), "--json", env=env, timeout=180)
    return {"records": got, "diff": diff}


def _records(run: dict[str, object]) -> list[Message]:
    got = run["records"]
    assert isinstance(got, list)
    return got


def test_history_starts_two_days_back_and_live_carries_on_to_the_end(
    run: dict[str, object],
) -> None:
    data = [m for m in _records(run) if m.topic != COUNTS_TOPIC]
    first = min(m.timestamp for m in data)
    last = max(m.timestamp for m in data)
    origin = parse_instant_ms(START) - 48 * H
    assert origin <= first < origin + H
    assert parse_instant_ms(UNTIL) - H <= last < parse_instant_ms(UNTIL)
    # the seam: the hours either side of the start carry traffic like the same hours a day
    # earlier (traffic follows the time of day)
    per_hour = Counter(m.timestamp // H for m in data)
    s = parse_instant_ms(START) // H
    for h in (s - 1, s, s + 1):
        assert per_hour[h] > 50 and 0.6 < per_hour[h] / per_hour[h - 24] < 1.6, (h - s, per_hour)


def test_no_duplicate_no_orphan_and_history_follow_ups_resolve_live(run: dict[str, object]) -> None:
    decoder = Decoder(Project().schemas())
    ids: Counter[str] = Counter()
    requested: dict[str, int] = {}
    outcome_at: dict[str, int] = {}
    for m in _records(run):
        if m.topic == COUNTS_TOPIC:
            continue
        rec = decoder.decode(m.value or b"")
        ids[rec["event_id"]] += 1
        if m.topic == "marketplace.booking.requested":
            requested[rec["booking_id"]] = m.timestamp
        elif m.topic.rsplit(".", 1)[1] in OUTCOMES and ".booking." in m.topic:
            outcome_at[rec["booking_id"]] = m.timestamp
    assert not [i for i, n in ids.items() if n > 1]
    assert set(outcome_at) <= set(requested)  # no outcome without its request
    start = parse_instant_ms(START)
    carried = [b for b, at in requested.items() if at < start <= outcome_at.get(b, 0)]
    assert len(carried) >= 5, len(carried)  # requested in the history, answered live


def test_each_shard_reports_its_time_without_a_hole_across_the_seam(run: dict[str, object]) -> None:
    counts = [
        ShardCounts.model_validate_json(m.value or b"")
        for m in _records(run)
        if m.topic == COUNTS_TOPIC
    ]
    origin = parse_instant_ms(START) - 48 * H
    for shard in range(SHARDS):
        spans = sorted((c.since, c.until) for c in counts if c.shard == shard)
        assert spans and spans[0][0] == origin and spans[-1][1] == parse_instant_ms(UNTIL)
        for (_a, b), (c, _d) in pairwise(spans):
            assert b == c, f"shard {shard}: a hole or an overlap between {b} and {c}"


def test_the_run_is_identical_to_generate_of_the_same_range(run: dict[str, object]) -> None:
    diff = run["diff"]
    assert isinstance(diff, subprocess.CompletedProcess)
    assert diff.returncode == 0, diff.stderr[-2000:]
    doc = json.loads(diff.stdout)
    different = {
        t: (r["count_a"], r["count_b"]) for t, r in doc["topics"].items() if not r["identical"]
    }
    assert doc["identical"] and not different, different
