"""Worker memory past the first sim day: does it reach a plateau?

An orchestrator and one worker run every domain for several sim days at a high speed, against
the embedded broker; the RSS of the worker and its producing process (summed) is sampled every
second beside the sim instant the worker has generated up to (its heartbeat's ``reached_ms``).
Printed: the RSS at the end of each sim day, and the growth per sim day after the first, beside
its target (pools, queues, producer buffers and follow-up state are bounded, so after a day of
warming, memory should only wobble with the daily rhythm).

Run: ``.venv/bin/python bench/soak.py [days] [speed]`` (defaults: 4 days at 1440x, about five
minutes of wall time; the figure is in docs/PERFORMANCE.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memory import _tree_kb, stop
from simfleet.broker.embedded import EmbeddedBroker
from simfleet.control_io import FleetWatcher, read_latest_state
from simfleet.settings import KafkaSettings
from simfleet.timeutil import format_ms, parse_instant_ms

START = "2026-03-02T00:00:00Z"  # a Monday
DAY_MS = 86_400_000
GROWTH_TARGET = 0.03  # per sim day, after the first


def soak(days: int = 4, speed: float = 1440.0, scale: float = 0.2, shards: int = 4) -> int:
    """Run the soak; print the figures; 0 if the growth target holds, else 1."""
    t0 = parse_instant_ms(START)
    until = t0 + days * DAY_MS
    cli = [sys.executable, "-m", "simfleet.cli.main"]
    logs = Path(tempfile.mkdtemp(prefix="simfleet-soak-"))
    os.environ["SIMCTL_STATE_DIR"] = str(logs)  # the broker's log too, not the cwd
    with EmbeddedBroker() as broker:
        # the orchestrator stops the run at --until (a setting: SIMCTL_UNTIL)
        env = {
            **os.environ,
            "SIMCTL_BOOTSTRAP_SERVERS": broker.bootstrap,
            "SIMCTL_UNTIL": format_ms(until),
        }
        orch = subprocess.Popen(
            [*cli, "orchestrator", "run", "--speed", str(speed), "--scale", str(scale),
             "--shards", str(shards), "--start", START, "--no-external-events"],
            env=env, stdout=subprocess.DEVNULL,
            stderr=(logs / "orchestrator.log").open("wb"),
        )  # fmt: skip
        worker = None
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap)
        rss_at_day: dict[int, float] = {}
        began = time.monotonic()
        try:
            while read_latest_state(settings, 2.0) is None:
                if orch.poll() is not None or time.monotonic() - began > 120:
                    raise RuntimeError(f"the orchestrator published no state; see {logs}")
            worker = subprocess.Popen(
                [*cli, "worker", "run", "--worker-id", "soak-worker"],
                env=env, stdout=subprocess.DEVNULL, stderr=(logs / "worker.log").open("wb"),
            )  # fmt: skip
            watcher = FleetWatcher(settings)
            reached = t0
            # generous: a busy machine slows the worker; the figures are per sim day anyway
            deadline = time.monotonic() + days * DAY_MS / speed / 1000 * 6 + 300
            while reached < until and time.monotonic() < deadline:
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker exited; see {logs}/worker.log")
                watcher.poll(1.0)
                hb = watcher.workers.get("soak-worker")
                if hb is None or hb.reached_ms is None:
                    continue
                reached = hb.reached_ms
                day = (reached - t0) // DAY_MS
                rss = _tree_kb(worker.pid, "VmRSS") / 1024
                for d in range(1, int(day) + 1):
                    rss_at_day.setdefault(d, rss)
            watcher.close()
        finally:
            stop(worker, orch)
    wall = time.monotonic() - began
    print(
        f"soak: every domain at scale {scale:g}, {shards} shards, {speed:g}x from {START}, "
        f"{days} sim days in {wall:.0f} s of wall time (logs {logs})"
    )
    for d, mb in sorted(rss_at_day.items()):
        print(f"  worker RSS (worker + producing process) at the end of sim day {d}: {mb:.0f} MB")
    if len(rss_at_day) < 3:
        print("soak: fewer than three sim days reached; no growth figure")
        return 1
    first, last = rss_at_day[1], rss_at_day[max(rss_at_day)]
    per_day = (last / first) ** (1 / (max(rss_at_day) - 1)) - 1
    ok = per_day < GROWTH_TARGET
    print(
        f"soak_rss_growth_per_sim_day_after_the_first: {per_day:.2%} ({first:.0f} -> {last:.0f} MB)"
    )
    verdict = "PASS" if ok else "FAIL"
    print(f"target: soak_rss_growth_per_sim_day < {GROWTH_TARGET:.0%} -> {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(soak(int(args[0]) if args else 4, float(args[1]) if len(args) > 1 else 1440.0))
