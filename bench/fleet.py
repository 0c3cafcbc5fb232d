"""Scaling out and switching scenarios: live fleets of one and of two worker processes.

Each run has its own embedded broker, an orchestrator and ``workers`` worker processes
(``simctl orchestrator run`` / ``simctl worker run``, the commands a user types) on the same
shards, domains, scale and speed. The speed asks for more events than two workers can make,
so every worker is saturated and the fleet's rate is what the workers can do: events/s come
from each worker's ``sim.fleet`` heartbeats (records produced between two beats over the wall
time between them), CPU seconds from ``/proc/<pid>/stat`` over the same window.

The two-worker run then starts scenarios (what ``simctl scenario start`` sends) and reads from
the heartbeats the wall instant each worker first read the new control version.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from simfleet.broker.embedded import EmbeddedBroker
from simfleet.clock import wall_ms
from simfleet.control import Command, Heartbeat
from simfleet.control_io import FleetWatcher, read_latest_state, send_command, wait_for_request
from simfleet.domain.pack import Project
from simfleet.orchestrator.catalog import get_scenario
from simfleet.orchestrator.transitions import LEAD_WALL_MS
from simfleet.settings import KafkaSettings

START = "2026-03-03T09:00:00Z"  # a Tuesday morning: every domain near its daytime rates
SWITCH_TARGET_MS = 1000  # the last worker reads a new version within this, plus the lead
SWITCH_SCENARIO = "supply-crisis"  # a marketplace scenario: the fleet always runs marketplace
_CLK_TCK = os.sysconf("SC_CLK_TCK")

__all__ = [
    "LEAD_WALL_MS",
    "SWITCH_TARGET_MS",
    "FleetRun",
    "Switch",
    "children",
    "cpu_seconds",
    "rate_between",
    "run_fleet",
    "switch_latency",
]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds process ``pid`` has used so far (``/proc/<pid>/stat``)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # the command name (field 2) may hold spaces: count fields after its closing parenthesis
    rest = stat[stat.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / _CLK_TCK  # utime, stime: fields 14 and 15


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a worker's producing process)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone between the listing and the read
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _produced(hb: Heartbeat) -> int:
    return sum(c.produced for c in hb.topics.values())


def rate_between(first: Heartbeat, last: Heartbeat) -> float:
    """Records one worker produced per wall second between two of its heartbeats."""
    span_ms = last.wall_ms - first.wall_ms
    if span_ms <= 0:
        raise ValueError(f"heartbeats of {first.worker_id} span no time ({span_ms} ms)")
    return (_produced(last) - _produced(first)) * 1000 / span_ms


@dataclass(frozen=True)
class Switch:
    """One scenario start: when it was sent, applied, and first read by each worker."""

    version: int
    sent_wall: int
    applied_wall: int  # the orchestrator's issued_at_wall
    seen_wall: dict[str, int]  # worker -> first read of ``version`` (or a later one)
    late: dict[str, int]  # worker -> control versions read after their effective_at, so far

    @property
    def last_ms(self) -> int:
        """From sending the command to the last worker's first read of the version."""
        return max(self.seen_wall.values()) - self.sent_wall

    @property
    def last_after_apply_ms(self) -> int:
        """From the orchestrator publishing the version to the last worker reading it."""
        return max(self.seen_wall.values()) - self.applied_wall


@dataclass
class FleetRun:
    """What one live fleet measured."""

    workers: int
    shards: int
    scale: float
    speed: float
    seconds: float
    rates: dict[str, float]  # worker -> events per wall second
    cpu_s: dict[str, float]  # process -> CPU seconds in the window
    lag_s: dict[str, float]  # worker -> how far its generation trails the clock at the end
    # worker -> share of the window's wall time spent on shard checkpoints (the handoff)
    checkpoint_share: dict[str, float] = field(default_factory=dict)
    switches: list[Switch] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """The fleet's events per wall second: the sum of its workers'."""
        return sum(self.rates.values())


def switch_latency(
    settings: KafkaSettings, watcher: FleetWatcher, workers: list[str], timeout: float = 60.0
) -> Switch:
    """Start ``SWITCH_SCENARIO`` as ``simctl scenario start`` does; wait until every worker's
    heartbeat shows the new control version (a worker beats as soon as it reads one)."""
    spec = get_scenario(SWITCH_SCENARIO, Project())
    cmd = Command(
        request_id=uuid.uuid4().hex,
        action="scenario.start",
        scenario=spec.model_dump(mode="json"),
        replace=True,  # the switch is measured three times in a row
    )
    sent = wall_ms()
    send_command(settings, cmd)
    state = wait_for_request(settings, cmd.request_id, timeout=timeout)
    if state.rejected is not None and state.rejected.request_id == cmd.request_id:
        raise RuntimeError(f"the orchestrator rejected {SWITCH_SCENARIO}: {state.rejected.reason}")
    seen: dict[str, int] = {}
    late: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(workers):
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"after {timeout:g} s, only {sorted(seen)} of {workers} read control "
                f"v{state.version}"
            )
        watcher.poll(0.2)
        for w in workers:
            hb = watcher.workers.get(w)
            if w in seen or hb is None or hb.control_version < state.version:
                continue
            if hb.control_seen_wall_ms is None:
                raise RuntimeError(f"worker {w}'s heartbeat has no control_seen_wall_ms")
            seen[w], late[w] = hb.control_seen_wall_ms, hb.control_late
    return Switch(state.version, sent, state.issued_at_wall, seen, late)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def run_fleet(
    workers: int,
    *,
    domains: list[str],
    scale: float,
    speed: float,
    shards: int,
    seconds: float,
    switches: int = 0,
    log_dir: Path,
) -> FleetRun:
    """A fresh broker, an orchestrator and ``workers`` workers; measure ``seconds`` of it."""
    broker = EmbeddedBroker()
    bootstrap = broker.start(log_path=log_dir / f"fleet{workers}-broker.log")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        env = {**os.environ, "SIMCTL_BOOTSTRAP_SERVERS": bootstrap}
        cli = [sys.executable, "-m", "simfleet.cli.main"]
        settings = KafkaSettings(bootstrap_servers=bootstrap)
        flags = ["--speed", str(speed), "--scale", str(scale), "--shards", str(shards)]
        flags += ["--start", START, "--no-external-events"]
        for d in domains:
            flags += ["--domain", d]
        orch = subprocess.Popen(
            [*cli, "orchestrator", "run", *flags],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(log_dir / f"fleet{workers}-orchestrator.log").open("wb"),
        )
        procs.append(orch)
        deadline = time.monotonic() + 60
        while read_latest_state(settings, 2.0) is None:
            if time.monotonic() > deadline or orch.poll() is not None:
                raise RuntimeError(f"no control state; see {log_dir}/fleet{workers}-*.log")
        names = [f"bench-w{i}" for i in range(workers)]
        for name in names:
            procs.append(
                subprocess.Popen(
                    [*cli, "worker", "run", "--worker-id", name],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=(log_dir / f"fleet{workers}-{name}.log").open("wb"),
                )
            )
        pids = {"orchestrator": orch.pid, "broker": broker.pid or 0}
        pids |= {n: p.pid for n, p in zip(names, procs[1:], strict=True)}
        watcher = FleetWatcher(settings)
        try:
            # the window opens once every worker holds shards and has produced
            deadline = time.monotonic() + 120
            while True:
                watcher.poll(0.5)
                beats = [watcher.workers.get(n) for n in names]
                if all(b is not None and b.shards and _produced(b) > 0 for b in beats):
                    break
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise RuntimeError(f"workers did not start; see {log_dir}/fleet{workers}-*")
            first = {n: watcher.workers[n] for n in names}
            for n in names:  # each worker's producing process (simfleet.sender), on its own
                pids |= {f"{n}-sender": c for c in children(pids[n])}
            cpu0 = {n: cpu_seconds(pid) for n, pid in pids.items()}
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds:
                watcher.poll(0.5)
            # the window closes at each worker's first beat after it
            closing = {n: watcher.workers[n].wall_ms for n in names}
            deadline = time.monotonic() + 60
            while any(watcher.workers[n].wall_ms <= closing[n] for n in names):
                if time.monotonic() > deadline:
                    raise RuntimeError("a worker stopped beating")
                watcher.poll(0.2)
            cpu1 = {n: cpu_seconds(pid) for n, pid in pids.items()}
            window = time.monotonic() - t0
            rates = {n: rate_between(first[n], watcher.workers[n]) for n in names}
            run = FleetRun(
                workers=workers,
                shards=shards,
                scale=scale,
                speed=speed,
                seconds=window,
                rates=rates,
                cpu_s={n: cpu1[n] - cpu0[n] for n in pids},
                lag_s={n: watcher.workers[n].tick_lag_ms / 1000 for n in names},
                checkpoint_share={
                    n: (watcher.workers[n].checkpoint_wall_ms - first[n].checkpoint_wall_ms)
                    / max(1, watcher.workers[n].wall_ms - first[n].wall_ms)
                    for n in names
                },
            )
            for _ in range(switches):
                run.switches.append(switch_latency(settings, watcher, names))
        finally:
            watcher.close()
    finally:
        _stop(procs[::-1])  # workers first, then the orchestrator
        broker.stop()
    return run
