"""The admin server: a FastAPI app over the control plane (OpenAPI at ``/docs``).

Every change goes to ``sim.commands`` and is answered on ``sim.control``, exactly like
``simctl scenario start``: this server is never a second writer of the control state. Errors
are problem details (RFC 9457): 404 unknown scenario or template, 409 conflict (a scenario is
already active, nothing to stop, the orchestrator refused), 422 bad body, 503 broker or
orchestrator unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from simfleet.admin.hub import Client, Hub
from simfleet.admin.security import authorized
from simfleet.admin.view import FleetView
from simfleet.clock import wall_ms
from simfleet.control import Command, ControlState
from simfleet.control_io import send_command, wait_for_request
from simfleet.domain.pack import Project
from simfleet.errors import BrokerError, ScenarioError
from simfleet.orchestrator.baseline import BaselineStats
from simfleet.orchestrator.catalog import list_scenarios
from simfleet.orchestrator.transitions import find_template, scenario_rows
from simfleet.scenarios import Lifecycle, ScenarioInstance, ScenarioSpec, lifecycle_at
from simfleet.settings import KafkaSettings
from simfleet.telemetry import Snapshot, registry_for
from simfleet.timeutil import format_duration_ms, format_ms, parse_instant_ms

__all__ = ["Problem", "create_app"]

STATIC = Path(str(files("admin") / "static"))


class Problem(Exception):  # noqa: N818 (it is the RFC's name)
    """An error answered as ``application/problem+json``."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


def _problem(status: int, title: str, detail: str, instance: str) -> JSONResponse:
    return JSONResponse(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": instance,
        },
        status_code=status,
        media_type="application/problem+json",
    )


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartBody(_Body):
    """Start a scenario of the catalog."""

    scenario_id: str = Field(description="a scenario id, e.g. supply-crisis")
    at: str | None = Field(None, description="sim instant, ISO UTC; default: now")
    stack: bool = Field(False, description="keep the active scenario(s) running too")
    replace: bool = Field(False, description="stop the active scenario(s) and start this one")


class InjectBody(_Body):
    """Inject one external event."""

    template: str = Field(description="an external event template id, e.g. cloud-outage")
    at: str | None = Field(None, description="sim instant, ISO UTC; default: now")
    params: dict[str, str] = Field(default_factory=dict, description="magnitude=high, ...")
    domain: str | None = Field(None, description="the template's domain, when ambiguous")


class SpeedBody(_Body):
    """Change the sim clock's speed."""

    speed: float = Field(gt=0, le=1_000_000, description="sim seconds per wall second")


def _instant(text: str | None, field: str) -> int | None:
    if text is None:
        return None
    try:
        return parse_instant_ms(text)
    except ValueError as exc:
        raise Problem(422, "Invalid instant", f"{field}: {exc}.") from exc


def _duration(spec: ScenarioSpec) -> tuple[int | None, str]:
    natural = spec.natural_length_ms
    if natural is None:
        return None, "until stopped"
    return natural, format_duration_ms(natural)


def _steering(inst: ScenarioInstance) -> bool:
    """A scenario that moves parameters (the baseline scenario moves none)."""
    return any(p.modifiers for p in inst.spec.phases)


def _settle_span(spec: ScenarioSpec) -> int:
    s = spec.settle
    return max(s.duration, s.backlog.duration if s.backlog else 0)


class AdminApp:
    """The server's parts: the fleet view, the hub and the control-plane requests."""

    def __init__(
        self,
        kafka: KafkaSettings,
        project: Project,
        *,
        token: str | None = None,
        stats: BaselineStats | None = None,
        hub: Hub | None = None,
        command_timeout: float = 10.0,
    ) -> None:
        self.kafka = kafka
        self.project = project
        self.token = token
        self.stats = stats
        self.hub = hub or Hub()
        self.command_timeout = command_timeout
        self.view = FleetView(kafka, project, self.hub.publish, stats, self.hub.set_cadence)
        self.registry = registry_for(lambda: Snapshot(self.view.state, dict(self.view.workers)))

    # -- the control plane -----------------------------------------------------------------
    def state(self) -> ControlState:
        """The newest control state, or 503."""
        state = self.view.state
        if state is None:
            why = self.view.error or "sim.control holds no state yet"
            raise Problem(
                503,
                "Fleet unavailable",
                f"No control state from {self.kafka.bootstrap_servers} ({why}). Is the fleet "
                "running? Start it with `simctl up`.",
            )
        return state

    def request(self, cmd: Command) -> ControlState:
        """Send a command on sim.commands; the state that answers it (409 if refused)."""
        try:
            send_command(self.kafka, cmd, timeout=self.command_timeout)
            state = wait_for_request(self.kafka, cmd.request_id, timeout=self.command_timeout)
        except BrokerError as exc:
            raise Problem(503, "Broker unavailable", str(exc)) from exc
        if state.rejected is not None and state.rejected.request_id == cmd.request_id:
            raise Problem(
                409,
                "Refused by the orchestrator",
                f"{state.rejected.reason[:1].upper()}{state.rejected.reason[1:]}.",
            )
        return state

    def scenario(self, scenario_id: str) -> ScenarioSpec:
        """A catalog scenario by id, or 404."""
        catalog = list_scenarios(self.project)
        if scenario_id not in catalog:
            raise Problem(
                404,
                "Unknown scenario",
                f"No scenario {scenario_id!r} in the catalog. Known: {', '.join(sorted(catalog))}"
                ". GET /api/scenarios lists them.",
            )
        return catalog[scenario_id][1]

    def describe(self, spec: ScenarioSpec) -> dict[str, Any]:
        """A catalog entry as the API shows it."""
        length, text = _duration(spec)
        return {
            "id": spec.id,
            "name": spec.name,
            "description": " ".join(spec.description.split()),
            "domain": spec.domain,
            "duration": text,
            "duration_ms": length,
            "settle": {
                "curve": spec.settle.curve,
                "duration": format_duration_ms(_settle_span(spec)),
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
            "steers": any(p.modifiers for p in spec.phases),
        }

    def state_body(self) -> dict[str, Any]:
        """GET /api/state."""
        state = self.state()
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
                remaining = end + _settle_span(inst.spec) - now
            rows.append(
                row
                | {
                    "steers": _steering(inst),
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
            for hb in sorted(self.view.workers.values(), key=lambda h: h.worker_id)
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
            "anomalies": list(self.view.anomalies),
            "history": list(state.history),
            "workers": workers,
            "kafka": self.kafka.redacted(),
            "baseline": self.stats is not None,
        }


def create_app(admin: AdminApp) -> FastAPI:
    """The FastAPI app of ``admin`` (the fleet view and the hub run with the app)."""

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

    @app.exception_handler(Problem)
    async def _on_problem(request: Request, exc: Problem) -> JSONResponse:
        return _problem(exc.status, exc.title, exc.detail, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
            for e in exc.errors()
        ]
        return _problem(422, "Invalid request", "; ".join(parts) + ".", request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _problem(exc.status_code, str(exc.detail), str(exc.detail), request.url.path)

    @app.middleware("http")
    async def _auth(request: Request, call_next: Any) -> Response:
        if not request.url.path.startswith("/static/") and not authorized(
            admin.token,
            request.headers.get("authorization"),
            request.query_params.get("access_token"),
        ):
            resp = _problem(
                401,
                "Unauthorized",
                "This admin server requires `Authorization: Bearer <SIMCTL_ADMIN_TOKEN>` "
                "(or ?access_token=<token> for the page).",
                request.url.path,
            )
            resp.headers["WWW-Authenticate"] = "Bearer"
            return resp
        response: Response = await call_next(request)
        return response

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(admin.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/scenarios")
    def scenarios() -> dict[str, Any]:
        """Every scenario of the catalog: name, description, domain, duration, phases."""
        catalog = list_scenarios(admin.project)
        return {"scenarios": [admin.describe(spec) for _path, spec in catalog.values()]}

    @app.get("/api/scenarios/{scenario_id}")
    def scenario(scenario_id: str) -> dict[str, Any]:
        """One scenario of the catalog."""
        return admin.describe(admin.scenario(scenario_id))

    @app.post("/api/scenario")
    def start(body: StartBody) -> dict[str, Any]:
        """Start a scenario; 409 while another steering scenario is active (unless stack or
        replace is set)."""
        spec = admin.scenario(body.scenario_id)
        at = _instant(body.at, "at")
        state = admin.state()
        now = state.clock.clock().sim_at(wall_ms())
        busy = [
            i.spec.id
            for i in state.scenarios
            if _steering(i) and lifecycle_at(i, now).state in (Lifecycle.PENDING, Lifecycle.ACTIVE)
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
        )
        state = admin.request(cmd)
        inst = next(i for i in reversed(state.scenarios) if i.spec.id == spec.id)
        length, text = _duration(spec)
        total = None if length is None else length + _settle_span(spec)
        now = state.clock.clock().sim_at(wall_ms())
        row = scenario_rows(state, now)[state.scenarios.index(inst)]
        return {
            "success": True,
            "scenario": admin.describe(spec),
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
            if total is None
            else f"{text} + {format_duration_ms(_settle_span(spec))} settling",
            "estimated_duration_ms": total,
            "estimated_wall_s": None if total is None else total / state.clock.speed / 1000,
            "effective_at": format_ms(state.effective_at),
            "control_version": state.version,
        }

    @app.post("/api/stop")
    def stop() -> dict[str, Any]:
        """Stop the active scenario(s): they settle; returns when settling ends."""
        state = admin.request(Command(request_id=uuid.uuid4().hex, action="scenario.stop"))
        stopped = [i for i in state.scenarios if i.stop_at == state.effective_at]
        until = max(
            (i.stop_at + _settle_span(i.spec) for i in stopped if i.stop_at is not None),
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

    @app.post("/api/reset")
    def reset() -> dict[str, Any]:
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

    @app.get("/api/state")
    def get_state() -> dict[str, Any]:
        """Scenarios with lifecycle, phase and time remaining; external events; anomalies;
        sim time; speed; workers and their delivery counters."""
        return admin.state_body()

    @app.post("/api/inject")
    def inject(body: InjectBody) -> dict[str, Any]:
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
            at=_instant(body.at, "at"),
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

    @app.post("/api/speed")
    def speed(body: SpeedBody) -> dict[str, Any]:
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

    @app.get("/api/history")
    def history(
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
        lo = _instant(start, "start")
        assert lo is not None
        hi = state.clock.clock().sim_at(wall_ms()) if end == "now" else _instant(end, "end")
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
        return {
            "timeRange": {"start": format_ms(lo), "end": format_ms(hi)},
            "interval_ms": admin.view.interval,
            "streams": out,
            "events": sorted(events.values(), key=lambda e: str(e["timestamp"])),
        }

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        origin = websocket.headers.get("origin")
        host = websocket.headers.get("host")
        if origin is not None and origin.split("://", 1)[-1] != host:
            await websocket.close(code=1008, reason="cross-origin WebSocket refused")
            return
        if not authorized(
            admin.token,
            websocket.headers.get("authorization"),
            websocket.query_params.get("access_token"),
        ):
            await websocket.close(code=1008, reason="bearer token required")
            return
        await websocket.accept()
        gone: list[Client] = []

        async def send(text: str) -> None:
            try:
                await websocket.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError):
                for c in gone:
                    admin.hub.disconnect(c)  # the peer left mid-send: stop pumping

        async def close() -> None:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await websocket.close(code=1001, reason="no pong for too long")

        client = admin.hub.connect(send, close)
        gone.append(client)
        sender = asyncio.create_task(admin.hub.pump(client))
        try:
            while not client.closed:
                admin.hub.received(client, await websocket.receive_text())
        except (WebSocketDisconnect, RuntimeError, KeyError):
            pass  # the client left, was dropped as stale, or sent a binary frame
        finally:
            admin.hub.disconnect(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await sender

    return app
