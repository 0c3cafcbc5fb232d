"""Ticketing live beside marketplace: `simctl up --domain ticketing --domain marketplace`,
`simctl scenario start fraud-attack`, and a plain consumer of the topics sees each label after
its transaction (its Kafka timestamp is the instant the label became known)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from simfleet.broker.embedded import EmbeddedBroker
from simfleet.codec import Decoder
from simfleet.control_io import read_latest_state
from simfleet.domain.pack import Project
from simfleet.settings import KafkaSettings
from simfleet.timeutil import parse_instant_ms

pytestmark = [pytest.mark.integration, pytest.mark.slow]

H = 3_600_000
START = "2026-03-03T12:00:00Z"


def simctl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simctl.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ms(t: datetime) -> int:
    """Epoch milliseconds of a decoded timestamp."""
    return round(t.timestamp() * 1000)


def read_until_idle(bootstrap: str, topics: list[str], idle_s: float = 3.0) -> dict[str, list]:
    """(Kafka timestamp, decoded record) of every record of ``topics``."""
    decoder = Decoder(Project().schemas())
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "tk", "enable.auto.commit": False})
    parts = []
    for t in topics:
        md = c.list_topics(t, timeout=10).topics[t]
        parts += [TopicPartition(t, p, OFFSET_BEGINNING) for p in md.partitions]
    c.assign(parts)
    out: dict[str, list[tuple[int, dict[str, Any]]]] = {t: [] for t in topics}
    last = time.monotonic()
    try:
        while time.monotonic() - last < idle_s:
            for m in c.consume(2000, 0.2):
                assert m.error() is None, m.error()
                out[m.topic()].append((m.timestamp()[1], decoder.decode(m.value())))
                last = time.monotonic()
    finally:
        c.close()
    return out


def test_labels_arrive_after_their_transactions_in_a_live_fleet(tmp_path: Path) -> None:
    broker = EmbeddedBroker()
    bootstrap = broker.start(log_path=tmp_path / "tansu.log")
    env = {**os.environ, "SIMCTL_STATE_DIR": str(tmp_path / "state")}
    up = subprocess.Popen(
        [
            *(sys.executable, "-m", "simctl.main", "up", "-b", bootstrap, "--speed", "3600"),
            *("--domain", "ticketing", "--domain", "marketplace", "--scale", "0.2"),
            *("--shards", "2", "--workers", "1", "--start", START, "--no-stats"),
            *("--duration", "5m"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        settings = KafkaSettings(bootstrap_servers=bootstrap)
        deadline = time.monotonic() + 60
        state = None
        while state is None and time.monotonic() < deadline:
            assert up.poll() is None, up.communicate()
            state = read_latest_state(settings, 2.0)
        assert state is not None, "no control state within 60 s"
        assert set(state.domains) == {"marketplace", "ticketing"}
        clock = state.clock.clock()
        s0 = parse_instant_ms(START)

        def wait_sim(sim: int) -> None:
            while clock.now() < sim:
                assert up.poll() is None, up.communicate()
                time.sleep(0.2)  # pacing a poll of the sim clock with the wall clock

        wait_sim(s0 + 2 * H)
        started = simctl("scenario", "start", "fraud-attack", "-b", bootstrap, "--json", env=env)
        assert started.returncode == 0, started.stderr
        assert json.loads(started.stdout)["scenario"] == "fraud-attack"
        wait_sim(s0 + 44 * H)
    finally:
        up.send_signal(signal.SIGINT)
        _, err = up.communicate(timeout=120)
    try:
        assert up.returncode == 0, err
        topics = ["ticketing.payment.attempted", "ticketing.labels", "ticketing.ground_truth"]
        topics.append("marketplace.booking.requested")
        got = read_until_idle(bootstrap, topics)
    finally:
        broker.stop()
    assert got["marketplace.booking.requested"]
    paid = {r["transaction_id"]: ts for ts, r in got["ticketing.payment.attempted"]}
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
