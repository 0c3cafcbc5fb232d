"""supply-crisis moves the marketplace the way its file says, and the world settles back.

Two backfills of two sim days (seed 7, 4 shards) from 2026-03-02T00:00Z: a baseline, and one
with supply-crisis started at +6h and stopped explicitly at +24h (settle: linear, 8h). The
crisis phases: onset 6h-10h (ramped), peak from 10h; lags: confirm 30 min, searches 1h more.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from simfleet.domain.pack import Project, load_domain
from simfleet.domain.spec import DomainSpec
from simfleet.orchestrator.catalog import get_scenario
from simfleet.producers.backfill import backfill
from simfleet.scenarios import ScenarioInstance, ScenarioSpec
from simfleet.timeutil import parse_instant_ms

H = 3_600_000
START = parse_instant_ms("2026-03-02T00:00:00Z")
END = START + 48 * H
CRISIS_AT = START + 6 * H
STOP_AT = START + 24 * H
OUTCOMES = ("booking.confirmed", "booking.declined", "booking.expired")
PEAK = (12, 24)  # request hours fully under the peak (supply at 10h30 reaches confirm at 11h)
AFTER = (34, 48)  # request hours after stop + settle (32h) + the 30 min lag

Records = dict[str, list[dict[str, Any]]]


def generate(domain: DomainSpec, scenarios: list[ScenarioInstance]) -> Records:
    """Records by stream of a two-day backfill."""
    out: Records = defaultdict(list)
    for tick in backfill(domain, START, END, seed=7, shards=4, scenarios=scenarios):
        for b in tick:
            out[b.stream].extend(b.to_records())
    return dict(out)


@pytest.fixture(scope="module")
def crisis_spec() -> ScenarioSpec:
    """The catalog's supply-crisis."""
    return get_scenario("supply-crisis", Project())


@pytest.fixture(scope="module")
def runs(crisis_spec: ScenarioSpec) -> tuple[Records, Records]:
    """(baseline, crisis) records."""
    domain = load_domain("marketplace")
    inst = ScenarioInstance(spec=crisis_spec, started_at=CRISIS_AT, stop_at=STOP_AT)
    return generate(domain, []), generate(domain, [inst])


def in_hours(r: dict[str, Any], window: tuple[int, int]) -> bool:
    """Whether an event happened within [START + lo h, START + hi h)."""
    return START + window[0] * H <= r["occurred_at"] < START + window[1] * H


def outcomes_of_requests(recs: Records, window: tuple[int, int]) -> dict[str, int]:
    """Outcome counts of the booking requests made in a window (resolved ones)."""
    req = {r["booking_id"] for r in recs["booking.requested"] if in_hours(r, window)}
    return {s: sum(1 for r in recs[s] if r["booking_id"] in req) for s in OUTCOMES}


def confirm_share(counts: dict[str, int]) -> float:
    """Confirmations among outcomes."""
    return counts["booking.confirmed"] / sum(counts.values())


def count(recs: Records, stream: str, window: tuple[int, int]) -> int:
    """Events of a stream in a window."""
    return sum(1 for r in recs[stream] if in_hours(r, window))


def test_confirm_share_drops_by_at_least_20_points_in_the_peak(
    runs: tuple[Records, Records],
) -> None:
    """Requests made during the peak: confirm share >= 0.2 below the same hours' baseline."""
    base, crisis = runs
    b, c = outcomes_of_requests(base, PEAK), outcomes_of_requests(crisis, PEAK)
    assert 0.70 <= confirm_share(b) <= 0.80
    assert confirm_share(b) - confirm_share(c) >= 0.2, (b, c)


def test_declines_rise_by_at_least_half_in_the_peak(runs: tuple[Records, Records]) -> None:
    """Declines of peak-hour requests rise >= 50 % (the request rate itself is unchanged)."""
    base, crisis = runs
    b, c = outcomes_of_requests(base, PEAK), outcomes_of_requests(crisis, PEAK)
    assert sum(b.values()) == sum(c.values())
    assert c["booking.declined"] >= 1.5 * b["booking.declined"], (b, c)
    assert c["booking.expired"] >= 1.5 * b["booking.expired"], (b, c)


def test_searches_rise_by_at_least_a_fifth_in_the_peak(runs: tuple[Records, Records]) -> None:
    """Students search again when they cannot book: searches in the peak rise >= 20 %."""
    base, crisis = runs
    b, c = count(base, "customer.search", PEAK), count(crisis, "customer.search", PEAK)
    assert c >= 1.2 * b, (b, c)


def test_confirm_share_returns_to_baseline_after_settling(runs: tuple[Records, Records]) -> None:
    """Requests after stop + 8h settle (+ lag): confirm share within 0.05 of the baseline."""
    base, crisis = runs
    b, c = outcomes_of_requests(base, AFTER), outcomes_of_requests(crisis, AFTER)
    assert sum(c.values()) > 2_000
    assert abs(confirm_share(b) - confirm_share(c)) <= 0.05, (b, c)


def test_searches_return_to_baseline_after_settling(runs: tuple[Records, Records]) -> None:
    """Searches after the settle and both lags (33h30) are back within 5 % of the baseline."""
    base, crisis = runs
    b, c = count(base, "customer.search", AFTER), count(crisis, "customer.search", AFTER)
    assert c == pytest.approx(b, rel=0.05)


def test_nothing_changes_before_the_scenario_starts(runs: tuple[Records, Records]) -> None:
    """Events before the start instant are identical with and without the scenario."""
    base, crisis = runs
    for stream in base:
        before = [r for r in base[stream] if r["occurred_at"] < CRISIS_AT]
        assert [r for r in crisis.get(stream, []) if r["occurred_at"] < CRISIS_AT] == before


def test_expected_effects_of_the_file_hold(
    runs: tuple[Records, Records], crisis_spec: ScenarioSpec
) -> None:
    """Each expected_effect of supply-crisis holds on event counts in hours 20-30.

    Outcomes come 2-24h after their request, so the window sits late enough that most of the
    outcomes in it belong to requests made under the crisis.
    """
    base, crisis = runs
    window = (20, 30)
    assert crisis_spec.expected_effects
    for effect in crisis_spec.expected_effects:
        stream = effect.stream.removeprefix("marketplace.")
        b, c = count(base, stream, window), count(crisis, stream, window)
        assert b > 50, stream
        if effect.direction == "increase":
            assert c >= b * (1 + effect.magnitude), (stream, b, c)
        else:
            assert c <= b * (1 - effect.magnitude), (stream, b, c)
