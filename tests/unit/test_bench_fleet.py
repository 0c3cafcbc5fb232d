"""The bench's fleet helpers: CPU seconds of a process, a worker's rate between two beats."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from fleet import cpu_seconds, rate_between
from simfleet.control import Heartbeat, StreamCounters


def _beat(wall: int, produced: dict[str, int]) -> Heartbeat:
    return Heartbeat(
        worker_id="w",
        host="h",
        pid=1,
        wall_ms=wall,
        sim_ms=0,
        shards=(0,),
        control_version=1,
        topics={t: StreamCounters(produced=n) for t, n in produced.items()},
    )


def test_rate_between_sums_topics_over_the_wall_span() -> None:
    """(3,000 - 1,000) records over 4 s: 500 a second; no span is an error, not a rate."""
    first = _beat(10_000, {"a": 400, "b": 600})
    last = _beat(14_000, {"a": 1_200, "b": 1_800})
    assert rate_between(first, last) == pytest.approx(500.0)
    with pytest.raises(ValueError, match="span no time"):
        rate_between(first, first)


def test_cpu_seconds_grows_with_work_done_not_with_waiting() -> None:
    """0.3 s of arithmetic shows as at least 0.2 CPU s; 0.3 s asleep as under 0.1."""
    pid = os.getpid()
    before = cpu_seconds(pid)
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    busy = cpu_seconds(pid) - before
    before = cpu_seconds(pid)
    time.sleep(0.3)  # the thing measured is a wait: no condition to poll
    idle = cpu_seconds(pid) - before
    assert busy >= 0.2
    assert idle < 0.1
