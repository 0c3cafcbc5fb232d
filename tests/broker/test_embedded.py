"""The embedded broker's lifecycle and the `simctl broker` commands that drive it."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from simfleet.broker import (
    BrokerInfo,
    EmbeddedBroker,
    check_reachable,
    free_port,
    read_state,
    resolve_bootstrap,
    state_path,
    stop_detached,
)
from simfleet.cli.broker import app
from simfleet.errors import BrokerError

runner = CliRunner()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "fake-tansu"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh SIMCTL_STATE_DIR; any detached broker left behind is stopped afterwards."""
    state = tmp_path / "state"
    monkeypatch.setenv("SIMCTL_STATE_DIR", str(state))
    yield state
    stop_detached()


@pytest.mark.integration
def test_start_stop_lifecycle_frees_process_and_port(tmp_path: Path) -> None:
    """start() answers metadata; stop() ends the process and the same port can be reused."""
    port = free_port()
    broker = EmbeddedBroker()
    bootstrap = broker.start(port=port, log_path=tmp_path / "one.log")
    pid = broker.pid
    assert bootstrap == f"127.0.0.1:{port}" == broker.bootstrap
    assert pid is not None
    check_reachable(bootstrap, timeout=5)
    broker.stop()
    assert broker.pid is None
    assert _gone(pid)

    with EmbeddedBroker() as again:
        again.stop()
        assert again.start(port=port, log_path=tmp_path / "two.log") == bootstrap
        check_reachable(bootstrap, timeout=5)
    assert (tmp_path / "two.log").read_text().strip()


@pytest.mark.integration
def test_context_manager_starts_and_stops(tmp_path: Path) -> None:
    """`with EmbeddedBroker()` starts on a free port and stops on exit."""
    with EmbeddedBroker() as broker:
        pid = broker.pid
        assert pid is not None
        check_reachable(broker.bootstrap, timeout=5)
    assert broker.pid is None
    assert _gone(pid)


def test_bootstrap_before_start_is_a_broker_error() -> None:
    """Asking an unstarted broker for its address raises BrokerError, not AttributeError."""
    with pytest.raises(BrokerError, match="not running"):
        _ = EmbeddedBroker().bootstrap


def test_missing_binary_is_a_broker_error(tmp_path: Path) -> None:
    """A binary that cannot be executed is reported with its path."""
    missing = tmp_path / "no-such-tansu"
    with pytest.raises(BrokerError, match="no-such-tansu"):
        EmbeddedBroker(binary=missing).start(log_path=tmp_path / "b.log")


def test_early_exit_reports_log_tail(tmp_path: Path) -> None:
    """A broker that dies before answering yields its exit status and its last log lines."""
    fake = _script(tmp_path, "echo 'listener exploded' >&2\nexit 3")
    log_path = tmp_path / "b.log"
    with pytest.raises(BrokerError) as caught:
        EmbeddedBroker(binary=fake).start(log_path=log_path, ready_timeout=10)
    message = str(caught.value)
    assert "status 3" in message
    assert str(log_path) in message
    assert "listener exploded" in message


def test_silent_broker_times_out_and_is_stopped(tmp_path: Path) -> None:
    """A process that never answers metadata fails at the deadline and is killed."""
    fake = _script(tmp_path, "echo started\nexec sleep 60")
    broker = EmbeddedBroker(binary=fake)
    with pytest.raises(BrokerError, match=r"did not answer .* within 0\.5 s.*started"):
        broker.start(log_path=tmp_path / "b.log", ready_timeout=0.5)
    assert broker.pid is None


def test_port_in_use_is_refused(tmp_path: Path) -> None:
    """An explicit port someone else holds is refused before Tansu is spawned."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(BrokerError, match="already in use"):
            EmbeddedBroker().start(port=port, log_path=tmp_path / "b.log")


@pytest.mark.integration
def test_a_port_whose_old_sockets_are_in_time_wait_is_reused_at_once(tmp_path: Path) -> None:
    """A broker stopped under a connected client leaves its side of the connection in
    TIME_WAIT on its port; a new broker starts on that port at once, not a minute later."""
    port = free_port()
    broker = EmbeddedBroker()
    bootstrap = broker.start(port=port, log_path=tmp_path / "one.log")
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        broker.stop()  # it closes first: TIME_WAIT is on its port once we close ours
    waiting = subprocess.run(
        ["ss", "-tanH", "state", "time-wait"], capture_output=True, check=False
    )
    assert f"127.0.0.1:{port} ".encode() in waiting.stdout, "no TIME_WAIT left to test"
    again = EmbeddedBroker()
    try:
        assert again.start(port=port, log_path=tmp_path / "two.log") == bootstrap
        check_reachable(bootstrap, timeout=5)
    finally:
        again.stop()


def test_resolve_bootstrap_prefers_explicit_value(state_dir: Path) -> None:
    """An explicit bootstrap (flag or env, passed in by the CLI) wins and is stripped."""
    assert resolve_bootstrap(" kafka:9092 ") == "kafka:9092"


def test_resolve_bootstrap_without_broker_tells_what_to_do(state_dir: Path) -> None:
    """With nothing given and nothing running, the error names both ways out."""
    with pytest.raises(BrokerError, match=r"--bootstrap-servers.*simctl up"):
        resolve_bootstrap(None)


def test_stale_state_file_is_reported_and_cleared(state_dir: Path) -> None:
    """A broker.json whose process is gone shows as not running; `down` removes it."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state_dir.mkdir(parents=True)
    info = BrokerInfo(
        pid=dead.pid,
        port=1,
        bootstrap="127.0.0.1:1",
        log_path=state_dir / "broker.log",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    state_path().write_text(info.model_dump_json())

    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["running"] is False
    assert payload["reachable"] is False
    assert payload["pid"] == dead.pid

    result = runner.invoke(app, ["down"])
    assert result.exit_code == 0
    assert "No embedded broker was running" in result.stdout
    assert not state_path().exists()


@pytest.mark.integration
def test_cli_up_detach_status_down(state_dir: Path) -> None:
    """`broker up --detach` records a live broker, `status --json` sees it, `down` stops it."""
    with capture_logs() as logs:
        result = runner.invoke(app, ["up", "--detach"])
    assert result.exit_code == 0, result.output
    bootstrap = result.stdout.strip()
    assert any(entry["event"] == "broker.detached" for entry in logs)
    info = read_state()
    assert info is not None
    assert info.bootstrap == bootstrap
    assert info.log_path.parent == state_dir
    assert info.started_at.utcoffset() is not None
    assert resolve_bootstrap(None) == bootstrap

    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["running"] is True
    assert payload["reachable"] is True
    assert payload["bootstrap"] == bootstrap

    with capture_logs():
        again = runner.invoke(app, ["up", "--detach"])
    assert again.exit_code != 0
    assert isinstance(again.exception, BrokerError)
    assert "already running" in str(again.exception)

    with capture_logs():
        result = runner.invoke(app, ["down"])
    assert result.exit_code == 0
    assert "stopped" in result.stdout
    assert _gone(info.pid)
    assert read_state() is None

    result = runner.invoke(app, ["status", "--json"])
    assert json.loads(result.stdout) == {"reachable": False, "running": False}


def test_cli_help_teaches() -> None:
    """Each command's help says what it does and how to undo it."""
    result = runner.invoke(app, ["up", "--help"])
    assert result.exit_code == 0
    assert "--detach" in result.stdout
    assert "simctl broker down" in result.stdout
