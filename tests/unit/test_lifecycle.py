"""Scenario lifecycle: (instance, sim instant) -> state, phase and modifier weights.

pending -> active (phase by phase, ramped) -> settling (settle curve, backlog) -> settled.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from simfleet.scenarios import (
    Lifecycle,
    Modifier,
    ScenarioInstance,
    ScenarioSpec,
    lifecycle_at,
)

H = 3_600_000
START = 1_772_409_600_000 + 6 * H  # 2026-03-02T06:00:00Z

SUPPLY = {"target": "marketplace.tutor.supply", "op": "multiply"}
BACKLOG = {"target": "marketplace.customer.search.rate", "op": "multiply", "value": 3.0}


def spec(
    settle: dict[str, Any] | None = None, last_duration: str | None = "20h", **extra: Any
) -> ScenarioSpec:
    """A two-phase scenario: onset 4h with a 2h ramp (x0.5), then peak (x0.4)."""
    return ScenarioSpec.model_validate(
        {
            "id": "two-phase",
            "name": "Two phases",
            "description": "test",
            "domain": "marketplace",
            "phases": [
                {
                    "name": "onset",
                    "duration": "4h",
                    "ramp": "2h",
                    "modifiers": [{**SUPPLY, "value": 0.5}],
                },
                {
                    "name": "peak",
                    "duration": last_duration,
                    "modifiers": [{**SUPPLY, "value": 0.4}],
                },
            ],
            "settle": settle or {"curve": "linear", "duration": "8h"},
            **extra,
        }
    )


def weights(lc: Any) -> list[tuple[float, float]]:
    """(modifier value, weight) pairs of a lifecycle result."""
    return [(m.value, w) for m, w in lc.weighted]


def test_pending_before_start_has_no_modifiers() -> None:
    """Before started_at the instance is pending and changes nothing."""
    lc = lifecycle_at(ScenarioInstance(spec=spec(), started_at=START), START - 1)
    assert lc.state is Lifecycle.PENDING
    assert lc.phase is None
    assert lc.weighted == ()


@pytest.mark.parametrize(
    ("offset", "weight", "progress"),
    [
        (0, 0.0, 0.0),
        (H, 0.5, 0.25),
        (2 * H, 1.0, 0.5),
        (3 * H, 1.0, 0.75),
        (4 * H - 1, 1.0, (4 * H - 1) / (4 * H)),
    ],
)
def test_first_phase_ramps_linearly(offset: int, weight: float, progress: float) -> None:
    """The onset ramps its weight 0 -> 1 over the 2h ramp, and stays 1 after it."""
    lc = lifecycle_at(ScenarioInstance(spec=spec(), started_at=START), START + offset)
    assert lc.state is Lifecycle.ACTIVE
    assert lc.phase == "onset"
    assert weights(lc) == [(0.5, pytest.approx(weight))]
    assert lc.progress == pytest.approx(progress)


def test_phase_switches_at_the_exact_boundary() -> None:
    """At exactly started_at + 4h the peak phase is in force, at full weight (no ramp)."""
    inst = ScenarioInstance(spec=spec(), started_at=START)
    assert lifecycle_at(inst, START + 4 * H - 1).phase == "onset"
    lc = lifecycle_at(inst, START + 4 * H)
    assert lc.state is Lifecycle.ACTIVE
    assert lc.phase == "peak"
    assert lc.progress == 0.0
    assert weights(lc) == [(0.4, 1.0)]


def test_natural_end_starts_settling_from_the_last_phase() -> None:
    """Without a stop the scenario ends after its phases (24h) and settles from the peak."""
    inst = ScenarioInstance(spec=spec(), started_at=START)
    assert inst.end_ms == START + 24 * H
    assert lifecycle_at(inst, START + 24 * H - 1).state is Lifecycle.ACTIVE
    lc = lifecycle_at(inst, START + 24 * H)
    assert lc.state is Lifecycle.SETTLING
    assert lc.phase == "peak"
    assert weights(lc) == [(0.4, 1.0)]


@pytest.mark.parametrize(
    ("curve", "tau", "weight"),
    [
        ("linear", 0, 1.0),
        ("linear", 2 * H, 0.75),
        ("linear", 4 * H, 0.5),
        ("linear", 6 * H, 0.25),
        ("exponential", 0, 1.0),
        ("exponential", 4 * H, math.exp(-1.5)),
        ("exponential", 8 * H - 1, math.exp(-3.0 * (8 * H - 1) / (8 * H))),
    ],
)
def test_explicit_stop_settles_along_the_curve(curve: str, tau: int, weight: float) -> None:
    """After stop_at the modifiers of the phase in force fade along the settle curve (8h)."""
    stop = START + 10 * H
    inst = ScenarioInstance(
        spec=spec({"curve": curve, "duration": "8h"}), started_at=START, stop_at=stop
    )
    assert inst.end_ms == stop
    lc = lifecycle_at(inst, stop + tau)
    assert lc.state is Lifecycle.SETTLING
    assert lc.phase == "peak"
    assert lc.progress == pytest.approx(tau / (8 * H))
    assert weights(lc) == [(0.4, pytest.approx(weight))]


@pytest.mark.parametrize("curve", ["linear", "exponential"])
def test_settled_once_the_settle_duration_has_passed(curve: str) -> None:
    """At stop + settle duration the instance is settled and changes nothing."""
    stop = START + 10 * H
    inst = ScenarioInstance(
        spec=spec({"curve": curve, "duration": "8h"}), started_at=START, stop_at=stop
    )
    lc = lifecycle_at(inst, stop + 8 * H)
    assert lc.state is Lifecycle.SETTLED
    assert lc.weighted == ()


def test_immediate_settle_is_settled_right_at_the_end() -> None:
    """curve: immediate -> the instant the scenario ends it is settled."""
    stop = START + 10 * H
    inst = ScenarioInstance(spec=spec({"curve": "immediate"}), started_at=START, stop_at=stop)
    assert lifecycle_at(inst, stop - 1).state is Lifecycle.ACTIVE
    lc = lifecycle_at(inst, stop)
    assert lc.state is Lifecycle.SETTLED
    assert lc.weighted == ()


def test_stop_during_onset_settles_from_the_onset_phase() -> None:
    """A stop inside the first phase settles that phase's modifiers, not the next one's."""
    stop = START + 3 * H
    inst = ScenarioInstance(spec=spec(), started_at=START, stop_at=stop)
    lc = lifecycle_at(inst, stop + 4 * H)
    assert lc.phase == "onset"
    assert weights(lc) == [(0.5, pytest.approx(0.5))]


def test_stop_during_ramp_does_not_jump_to_full_strength() -> None:
    """Stopping at half the ramp (weight 0.5) settles from 0.5, never above it."""
    stop = START + H
    inst = ScenarioInstance(spec=spec(), started_at=START, stop_at=stop)
    assert weights(lifecycle_at(inst, stop - 1)) == [(0.5, pytest.approx(0.5, abs=1e-6))]
    (_, w_after), *_ = weights(lifecycle_at(inst, stop))
    assert w_after <= 0.5 + 1e-6


@pytest.mark.parametrize(
    ("tau", "settle_w", "backlog_w", "state"),
    [
        (0, 1.0, 1.0, Lifecycle.SETTLING),
        (H, 0.5, 0.75, Lifecycle.SETTLING),
        (2 * H, None, 0.5, Lifecycle.SETTLING),  # settle curve done, backlog still decaying
        (4 * H - 1, None, 1 / (4 * H), Lifecycle.SETTLING),
        (4 * H, None, None, Lifecycle.SETTLED),  # settled after max(settle, backlog)
    ],
)
def test_backlog_decays_linearly_and_extends_settling(
    tau: int, settle_w: float | None, backlog_w: float | None, state: Lifecycle
) -> None:
    """Backlog modifiers start at weight 1 at the end and fall linearly to 0 over their span."""
    settle = {
        "curve": "linear",
        "duration": "2h",
        "backlog": {"duration": "4h", "modifiers": [BACKLOG]},
    }
    stop = START + 10 * H
    inst = ScenarioInstance(spec=spec(settle), started_at=START, stop_at=stop)
    lc = lifecycle_at(inst, stop + tau)
    assert lc.state is state
    got = dict(weights(lc))
    assert got.get(0.4) == (None if settle_w is None else pytest.approx(settle_w))
    assert got.get(3.0) == (None if backlog_w is None else pytest.approx(backlog_w))


@pytest.mark.parametrize("offset", [4 * H, 24 * H, 365 * 24 * H])
def test_open_ended_last_phase_stays_active_until_stopped(offset: int) -> None:
    """A last phase without duration keeps the scenario active for as long as it runs."""
    inst = ScenarioInstance(spec=spec(last_duration=None), started_at=START)
    assert inst.end_ms is None
    assert inst.spec.natural_length_ms is None
    lc = lifecycle_at(inst, START + offset)
    assert lc.state is Lifecycle.ACTIVE
    assert lc.phase == "peak"
    assert lc.progress == 0.0


def test_open_ended_last_phase_settles_after_an_explicit_stop() -> None:
    """An open-ended scenario ends at its stop_at and settles from there."""
    stop = START + 30 * H
    inst = ScenarioInstance(spec=spec(last_duration=None), started_at=START, stop_at=stop)
    assert inst.end_ms == stop
    assert lifecycle_at(inst, stop - 1).state is Lifecycle.ACTIVE
    lc = lifecycle_at(inst, stop + 4 * H)
    assert lc.state is Lifecycle.SETTLING
    assert weights(lc) == [(0.4, pytest.approx(0.5))]


def test_stop_after_natural_end_keeps_the_natural_end() -> None:
    """end_ms is the earlier of the explicit stop and the end of the phases."""
    inst = ScenarioInstance(spec=spec(), started_at=START, stop_at=START + 100 * H)
    assert inst.end_ms == START + 24 * H


def test_non_last_phase_without_duration_is_rejected() -> None:
    """Only the last phase may be open-ended; the error names the phase."""
    raw = spec().model_dump()
    raw["phases"][0]["duration"] = None
    with pytest.raises(ValidationError, match="'onset' has no duration"):
        ScenarioSpec.model_validate(raw)


@pytest.mark.parametrize(
    ("text", "ms"), [("4h", 4 * H), ("90m", 90 * 60_000), ("1.5h", 5_400_000), (7_200_000, 2 * H)]
)
def test_phase_durations_are_parsed_to_ms(text: str | int, ms: int) -> None:
    """Duration strings become ms; an int is already ms (as model_dump writes them)."""
    raw = spec().model_dump()
    raw["phases"][0]["duration"] = text
    raw["phases"][0]["ramp"] = text
    parsed = ScenarioSpec.model_validate(raw)
    assert parsed.phases[0].duration == ms
    assert parsed.phases[0].ramp == ms


@pytest.mark.parametrize(
    ("field", "value"),
    [("duration", "-1h"), ("duration", "soon"), ("ramp", "2 hours")],
)
def test_malformed_phase_durations_are_rejected(field: str, value: str) -> None:
    """A phase duration or ramp that is not `<number><unit>` fails validation."""
    raw = spec().model_dump()
    raw["phases"][0][field] = value
    with pytest.raises(ValidationError):
        ScenarioSpec.model_validate(raw)


def test_spec_round_trips_through_model_dump() -> None:
    """A dumped spec (ms ints) validates back to the same spec: commands carry it that way."""
    s = spec(
        {"curve": "linear", "duration": "2h", "backlog": {"duration": "4h", "modifiers": [BACKLOG]}}
    )
    assert ScenarioSpec.model_validate(s.model_dump()) == s
    assert ScenarioSpec.model_validate(s.model_dump(mode="json")) == s
    assert isinstance(s.phases[0].modifiers[0], Modifier)
