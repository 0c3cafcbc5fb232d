"""Live <domain>.metrics from `simctl up --baseline`: every stream, every hour, and a count
that equals what a plain consumer finds in that topic in that hour."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from typer.testing import CliRunner

from simfleet.broker.embedded import EmbeddedBroker
from simfleet.cli.main import app
from simfleet.codec import Decoder
from simfleet.domain.pack import Project
from simfleet.orchestrator.baseline import BaselineStats
from tests.live import patience

pytestmark = pytest.mark.integration

H = 3_600_000
TOPIC = "marketplace.metrics"


def read_all(bootstrap: str, topics: list[str]) -> list[tuple[str, int, bytes]]:
    """(topic, timestamp, value) of every record of ``topics``, read to their ends."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "metrics-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    parts = []
    for t in topics:
        md = c.list_topics(t, timeout=10).topics[t]
        parts += [TopicPartition(t, p, OFFSET_BEGINNING) for p in md.partitions]
    c.assign(parts)
    out: list[tuple[str, int, bytes]] = []
    at_end: set[tuple[str, int]] = set()
    deadline = time.monotonic() + patience(60)
    while len(at_end) < len(parts) and time.monotonic() < deadline:
        for m in c.consume(5000, 0.5):
            if m.error():
                at_end.add((m.topic(), m.partition()))
                continue
            out.append((m.topic(), m.timestamp()[1], m.value() or b""))
    c.close()
    assert len(at_end) == len(parts), "did not reach the end of every partition"
    return out


def test_live_metrics_count_what_the_topics_hold(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    made = CliRunner().invoke(
        app,
        ["baseline", "--days", "2", "--start", "2026-03-02T00:00:00Z", "--scale", "0.2",
         "--shards", "2", "--seed", "3", "--out", str(baseline), "--domain", "marketplace"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    stats = BaselineStats.from_json(baseline)
    broker = EmbeddedBroker()
    bootstrap = broker.start(log_path=tmp_path / "broker.log")
    env = {
        **os.environ,
        "SIMCTL_STATE_DIR": str(tmp_path / "state"),
        "SIMCTL_BOOTSTRAP_SERVERS": bootstrap,
    }
    up = subprocess.Popen(
        [sys.executable, "-m", "simfleet.cli.main", "up", "--no-admin", "--speed", "3600",
         "--scale", "0.1", "--shards", "2", "--workers", "2", "--start", "2026-03-10T00:00:00Z",
         "--no-stats", "--baseline", str(baseline), "--duration", "300s",
         "--domain", "marketplace"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    decoder = Decoder(Project().schemas())
    try:
        metrics: list[dict[str, Any]] = []
        deadline = time.monotonic() + patience(120)
        while time.monotonic() < deadline and up.poll() is None:
            try:
                metrics = [decoder.decode(v) for _, _, v in read_all(bootstrap, [TOPIC])]
            except KeyError:
                metrics = []  # the topic does not exist yet
            if len({m["interval_start"] for m in metrics}) >= 4:
                break
            time.sleep(1.0)  # polling a condition with a deadline
        assert up.poll() is None, up.communicate()
        up.send_signal(signal.SIGINT)
        _, err = up.communicate(timeout=patience(120))
        assert up.returncode == 0, err
        data_topics = sorted(stats.streams)
        records = read_all(bootstrap, data_topics)
    finally:
        if up.poll() is None:
            up.kill()
        broker.stop()

    starts = sorted({_ms(m["interval_start"]) for m in metrics})
    assert len(starts) >= 4, starts
    assert starts == list(range(starts[0], starts[-1] + H, H)), "hourly and contiguous"
    assert len(metrics) == len(starts) * len(stats.streams)  # one per stream per hour, once
    found = Counter((topic, ts - ts % H) for topic, ts, _ in records)
    factor = 0.1 / 0.2  # the fleet runs at half the baseline's scale
    for m in metrics:
        start = _ms(m["interval_start"])
        assert m["count"] == found[(m["stream"], start)], (m["stream"], start)
        mean, std = stats.expected(m["stream"], start, factor)
        assert m["baseline_mean"] == pytest.approx(mean, abs=1e-3)
        assert m["baseline_std"] == pytest.approx(std, abs=1e-3)
        assert 0 <= m["normalized"] <= 100
    assert sum(m["count"] for m in metrics) > 1000


def _ms(value: Any) -> int:
    return value if isinstance(value, int) else round(value.timestamp() * 1000)
