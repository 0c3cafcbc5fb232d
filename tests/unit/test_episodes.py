"""Entity episodes and floors (producers/engine/episodes.py): the load-time checks that name
each bad reference, period draws that do not depend on how ticks cut time, state that pickles,
and the profile's strength and cycles."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from simfleet.domain.checks import reference_problems
from simfleet.domain.pack import Project
from simfleet.domain.spec import DomainSpec, ProfileSpec
from simfleet.orchestrator.catalog import get_scenario
from simfleet.producers.backfill import backfill
from simfleet.producers.engine import ShardEngine
from simfleet.producers.profiles import RateProfile
from simfleet.scenarios import ScenarioInstance

H = 3_600_000
DAY = 24 * H
START = 1_772_409_600_000  # 2026-03-02T00:00:00Z
PACK = Path(__file__).resolve().parents[2] / "producers" / "ai_usage" / "streams.yaml"


def raw_pack() -> dict[str, Any]:
    """The ai_usage pack as YAML data, to break on purpose."""
    data = yaml.safe_load(PACK.read_text())
    assert isinstance(data, dict)
    return data


def problems(raw: dict[str, Any]) -> dict[str, str]:
    """Field path -> message of every reference problem of a pack."""
    return {p.path: p.message for p in reference_problems(DomainSpec.model_validate(raw), PACK)}


def test_the_pack_as_shipped_has_no_problem() -> None:
    """The reference pack passes its own checks."""
    assert problems(raw_pack()) == {}


@pytest.mark.parametrize(
    ("where", "value", "path", "says"),
    [
        (("episodes", "burst", "entity"), "custmer", "episodes.burst.entity", "did you mean"),
        (
            ("episodes", "burst", "probability"),
            "burst.prob",
            "episodes.burst.probability",
            "unknown parameter 'burst.prob'",
        ),
        (
            ("episodes", "burst", "streams"),
            ["customer.churned"],
            "episodes.burst.streams.0",
            "has no rate to multiply",
        ),
        (
            ("episodes", "burst", "streams"),
            ["usage.daily"],
            "episodes.burst.streams.0",
            "has no field `customer_id: {entity: customer}`",
        ),
        (("episodes", "churn", "emit"), "api.call", "episodes.churn.emit", "drawn otherwise"),
        (
            ("episodes", "burst", "streams"),
            ["customer.signed_up"],
            "episodes.burst.streams.0",
            "picks its customer otherwise",
        ),
        (("floors", "daily-call", "field"), "model", "floors.daily-call.field", "entity field"),
        (
            ("profiles", "usage", "strength"),
            "seasonalty",
            "profiles.usage.strength",
            "did you mean",
        ),
    ],
)
def test_a_bad_reference_is_named_with_its_path(
    where: tuple[str, ...], value: object, path: str, says: str
) -> None:
    """Each broken reference of an episode, floor or profile is reported at its field path."""
    raw = raw_pack()
    node = raw
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    found = problems(raw)
    assert path in found, found
    assert says in found[path]


def truth_ids(tick_ms: int) -> list[str]:
    """Episode records of two days of burst-traffic, generated with ticks of ``tick_ms``."""
    project = Project()
    inst = ScenarioInstance(spec=get_scenario("burst-traffic", project), started_at=START)
    ids: list[str] = []
    for batches in backfill(
        project.spec("ai_usage"), START, START + 2 * DAY, 3, 0.02, 2, [inst], tick_ms
    ):
        for b in batches:
            if b.topic == "ai_usage.ground_truth":
                col = b.columns["event_id"]
                ids += col.to_list()  # type: ignore[union-attr]
    return ids


def test_episodes_do_not_depend_on_the_tick_length() -> None:
    """A period's episodes come from their own random stream: hourly and 20-minute ticks give
    the same bursts (same customers, windows and multipliers)."""
    hourly = truth_ids(H)
    assert len(hourly) > 5
    assert sorted(truth_ids(H // 3)) == sorted(hourly)


def test_engine_state_pickles_and_resumes_identically() -> None:
    """The episodes' state is plain numpy: a pickled engine continues exactly like the original."""
    project = Project()
    spec = project.spec("ai_usage")
    params = {**project.graph("ai_usage").defaults}
    params["ai_usage.burst.probability"] = 0.5
    params["ai_usage.floor.calls"] = 1.0
    eng = ShardEngine(spec, 0, 2, 7, 0.02, schemas=project.schemas())
    for k in range(30):
        eng.tick(START + k * H, START + (k + 1) * H, params)
    twin = pickle.loads(pickle.dumps(eng))
    other = copy.deepcopy(eng)
    for k in range(30, 40):
        a = eng.tick(START + k * H, START + (k + 1) * H, params)
        b = twin.tick(START + k * H, START + (k + 1) * H, params)
        c = other.tick(START + k * H, START + (k + 1) * H, params)
        assert [x.to_records() for x in a] == [x.to_records() for x in b]
        assert [x.to_records() for x in a] == [x.to_records() for x in c]


def test_profile_strength_and_cycle_read_their_parameters() -> None:
    """strength is a power on diurnal x weekly; a cycle multiplies by 1 + a sin(...)."""
    spec = ProfileSpec.model_validate(
        {
            "diurnal": [1.0] * 10 + [2.0, 2.0] + [1.0] * 12,
            "strength": "s",
            "cycles": [{"period": 4 * DAY, "amplitude": "a"}],
        }
    )
    prof = RateProfile(spec, "2026-03-02T00:00:00Z", "d")
    ten = START + 10 * H + H // 2  # 10:30, a quarter of the cycle from its origin at START
    plain = START + 16 * H + H // 2
    flat = {"d.s": 0.0, "d.a": 0.0}
    full = {"d.s": 1.0, "d.a": 0.0}
    assert prof.factor(ten, flat) == pytest.approx(prof.factor(plain, flat))
    assert prof.factor(ten, full) / prof.factor(plain, full) == pytest.approx(2.0)
    cyc = {"d.s": 0.0, "d.a": 0.2}
    quarter = START + DAY  # sin = 1
    assert prof.factor(quarter, cyc) / prof.factor(quarter, flat) == pytest.approx(1.2)
    assert np.isclose(prof.factor(START + 3 * DAY, cyc) / prof.factor(START + 3 * DAY, flat), 0.8)


def test_a_scenario_started_mid_period_acts_from_its_start() -> None:
    """burst-traffic started at 06:00 brings bursts that same day, none starting before 06:00."""
    project = Project()
    at = START + 6 * H
    inst = ScenarioInstance(spec=get_scenario("burst-traffic", project), started_at=at)
    starts: list[int] = []
    for batches in backfill(project.spec("ai_usage"), START, START + DAY, 3, 0.02, 2, [inst]):
        for b in batches:
            if b.topic == "ai_usage.ground_truth":
                starts += b.occurred_at.tolist()
    assert len(starts) > 3
    assert min(starts) >= at
