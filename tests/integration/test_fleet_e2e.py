"""The fleet end to end, driven only through simctl and read back with a plain consumer.

`simctl up` runs marketplace at 3600x on its own embedded broker; the test starts
`supply-crisis` through `simctl scenario start`, stops it with `simctl scenario stop`, and reads
the booking and search topics like any downstream consumer would. It pins the acceptance of the
skeleton: the confirm share drops and declines and searches rise after effective_at, everything
returns toward baseline after settling, every message decodes, and no outcome lacks its request.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from simfleet.broker.embedded import EmbeddedBroker
from simfleet.codec import Decoder
from simfleet.domain.pack import Project
from simfleet.orchestrator.catalog import get_scenario
from simfleet.timeutil import parse_instant_ms
from tests.live import assign_from_start, simctl, spawn, state_env, wait_control_state

pytestmark = [pytest.mark.integration, pytest.mark.slow]

H = 3_600_000
START = "2026-03-03T00:00:00Z"  # a Tuesday: the compared windows share weekday factors
OUTCOMES = ("confirmed", "declined", "expired")
TOPICS = ["marketplace.customer.search", "marketplace.booking.requested"] + [
    f"marketplace.booking.{o}" for o in OUTCOMES
]


class Reader:
    """A consumer that knows only topics and the decode helper."""

    def __init__(self, bootstrap: str) -> None:
        self.c = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "e2e-reader", "enable.auto.commit": False}
        )
        assign_from_start(self.c, TOPICS)
        self.decoder = Decoder(Project().schemas())
        self.requests: dict[str, int] = {}  # booking_id -> requested at
        self.outcomes: dict[str, tuple[str, int]] = {}  # booking_id -> (outcome, at)
        self.duplicate_outcomes = 0
        self.searches: list[int] = []
        self.messages = 0

    def pump(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for m in self.c.consume(2000, 0.2):
                assert m.error() is None, m.error()
                rec = self.decoder.decode(m.value())  # raises if anything fails to decode
                self.messages += 1
                at = round(rec["occurred_at"].timestamp() * 1000)  # timestamp-millis -> datetime
                assert m.timestamp()[1] == at, "record timestamp = occurred_at"
                topic = m.topic()
                if topic.endswith("customer.search"):
                    self.searches.append(at)
                    assert m.key() == rec["student_id"].encode()
                elif topic.endswith("booking.requested"):
                    self.requests[rec["booking_id"]] = at
                else:
                    if rec["booking_id"] in self.outcomes:
                        self.duplicate_outcomes += 1
                    self.outcomes[rec["booking_id"]] = (topic.rsplit(".", 1)[1], at)

    def outcome_share(self, lo: int, hi: int) -> tuple[dict[str, float], int]:
        """Outcome shares of the requests made in [lo, hi), all of which have resolved."""
        counts: Counter[str] = Counter()
        for bid, at in self.requests.items():
            if lo <= at < hi:
                assert bid in self.outcomes, f"request {bid} at {at} never resolved"
                counts[self.outcomes[bid][0]] += 1
        total = sum(counts.values())
        return {o: counts[o] / total for o in OUTCOMES}, total

    def count(self, ts: list[int], lo: int, hi: int) -> int:
        return sum(1 for t in ts if lo <= t < hi)

    def outcome_count(self, kind: str, lo: int, hi: int) -> int:
        return sum(1 for o, at in self.outcomes.values() if o == kind and lo <= at < hi)


def test_supply_crisis_moves_bookings_and_searches_then_settles(tmp_path: Path) -> None:
    """The skeleton's end-to-end acceptance, through simctl and a plain consumer."""
    env = state_env(tmp_path / "state")
    broker = EmbeddedBroker()
    bootstrap = broker.start(log_path=tmp_path / "broker.log")
    env["SIMCTL_BOOTSTRAP_SERVERS"] = bootstrap
    up = spawn(
        *("up", "--no-admin", "--speed", "3600", "--domain", "marketplace", "--scale", "0.5"),
        *("--workers", "2", "--start", START, "--no-external-events", "--no-stats"),
        *("--duration", "10m"),
        env=env,
    )
    reader: Reader | None = None
    try:
        state = wait_control_state(bootstrap, up)
        clock = state.clock.clock()
        s0 = parse_instant_ms(START)
        reader = Reader(bootstrap)

        def pump_until(sim: int) -> None:
            while clock.now() < sim:
                assert up.poll() is None, up.communicate()
                reader.pump(0.5)

        pump_until(s0 + 24 * H)
        started = simctl("scenario", "start", "supply-crisis", "--json", env=env)
        assert started.returncode == 0, started.stderr
        ts = parse_instant_ms(json.loads(started.stdout)["effective_at"])
        pump_until(ts + 16 * H)
        stopped = simctl("scenario", "stop", "--json", env=env)
        assert stopped.returncode == 0, stopped.stderr
        stop_at = parse_instant_ms(json.loads(stopped.stdout)["effective_at"])
        pump_until(stop_at + H)
        status = json.loads(simctl("scenario", "status", "--json", env=env).stdout)
        # settling for the 8 sim hours after the stop (8 s here): a busy machine may take
        # that long to start the command, so the answer is checked against its own sim time
        settled_at = stop_at + get_scenario("supply-crisis", Project()).settle.duration
        said = "settling" if parse_instant_ms(status["sim_time"]) < settled_at else "settled"
        assert status["scenarios"][0]["state"] == said, status
        after = (stop_at + 9 * H, stop_at + 17 * H)
        pump_until(after[1] + 25 * H)  # every request of the last window has resolved
        reader.pump(2.0)
    finally:
        if reader is not None:
            reader.c.close()
        up.send_signal(signal.SIGINT)
        _, err = up.communicate(timeout=120)
        broker.stop()
    assert up.returncode == 0, err
    assert "failed 0" in err

    assert reader is not None
    assert reader.messages > 50_000
    orphans = [b for b in reader.outcomes if b not in reader.requests]
    assert orphans == [], "an outcome without its request"
    assert reader.duplicate_outcomes == 0

    peak = (ts + 6 * H, stop_at)
    day = 24 * H
    base_peak = (peak[0] - day, peak[1] - day)  # same hours, the day before
    base_after = (after[0] - 2 * day, after[1] - 2 * day)  # same hours, before the scenario

    share_base, n_base = reader.outcome_share(*base_peak)
    share_peak, n_peak = reader.outcome_share(*peak)
    share_after, _ = reader.outcome_share(*after)
    assert n_base > 500 and n_peak > 500
    assert 0.70 <= share_base["confirmed"] <= 0.80
    assert share_peak["confirmed"] <= share_base["confirmed"] - 0.2
    assert abs(share_after["confirmed"] - share_base["confirmed"]) <= 0.05

    declines_base = reader.outcome_count("declined", base_peak[0] + 2 * H, base_peak[1] + 2 * H)
    declines_peak = reader.outcome_count("declined", peak[0] + 2 * H, peak[1] + 2 * H)
    assert declines_peak >= 1.5 * declines_base

    searches_base = reader.count(reader.searches, *base_peak)
    searches_peak = reader.count(reader.searches, *peak)
    searches_after = reader.count(reader.searches, *after)
    searches_before_after = reader.count(reader.searches, *base_after)
    assert searches_peak >= 1.2 * searches_base
    assert abs(searches_after / searches_before_after - 1) <= 0.15
