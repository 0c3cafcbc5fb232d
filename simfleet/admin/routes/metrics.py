"""Prometheus ``/metrics`` of the fleet, from the server's view of it."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from simfleet.admin.routes.deps import AdminDep

__all__ = ["router"]

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(admin: AdminDep) -> Response:
    """The fleet's counters, lag, sim time and scenarios in Prometheus text format."""
    return Response(generate_latest(admin.registry), media_type=CONTENT_TYPE_LATEST)
