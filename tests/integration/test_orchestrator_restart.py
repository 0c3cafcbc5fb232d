"""The orchestrator's durability and fencing, on a broker of the test's own.

- Killed (SIGKILL) and started again, it resumes from sim.control: the active scenario and its
  settle progress carry on, and it answers new commands after the last one it applied.
- A second orchestrator fences the first: the first stops at its next write, never a second
  writer.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simfleet.broker.embedded import EmbeddedBroker
from simfleet.control_io import read_latest_state
from simfleet.settings import KafkaSettings
from simfleet.timeutil import parse_instant_ms
from tests.live import patience, simctl, spawn, state_env

pytestmark = pytest.mark.integration

H = 3_600_000


@pytest.fixture
def fleet_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    broker = EmbeddedBroker()
    bootstrap = broker.start(log_path=tmp_path / "broker.log")
    yield {**state_env(tmp_path / "state"), "SIMCTL_BOOTSTRAP_SERVERS": bootstrap}
    broker.stop()


def orchestrator(env: dict[str, str]) -> subprocess.Popen[str]:
    return spawn(
        "orchestrator",
        "run",
        "--speed",
        # 8 sim hours of settle are 16 wall seconds: room for a restart and a CLI call
        # (each a Python start, seconds on a loaded machine) before it is over
        "1800",
        *("--start", "2026-03-03T00:00:00Z"),
        env=env,
    )


def wait_state(env: dict[str, str], version_above: int = 0, timeout: float = 30) -> int:
    settings = KafkaSettings(bootstrap_servers=env["SIMCTL_BOOTSTRAP_SERVERS"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_latest_state(settings, 2.0)
        if state is not None and state.version > version_above:
            return state.version
        time.sleep(0.1)  # polling a condition with a deadline
    raise AssertionError("no control state")


def scenario_status(env: dict[str, str]) -> dict[str, object]:
    out = simctl("scenario", "status", "--json", env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def wait_sim(env: dict[str, str], sim: int) -> None:
    settings = KafkaSettings(bootstrap_servers=env["SIMCTL_BOOTSTRAP_SERVERS"])
    state = read_latest_state(settings)
    assert state is not None
    clock = state.clock.clock()
    while clock.now() < sim:
        time.sleep(0.05)  # waiting for the sim clock (a pure function of wall time)


def test_killed_orchestrator_resumes_scenario_and_settle_progress(
    fleet_env: dict[str, str],
) -> None:
    """SIGKILL mid-settle; the restarted orchestrator keeps the scenario and its progress."""
    first = orchestrator(fleet_env)
    try:
        wait_state(fleet_env)
        started = simctl("scenario", "start", "supply-crisis", "--json", env=fleet_env)
        assert started.returncode == 0, started.stderr
        ts = parse_instant_ms(json.loads(started.stdout)["effective_at"])
        wait_sim(fleet_env, ts + 5 * H)
        stopped = simctl("scenario", "stop", "--json", env=fleet_env)
        stop_at = parse_instant_ms(json.loads(stopped.stdout)["effective_at"])
        wait_sim(fleet_env, stop_at + 2 * H)
        before = scenario_status(fleet_env)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=patience(30))
    rows = before["scenarios"]
    assert isinstance(rows, list)
    assert rows[0]["id"] == "supply-crisis" and rows[0]["state"] == "settling"
    progress_before = rows[0]["progress"]

    second = orchestrator(fleet_env)
    try:
        after = scenario_status(fleet_env)
        arows = after["scenarios"]
        assert isinstance(arows, list)
        assert arows[0]["id"] == "supply-crisis"
        assert arows[0]["state"] == "settling"
        assert arows[0]["progress"] >= progress_before
        assert arows[0]["stop_at"] == rows[0]["stop_at"]
        # and it answers commands after the last one the killed one applied
        again = simctl("scenario", "stop", "--json", env=fleet_env)
        assert again.returncode != 0
        assert "nothing to stop" in again.stderr
        reset = simctl("reset", env=fleet_env)
        assert reset.returncode == 0, reset.stderr
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=patience(30))
    assert second.returncode == 0


def test_second_orchestrator_fences_the_first(fleet_env: dict[str, str]) -> None:
    """Two orchestrators with one transactional id: the older stops at its next write."""
    first = orchestrator(fleet_env)
    second = None
    try:
        v1 = wait_state(fleet_env)
        second = orchestrator(fleet_env)
        assert second.stderr is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in second.stderr], daemon=True).start()
        deadline = time.monotonic() + patience(30)
        while True:  # the second has fenced the first once it has resumed the state
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if "control_state_resumed" in line:
                break
        started = simctl("scenario", "start", "supply-crisis", "--json", env=fleet_env)
        assert started.returncode == 0, started.stderr
        _, err = first.communicate(timeout=patience(30))
        assert first.returncode != 0
        assert "fenced" in err
        assert time.monotonic() < deadline
        wait_state(fleet_env, v1)
        state = read_latest_state(
            KafkaSettings(bootstrap_servers=fleet_env["SIMCTL_BOOTSTRAP_SERVERS"])
        )
        assert state is not None
        # one command, applied once: only one writer published it
        assert sum("supply-crisis started" in h for h in state.history) == 1
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.communicate(timeout=patience(30))
