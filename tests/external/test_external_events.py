"""External events over 30 normal days: 2-5 a day, 30-40 % red herrings; causal ones move the
streams they announce, red herrings move nothing."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from simfleet.domain.pack import Project, load_domain
from simfleet.domain.params import ParamGraph
from simfleet.external import DAY_MS, Injection, schedule_range
from simfleet.orchestrator.baseline import count_intervals
from simfleet.producers.backfill import backfill
from simfleet.producers.ticking import modifiers_at
from simfleet.timeutil import parse_instant_ms

START = parse_instant_ms("2026-03-02T00:00:00Z")
H = 3_600_000


def month(seed: int) -> list[Injection]:
    lib = Project().library("marketplace")
    assert lib is not None
    return schedule_range(lib, seed, START, START + 30 * DAY_MS)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_to_five_a_day_and_a_third_red_herrings(seed: int) -> None:
    """Every day has 2-5 events; over the month 30-40 % are red herrings; all six categories."""
    events = month(seed)
    per_day = Counter((e.at - START) // DAY_MS for e in events)
    assert set(per_day) == set(range(30))
    assert all(2 <= n <= 5 for n in per_day.values())
    share = sum(not e.causal for e in events) / len(events)
    assert 0.25 <= share <= 0.45  # 30-40 % expected; 60-150 draws leave a few points of noise
    assert {e.category for e in events} >= {
        "marketing",
        "product",
        "infrastructure",
        "competitive",
        "operational",
    }


def test_schedule_is_a_pure_function_of_seed_and_day() -> None:
    """Same seed, same events; another seed, other events."""
    assert month(1) == month(1)
    assert month(1) != month(2)


def test_causal_events_move_their_parameters_red_herrings_nothing() -> None:
    """In the parameter graph, each causal event changes the rate or probability behind every
    stream it announces, in the announced direction; a red herring changes no parameter."""
    graph = ParamGraph.from_domain(load_domain("marketplace"))
    base = graph.evaluate(START, modifiers_at([]))
    for e in month(4):
        inst = e.instance()
        t = e.at + e.expected_impact.delay + e.expected_impact.duration // 2
        if not e.causal:
            assert inst is None
            continue
        assert inst is not None
        moved = graph.evaluate(t, modifiers_at([inst]))
        still = graph.evaluate(t, modifiers_at([]))
        changed = {p for p in moved if abs(moved[p] - still[p]) > 1e-9}
        assert changed, e.template
        targets = {p for m in e.modifiers for p in graph.matching(m.target)}
        assert targets <= changed
        if e.expected_impact.direction != "mixed":
            sign = 1 if e.expected_impact.direction == "increase" else -1
            for p in targets:
                assert sign * (moved[p] - base[p]) != 0, (e.template, p)


@pytest.mark.parametrize("template", ["tiktok-mention", "cloud-outage"])
def test_a_causal_event_moves_its_streams_and_a_red_herring_does_not(template: str) -> None:
    """Generated traffic: with the event causal its announced streams move in its window;
    the same event as a red herring leaves every stream exactly as without it."""
    lib = Project().library("marketplace")
    assert lib is not None
    domain = load_domain("marketplace")
    at = START + 2 * DAY_MS + 10 * H
    causal = next(e for e in month(5)).model_copy(
        update={
            "template": template,
            "at": at,
            "causal": True,
            "expected_impact": lib.template(template).expected_impact,
            "modifiers": lib.template(template).modifiers,
        }
    )
    herring = causal.model_copy(update={"causal": False})
    end = START + 4 * DAY_MS

    def counts(events: list[Injection]) -> dict[str, np.ndarray]:
        acting = [i for i in (e.instance() for e in events) if i is not None]
        return count_intervals(
            backfill(domain, START, end, 9, 0.25, 2, acting), START, end, H
        ).counts

    none, with_causal, with_herring = counts([]), counts([causal]), counts([herring])
    impact = causal.expected_impact
    lo = (at + impact.delay - START) // H + 1
    hi = min((at + impact.delay + impact.duration - START) // H, (end - START) // H)
    sign = 1 if impact.direction == "increase" else -1
    for topic in impact.streams:
        b = int(none[topic][lo:hi].sum())
        c = int(with_causal[topic][lo:hi].sum())
        assert sign * (c / b - 1) >= 0.15, (topic, b, c)
    for topic in none:
        assert np.array_equal(none[topic], with_herring[topic]), topic
