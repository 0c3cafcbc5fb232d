"""The dependency every router takes: the server's ``AdminApp``, held by the FastAPI app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from simfleet.admin.service import AdminApp

__all__ = ["AdminDep", "get_admin"]


def get_admin(conn: HTTPConnection) -> AdminApp:
    """The ``AdminApp`` that ``create_app`` stored on the app (HTTP and WebSocket alike)."""
    admin: AdminApp = conn.app.state.admin
    return admin


AdminDep = Annotated[AdminApp, Depends(get_admin)]
