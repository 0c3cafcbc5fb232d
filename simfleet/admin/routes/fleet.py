"""The fleet's state (``GET /api/state``) and its clock's speed (``POST /api/speed``)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from simfleet.admin.routes.deps import AdminDep
from simfleet.admin.service import AdminApp, StrictBody, settle_span, steering
from simfleet.broker.budget import broker_memory
from simfleet.clock import wall_ms
from simfleet.control import Command
from simfleet.orchestrator.transitions import scenario_rows
from simfleet.scenarios import Lifecycle, lifecycle_at
from simfleet.timeutil import format_ms

__all__ = ["SpeedBody", "router", "state_body"]

router = APIRouter()


class SpeedBody(StrictBody):
    """Change the sim clock's speed."""

    speed: float = Field(gt=0, le=1_000_000, description="sim seconds per wall second")


def state_body(admin: AdminApp) -> dict[str, Any]:
    """The body of GET /api/state."""
    state = admin.state()
    now = state.clock.clock().sim_at(wall_ms())
    speed = state.clock.speed
    rows = []
    for inst, row in zip(state.scenarios, scenario_rows(state, now), strict=True):
        lc = lifecycle_at(inst, now)
        end = inst.end_ms
        remaining: int | None = None
        if lc.state in (Lifecycle.PENDING, Lifecycle.ACTIVE) and end is not None:
            remaining = end - now
        elif lc.state is Lifecycle.SETTLING and end is not None:
            remaining = end + settle_span(inst.spec) - now
        rows.append(
            row
            | {
                "steers": steering(inst),
                "domain": inst.spec.domain,
                "remaining_ms": remaining,
                "remaining_wall_s": None if remaining is None else remaining / speed / 1000,
            }
        )
    live = [r for r in rows if r["steers"]]
    status = (
        "Running"
        if any(r["state"] in ("active", "pending") for r in live)
        else "Settling"
        if any(r["state"] == "settling" for r in live)
        else "Baseline"
    )
    events = [
        {
            "id": i.event_id,
            "domain": i.domain,
            "template": i.template,
            "title": i.title,
            "severity": i.severity,
            "category": i.category,
            "timestamp": format_ms(i.at),
            "ends_at": format_ms(i.ends_at),
            "injected": i.injected,
            "scenario": i.scenario,
            "active": i.at <= now < i.ends_at,
        }
        for i in state.injections
    ]
    workers = [
        {
            "worker": hb.worker_id,
            "shards": list(hb.shards),
            "stopping": hb.stopping,
            "last_seen": format_ms(hb.wall_ms),
            "queued": hb.queued,
            "tick_lag_s": hb.tick_lag_ms / 1000,
            "topics": {t: c.model_dump() for t, c in sorted(hb.topics.items())},
            "produced": sum(c.produced for c in hb.topics.values()),
            "delivered": sum(c.delivered for c in hb.topics.values()),
            "failed": sum(c.failed for c in hb.topics.values()),
        }
        for hb in sorted(admin.view.workers.values(), key=lambda h: h.worker_id)
    ]
    return {
        "status": status,
        "sim_time": format_ms(now),
        "sim_time_ms": now,
        "speed": speed,
        "control_version": state.version,
        "domains": list(state.domains),
        "seed": state.seed,
        "scale": state.scale,
        "shards": state.shards,
        "scenarios": rows,
        "external_events": [e for e in events if e["active"]],
        "upcoming_events": [e for e in events if not e["active"]],
        "anomalies": list(admin.view.anomalies),
        "history": list(state.history),
        "workers": workers,
        "kafka": admin.kafka.redacted(),
        "baseline": admin.stats is not None,
        "behind": None
        if (behind := admin.view.behind) is None
        else {
            "lag_s": behind.lag_ms / 1000,
            "since": format_ms(behind.since_wall_ms),
            "workers": list(behind.workers),
            "text": behind.text(),
        },
        "broker": broker_memory(admin.kafka.bootstrap_servers),
    }


@router.get("/api/state")
def get_state(admin: AdminDep) -> dict[str, Any]:
    """Scenarios with lifecycle, phase and time remaining; external events; anomalies;
    sim time; speed; workers and their delivery counters."""
    return state_body(admin)


@router.post("/api/speed")
def speed(body: SpeedBody, admin: AdminDep) -> dict[str, Any]:
    """Change the sim clock's speed; sim time continues from where it is."""
    state = admin.request(
        Command(request_id=uuid.uuid4().hex, action="clock.speed", speed=body.speed)
    )
    return {
        "success": True,
        "speed": state.clock.speed,
        "effective_at": format_ms(state.effective_at),
        "control_version": state.version,
    }
