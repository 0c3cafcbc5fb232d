"""Helpers of the live tiers: run simctl, wait for what a fleet has done (not for the wall
clock), and read topics back with a plain consumer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from simfleet.clock import SimClock
from simfleet.control import ControlState
from simfleet.control_io import FleetWatcher, read_latest_state
from simfleet.settings import KafkaSettings

SIMCTL = (sys.executable, "-m", "simfleet.cli.main")


T = TypeVar("T")


def _slowdown() -> float:
    """How much longer every deadline of the live tiers is on this machine: the
    SIMFLEET_TEST_SLOWDOWN factor when set, else the load per core when the tests start (a
    busy 2-core machine runs the same fleet two or three times slower), at least 1."""
    given = os.environ.get("SIMFLEET_TEST_SLOWDOWN")
    if given:
        return max(1.0, float(given))
    return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


SLOWDOWN = _slowdown()


def patience(seconds: float) -> float:
    """A deadline of ``seconds`` on a quiet machine, stretched for this one: by ``SLOWDOWN``,
    or by the load per core now when that is higher (the suite's own workers load the machine
    after the tests start)."""
    now = os.getloadavg()[0] / (os.cpu_count() or 1)
    return seconds * max(SLOWDOWN, now, 1.0)


def state_env(state_dir: Path) -> dict[str, str]:
    """This process's environment with simctl's state (the embedded broker's address) in
    ``state_dir``, so that a test's simctl calls find its own fleet and no other."""
    return {**os.environ, "SIMCTL_STATE_DIR": str(state_dir)}


def offline_env(state_dir: Path) -> dict[str, str]:
    """``state_env`` without a bootstrap from this process's environment: simctl reaches no
    broker but one it finds in ``state_dir`` (none, for a fresh folder)."""
    env = state_env(state_dir)
    env.pop("SIMCTL_BOOTSTRAP_SERVERS", None)
    return env


def simctl(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one simctl command to its end (in this process's environment unless ``env``); its
    exit code and output, for the test to judge."""
    return subprocess.run(
        [*SIMCTL, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


def spawn(*args: str, env: dict[str, str], stdout: Any = subprocess.PIPE) -> subprocess.Popen[str]:
    """Start a long-running simctl command (`up`, `orchestrator run`) in the background."""
    return subprocess.Popen(
        [*SIMCTL, *args], env=env, stdout=stdout, stderr=subprocess.PIPE, text=True
    )


def wait_control_state(
    bootstrap: str, up: subprocess.Popen[str] | None = None, timeout: float = 60.0
) -> ControlState:
    """The fleet's first control state, once the orchestrator has written one; a fleet process
    ``up`` that dies meanwhile fails the test with its output."""
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    timeout = patience(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if up is not None:
            assert up.poll() is None, up.communicate()
        state = read_latest_state(settings, 2.0)
        if state is not None:
            return state
    raise AssertionError(f"no control state within {timeout:g} s")


def wait_sim(clock: SimClock, sim: int, up: subprocess.Popen[str]) -> None:
    """Until the sim clock reaches ``sim``; the fleet process ``up`` must live meanwhile."""
    while clock.now() < sim:
        assert up.poll() is None, up.communicate()
        time.sleep(0.2)  # pacing a poll of the sim clock with the wall clock


def wait_value(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll ``probe`` until it returns something truthy, and return that (a deadline stretched
    by the machine's load), or fail naming ``what``."""
    deadline = time.monotonic() + patience(timeout)
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.2)  # polling a condition with a deadline
    raise AssertionError(f"timed out waiting for {what}")


def wait_for(what: str, cond: Callable[[], bool], timeout: float = 30.0) -> float:
    """Poll ``cond`` until it holds; the seconds it took."""
    timeout = patience(timeout)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return time.monotonic() - t0
        time.sleep(0.2)  # polling a condition with a deadline
    raise AssertionError(f"{what} did not happen within {timeout} s")


def wait_generated(bootstrap: str, sim: int, workers: int = 1, timeout: float = 180.0) -> None:
    """Until ``workers`` workers each say every shard they hold has generated up to ``sim``.

    A fleet on a busy machine can trail its clock: a test that stopped when the clock passed an
    instant could find less data than it asked for. Heartbeats say how far generation got."""
    watcher = FleetWatcher(KafkaSettings(bootstrap_servers=bootstrap))
    timeout = patience(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            watcher.poll(0.5)
            reached = [
                hb.reached_ms
                for hb in watcher.workers.values()
                if hb.shards and not hb.stopping and hb.reached_ms is not None
            ]
            if len(reached) >= workers and min(reached) >= sim:
                return
    finally:
        watcher.close()
    raise AssertionError(f"the fleet did not generate up to sim {sim} within {timeout:g} s")


def assign_from_start(consumer: Consumer, topics: list[str]) -> list[TopicPartition]:
    """Assign every partition of ``topics`` to ``consumer`` at its beginning; the partitions."""
    parts = []
    for t in topics:
        md = consumer.list_topics(t, timeout=10).topics[t]
        parts += [TopicPartition(t, p, OFFSET_BEGINNING) for p in md.partitions]
    consumer.assign(parts)
    return parts


def read_until_idle(
    bootstrap: str, topics: list[str], idle_s: float = 3.0, **config: Any
) -> Iterator[Message]:
    """Every record of ``topics`` from their beginnings, until nothing new came for ``idle_s``
    (the end is an idle spell, not the high watermark: Tansu's can come early). A consumer
    error fails the test; ``config`` adds consumer settings (``isolation.level``...)."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            **config,
        }
    )
    assign_from_start(c, topics)
    last = time.monotonic()
    try:
        while time.monotonic() - last < idle_s:
            for m in c.consume(2000, 0.2):
                assert m.error() is None, m.error()
                yield m
                last = time.monotonic()
    finally:
        c.close()


def up_on_its_own_broker(state: Path, *args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """``simctl up ARGS`` with its own embedded broker in ``state`` (output merged into stdout),
    and the broker's record (``broker.json``: pid, bootstrap, budget) once it is written."""
    up = subprocess.Popen(
        [*SIMCTL, "up", *args],
        env={**os.environ, "SIMCTL_STATE_DIR": str(state)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    info = state / "broker.json"
    wait_for("the embedded broker's record", lambda: info.exists() or up.poll() is not None, 120)
    assert up.poll() is None, up.communicate()
    return up, dict(json.loads(info.read_text()))
