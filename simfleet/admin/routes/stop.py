"""Ending scenarios: ``POST /api/stop`` (they settle) and ``POST /api/reset`` (at once)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from simfleet.admin.routes.deps import AdminDep
from simfleet.admin.service import settle_span
from simfleet.clock import wall_ms
from simfleet.control import Command
from simfleet.timeutil import format_ms

__all__ = ["router"]

router = APIRouter()


@router.post("/api/stop")
def stop(admin: AdminDep) -> dict[str, Any]:
    """Stop the active scenario(s): they settle; returns when settling ends."""
    state = admin.request(Command(request_id=uuid.uuid4().hex, action="scenario.stop"))
    stopped = [i for i in state.scenarios if i.stop_at == state.effective_at]
    until = max(
        (i.stop_at + settle_span(i.spec) for i in stopped if i.stop_at is not None),
        default=state.effective_at,
    )
    now = state.clock.clock().sim_at(wall_ms())
    return {
        "success": True,
        "stopped": [i.spec.id for i in stopped],
        "effective_at": format_ms(state.effective_at),
        "settling_until": format_ms(until),
        "settling_wall_s": max(0.0, (until - now) / state.clock.speed / 1000),
        "control_version": state.version,
    }


@router.post("/api/reset")
def reset(admin: AdminDep) -> dict[str, Any]:
    """Clear every scenario at once (no settle); returns what was cleared."""
    before = admin.state()
    state = admin.request(Command(request_id=uuid.uuid4().hex, action="reset"))
    return {
        "success": True,
        "cleared": {"scenarios": [i.spec.id for i in before.scenarios]},
        "kept": {
            "external_events": len(state.injections),
            "note": "published external events stay: they are already on the topics",
        },
        "effective_at": format_ms(state.effective_at),
        "control_version": state.version,
    }
