"""The fleet's own faults under `simctl up`: a killed worker is restarted and the fleet goes
on; a second fleet on the same cluster or state folder is refused; flags that contradict the
cluster's state are refused unless --reset. Driven through simctl, on one embedded broker."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from simfleet.broker.embedded import EmbeddedBroker
from simfleet.control_io import FleetWatcher, read_latest_state
from simfleet.settings import KafkaSettings
from tests.live import simctl, spawn, state_env, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = "2026-03-03T00:00:00Z"


def test_a_fleet_heals_and_a_second_one_is_refused(tmp_path: Path) -> None:
    broker = EmbeddedBroker()
    bs = broker.start(log_path=tmp_path / "tansu.log")
    kafka = KafkaSettings(bootstrap_servers=bs)
    first = tmp_path / "first"
    up = spawn(
        *("up", "-b", bs, "--speed", "3600"),
        *("--scale", "0.02", "--shards", "4", "--workers", "2", "--start", START),
        *("--no-stats", "--no-external-events", "--duration", "3m"),
        env=state_env(first),
    )
    watcher = FleetWatcher(kafka)
    try:
        wait_for("a control state", lambda: read_latest_state(kafka, 1.0) is not None, 60)

        def beats(worker: str) -> set[int]:
            watcher.poll(0.3)
            return {pid for (w, _h, pid) in watcher.processes if w == worker}

        wait_for("both workers beating", lambda: beats("worker-0") and beats("worker-1"))
        # a second fleet: on the same cluster from another folder, or from the same folder
        second = simctl("up", "-b", bs, "--duration", "5s", env=state_env(tmp_path / "second"))
        assert second.returncode == 2, second.stderr
        assert "A fleet is already running" in second.stderr
        assert "simctl worker run -b" in second.stderr
        same = simctl("up", "--duration", "5s", env=state_env(first))
        assert same.returncode == 2, same.stderr
        assert "Another `simctl up`" in same.stderr
        # kill a worker: it comes back (a new process with the same name), the fleet goes on
        (old_pid,) = beats("worker-0")
        os.kill(old_pid, signal.SIGKILL)
        wait_for("worker-0 restarted", lambda: len(beats("worker-0")) == 2, 30)
        assert up.poll() is None
        status = simctl("status", "-b", bs, "--json", env=state_env(tmp_path / "second"))
        assert status.returncode == 0, status.stderr
        states = {w["worker"]: w["state"] for w in json.loads(status.stdout)["workers"]}
        assert states == {"worker-0": "live", "worker-1": "live"}
    finally:
        watcher.close()
        up.send_signal(signal.SIGINT)
        _, err = up.communicate(timeout=120)
    try:
        assert "worker-0 exited with code -9" in err
        assert "worker-0 restarted" in err
        assert "stopped: produced" in err  # the summary, whatever the exit
        # what the killed worker had in flight is written again by its shards' next owners
        assert up.returncode == 0, err
        # the fleet is gone: a new one may start, but not with other fixed settings ...
        other = simctl("up", "-b", bs, "--seed", "7", "--duration", "5s", env=state_env(first))
        assert other.returncode == 2, other.stderr
        assert "seed: the cluster has 42, you asked 7" in " ".join(other.stderr.split())
        # ... unless it starts over
        reset = simctl(
            "up",
            "-b",
            bs,
            "--seed",
            "7",
            "--reset",
            "--duration",
            "5s",
            "--no-stats",
            env=state_env(first),
            timeout=120,
        )
        assert reset.returncode == 0, reset.stderr
        state = read_latest_state(kafka, 5.0)
        assert state is not None and state.seed == 7
    finally:
        broker.stop()
