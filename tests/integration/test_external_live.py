"""External events in a live fleet: scheduled and injected ones reach their topics, labelled
only on the ground-truth topic, written in the orchestrator's transaction."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from simfleet.broker.embedded import EmbeddedBroker
from simfleet.codec import Decoder
from simfleet.domain.pack import Project
from simfleet.timeutil import parse_instant_ms
from tests.live import simctl, spawn, state_env, wait_control_state, wait_for, wait_sim

pytestmark = pytest.mark.integration

H = 3_600_000


def read_topic(
    bootstrap: str, topic: str, decoder: Decoder, idle: float = 3.0
) -> list[dict[str, object]]:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "ext-reader",
            "isolation.level": "read_committed",
        }
    )
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    out: list[dict[str, object]] = []
    last = time.monotonic()
    while time.monotonic() - last < idle:  # until idle: Tansu's end of partition can come early
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        out.append(decoder.decode(m.value() or b""))
        last = time.monotonic()
    c.close()
    return out


def test_scheduled_and_injected_external_events_reach_their_topics(tmp_path: Path) -> None:
    """Two sim days at 28800x: 2-5 scheduled events a day plus one injected; truth labels each."""
    broker = EmbeddedBroker()
    bootstrap = broker.start(log_path=tmp_path / "broker.log")
    env = {**state_env(tmp_path / "s"), "SIMCTL_BOOTSTRAP_SERVERS": bootstrap}
    orch = spawn(
        *("orchestrator", "run", "--speed", "28800", "--start", "2026-03-03T00:00:00Z"),
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        state = wait_control_state(bootstrap, timeout=30)
        clock = state.clock.clock()
        out = simctl("inject", "cloud-outage", "--param", "magnitude=high", "--json", env=env)
        assert out.returncode == 0, out.stderr
        injected = json.loads(out.stdout)
        assert injected["causal"] is True
        # a busy machine may take seconds (a sim day at 28800x) to start `simctl inject`: wait
        # past the injection too, wherever it landed
        end = max(parse_instant_ms("2026-03-05T00:00:00Z"), parse_instant_ms(injected["at"]))
        wait_sim(clock, end + H, orch)  # the sim clock passes two days
        # the orchestrator publishes the injected event in its own loop: on a busy machine
        # that can trail the clock by more than the hour above (an eighth of a second here)
        decoder = Decoder(Project().schemas())
        topic = "marketplace.external_events"
        wait_for(
            "the injected event on its topic",
            lambda: (
                injected["event_id"]
                in {e["event_id"] for e in read_topic(bootstrap, topic, decoder, idle=0.5)}
            ),
            60,
        )
        orch.send_signal(signal.SIGTERM)  # stopped before reading: events and truth agree
        orch.communicate(timeout=30)
        events = read_topic(bootstrap, topic, decoder)
        truth = read_topic(bootstrap, "marketplace.ground_truth", decoder)
    finally:
        if orch.poll() is None:
            orch.send_signal(signal.SIGTERM)
            orch.communicate(timeout=30)
        broker.stop()
    ids = [e["event_id"] for e in events]
    assert injected["event_id"] in ids
    assert len(ids) == len(set(ids)), "each event published once"
    assert "causal" not in json.dumps(events, default=str), "features carry no labels"
    labels = {t["subject_id"]: t["label"] for t in truth if t["kind"] == "external_event"}
    assert set(labels) == set(ids)
    assert labels[injected["event_id"]] == "causal"
    scheduled = [e for e in events if e["event_id"] != injected["event_id"]]
    days = {e["occurred_at"].date() for e in scheduled}  # type: ignore[attr-defined]
    assert 4 <= len(scheduled) <= 15  # 2-5 on each of two days, maybe some of the third hour
    assert days, "scheduled events on at least one day"
