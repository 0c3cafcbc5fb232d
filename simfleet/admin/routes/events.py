"""External events: ``POST /api/inject`` publishes one through the control plane."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from simfleet.admin.problems import Problem
from simfleet.admin.routes.deps import AdminDep
from simfleet.admin.service import StrictBody, instant
from simfleet.control import Command
from simfleet.errors import ScenarioError
from simfleet.orchestrator.transitions import find_template
from simfleet.timeutil import format_ms

__all__ = ["InjectBody", "router"]

router = APIRouter()


class InjectBody(StrictBody):
    """Inject one external event."""

    template: str = Field(description="an external event template id, e.g. cloud-outage")
    at: str | None = Field(None, description="sim instant, ISO UTC; default: now")
    params: dict[str, str] = Field(default_factory=dict, description="magnitude=high, ...")
    domain: str | None = Field(None, description="the template's domain, when ambiguous")


@router.post("/api/inject")
def inject(body: InjectBody, admin: AdminDep) -> dict[str, Any]:
    """Inject an external event (published, labelled, and applied unless causal=false)."""
    state = admin.state()
    try:
        find_template(admin.project, state.domains, body.template, body.domain)
    except ScenarioError as exc:
        raise Problem(404, "Unknown template", str(exc)) from exc
    cmd = Command(
        request_id=uuid.uuid4().hex,
        action="inject",
        template=body.template,
        domain=body.domain,
        at=instant(body.at, "at"),
        params=body.params,
    )
    state = admin.request(cmd)
    inj = next(i for i in reversed(state.injections) if i.injected)
    return {
        "success": True,
        "event": {
            "id": inj.event_id,
            "template": inj.template,
            "title": inj.title,
            "timestamp": format_ms(inj.at),
            "causal": inj.causal,
            "severity": inj.severity,
        },
        "control_version": state.version,
    }
