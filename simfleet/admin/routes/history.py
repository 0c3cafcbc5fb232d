"""``GET /api/history``: records per stream per interval, and the external events in range."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from simfleet.admin.problems import Problem
from simfleet.admin.routes.deps import AdminDep
from simfleet.admin.service import AdminApp, instant
from simfleet.clock import wall_ms
from simfleet.control import ControlState
from simfleet.timeutil import format_ms

__all__ = ["router"]

router = APIRouter()


def _events(admin: AdminApp, state: ControlState, lo: int, hi: int) -> list[dict[str, Any]]:
    """The external events in [lo, hi): the control state's, then those only seen on the
    topic (published by an earlier orchestrator, say)."""
    events: dict[str, dict[str, Any]] = {}
    for i in state.injections:
        if lo <= i.at < hi:
            events[i.event_id] = {
                "id": i.event_id,
                "timestamp": format_ms(i.at),
                "title": i.title,
                "template": i.template,
                "domain": i.domain,
                "severity": i.severity,
                "category": i.category,
            }
    for eid, rec in list(admin.view.external.items()):
        at = int(rec["occurred_at"])
        if lo <= at < hi and eid not in events:
            events[eid] = {
                "id": eid,
                "timestamp": format_ms(at),
                "title": rec.get("title"),
                "template": rec.get("template"),
                "domain": rec.get("domain"),
                "severity": rec.get("severity"),
                "category": rec.get("category"),
            }
    return sorted(events.values(), key=lambda e: str(e["timestamp"]))


@router.get("/api/history")
def history(
    admin: AdminDep,
    start: Annotated[str, Query(description="ISO UTC instant")],
    end: Annotated[str, Query(description="ISO UTC instant, or now")] = "now",
    streams: Annotated[
        str | None, Query(description="comma-separated topics; default: all")
    ] = None,
) -> dict[str, Any]:
    """Records per stream per interval (the workers' own tallies on sim.counts),
    normalised 0-100 against the baseline when the server has one, and the external
    events in range."""
    state = admin.state()
    lo = instant(start, "start")
    assert lo is not None
    hi = state.clock.clock().sim_at(wall_ms()) if end == "now" else instant(end, "end")
    assert hi is not None
    if hi <= lo:
        raise Problem(422, "Invalid range", f"end ({end}) must come after start ({start}).")
    wanted = None if streams is None else {s.strip() for s in streams.split(",") if s}
    factor = admin.stats.factor_for(state.scale) if admin.stats is not None else 1.0
    out: dict[str, list[dict[str, Any]]] = {}
    for topic, rows in sorted(admin.view.history(lo, hi).items()):
        if wanted is not None and topic not in wanted:
            continue
        series = []
        for s, n, complete in rows:
            normalized = None
            if admin.stats is not None and topic in admin.stats.streams:
                normalized = admin.stats.record(topic, s, n, factor)["normalized"]
            series.append(
                {
                    "timestamp": format_ms(s),
                    "value": n,
                    "normalized": normalized,
                    "complete": complete,
                }
            )
        out[topic] = series
    if wanted is not None:
        for topic in sorted(wanted - set(out)):
            out[topic] = []
    return {
        "timeRange": {"start": format_ms(lo), "end": format_ms(hi)},
        "interval_ms": admin.view.interval,
        "streams": out,
        "events": _events(admin, state, lo, hi),
    }
