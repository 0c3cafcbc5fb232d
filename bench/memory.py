"""Memory of a realtime run: one worker paced by the sim clock at about 20k events/s for two
minutes, its RSS sampled every second from /proc.

The sim clock runs at 60x from 11:00 UTC on a weekday, so the rates stay near their midday
level for the whole run; the scale that gives 20k events/s is calibrated first with a short
backfill of the same hour. Reports peak RSS (VmHWM) and the growth of RSS over the last
minute, which should stay under 5 %: pools, queues and producer buffers are bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fleet import children
from simfleet.control_io import FleetWatcher, read_latest_state
from simfleet.domain.pack import load_domain
from simfleet.producers.backfill import backfill
from simfleet.settings import KafkaSettings
from simfleet.timeutil import parse_instant_ms

START = "2026-03-03T11:00:00Z"  # a Tuesday, late morning: rates near their midday plateau
SPEED = 60.0


@dataclass(frozen=True)
class MemoryResult:
    """What the realtime run measured."""

    target_rate: float
    scale: float
    seconds: float
    events: int
    rate: float
    peak_rss_mb: float
    rss_minute_before_end_mb: float
    rss_at_end_mb: float
    growth_last_minute: float


def calibrate_scale(target_rate: float, shards: int) -> float:
    """The --scale at which the fleet emits ``target_rate`` events per wall second at SPEED."""
    spec = load_domain("marketplace")
    t0 = parse_instant_ms(START)
    span = 20 * 60_000
    n = sum(
        b.n
        for batches in backfill(spec, t0, t0 + span, 1, 1.0, shards, tick_ms=60_000)
        for b in batches
    )
    per_sim_second = n / (span / 1000)
    return target_rate / (per_sim_second * SPEED)


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def _tree_kb(pid: int, field: str) -> int:
    """``field`` summed over ``pid`` and its children (peaks summed: at least the peak of the
    sum)."""
    total = 0
    for p in [pid, *children(pid)]:
        try:
            total += _rss_kb(p, field)
        except (OSError, RuntimeError):
            continue  # gone between the listing and the read
    return total


def stop(*procs: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM each process still running, in order; kill one that is not gone in 60 s."""
    for p in procs:
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()


def run_realtime(
    bootstrap: str,
    target_rate: float = 20_000.0,
    seconds: float = 120.0,
    shards: int = 8,
    log_dir: Path | None = None,
) -> MemoryResult:
    """Orchestrator + one worker on ``bootstrap`` for ``seconds``; sample the RSS of the worker
    and its producing process, summed."""
    scale = calibrate_scale(target_rate, shards)
    env = {**os.environ, "SIMCTL_BOOTSTRAP_SERVERS": bootstrap}
    cli = [sys.executable, "-m", "simfleet.cli.main"]
    logs = log_dir or Path(tempfile.gettempdir())
    orch = subprocess.Popen(
        [
            *cli,
            "orchestrator",
            "run",
            "--speed",
            str(SPEED),
            "--scale",
            f"{scale:.4f}",
            "--shards",
            str(shards),
            "--start",
            START,
            "--no-external-events",
            "--domain",
            "marketplace",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(logs / "bench-orchestrator.log").open("wb"),
    )
    worker = None
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    try:
        deadline = time.monotonic() + 60
        while read_latest_state(settings, 2.0) is None:
            if time.monotonic() > deadline or orch.poll() is not None:
                raise RuntimeError(
                    "the orchestrator published no state; see bench-orchestrator.log"
                )
        worker = subprocess.Popen(
            [*cli, "worker", "run", "--worker-id", "bench-worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(logs / "bench-worker.log").open("wb"),
        )
        watcher = FleetWatcher(settings)

        def produced() -> int:
            watcher.poll(0.2)
            hb = watcher.workers.get("bench-worker")
            return 0 if hb is None else sum(c.produced for c in hb.topics.values())

        # the window starts once the worker owns its shards and produces
        deadline = time.monotonic() + 90
        while produced() == 0:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError("the worker produced nothing; see bench-worker.log")
        began, first = time.monotonic(), produced()
        samples: list[tuple[float, int]] = []
        while (elapsed := time.monotonic() - began) < seconds:
            if worker.poll() is not None:
                raise RuntimeError(
                    f"the worker exited (code {worker.returncode}) {elapsed:.0f} s into the "
                    f"window; see {logs / 'bench-worker.log'}"
                )
            samples.append((elapsed, _tree_kb(worker.pid, "VmRSS")))
            watcher.poll(1.0)
        peak = _tree_kb(worker.pid, "VmHWM")
        events = produced() - first
        watcher.close()
    finally:
        stop(worker, orch)
    # the last minute (the whole second half of a run of two minutes or less)
    mark = max(seconds - 60.0, seconds / 2)
    before = min(samples, key=lambda s: abs(s[0] - mark))[1]
    end = samples[-1][1]
    return MemoryResult(
        target_rate=target_rate,
        scale=scale,
        seconds=seconds,
        events=events,
        rate=events / seconds,
        peak_rss_mb=peak / 1024,
        rss_minute_before_end_mb=before / 1024,
        rss_at_end_mb=end / 1024,
        growth_last_minute=(end - before) / before,
    )


if __name__ == "__main__":  # a quick look on its own: python bench/memory.py [seconds]
    from simfleet.broker.embedded import EmbeddedBroker

    with EmbeddedBroker() as broker:
        print(
            run_realtime(broker.bootstrap, seconds=float(sys.argv[1]) if len(sys.argv) > 1 else 30)
        )
