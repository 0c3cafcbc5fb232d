"""Each scenario of the catalog against the same seed without it, through `backfill`.

For every scenario: each declared expected effect moves its stream in the declared direction by
at least the declared magnitude during the scenario; at least three streams move by 10 % or
more, and by more than Poisson noise (none for normal-operations); after the scenario has
settled (and the causal lags and follow-up chains have played out) the streams are back within
10 % of the run without it.
A 10 % test means something only for streams with enough events in the window: once the two
runs' random draws diverge, their counts differ by Poisson noise of about sqrt(2/n), so "back
within 10 %" is checked on streams with at least 2,000 events there (10 % is 3 sigma).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from simfleet.domain.pack import Project, load_domain
from simfleet.external import schedule_range
from simfleet.orchestrator.baseline import IntervalCounts, count_intervals
from simfleet.orchestrator.catalog import list_scenarios
from simfleet.producers.backfill import backfill
from simfleet.scenarios import ScenarioInstance, ScenarioSpec
from simfleet.timeutil import parse_instant_ms

pytestmark = pytest.mark.slow  # minutes of generation: started first under xdist

H = 3_600_000
D = 24 * H
START = parse_instant_ms("2026-03-02T00:00:00Z")  # a Monday in an ordinary month
WARMUP = 3 * D
AT = START + WARMUP  # the scenario starts once chains are in their steady state
SETTLED_AFTER = 6 * D  # causal lags (up to 3 d), then chains (sessions 3 d, ratings 2 d)
AFTER_WINDOW = 2 * D
HORIZON = 18 * D
SEED, SCALE, SHARDS = 11, 0.5, 2

# the marketplace's nine; ticketing's seven are checked in tests/domain/test_ticketing.py
CATALOG = {k: v for k, v in list_scenarios(Project()).items() if v[1].domain == "marketplace"}


def _length(spec: ScenarioSpec) -> int:
    natural = spec.natural_length_ms
    return natural if natural is not None else 2 * D


@cache
def run(scenario_id: str | None, horizon: int) -> IntervalCounts:
    domain = load_domain("marketplace")
    lib = Project().library("marketplace")
    assert lib is not None
    acting = [
        i for i in (x.instance() for x in schedule_range(lib, SEED, START, START + horizon)) if i
    ]
    if scenario_id is not None:
        spec = CATALOG[scenario_id][1]
        stop = AT + _length(spec)
        acting.append(ScenarioInstance(spec=spec, started_at=AT, stop_at=stop))
    return count_intervals(
        backfill(domain, START, START + horizon, SEED, SCALE, SHARDS, acting),
        START,
        START + horizon,
        H,
    )


def total(c: IntervalCounts, topic: str, lo: int, hi: int) -> int:
    arr = c.counts.get(topic, np.zeros(c.n, dtype=np.int64))
    return int(arr[(lo - c.start) // H : (hi - c.start) // H].sum())


@pytest.mark.parametrize("scenario_id", sorted(CATALOG))
def test_scenario_moves_its_streams_and_settles_back(scenario_id: str) -> None:
    """Declared effects hold during the scenario; three or more streams move; all settle back."""
    spec = CATALOG[scenario_id][1]
    end = AT + _length(spec)
    settle = spec.settle.duration + (spec.settle.backlog.duration if spec.settle.backlog else 0)
    after = (end + settle + SETTLED_AFTER, end + settle + SETTLED_AFTER + AFTER_WINDOW)
    assert after[1] <= START + HORIZON
    base = run(None, HORIZON)
    # the run with the scenario stops at the end of the day its settle check needs (the
    # shared run without it goes to the longest); both cut their ticks at the same instants
    scen = run(scenario_id, -(-(after[1] - START) // D) * D)
    ramp = spec.phases[0].ramp
    during = (AT + ramp + 2 * H, end)  # past the ramp and the short lags

    for effect in spec.expected_effects:
        b = total(base, effect.stream, *during)
        s = total(scen, effect.stream, *during)
        assert b > 0, f"{effect.stream} has no events in the baseline window"
        change = s / b - 1
        if effect.direction == "increase":
            assert change >= effect.magnitude, (effect.stream, round(change, 3))
        else:
            assert change <= -effect.magnitude, (effect.stream, round(change, 3))

    moved = []
    for topic in base.counts:
        b = total(base, topic, *during)
        s = total(scen, topic, *during)
        # a move: at least 10 %, and beyond three standard deviations of Poisson noise
        if b >= 30 and abs(s / b - 1) >= max(0.10, 3 / np.sqrt(b)):
            moved.append(topic)
    if scenario_id == "normal-operations":
        assert moved == []
    else:
        assert len(moved) >= 3, moved

    for topic in base.counts:
        b = total(base, topic, *after)
        s = total(scen, topic, *after)
        if b >= 2000:
            assert abs(s / b - 1) <= 0.10, (topic, b, s)
