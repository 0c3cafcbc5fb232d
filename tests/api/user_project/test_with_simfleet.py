"""A user's tests of a consumer, written against simfleet's Python API and pytest fixtures
(nothing here imports the simfleet test suite)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from simfleet import Simulation
from simfleet.api.pytest_plugin import Fleet

START = "2026-03-02T00:00:00Z"
TOPIC = "ticketing.order.completed"


def consume(bootstrap: str, topic: str, want: int, timeout: float = 120.0) -> list[bytes]:
    """The user's consumer under test: reads ``want`` values of ``topic`` from its start."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"user-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([topic])
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < want and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None and m.value() is not None:
                got.append(m.value())
    finally:
        c.close()
    return got


def test_generate_yields_dict_batches_and_to_files_writes_the_same(tmp_path: Path) -> None:
    sim = Simulation(domains=["ticketing"], seed=7, scale=0.1)
    batches = list(sim.generate(START, "3h"))
    in_memory: dict[str, int] = {}
    for b in batches:
        in_memory[b.topic] = in_memory.get(b.topic, 0) + len(b)
        assert all(isinstance(r, dict) for r in b.records)
    assert in_memory.get(TOPIC, 0) > 0
    cols = next(b for b in batches if b.topic == TOPIC).columns()
    assert "occurred_at" in cols and all(isinstance(t, int) for t in cols["occurred_at"])
    written = sim.to_files(tmp_path / "out", START, "3h")
    assert written == in_memory
    first = json.loads((tmp_path / "out" / f"{TOPIC}.jsonl").read_text().splitlines()[0])
    assert first == next(b for b in batches if b.topic == TOPIC).records[0]


def test_produce_sends_the_run_to_the_session_broker(simfleet_broker: str) -> None:
    sim = Simulation(domains=["ticketing"], seed=7, scale=0.1)
    expected = sum(len(b) for b in sim.generate(START, "2h") if b.topic == TOPIC)
    sent = sim.produce(simfleet_broker, START, "2h", topic_prefix="copy.")
    assert sent >= expected > 0
    assert len(consume(simfleet_broker, f"copy.{TOPIC}", expected)) == expected


@pytest.mark.simfleet_fleet(domains=["ticketing"], scenario="fraud-attack", speed=3600)
def test_a_running_fleet_with_a_scenario_feeds_my_consumer(simfleet_fleet: Fleet) -> None:
    state = simfleet_fleet.control_state()
    assert state is not None
    assert [s.spec.id for s in state.scenarios] == ["fraud-attack"]
    assert len(consume(simfleet_fleet.bootstrap, TOPIC, 5)) == 5
    status = simfleet_fleet.simctl("scenario", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert simfleet_fleet.alive()
