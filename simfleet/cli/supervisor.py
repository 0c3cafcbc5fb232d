"""What `simctl up` runs its children with: restarts with backoff, and the final accounting.

A child that exits on its own (killed, crashed, or given up on a broker that went away) is
restarted after a backoff (1 s, 2 s, 4 s ... 30 s), unless it failed five times within a
minute: then the fleet stops and says why. A restarted worker keeps its name; the records
its dead predecessor had handed to its producer but not seen acknowledged at its last
heartbeat are counted in the final summary, never silently dropped (the shard handoff writes
them again from the shards' last checkpoints).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from simfleet.cluster import ClusterReplacedError, final_counts
from simfleet.control import Heartbeat
from simfleet.control_io import FleetWatcher
from simfleet.errors import BrokerError
from simfleet.settings import KafkaSettings

__all__ = ["Child", "Summary", "Supervisor", "log_tail"]

MAX_FAILURES = 5
FAILURE_WINDOW_S = 60.0
MAX_BACKOFF_S = 30.0

log = structlog.get_logger()


def log_tail(path: Path, lines: int = 5) -> str:
    """The last lines of a log, on one line (a JSON line of --log-json as its message)."""
    try:
        tail = path.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return "(no log)"
    return " | ".join(_message(line) for line in tail)


def _message(line: str) -> str:
    """A JSON log line's error (`error: ...`) or event; any other line as it is."""
    if not line.startswith("{"):
        return line
    try:
        obj = json.loads(line)
    except ValueError:
        return line
    if not isinstance(obj, dict):
        return line
    if "error" in obj:
        return f"error: {obj['error']}"
    return str(obj.get("event", line))


@dataclass
class Child:
    """One process of the fleet and how to start it again."""

    name: str
    args: list[str]
    log: Path
    proc: subprocess.Popen[bytes]
    critical: bool = True  # a non-critical child (the admin server) is not restarted
    failures: list[float] = field(default_factory=list)
    restart_at: float | None = None

    @property
    def is_worker(self) -> bool:
        """Workers stop first, and their counters make the summary."""
        return self.name.startswith("worker")


@dataclass(frozen=True)
class Summary:
    """The fleet's delivery accounting at the end."""

    produced: int
    delivered: int
    failed: int
    lost: int

    def line(self) -> str:
        """`stopped: produced ..., delivered ..., failed ...[, lost ...]`."""
        text = (
            f"stopped: produced {self.produced:,}, delivered {self.delivered:,}, "
            f"failed {self.failed:,}"
        )
        if self.lost:
            # the shard handoff regenerates them from the shards' last checkpoints
            text += (
                f"; {self.lost:,} were in flight in workers that died (their shards' next "
                "owners wrote them again, each once)"
            )
        return text


class Supervisor:
    """Starts, watches, restarts and stops the children of `simctl up`."""

    def __init__(
        self,
        logs: Path,
        env: dict[str, str],
        clock: Callable[[], float] = time.monotonic,
        before_restart: Callable[[], None] = lambda: None,
    ) -> None:
        self.logs = logs
        # raises to stop the fleet instead (a restart on a replaced cluster would write to it)
        self.before_restart = before_restart
        self.env = {**os.environ, **env}
        self.clock = clock
        self.children: list[Child] = []
        self.restarts = 0
        self.pids: set[int] = set()  # every process this supervisor started, restarts included
        self.names: dict[int, str] = {}  # and the child each one ran as
        # the newest beat of every worker process, as `simctl up` saw them (the accounting
        # of last resort when the cluster that held them is gone)
        self.beats: dict[tuple[str, str, int], Heartbeat] = {}

    def _popen(self, name: str, args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        fh = log_path.open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "simfleet.cli.main", *args],
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=self.env,
        )
        self.pids.add(proc.pid)
        self.names[proc.pid] = name
        return proc

    def spawn(self, name: str, args: list[str], critical: bool = True) -> Child:
        """Start a child, its output in ``<logs>/<name>.log``; a non-critical one that exits
        is reported once and left alone (generation never depends on it)."""
        path = self.logs / f"{name}.log"
        child = Child(name, args, path, self._popen(name, args, path), critical)
        self.children.append(child)
        return child

    def tend(self) -> list[str]:
        """Restart what exited (after its backoff); say what happened. Raises BrokerError
        when a child keeps failing."""
        now = self.clock()
        notes = []
        for c in self.children:
            if c.restart_at is not None:
                if now >= c.restart_at:
                    self.before_restart()
                    c.proc = self._popen(c.name, c.args, c.log)
                    c.restart_at = None
                    self.restarts += 1
                    notes.append(f"{c.name} restarted")
                    log.warning("child_restarted", child=c.name, attempt=len(c.failures))
                continue
            code = c.proc.poll()
            if code is None:
                continue
            if code == ClusterReplacedError.exit_code and c.critical:
                # it found the cluster replaced and stopped: a restart would find the same
                # its own paragraph is quoted as a reason, not as a second error line
                said = log_tail(c.log, 1).removeprefix("error: ")
                raise ClusterReplacedError(
                    f"{c.name} found the cluster replaced; its log {c.log} ends with: {said}"
                )
            if not c.critical:
                if not c.failures:
                    c.failures.append(now)
                    notes.append(
                        f"{c.name} exited with code {code}; the fleet goes on without it. Its "
                        f"log ends with: {log_tail(c.log)}"
                    )
                continue
            c.failures = [f for f in c.failures if now - f < FAILURE_WINDOW_S] + [now]
            if len(c.failures) >= MAX_FAILURES:
                raise BrokerError(
                    f"{c.name} exited {len(c.failures)} times within "
                    f"{FAILURE_WINDOW_S:.0f} s (last code {code}), so the fleet stops. Its log "
                    f"{c.log} ends with: {log_tail(c.log)}"
                )
            backoff = min(MAX_BACKOFF_S, 2.0 ** (len(c.failures) - 1))
            c.restart_at = now + backoff
            notes.append(f"{c.name} exited with code {code}; restarting in {backoff:.0f} s")
        return notes

    def shutdown(
        self, kafka: KafkaSettings | None, replaced: bool = False, broker_dead: bool = False
    ) -> Summary | None:
        """Workers first (they flush), then the rest; the final counters of every worker
        process that ever ran, the dead ones included. ``replaced``: the cluster is not the
        one the fleet ran on, so the counters come from what the workers left behind.
        ``broker_dead``: the embedded broker died; workers are told so (SIGUSR1), write off
        what they hold instead of waiting for it, and leave their counters behind too."""
        workers = [c for c in self.children if c.is_worker]
        sig, patience = (signal.SIGUSR1, 10) if broker_dead else (signal.SIGTERM, 60)
        for c in workers:
            if c.proc.poll() is None:
                c.proc.send_signal(sig)
        for c in workers:
            try:
                c.proc.wait(timeout=patience)
            except subprocess.TimeoutExpired:
                c.proc.kill()
        summary = None
        if (replaced or broker_dead) and workers:
            summary = self.left_behind()
        elif kafka is not None and workers:
            summary = _summary(kafka, len(workers), self.pids)
        for c in self.children:  # then metrics (they have the workers' last reports), orch.
            if not c.is_worker and c.proc.poll() is None:
                c.proc.send_signal(signal.SIGTERM)
                try:
                    c.proc.wait(timeout=5 if broker_dead else 15)
                except subprocess.TimeoutExpired:
                    c.proc.kill()
        return summary

    def left_behind(self) -> Summary:
        """The accounting without the cluster: each worker process's final counters file,
        or else its last beat seen here (what it had not seen acknowledged: lost)."""
        host = socket.gethostname()
        last = {pid: hb for (_w, h, pid), hb in self.beats.items() if h == host}
        produced = delivered = failed = lost = 0
        for pid, name in self.names.items():
            if not name.startswith("worker"):
                continue
            try:
                final = json.loads(final_counts(name, pid).read_text())
            except (OSError, ValueError):
                final = None
            if final is not None:
                produced += int(final["produced"])
                delivered += int(final["delivered"])
                failed += int(final["failed"])
            elif pid in last:
                more = summarise([last[pid]])
                produced += more.produced
                delivered += more.delivered
                failed += more.failed
                lost += more.lost
        return Summary(produced, delivered, failed, lost)


def _summary(kafka: KafkaSettings, n_workers: int, pids: set[int]) -> Summary | None:
    watcher = FleetWatcher(kafka)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            watcher.poll(0.5)
            if sum(hb.stopping for hb in watcher.workers.values()) >= n_workers:
                break
        host = socket.gethostname()
        # only this run's processes: sim.fleet also holds beats of earlier fleets
        mine = [hb for (_w, h, pid), hb in watcher.processes.items() if h == host and pid in pids]
        return summarise(mine)
    except BrokerError:
        return None
    finally:
        watcher.close()


def summarise(beats: list[Heartbeat]) -> Summary:
    """Totals over every worker process's last beat; what a process that never said goodbye
    had not seen acknowledged is lost."""
    produced = delivered = failed = lost = 0
    for hb in beats:
        p = sum(c.produced for c in hb.topics.values())
        d = sum(c.delivered for c in hb.topics.values())
        f = sum(c.failed for c in hb.topics.values())
        produced, delivered, failed = produced + p, delivered + d, failed + f
        if not hb.stopping:
            lost += p - d - f
    return Summary(produced, delivered, failed, lost)
