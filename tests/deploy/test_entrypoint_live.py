"""deploy/entrypoint.sh, the image's entry point, run as a script in this venv against an
embedded broker: the fleet roles start (orchestrator, worker), a scenario from the packs
mounted at SIMFLEET_PACKS starts through it, SIMCTL_HOME replaces the data root, and a broker
that never answers is said plainly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simfleet.broker import EmbeddedBroker, free_port
from simfleet.control_io import FleetWatcher
from simfleet.settings import KafkaSettings
from tests.live import patience, wait_control_state

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"

pytestmark = pytest.mark.integration


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    """The container's environment, here: this venv's python3 and simctl first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMCTL_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SIMCTL_STATE_DIR"] = str(tmp / "state")
    env.update(extra)
    return env


def _home(tmp: Path) -> Path:
    """A packs folder holding one scenario of its own (a copy of flash-sale, renamed)."""
    home = tmp / "packs"
    (home / "scenarios" / "ticketing").mkdir(parents=True)
    text = (ROOT / "scenarios" / "ticketing" / "flash-sale.yaml").read_text()
    text = text.replace("id: flash-sale", "id: mounted-flash-sale", 1)
    (home / "scenarios" / "ticketing" / "mounted-flash-sale.yaml").write_text(text)
    return home


def _logs(tmp: Path) -> str:
    return "\n".join(f"{p.name}: {p.read_text()}" for p in sorted(tmp.glob("*.log")))


def _run(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=patience(timeout),
        check=False,
    )


def test_the_entrypoint_runs_a_fleet_with_mounted_packs(tmp_path: Path) -> None:
    broker = EmbeddedBroker()
    bootstrap = broker.start(port=free_port(), log_path=tmp_path / "broker.log")
    env = _env(
        tmp_path,
        SIMCTL_BOOTSTRAP_SERVERS=bootstrap,
        SIMFLEET_PACKS=str(_home(tmp_path)),
        SIMCTL_DOMAINS='["ticketing"]',
        SIMCTL_SCALE="0.05",
        SIMCTL_SPEED="600",
        SIMCTL_SHARDS="2",
    )
    procs: list[subprocess.Popen[str]] = []
    watcher = FleetWatcher(KafkaSettings(bootstrap_servers=bootstrap))
    try:
        for role in ("orchestrator", "worker"):
            # logs to files: a pipe nobody reads would fill and stall the process
            with (tmp_path / f"{role}.log").open("w") as log:
                procs.append(
                    subprocess.Popen(
                        ["sh", str(ENTRYPOINT), role, "--log-json"],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        text=True,
                    )
                )
        wait_control_state(bootstrap)
        started = _run(env, "scenario", "start", "mounted-flash-sale", "--json")
        assert started.returncode == 0, started.stderr
        deadline = time.monotonic() + patience(120)
        delivered = 0
        while time.monotonic() < deadline and delivered == 0:
            for p in procs:
                assert p.poll() is None, _logs(tmp_path)
            watcher.poll(0.5)
            delivered = sum(
                c.delivered for hb in watcher.workers.values() for c in hb.topics.values()
            )
        assert delivered > 0, "the worker delivered nothing"
        status = _run(env, "scenario", "status", "--json")
        assert "mounted-flash-sale" in status.stdout, status.stderr
    finally:
        watcher.close()
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        codes = [p.wait(timeout=patience(120)) for p in procs]
        broker.stop()
    assert codes == [0, 0], _logs(tmp_path)


def test_the_entrypoint_says_when_kafka_never_answers(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        SIMCTL_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        SIMFLEET_WAIT_FOR_KAFKA="2",
    )
    out = _run(env, "worker")
    assert out.returncode == 69, out.stderr
    assert "did not answer within 2 s (SIMFLEET_WAIT_FOR_KAFKA)" in out.stderr


def test_the_entrypoint_without_arguments_shows_simctls_help(tmp_path: Path) -> None:
    out = _run(_env(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "scenario" in out.stdout and "worker" in out.stdout


def test_simctl_home_replaces_the_data_root(tmp_path: Path) -> None:
    """SIMCTL_HOME keeps its meaning in the image: a whole project of one's own."""
    home = tmp_path / "home"
    home.mkdir()
    for sub in ("producers", "schemas"):
        (home / sub).symlink_to(ROOT / sub)
    (home / "scenarios").symlink_to(_home(tmp_path) / "scenarios")
    out = _run(_env(tmp_path, SIMCTL_HOME=str(home)), "scenario", "list", "--json")
    assert out.returncode == 0, out.stderr
    assert "mounted-flash-sale" in out.stdout
    assert '"fraud-attack"' not in out.stdout
