"""Desired-state transitions: pure functions of (state, command, wall instant), fixed clocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from simfleet.clock import SimClock
from simfleet.control import Command, ControlState
from simfleet.domain.pack import Project
from simfleet.errors import ScenarioError
from simfleet.orchestrator.catalog import get_scenario
from simfleet.orchestrator.transitions import (
    LEAD_WALL_MS,
    advance,
    apply_command,
    check_scenario,
    housekeep,
    initial_state,
    scenario_rows,
)
from simfleet.orchestrator.validate import validate_paths
from simfleet.scenario_check import MAX_PHASES
from simfleet.scenarios import ScenarioSpec

PROJECT = Project()

H = 3_600_000
WALL0 = 1_700_000_000_000
SIM0 = 1_772_409_600_000  # 2026-03-02T00:00:00Z
SPEED = 60.0
DOMAINS = ("marketplace",)


@pytest.fixture(scope="module")
def crisis() -> ScenarioSpec:
    """supply-crisis: 24h of phases, linear settle over 8h."""
    return get_scenario("supply-crisis", PROJECT)


@pytest.fixture(scope="module")
def normal() -> ScenarioSpec:
    """normal-operations: open-ended, immediate settle."""
    return get_scenario("normal-operations", Project())


def state0(scenario: ScenarioSpec | None = None) -> ControlState:
    """Version 1 at WALL0: sim SIM0 at 60x."""
    return initial_state(
        WALL0,
        SIM0,
        SPEED,
        seed=7,
        scale=1.0,
        shards=4,
        domains=DOMAINS,
        project=PROJECT,
        scenario=scenario,
    )


def cmd(action: str, **kw: Any) -> Command:
    """A command with a fixed request id."""
    return Command(request_id=f"req-{action}", action=action, **kw)  # type: ignore[arg-type]


def start_cmd(spec: ScenarioSpec, **kw: Any) -> Command:
    """scenario.start carrying the spec as the CLI sends it (JSON-shaped)."""
    return cmd("scenario.start", scenario=spec.model_dump(mode="json"), **kw)


def lead_sim(wall: int) -> int:
    """Where sim time is LEAD_WALL_MS after ``wall`` on the initial clock."""
    return SIM0 + int((wall + LEAD_WALL_MS - WALL0) * SPEED)


def test_initial_state_anchors_the_clock_now() -> None:
    """Version 1: clock anchored at (SIM0, WALL0), no scenario, one history note."""
    s = state0()
    assert s.version == 1
    assert s.effective_at == SIM0
    assert s.issued_at_wall == WALL0
    assert s.clock.clock() == SimClock(SIM0, WALL0, SPEED)
    assert (s.seed, s.scale, s.shards, s.domains) == (7, 1.0, 4, DOMAINS)
    assert s.scenarios == ()
    assert s.last_command_offset == -1
    assert s.rejected is None
    assert s.history == ("2026-03-02T00:00:00.000Z fleet started",)


def test_initial_state_with_a_scenario_starts_it_at_sim_start(crisis: ScenarioSpec) -> None:
    """`up --scenario X` places X at the sim start."""
    s = state0(crisis)
    assert [(i.spec.id, i.started_at, i.stop_at) for i in s.scenarios] == [
        ("supply-crisis", SIM0, None)
    ]


def test_start_takes_effect_at_the_lead_instant(crisis: ScenarioSpec) -> None:
    """scenario.start: effective_at = sim at wall + LEAD_WALL_MS; offset, request id recorded."""
    wall = WALL0 + 10_000
    s = apply_command(state0(), start_cmd(crisis), offset=5, wall=wall, project=PROJECT)
    at = lead_sim(wall)
    assert s.version == 2
    assert s.effective_at == at
    assert s.issued_at_wall == wall
    assert [(i.spec, i.started_at, i.stop_at) for i in s.scenarios] == [(crisis, at, None)]
    assert s.last_command_offset == 5
    assert s.last_request_id == "req-scenario.start"
    assert s.rejected is None
    assert s.history[-1].endswith("supply-crisis started")


@pytest.mark.parametrize(
    ("at_offset", "expected_offset"),
    [(-H, 0), (0, 0), (H, H)],  # relative to the lead instant
)
def test_start_at_is_never_before_the_lead_instant(
    crisis: ScenarioSpec, at_offset: int, expected_offset: int
) -> None:
    """An explicit `at` in the past is moved up to the lead instant; a future one is kept."""
    wall = WALL0 + 10_000
    lead = lead_sim(wall)
    s = apply_command(
        state0(), start_cmd(crisis, at=lead + at_offset), offset=0, wall=wall, project=PROJECT
    )
    assert s.scenarios[-1].started_at == lead + expected_offset


def test_start_stops_the_previous_scenario(crisis: ScenarioSpec, normal: ScenarioSpec) -> None:
    """Without --stack a new scenario stops the live one at its own start instant."""
    s1 = apply_command(state0(), start_cmd(crisis), offset=0, wall=WALL0, project=PROJECT)
    wall = WALL0 + 60_000
    s2 = apply_command(s1, start_cmd(normal), offset=1, wall=wall, project=PROJECT)
    at = lead_sim(wall)
    assert [(i.spec.id, i.stop_at) for i in s2.scenarios] == [
        ("supply-crisis", at),
        ("normal-operations", None),
    ]
    assert s2.scenarios[1].started_at == at


def test_start_with_stack_keeps_the_previous_scenario_running(
    crisis: ScenarioSpec, normal: ScenarioSpec
) -> None:
    """With stack=True the live scenario keeps going alongside the new one."""
    s1 = apply_command(state0(), start_cmd(crisis), offset=0, wall=WALL0, project=PROJECT)
    s2 = apply_command(
        s1, start_cmd(normal, stack=True), offset=1, wall=WALL0 + 60_000, project=PROJECT
    )
    assert [i.stop_at for i in s2.scenarios] == [None, None]


def test_start_leaves_an_already_ended_scenario_alone(
    crisis: ScenarioSpec, normal: ScenarioSpec
) -> None:
    """A scenario whose phases ended before the new start keeps stop_at unset (it is settling)."""
    s1 = apply_command(state0(), start_cmd(crisis), offset=0, wall=WALL0, project=PROJECT)
    length = crisis.natural_length_ms
    assert length is not None
    wall = WALL0 + (length + H) // int(SPEED)  # an hour after the crisis phases are over
    s2 = apply_command(s1, start_cmd(normal), offset=1, wall=wall, project=PROJECT)
    assert s2.scenarios[0].stop_at is None


def test_stop_sets_stop_at_on_the_live_scenario(crisis: ScenarioSpec) -> None:
    """scenario.stop: the live scenario gets stop_at = the lead instant and starts settling."""
    s1 = apply_command(state0(), start_cmd(crisis), offset=0, wall=WALL0, project=PROJECT)
    wall = WALL0 + 120_000
    s2 = apply_command(s1, cmd("scenario.stop"), offset=1, wall=wall, project=PROJECT)
    assert s2.scenarios[0].stop_at == lead_sim(wall)
    assert s2.effective_at == lead_sim(wall)
    assert s2.history[-1].endswith("supply-crisis stopped, settling")
    rows = scenario_rows(s2, lead_sim(wall) + H)
    assert rows[0]["state"] == "settling"


def test_stop_with_nothing_active_is_rejected_and_consumed() -> None:
    """Nothing to stop: rejected (request id, reason), offset advanced, scenarios untouched."""
    s0 = state0()
    s1 = apply_command(s0, cmd("scenario.stop"), offset=9, wall=WALL0 + 1_000, project=PROJECT)
    assert s1.rejected is not None
    assert s1.rejected.request_id == "req-scenario.stop"
    assert "nothing to stop" in s1.rejected.reason
    assert s1.last_command_offset == 9
    assert s1.scenarios == ()
    assert s1.effective_at == s0.effective_at
    assert s1.history == s0.history


def test_a_later_accepted_command_clears_the_rejection(crisis: ScenarioSpec) -> None:
    """rejected describes only the last command."""
    s1 = apply_command(state0(), cmd("scenario.stop"), offset=0, wall=WALL0, project=PROJECT)
    s2 = apply_command(s1, start_cmd(crisis), offset=1, wall=WALL0, project=PROJECT)
    assert s2.rejected is None


def test_start_of_an_invalid_scenario_is_rejected() -> None:
    """A malformed scenario payload is rejected with the validation message, not raised."""
    s = apply_command(
        state0(), cmd("scenario.start", scenario={"id": "x"}), offset=3, wall=WALL0, project=PROJECT
    )
    assert s.rejected is not None
    assert "invalid" in s.rejected.reason
    assert s.last_command_offset == 3
    assert s.scenarios == ()


def test_reset_drops_every_scenario(crisis: ScenarioSpec) -> None:
    """reset: back to baseline at the lead instant."""
    s1 = apply_command(state0(), start_cmd(crisis), offset=0, wall=WALL0, project=PROJECT)
    wall = WALL0 + 5_000
    s2 = apply_command(s1, cmd("reset"), offset=1, wall=wall, project=PROJECT)
    assert s2.scenarios == ()
    assert s2.effective_at == lead_sim(wall)
    assert s2.history[-1].endswith("reset to baseline")


@pytest.mark.parametrize("new_speed", [1.0, 0.5, 3600.0])
def test_speed_change_keeps_sim_time_continuous(new_speed: float) -> None:
    """clock.speed: the new clock agrees with the old one at the command's wall instant."""
    s0 = state0()
    wall = WALL0 + 123_457
    s1 = apply_command(
        s0, cmd("clock.speed", speed=new_speed), offset=0, wall=wall, project=PROJECT
    )
    old, new = s0.clock.clock(), s1.clock.clock()
    assert new.sim_at(wall) == old.sim_at(wall)
    assert s1.effective_at == old.sim_at(wall)
    assert new.speed == new_speed
    assert new.sim_at(wall + 2_000) == old.sim_at(wall) + int(2_000 * new_speed)


@pytest.mark.parametrize("bad", [None, 0.0, -2.0])
def test_speed_must_be_positive(bad: float | None) -> None:
    """A missing or non-positive speed is rejected; the clock is unchanged."""
    s0 = state0()
    s1 = apply_command(s0, cmd("clock.speed", speed=bad), offset=0, wall=WALL0, project=PROJECT)
    assert s1.rejected is not None
    assert s1.clock == s0.clock


def test_housekeep_drops_a_settled_instance(crisis: ScenarioSpec) -> None:
    """Once crisis settled (its phases + its settle) and its lagged effects passed (the causal
    graph's horizon), housekeep removes it and notes it; not before, since dropping it would
    move parameters at whatever instant the orchestrator noticed (not reproducible)."""
    s1 = apply_command(state0(), start_cmd(crisis), offset=0, wall=WALL0, project=PROJECT)
    length = crisis.natural_length_ms
    assert length is not None
    settled_sim = s1.scenarios[0].started_at + length + crisis.settle.duration
    horizon = PROJECT.graph("marketplace").horizon_ms
    assert horizon > 0
    early = housekeep(s1, s1.clock.clock().wall_at(settled_sim + horizon // 2), PROJECT)
    assert early is None or early.scenarios == s1.scenarios
    wall = s1.clock.clock().wall_at(settled_sim + horizon) + 1
    s2 = housekeep(s1, wall, PROJECT)
    assert s2 is not None
    assert s2.scenarios == ()
    assert s2.version == s1.version + 1
    assert s2.history[-1].endswith("supply-crisis settled")
    assert s2.effective_at >= s1.effective_at


@pytest.mark.parametrize("sim_hours", [0, 10, 24, 31])
def test_housekeep_returns_none_while_nothing_settled(crisis: ScenarioSpec, sim_hours: int) -> None:
    """Active or settling instances stay; once what fell due is published, housekeep says None."""
    s1 = apply_command(state0(), start_cmd(crisis), offset=0, wall=WALL0, project=PROJECT)
    wall = s1.clock.clock().wall_at(s1.scenarios[0].started_at + sim_hours * H)
    moved = advance(s1, wall, PROJECT)
    s2 = s1 if moved is None else moved[0]
    assert s2.scenarios == s1.scenarios
    assert housekeep(s2, wall, PROJECT) is None


def test_housekeep_with_no_scenarios_returns_none() -> None:
    """An empty state, once its external events are scheduled, needs no housekeeping."""
    moved = advance(state0(), WALL0 + 10 * H, PROJECT)
    s1 = state0() if moved is None else moved[0]
    assert s1.scenarios == ()
    assert housekeep(s1, WALL0 + 10 * H, PROJECT) is None


def test_unknown_modifier_target_is_rejected_naming_it(crisis: ScenarioSpec) -> None:
    """check_scenario: a target matching no parameter raises ScenarioError naming the target."""
    raw = crisis.model_dump()
    raw["phases"][0]["modifiers"][0]["target"] = "marketplace.tutor.suply"
    bad = ScenarioSpec.model_validate(raw)
    with pytest.raises(ScenarioError, match=r"marketplace\.tutor\.suply") as info:
        check_scenario(bad, PROJECT, DOMAINS)
    assert "producers/marketplace/streams.yaml" in str(info.value)


def test_unknown_backlog_target_is_rejected(crisis: ScenarioSpec) -> None:
    """Backlog modifiers are checked too."""
    raw = crisis.model_dump()
    raw["settle"]["backlog"] = {
        "duration": 3_600_000,
        "modifiers": [{"target": "marketplace.nope.*", "op": "multiply", "value": 2.0}],
    }
    with pytest.raises(ScenarioError, match=r"marketplace\.nope\.\*"):
        check_scenario(ScenarioSpec.model_validate(raw), PROJECT, DOMAINS)


def test_scenario_for_a_domain_not_running_is_rejected(crisis: ScenarioSpec) -> None:
    """A scenario of another domain than the fleet's is refused, naming both."""
    with pytest.raises(ScenarioError, match="fleet runs"):
        check_scenario(crisis, PROJECT, ("payments",))


def test_start_with_unknown_target_is_rejected_not_raised(crisis: ScenarioSpec) -> None:
    """Through apply_command the same check becomes a rejection carrying the message."""
    raw = crisis.model_dump(mode="json")
    raw["phases"][0]["modifiers"][0]["target"] = "marketplace.tutor.suply"
    s = apply_command(
        state0(), cmd("scenario.start", scenario=raw), offset=0, wall=WALL0, project=PROJECT
    )
    assert s.rejected is not None
    assert "marketplace.tutor.suply" in s.rejected.reason


def test_an_expired_command_is_never_applied() -> None:
    """A command read after its deadline (the CLI already said "not applied") is rejected as
    expired and changes nothing but the offset; one read in time is applied."""
    crisis = get_scenario("supply-crisis", PROJECT)
    late = start_cmd(crisis).model_copy(update={"expires_at_wall": WALL0 - 1})
    s = apply_command(state0(), late, offset=4, wall=WALL0, project=PROJECT)
    assert s.rejected is not None and "expired" in s.rejected.reason
    assert s.scenarios == () and s.last_command_offset == 4
    on_time = start_cmd(crisis).model_copy(update={"expires_at_wall": WALL0 + 1})
    s = apply_command(state0(), on_time, offset=4, wall=WALL0, project=PROJECT)
    assert s.rejected is None and s.scenarios[-1].spec.id == "supply-crisis"


def test_a_silent_worker_becomes_stale_and_a_goodbye_is_stopped() -> None:
    """Heartbeat liveness: live within the timeout, stale after, stopped once it said so."""
    from simfleet.control import HEARTBEAT_TIMEOUT_MS, Heartbeat

    hb = Heartbeat(
        worker_id="w",
        host="h",
        pid=1,
        wall_ms=WALL0,
        sim_ms=0,
        shards=(),
        control_version=1,
        topics={},
    )
    assert hb.liveness(WALL0 + HEARTBEAT_TIMEOUT_MS) == "live"
    assert hb.liveness(WALL0 + HEARTBEAT_TIMEOUT_MS + 1) == "stale"
    assert hb.model_copy(update={"stopping": True}).liveness(WALL0 + 10**9) == "stopped"


# Mistakes the structure finds (an unknown op) and the names (a target, an expected effect, a
# chaos glob), in a scenario sent over the control topic as a mapping.
PLANTED = """\
id: planted
name: Planted
description: four mistakes
domain: marketplace
phases:
  - name: p
    duration: 1h
    modifiers:
      - {target: marketplace.customer.demnd, op: multiply, value: 1.5}
      - {target: marketplace.customer.demand, op: explode, value: 1.5}
expected_effects:
  - {stream: marketplace.customer.serch, direction: increase, magnitude: 0.2}
chaos:
  - {action: drop, streams: marketplace.nope.*, probability: 0.1}
"""


def test_scenario_start_refuses_with_the_words_of_simctl_validate(tmp_path: Path) -> None:
    """The orchestrator's scenario start (which the admin server's start route goes through)
    rejects an invalid scenario with every problem `simctl validate` lists, in its words."""
    path = tmp_path / "planted.yaml"
    path.write_text(PLANTED, encoding="utf-8")
    listed = validate_paths([path], PROJECT)
    assert len(listed) == 4, [p.line() for p in listed]
    raw = yaml.safe_load(PLANTED)
    s = apply_command(state0(), cmd("scenario.start", scenario=raw), 0, WALL0, PROJECT)
    assert s.rejected is not None
    assert s.scenarios == ()
    assert "(4 problem(s))" in s.rejected.reason
    for problem in listed:
        assert problem.sentence() in s.rejected.reason, problem.sentence()
    assert "\n" not in s.rejected.reason


def test_check_scenario_lists_the_names_simctl_validate_lists(tmp_path: Path) -> None:
    """`check_scenario` (up, generate, `scenario start` before the broker) says the same, and
    checks expected effects too."""
    raw = yaml.safe_load(PLANTED)
    raw["phases"][0]["modifiers"].pop()  # the unknown op: a spec cannot hold it
    path = tmp_path / "planted.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    listed = validate_paths([path], PROJECT)
    assert {p.path for p in listed} == {
        "phases.0.modifiers.0.target",
        "expected_effects.0.stream",
        "chaos.0.streams",
    }
    with pytest.raises(ScenarioError) as info:
        check_scenario(ScenarioSpec.model_validate(raw), PROJECT, DOMAINS)
    for problem in listed:
        assert problem.sentence() in str(info.value)


def test_scenario_start_refuses_too_many_phases_before_the_model() -> None:
    """A mapping with more phases than the cap is refused by its count alone."""
    raw = yaml.safe_load(PLANTED)
    raw["phases"] = [{"name": f"p{i}", "duration": "1h"} for i in range(MAX_PHASES + 1)]
    s = apply_command(state0(), cmd("scenario.start", scenario=raw), 0, WALL0, PROJECT)
    assert s.rejected is not None
    assert "(1 problem(s))" in s.rejected.reason
    assert f"over the {MAX_PHASES:,} a scenario may have" in s.rejected.reason


def test_a_rejection_reason_ends_without_a_full_stop() -> None:
    """The CLI and the admin server end the reason with their own full stop."""
    raw = yaml.safe_load(PLANTED)
    s = apply_command(state0(), cmd("scenario.start", scenario=raw), 0, WALL0, PROJECT)
    assert s.rejected is not None
    assert not s.rejected.reason.endswith(".")


def test_a_steering_scenario_over_another_is_refused_naming_it(crisis: ScenarioSpec) -> None:
    """As the admin server answered 409: the CLI no longer replaces a running scenario silently."""
    outage = get_scenario("payment-outage", PROJECT)
    s1 = apply_command(state0(), start_cmd(crisis), offset=0, wall=WALL0, project=PROJECT)
    s2 = apply_command(s1, start_cmd(outage), offset=1, wall=WALL0 + 60_000, project=PROJECT)
    assert s2.rejected is not None
    assert "supply-crisis is active, so payment-outage was not started" in s2.rejected.reason
    assert "--replace" in s2.rejected.reason and "--stack" in s2.rejected.reason
    assert [i.spec.id for i in s2.scenarios] == ["supply-crisis"]


def test_replace_stops_the_steering_scenario_and_starts_the_new_one(
    crisis: ScenarioSpec,
) -> None:
    outage = get_scenario("payment-outage", PROJECT)
    s1 = apply_command(state0(), start_cmd(crisis), offset=0, wall=WALL0, project=PROJECT)
    wall = WALL0 + 60_000
    s2 = apply_command(s1, start_cmd(outage, replace=True), offset=1, wall=wall, project=PROJECT)
    assert s2.rejected is None
    at = lead_sim(wall)
    assert [(i.spec.id, i.stop_at) for i in s2.scenarios] == [
        ("supply-crisis", at),
        ("payment-outage", None),
    ]
    s3 = apply_command(s1, start_cmd(outage, stack=True), offset=1, wall=wall, project=PROJECT)
    assert [(i.spec.id, i.stop_at) for i in s3.scenarios] == [
        ("supply-crisis", None),
        ("payment-outage", None),
    ]


def test_campaigns_and_chaos_steer_and_the_baseline_does_not() -> None:
    assert get_scenario("supply-crisis", PROJECT).steers
    assert get_scenario("fraud-attack", PROJECT).steers  # campaigns only: it steers too
    assert not get_scenario("normal-operations", PROJECT).steers


def test_steering_scenarios_of_two_domains_run_side_by_side(crisis: ScenarioSpec) -> None:
    """Each domain steers its own parameters: one steering scenario at a time per domain."""
    both = initial_state(
        WALL0,
        SIM0,
        SPEED,
        seed=7,
        scale=1.0,
        shards=4,
        domains=("marketplace", "ticketing"),
        project=PROJECT,
    )
    fraud = get_scenario("fraud-attack", PROJECT)
    s1 = apply_command(both, start_cmd(crisis), offset=0, wall=WALL0, project=PROJECT)
    s2 = apply_command(s1, start_cmd(fraud), offset=1, wall=WALL0 + 60_000, project=PROJECT)
    assert s2.rejected is None
    assert [(i.spec.id, i.stop_at) for i in s2.scenarios] == [
        ("supply-crisis", None),
        ("fraud-attack", None),
    ]
