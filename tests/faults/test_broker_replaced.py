"""A broker killed under `simctl up` and replaced by a new one on the same port (memory-only:
a new, empty cluster): the fleet notices, stops producing, says so in one paragraph with its
counts, and exits cleanly; nothing is written to the new cluster (no topic is created there,
by simfleet or by the broker on simfleet's behalf) and no log holds a traceback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from simfleet.broker.embedded import EmbeddedBroker, free_port
from simfleet.cluster import ClusterReplacedError
from simfleet.control_io import FleetWatcher, read_latest_state
from simfleet.settings import KafkaSettings
from tests.live import patience

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = "2026-03-03T00:00:00Z"
COUNTS = r"produced ([\d,]+), delivered ([\d,]+)(?: \(to the old cluster\))?, failed ([\d,]+)"


def numbers(pattern: str, text: str) -> tuple[int, ...]:
    found = re.search(pattern, " ".join(text.split()))
    assert found is not None, text
    return tuple(int(g.replace(",", "")) for g in found.groups())


def test_a_replaced_broker_stops_the_fleet_with_one_paragraph_and_its_counts(
    tmp_path: Path,
) -> None:
    port = free_port()
    old = EmbeddedBroker()
    bs = old.start(port=port, log_path=tmp_path / "old.log")
    kafka = KafkaSettings(bootstrap_servers=bs)
    state = tmp_path / "state"
    up = subprocess.Popen(
        [
            *(sys.executable, "-m", "simfleet.cli.main", "up", "-b", bs, "--speed", "3600"),
            *("--scale", "0.02", "--shards", "2", "--workers", "2", "--start", START),
            *("--domain", "marketplace", "--no-admin"),
            *("--no-stats", "--no-external-events", "--duration", "3m"),
        ],
        env={**os.environ, "SIMCTL_STATE_DIR": str(state)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    new = EmbeddedBroker()
    try:
        watcher = FleetWatcher(kafka)
        try:
            deadline = time.monotonic() + patience(60)
            while read_latest_state(kafka, 1.0) is None:
                assert time.monotonic() < deadline and up.poll() is None, up.communicate()
            # both workers producing, a few hundred records delivered
            while (
                sum(1 for hb in watcher.workers.values() if hb.shards) < 2
                or sum(c.delivered for hb in watcher.workers.values() for c in hb.topics.values())
                < 300
            ):
                assert time.monotonic() < deadline and up.poll() is None, "no production"
                watcher.poll(0.5)
        finally:
            watcher.close()
        assert old.pid is not None
        os.kill(old.pid, signal.SIGKILL)  # the fault: the broker dies, its data with it
        old.stop()  # reaps it
        new.start(port=port, log_path=tmp_path / "new.log")  # at once, on the same port
        _, err = up.communicate(timeout=patience(120))
        print(err)  # shown when the test fails
        assert up.returncode == ClusterReplacedError.exit_code, err
        assert "is not the one this fleet started on" in err
        assert "sim.control topic is gone" in " ".join(err.split())
        produced, delivered, failed = numbers("stopped: " + COUNTS, err)
        assert produced > 0 and produced == delivered + failed, err
        # the paragraph tells the same counts as the summary line
        assert numbers("The fleet .*? stopped producing: " + COUNTS, err) == (
            produced,
            delivered,
            failed,
        )
        assert err.count("error: ") == 1
        logs = list(state.rglob("*.log"))
        assert {p.name for p in logs} >= {"orchestrator.log", "worker-0.log", "worker-1.log"}
        for log in logs:
            assert "Traceback" not in log.read_text(errors="replace"), log
        admin = AdminClient(KafkaSettings(bootstrap_servers=bs).client_config("admin"))
        topics = admin.list_topics(timeout=10)
        assert not topics.topics, f"written to the new cluster: {sorted(topics.topics)}"
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            up.communicate(timeout=patience(120))
        new.stop()
        old.stop()
