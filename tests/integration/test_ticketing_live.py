"""Ticketing live beside marketplace: `simctl up --domain ticketing --domain marketplace`,
`simctl scenario start fraud-attack`, and a plain consumer of the topics sees each label after
its transaction (its Kafka timestamp is the instant the label became known).

The reference detector (`examples/velocity_detector.py`) decides on every payment attempt as
the run goes; `simctl score` then scores it, and its figures equal a count made here from the
topics themselves."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from simfleet.broker.embedded import EmbeddedBroker
from simfleet.codec import Decoder
from simfleet.domain.pack import Project
from simfleet.kafka import PRODUCED_AT_HEADER
from simfleet.timeutil import parse_instant_ms
from tests.live import (
    read_until_idle,
    simctl,
    spawn,
    state_env,
    wait_control_state,
    wait_generated,
    wait_sim,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

H = 3_600_000
START = "2026-03-03T12:00:00Z"
ROOT = Path(__file__).resolve().parents[2]
DECISIONS = "fraud.decisions"


def ms(t: datetime) -> int:
    """Epoch milliseconds of a decoded timestamp."""
    return round(t.timestamp() * 1000)


STAMPED: Counter[str] = Counter()  # per topic, records read with the produce-time header


def read_stamped(bootstrap: str, topics: list[str]) -> dict[str, list]:
    """(Kafka timestamp, decoded record) of every record of ``topics``; counts in ``STAMPED``
    the records that carry the produce-time header."""
    decoder = Decoder(Project().schemas())
    out: dict[str, list[tuple[int, dict[str, Any]]]] = {t: [] for t in topics}
    for m in read_until_idle(bootstrap, topics):
        out[m.topic()].append((m.timestamp()[1], decoder.decode(m.value())))
        if any(k == PRODUCED_AT_HEADER for k, _ in m.headers() or []):
            STAMPED[m.topic()] += 1
    return out


def test_labels_arrive_after_their_transactions_in_a_live_fleet(tmp_path: Path) -> None:
    broker = EmbeddedBroker()
    bootstrap = broker.start(log_path=tmp_path / "tansu.log")
    env = state_env(tmp_path / "state")
    up = spawn(
        *("up", "-b", bootstrap, "--speed", "7200"),
        *("--domain", "ticketing", "--domain", "marketplace", "--scale", "0.2"),
        *("--shards", "2", "--workers", "1", "--start", START, "--no-stats"),
        *("--duration", "5m"),
        env=env,
    )
    detector: subprocess.Popen[str] | None = None
    try:
        state = wait_control_state(bootstrap, up)
        assert set(state.domains) == {"marketplace", "ticketing"}
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(DECISIONS, num_partitions=2)])[DECISIONS].result(15)
        detector = subprocess.Popen(
            [
                *(sys.executable, str(ROOT / "examples" / "velocity_detector.py")),
                *("-b", bootstrap, "--decisions", DECISIONS, "--idle", "5"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        clock = state.clock.clock()
        s0 = parse_instant_ms(START)
        wait_sim(clock, s0 + 2 * H, up)
        started = simctl("scenario", "start", "fraud-attack", "-b", bootstrap, "--json", env=env)
        assert started.returncode == 0, started.stderr
        began = json.loads(started.stdout)
        assert began["scenario"] == "fraud-attack"
        # 66 sim hours of attack and labels (decline reports come 1-3 days after the decline),
        # however long the command took to be applied
        end = parse_instant_ms(began["effective_at"]) + 66 * H
        wait_sim(clock, end, up)
        wait_generated(bootstrap, end)  # a busy machine's fleet may trail its clock
    finally:
        up.send_signal(signal.SIGINT)
        _, err = up.communicate(timeout=120)
        said = ("", "")
        if detector is not None:  # it stops by itself 5 s after the last attempt
            try:
                said = detector.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                detector.kill()
                said = detector.communicate()
    try:
        assert up.returncode == 0, err
        assert detector is not None and detector.returncode == 0, said
        topics = ["ticketing.payment.attempted", "ticketing.labels", "ticketing.ground_truth"]
        topics.append("marketplace.booking.requested")
        got = read_stamped(bootstrap, topics)
        decided = read_decisions(bootstrap)
        scored = simctl(
            *("score", "--decisions", DECISIONS, "--domain", "ticketing", "-b", bootstrap),
            *("--json", "--out", str(tmp_path / "score.json")),
            env=env,
        )
    finally:
        broker.stop()
    # the fleet's data begins at --start, however long the workers took to join their group
    # (a join of 3 wall seconds is 6 sim hours at 7200x)
    first = min(ms(r["occurred_at"]) for _, r in got["marketplace.booking.requested"])
    assert parse_instant_ms(START) <= first < parse_instant_ms(START) + H // 2, first
    paid = {r["transaction_id"]: ts for ts, r in got["ticketing.payment.attempted"]}
    # the produce-time header is on the labels' subjects (every one) and on nothing else
    assert STAMPED["ticketing.payment.attempted"] == len(paid) > 0
    assert sum(STAMPED.values()) == len(paid), STAMPED
    labels = got["ticketing.labels"]
    assert len(labels) >= 10
    for ts, r in labels:
        assert r["transaction_id"] in paid
        known, attempted = ms(r["occurred_at"]), ms(r["transaction_occurred_at"])
        assert ts == known > paid[r["transaction_id"]] == attempted
        assert known - attempted >= 24 * H  # decline reports: 1-3 days
    truth = [r for _, r in got["ticketing.ground_truth"]]
    campaigns = {r["label"] for r in truth if r["kind"] == "campaign"}
    assert campaigns == {"credential_stuffing", "card_testing", "bot_scalping", "account_takeover"}

    # the scorecard, against a count made here from the topics
    assert scored.returncode in (0, 1), scored.stderr  # 1: a target missed, said on stderr
    card = json.loads(scored.stdout)
    attempts = {r["transaction_id"] for _, r in got["ticketing.payment.attempted"]}
    first: dict[str, tuple[dict[str, Any], int]] = {}
    for at, d in decided:
        first.setdefault(d["transaction_id"], (d, at))
    assert set(first) == attempts, "the detector answered every attempt, and only those"
    assert card["decisions"] == len(decided) and card["missing"] == 0 == card["unknown"]
    tp = fp = fn = tn = 0
    by_pattern: dict[str, list[int]] = {}
    for _, r in labels:
        alert = first[r["transaction_id"]][0]["decision"] in ("block", "review")
        tp += r["is_fraud"] and alert
        fn += r["is_fraud"] and not alert
        fp += not r["is_fraud"] and alert
        tn += not r["is_fraud"] and not alert
        if r["is_fraud"]:
            by_pattern.setdefault(r["pattern"], [0, 0])[0] += alert
            by_pattern[r["pattern"]][1] += 1
    assert card["confusion"] == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    assert {
        p: [v["caught"], v["frauds"]] for p, v in card["recall_by_pattern"].items()
    } == by_pattern
    # the detector itself: card testing runs ~2,000 attempts through three devices, so its
    # window alerts far more often than the hours outside every campaign
    windows = {
        r["label"]: (ms(r["window_start"]), ms(r["window_end"]))
        for r in truth
        if r["kind"] == "campaign"
    }
    lo, hi = windows["card_testing"]
    inside: list[bool] = []
    outside: list[bool] = []
    for _, r in got["ticketing.payment.attempted"]:
        at = ms(r["occurred_at"])
        alert = first[r["transaction_id"]][0]["decision"] in ("block", "review")
        if lo <= at < hi:
            inside.append(alert)
        elif not any(a <= at < b for a, b in windows.values()):
            outside.append(alert)
    # at scale 0.2 the window holds ~600 attempts (`simctl generate` of the same run: 643), the
    # hours outside thousands; a fleet that lost the window's first hours has a few dozen
    assert len(inside) >= 300 and len(outside) >= 500, (len(inside), len(outside))
    share_in, share_out = sum(inside) / len(inside), sum(outside) / len(outside)
    # (outside, legitimate bursts at a show's openings make some false alarms: 0.13 in one run)
    assert share_in >= 0.3 and share_out <= 0.2 and share_in >= 3 * share_out, (
        share_in,
        share_out,
        len(inside),
    )
    # latency from each attempt's produce-time header to its decision: present and plausible
    lat = card["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"] < 120_000, lat
    assert (tmp_path / "score.json").is_file()


def read_decisions(bootstrap: str) -> list[tuple[int, dict[str, Any]]]:
    """(Kafka timestamp, JSON value) of every decision the detector wrote."""
    return [
        (m.timestamp()[1], json.loads(m.value() or b""))
        for m in read_until_idle(bootstrap, [DECISIONS])
    ]
