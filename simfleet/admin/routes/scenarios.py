"""The scenario catalog (``GET /api/scenarios``, ``/api/scenarios/{id}``) and starting one
(``POST /api/scenario``)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from simfleet.admin.problems import Problem
from simfleet.admin.routes.deps import AdminDep
from simfleet.admin.service import AdminApp, StrictBody, duration, instant, settle_span, steering
from simfleet.clock import wall_ms
from simfleet.control import Command
from simfleet.orchestrator.catalog import list_scenarios
from simfleet.orchestrator.transitions import scenario_rows
from simfleet.scenarios import Lifecycle, ScenarioSpec, lifecycle_at
from simfleet.timeutil import format_duration_ms, format_ms

__all__ = ["StartBody", "describe", "router"]

router = APIRouter()


class StartBody(StrictBody):
    """Start a scenario of the catalog."""

    scenario_id: str = Field(description="a scenario id, e.g. supply-crisis")
    at: str | None = Field(None, description="sim instant, ISO UTC; default: now")
    stack: bool = Field(False, description="keep the active scenario(s) running too")
    replace: bool = Field(False, description="stop the active scenario(s) and start this one")


def find_scenario(admin: AdminApp, scenario_id: str) -> ScenarioSpec:
    """A catalog scenario by id, or 404."""
    catalog = list_scenarios(admin.project)
    if scenario_id not in catalog:
        raise Problem(
            404,
            "Unknown scenario",
            f"No scenario {scenario_id!r} in the catalog. Known: {', '.join(sorted(catalog))}"
            ". GET /api/scenarios lists them.",
        )
    return catalog[scenario_id][1]


def describe(spec: ScenarioSpec) -> dict[str, Any]:
    """A catalog entry as the API shows it."""
    length, text = duration(spec)
    return {
        "id": spec.id,
        "name": spec.name,
        "description": " ".join(spec.description.split()),
        "domain": spec.domain,
        "duration": text,
        "duration_ms": length,
        "settle": {
            "curve": spec.settle.curve,
            "duration": format_duration_ms(settle_span(spec)),
        },
        "phases": [
            {
                "name": p.name,
                "duration": None if p.duration is None else format_duration_ms(p.duration),
                "ramp": format_duration_ms(p.ramp) if p.ramp else None,
                "modifiers": len(p.modifiers),
            }
            for p in spec.phases
        ],
        "external_events": [e.template for e in spec.external_events],
        "steers": spec.steers,
        "kind": kind(spec),
        "streams": moved_streams(spec),
    }


def kind(spec: ScenarioSpec) -> str:
    """What sort of scenario it is, for the page's card: baseline, campaign (actors of their
    own, an attack or an A/B test), chaos, drift or parameters."""
    if not spec.steers:
        return "baseline"
    if spec.campaigns:
        return "campaign"
    if spec.chaos or any(p.chaos for p in spec.phases):
        return "chaos"
    if spec.drift:
        return "drift"
    return "parameters"


def moved_streams(spec: ScenarioSpec) -> list[str]:
    """The topics a scenario says it moves (its expected effects and its campaigns' streams),
    in order: the page charts them while it runs."""
    out = [e.stream for e in spec.expected_effects]
    out += [f"{spec.domain}.{s}" for c in spec.campaigns for s in c.streams]
    return list(dict.fromkeys(out))


@router.get("/api/scenarios")
def scenarios(admin: AdminDep) -> dict[str, Any]:
    """Every scenario of the catalog: name, description, domain, duration, phases."""
    catalog = list_scenarios(admin.project)
    return {"scenarios": [describe(spec) for _path, spec in catalog.values()]}


@router.get("/api/scenarios/{scenario_id}")
def scenario(scenario_id: str, admin: AdminDep) -> dict[str, Any]:
    """One scenario of the catalog."""
    return describe(find_scenario(admin, scenario_id))


@router.post("/api/scenario")
def start(body: StartBody, admin: AdminDep) -> dict[str, Any]:
    """Start a scenario; 409 while another steering scenario is active (unless stack or
    replace is set)."""
    spec = find_scenario(admin, body.scenario_id)
    at = instant(body.at, "at")
    state = admin.state()
    now = state.clock.clock().sim_at(wall_ms())
    busy = [
        i.spec.id
        for i in state.scenarios
        if steering(i)
        and i.spec.domain == spec.domain
        and spec.steers
        and lifecycle_at(i, now).state in (Lifecycle.PENDING, Lifecycle.ACTIVE)
    ]
    if busy and not (body.stack or body.replace):
        raise Problem(
            409,
            "A scenario is already active",
            f"{', '.join(busy)} is active. Stop it first (POST /api/stop), or send "
            '"replace": true to stop it and start this one, or "stack": true to run both.',
        )
    cmd = Command(
        request_id=uuid.uuid4().hex,
        action="scenario.start",
        scenario=spec.model_dump(mode="json"),
        at=at,
        stack=body.stack,
        replace=body.replace,
    )
    state = admin.request(cmd)
    inst = next(i for i in reversed(state.scenarios) if i.spec.id == spec.id)
    length, text = duration(spec)
    total = None if length is None else length + settle_span(spec)
    now = state.clock.clock().sim_at(wall_ms())
    row = scenario_rows(state, now)[state.scenarios.index(inst)]
    return {
        "success": True,
        "scenario": describe(spec),
        "instance": row,
        "events": [
            {
                "id": i.event_id,
                "template": i.template,
                "title": i.title,
                "timestamp": format_ms(i.at),
                "severity": i.severity,
            }
            for i in state.injections
            if i.scenario == spec.id and i.at >= inst.started_at
        ],
        "estimated_duration": text
        if total is None or not settle_span(spec)
        else f"{text} + {format_duration_ms(settle_span(spec))} settling",
        "estimated_duration_ms": total,
        "estimated_wall_s": None if total is None else total / state.clock.speed / 1000,
        "effective_at": format_ms(state.effective_at),
        "control_version": state.version,
    }
