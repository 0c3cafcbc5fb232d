"""Falling behind the sim clock is told (status, the live table), with since when."""

from __future__ import annotations

from simfleet.control import Heartbeat
from simfleet.control_io import BEHIND_MS, LagTracker


def beat(worker: str, wall: int, lag: int, stopping: bool = False) -> Heartbeat:
    return Heartbeat(
        worker_id=worker,
        host="h",
        pid=1,
        wall_ms=wall,
        sim_ms=wall,
        shards=(0,),
        control_version=1,
        topics={},
        tick_lag_ms=lag,
        stopping=stopping,
    )


def test_a_stretch_behind_is_dated_from_its_first_beat() -> None:
    t = LagTracker()
    last: dict[str, Heartbeat] = {}
    for wall, lag in ((0, 200), (2_000, BEHIND_MS + 1), (4_000, 20_000), (6_000, 35_000)):
        last["w1"] = hb = beat("w1", wall, lag)
        t.see(hb)
    behind = t.behind(last, 6_500)
    assert behind is not None
    assert behind.lag_ms == 35_000 and behind.since_wall_ms == 2_000
    assert behind.text() == "35 s behind the sim clock since 00:00:02Z (w1)"


def test_catching_up_ends_the_stretch_and_a_new_one_starts_anew() -> None:
    t = LagTracker()
    last: dict[str, Heartbeat] = {}
    for wall, lag in ((0, 9_000), (2_000, 100), (4_000, 8_000)):
        last["w1"] = hb = beat("w1", wall, lag)
        t.see(hb)
    behind = t.behind(last, 4_100)
    assert behind is not None and behind.since_wall_ms == 4_000


def test_keeping_up_stopped_or_silent_workers_are_not_behind() -> None:
    t = LagTracker()
    fast, gone = beat("fast", 0, 100), beat("gone", 0, 60_000)
    for hb in (fast, gone):
        t.see(hb)
    assert t.behind({"fast": fast, "gone": gone}, 600_000) is None  # gone: silent for 10 min
    stopping = beat("w", 0, 60_000, stopping=True)
    t.see(stopping)
    assert t.behind({"w": stopping}, 100) is None
