"""The embedded broker that `simctl up` started dies (SIGKILL): `up` notices within seconds,
stops the fleet, says in one paragraph that the memory-only data went with it, and gives the
workers' own counts (a worker writes its final counters where `up` reads them)."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from simfleet.control_io import FleetWatcher
from simfleet.settings import KafkaSettings
from tests.live import patience, up_on_its_own_broker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COUNTS = r"produced ([\d,]+), delivered ([\d,]+) \(to the dead broker\), failed ([\d,]+)"


def test_a_dead_embedded_broker_stops_up_with_one_paragraph_and_true_counts(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    up, broker = up_on_its_own_broker(
        state,
        *("--speed", "3600", "--scale", "0.05", "--shards", "2", "--workers", "2"),
        *("--start", "2026-03-03T00:00:00Z", "--domain", "marketplace", "--no-admin"),
        *("--no-stats", "--no-external-events", "--duration", "10m"),
    )
    try:
        # both workers have delivered records (their heartbeats on sim.fleet say so)
        watcher = FleetWatcher(KafkaSettings(bootstrap_servers=broker["bootstrap"]))
        try:
            deadline = time.monotonic() + patience(180)
            while time.monotonic() < deadline and up.poll() is None:
                watcher.poll(0.5)
                beats = watcher.workers.values()
                if len(beats) == 2 and all(
                    sum(c.delivered for c in hb.topics.values()) > 0 for hb in beats
                ):
                    break
            else:
                pytest.fail("the workers never delivered")
        finally:
            watcher.close()
        os.kill(broker["pid"], signal.SIGKILL)
        killed = time.monotonic()
        out, _ = up.communicate(timeout=patience(120))
        took = time.monotonic() - killed
    finally:
        if up.poll() is None:
            up.kill()
            up.communicate()
    assert up.returncode == 3, out
    # within 15 s on a quiet machine; the deadline here tolerates a busy one
    assert took < patience(60), f"{took:.0f} s"
    assert len(out.splitlines()) < 20, out
    # librdkafka's retries (36 lines a second before) come through once per kind and window
    assert sum("Connection refused" in line for line in out.splitlines()) <= 6, out
    text = " ".join(out.split())
    assert "The embedded broker on port" in text and "was killed by signal 9" in text
    assert "went with it" in text
    found = re.search(COUNTS, text)
    assert found is not None, out
    produced, delivered, failed = (int(g.replace(",", "")) for g in found.groups())
    # the workers' own counts, as each left them behind
    finals = [json.loads(p.read_text()) for p in (state / "final").glob("worker-*.json")]
    assert len(finals) == 2, finals
    assert produced == sum(f["produced"] for f in finals) > 0
    assert delivered == sum(f["delivered"] for f in finals) > 0
    assert failed == sum(f["failed"] for f in finals)
    assert produced == delivered + failed
