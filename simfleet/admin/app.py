"""The admin server: a FastAPI app over the control plane (OpenAPI at ``/docs``).

Every change goes to ``sim.commands`` and is answered on ``sim.control``, exactly like
``simctl scenario start``: this server is never a second writer of the control state. Errors
are problem details (RFC 9457): 401 no token, 403 a foreign Host or Origin, 404 unknown
scenario or template, 409 conflict (a scenario is already active, nothing to stop, the
orchestrator refused), 413 body too large, 415 not JSON, 422 bad body, 503 broker or
orchestrator unreachable.

The routes live in ``simfleet.admin.routes``, one router per resource, and get the shared
``AdminApp`` by dependency; the gate in front of them is ``simfleet.admin.guard``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from simfleet.admin.guard import Guard
from simfleet.admin.problems import Problem, problem_response
from simfleet.admin.routes import ROUTERS
from simfleet.admin.routes.page import STATIC
from simfleet.admin.security import Access
from simfleet.admin.service import AdminApp

__all__ = ["AdminApp", "Problem", "create_app"]


def create_app(admin: AdminApp, access: Access | None = None) -> FastAPI:
    """The FastAPI app of ``admin`` (the fleet view and the hub run with the app), behind
    ``access`` (default: loopback, ``admin``'s token, nothing else allowed)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        admin.view.start()
        task = asyncio.create_task(admin.hub.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.to_thread(admin.view.stop)

    app = FastAPI(
        title="simfleet admin",
        description="Steer a running simfleet fleet: scenarios, external events, speed, state, "
        "history; a WebSocket at /ws streams the decoded events.",
        version="1",
        lifespan=lifespan,
    )
    app.state.admin = admin  # what routes.deps.get_admin hands every route

    @app.exception_handler(Problem)
    async def _on_problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
            for e in exc.errors()
        ]
        return problem_response(422, "Invalid request", "; ".join(parts) + ".", request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail), str(exc.detail), request.url.path)

    app.add_middleware(Guard, access=access or Access(token=admin.token))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)
    return app
