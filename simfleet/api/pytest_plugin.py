"""The pytest plugin for projects that test their consumers against simfleet traffic.

Installed with simfleet (entry point ``pytest11``: ``simfleet``), it gives two fixtures:

- ``simfleet_broker`` (session): the bootstrap address of a Kafka broker: the one named by
  ``SIMFLEET_BOOTSTRAP`` when set, else an embedded Tansu broker started for the session.
- ``simfleet_fleet`` (per test): a running fleet (`simctl up`: orchestrator and workers) on a
  broker of its own, with the scenario given by the ``simfleet_fleet`` marker::

      @pytest.mark.simfleet_fleet(domains=["ticketing"], scenario="fraud-attack", speed=3600)
      def test_my_consumer_flags_the_ring(simfleet_fleet):
          consume(simfleet_fleet.bootstrap, "ticketing.transaction.attempted")

Disable it with ``-p no:simfleet``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from simfleet.broker import EmbeddedBroker, free_port
from simfleet.control import ControlState
from simfleet.control_io import read_latest_state
from simfleet.settings import KafkaSettings

__all__ = ["Fleet", "simfleet_broker", "simfleet_fleet"]

MARKER = "simfleet_fleet"
_SIMCTL = (sys.executable, "-m", "simfleet.cli.main")
_READY_TIMEOUT_S = 120.0
_STOP_TIMEOUT_S = 120.0


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker (projects running with --strict-markers need it declared)."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(domains=None, scenario=None, speed=3600, scale=0.1, start=None, "
        "workers=1, args=()): how the simfleet_fleet fixture runs its fleet",
    )


@pytest.fixture(scope="session")
def simfleet_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a broker for the session: ``SIMFLEET_BOOTSTRAP`` when set, else an
    embedded broker (memory only) started here and stopped at the end."""
    given = os.environ.get("SIMFLEET_BOOTSTRAP")
    if given:
        yield given
        return
    broker = EmbeddedBroker()
    broker.start(port=free_port(), log_path=tmp_path_factory.mktemp("simfleet") / "broker.log")
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@dataclass
class Fleet:
    """A running fleet: where it is, what it runs, and simctl pointed at it."""

    bootstrap: str
    domains: tuple[str, ...]
    scenario: str | None
    state_dir: Path
    process: subprocess.Popen[str]
    env: dict[str, str] = field(repr=False, default_factory=dict)

    def control_state(self, timeout: float = 10.0) -> ControlState | None:
        """The fleet's newest control state (clock, scenarios in force)."""
        return read_latest_state(KafkaSettings(bootstrap_servers=self.bootstrap), timeout)

    def simctl(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run a simctl command against this fleet (``fleet.simctl("scenario", "stop")``)."""
        return subprocess.run(
            [*_SIMCTL, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def alive(self) -> bool:
        """True while the fleet's `simctl up` runs."""
        return self.process.poll() is None


def _options(node: pytest.Item) -> dict[str, Any]:
    marker = node.get_closest_marker(MARKER)
    opts: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    known = {"domains", "scenario", "speed", "scale", "start", "workers", "args"}
    unknown = sorted(set(opts) - known)
    if unknown:
        raise pytest.UsageError(
            f"@pytest.mark.{MARKER} on {node.nodeid}: unknown option(s) {unknown}. It takes "
            f"{', '.join(sorted(known))}."
        )
    return opts


def _up_args(bootstrap: str, opts: dict[str, Any]) -> list[str]:
    args = ["up", "-b", bootstrap, "--no-admin", "--no-stats"]
    args += ["--speed", str(opts.get("speed", 3600)), "--scale", str(opts.get("scale", 0.1))]
    args += ["--workers", str(opts.get("workers", 1))]
    domains: Sequence[str] = opts.get("domains") or ()
    for d in domains:
        args += ["--domain", d]
    if opts.get("scenario"):
        args += ["--scenario", str(opts["scenario"])]
    if opts.get("start"):
        args += ["--start", str(opts["start"])]
    return args + [str(a) for a in opts.get("args", ())]


@pytest.fixture
def simfleet_fleet(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fleet]:
    """A fleet running on a broker of its own (the scenario of the ``simfleet_fleet`` marker
    active from the start), ready once its orchestrator has written the control state;
    stopped (Ctrl-C, as a user would) after the test."""
    opts = _options(request.node)
    state = tmp_path / "simfleet-state"
    state.mkdir()
    broker = EmbeddedBroker()
    bootstrap = broker.start(port=free_port(), log_path=tmp_path / "broker.log")
    env = {**os.environ, "SIMCTL_STATE_DIR": str(state), "SIMCTL_BOOTSTRAP_SERVERS": bootstrap}
    log = (tmp_path / "simctl-up.log").open("w", encoding="utf-8")
    up = subprocess.Popen(
        [*_SIMCTL, *_up_args(bootstrap, opts)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    fleet = Fleet(bootstrap, tuple(opts.get("domains") or ()), opts.get("scenario"), state, up, env)
    try:
        _await_state(fleet, tmp_path / "simctl-up.log")
        yield fleet
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()
        log.close()
        broker.stop()


def _await_state(fleet: Fleet, log: Path) -> None:
    """Until the fleet's first control state is on the broker; the fleet's output if it dies."""
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not fleet.alive():
            raise RuntimeError(
                f"simctl up exited with {fleet.process.returncode} before the fleet was ready; "
                f"its output:\n{log.read_text(encoding='utf-8')}"
            )
        if fleet.control_state(2.0) is not None:
            return
    raise RuntimeError(
        f"the fleet wrote no control state within {_READY_TIMEOUT_S:g} s; its output:\n"
        f"{log.read_text(encoding='utf-8')}"
    )
