"""The admin server's routes, one router per resource; ``ROUTERS`` is the list ``create_app``
includes. Each router gets the server's ``AdminApp`` by dependency (``deps.AdminDep``)."""

from __future__ import annotations

from fastapi import APIRouter

from simfleet.admin.routes import events, fleet, history, metrics, page, scenarios, stop, ws

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    page.router,
    metrics.router,
    scenarios.router,
    stop.router,
    fleet.router,
    events.router,
    history.router,
    ws.router,
)
