"""Chaos in a live fleet: `simctl up --scenario all-actions.yaml` on its own embedded broker;
the topics read back show each action at its rate with a truth record per application, and
the workers' accounting stays exact (produced = delivered + failed, delivered = what is on the
topics, chaos counted apart in the heartbeats)."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from simfleet.broker.embedded import EmbeddedBroker
from simfleet.codec import Decoder
from simfleet.control import FLEET_TOPIC, Heartbeat
from simfleet.domain.pack import Project
from simfleet.errors import SchemaError
from simfleet.producers.chaos import plain
from simfleet.timeutil import parse_instant_ms
from tests.chaos.effects import CHECKS, SCENARIO, H, Observed
from tests.live import (
    read_until_idle,
    spawn,
    state_env,
    wait_control_state,
    wait_generated,
    wait_sim,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = "2026-03-02T00:00:00Z"


@dataclass
class LiveRun:
    """What the test reads back from one live run."""

    observed: Observed
    finals: list[Heartbeat]
    stderr: str


def _read(bootstrap: str, topics: list[str], idle_s: float = 3.0) -> dict[str, Any]:
    decoder = Decoder(Project().schemas())
    seqs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    corrupt: Counter[str] = Counter()
    fleet: list[Heartbeat] = []
    for m in read_until_idle(bootstrap, topics, idle_s):
        if m.topic() == FLEET_TOPIC:
            fleet.append(Heartbeat.model_validate_json(m.value()))
            continue
        try:
            rec = plain(decoder.decode(m.value()))
        except SchemaError:
            corrupt[m.topic()] += 1
            continue
        seqs.setdefault((m.topic(), m.partition()), []).append(rec)
    by_topic: dict[str, list[list[dict[str, Any]]]] = {}
    for (t, _), seq in sorted(seqs.items()):
        by_topic.setdefault(t, []).append(seq)
    return {"sequences": by_topic, "corrupt": dict(corrupt), "fleet": fleet}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    tmp = tmp_path_factory.mktemp("chaos-live")
    broker = EmbeddedBroker()
    bootstrap = broker.start(log_path=tmp / "tansu.log")
    env = state_env(tmp / "state")
    up = spawn(
        *("up", "-b", bootstrap, "--speed", "3600"),
        *("--scale", "1", "--shards", "2", "--workers", "2", "--start", START),
        *("--no-stats", "--duration", "5m", "--no-external-events", "--seed", "11"),
        *("--scenario", str(SCENARIO), "--domain", "marketplace"),
        env=env,
    )
    try:
        state = wait_control_state(bootstrap, up)
        clock = state.clock.clock()
        until = parse_instant_ms(START) + 12 * H
        wait_sim(clock, until, up)
        wait_generated(bootstrap, until, workers=2)  # a busy machine's fleet may trail its clock
    finally:
        up.send_signal(signal.SIGINT)
        _, err = up.communicate(timeout=120)
    try:
        assert up.returncode == 0, err
        project = Project()
        spec = project.spec("marketplace")
        topics = [spec.topic(s) for s in spec.streams] + ["marketplace.ground_truth", FLEET_TOPIC]
        got = _read(bootstrap, topics)
    finally:
        broker.stop()
    seqs = got["sequences"]
    truth = [r for seq in seqs.pop("marketplace.ground_truth") for r in seq]
    finals = {hb.worker_id: hb for hb in got["fleet"] if hb.stopping}
    yield LiveRun(Observed(seqs, got["corrupt"], truth), list(finals.values()), err)


@pytest.mark.parametrize("action", sorted(CHECKS))
def test_each_action_live(live: LiveRun, action: str) -> None:
    CHECKS[action](live.observed)


def test_accounting_stays_exact(live: LiveRun) -> None:
    """Per topic: produced = delivered + failed, no failure, and the topic holds what was
    delivered (a dropped record was never produced, a duplicate was produced three times)."""
    assert len(live.finals) == 2
    totals: Counter[str] = Counter()
    for hb in live.finals:
        for topic, c in hb.topics.items():
            assert c.produced == c.delivered + c.failed, topic
            assert c.failed == 0, topic
            totals[topic] += c.delivered
    o = live.observed
    for topic, seqs in o.sequences.items():
        on_topic = sum(len(s) for s in seqs) + o.corrupt.get(topic, 0)
        assert on_topic == totals[topic], topic
    assert "failed 0" in live.stderr


def test_heartbeats_count_chaos_apart(live: LiveRun) -> None:
    """The workers' last heartbeats count each action's applications as truth records them."""
    counted: Counter[str] = Counter()
    for hb in live.finals:
        counted.update(hb.chaos)
    told = Counter(t["action"] for t in live.observed.truth if t["kind"] == "chaos")
    assert counted == told
    assert set(told) == set(CHECKS)
