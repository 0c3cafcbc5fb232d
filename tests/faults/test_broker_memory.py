"""`simctl up --broker-memory` keeps the embedded broker under its budget: the fleet stops
cleanly before the broker reaches it, says why in one paragraph, and loses no record."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from simfleet.broker.budget import broker_rss
from tests.live import patience, up_on_its_own_broker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUDGET_MIB = 150


def test_a_small_budget_holds_the_broker_under_it_and_loses_no_record(tmp_path: Path) -> None:
    up, recorded = up_on_its_own_broker(
        tmp_path / "state",
        *("--speed", "3600", "--scale", "0.3", "--shards", "2", "--workers", "2"),
        *("--start", "2026-03-03T00:00:00Z", "--no-admin", "--no-stats"),
        *("--broker-memory", f"{BUDGET_MIB}MB", "--duration", "10m"),
    )
    peak = 0
    try:
        assert recorded["memory_budget"] == BUDGET_MIB * 2**20
        while up.poll() is None:
            peak = max(peak, broker_rss(recorded["pid"]) or 0)
            time.sleep(0.25)  # sampling the broker's memory while the fleet runs
        out, _ = up.communicate(timeout=patience(120))
    finally:
        if up.poll() is None:
            up.kill()
            up.communicate()
    text = " ".join(out.split())
    assert up.returncode == 3, out
    assert "of its 150.0 MiB budget (--broker-memory)" in text, out  # the warning
    assert "so the fleet stops here rather than fill the machine" in text, out
    assert peak <= BUDGET_MIB * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert "failed 0" in text, out
