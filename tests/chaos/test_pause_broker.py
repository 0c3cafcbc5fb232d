"""`simctl chaos pause-broker --for 3s`: the recorded embedded broker is stopped (state T)
during the pause, answers nothing, and serves again after it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simfleet.broker import start_detached, stop_detached
from simfleet.broker.embedded import _answers_metadata
from tests.live import patience

pytestmark = [pytest.mark.integration]


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_pause_broker_hangs_then_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMCTL_STATE_DIR", str(tmp_path))
    info = start_detached()
    try:
        env = {**os.environ, "SIMCTL_STATE_DIR": str(tmp_path)}
        began = time.monotonic()
        pause = subprocess.Popen(
            [sys.executable, "-m", "simfleet.cli.main", "chaos", "pause-broker", "--for", "3s"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + patience(10)
        while _state(info.pid) != "T" and time.monotonic() < deadline:
            time.sleep(0.02)  # polling the process state with a deadline
        assert _state(info.pid) == "T"
        assert not _answers_metadata(info.bootstrap, 1.0)
        out, err = pause.communicate(timeout=patience(20))
        assert pause.returncode == 0, err
        assert time.monotonic() - began >= 3
        assert "paused 3 s" in out
        assert _state(info.pid) != "T"
        assert _answers_metadata(info.bootstrap, 5.0)
    finally:
        stop_detached()


def test_no_recorded_broker_is_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "SIMCTL_STATE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "simfleet.cli.main", "chaos", "pause-broker", "--for", "1s"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "No embedded broker is recorded" in done.stderr
