"""The admin server's shared parts: the fleet view, the hub and the control-plane requests.

One ``AdminApp`` per server; the routers get it by dependency (``routes.deps.AdminDep``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from simfleet.admin.hub import Hub
from simfleet.admin.problems import Problem
from simfleet.admin.view import FleetView
from simfleet.broker.budget import broker_memory
from simfleet.control import Command, ControlState
from simfleet.control_io import send_command, wait_for_request
from simfleet.domain.pack import Project
from simfleet.errors import BrokerError
from simfleet.orchestrator.baseline import BaselineStats
from simfleet.scenarios import ScenarioInstance, ScenarioSpec
from simfleet.settings import KafkaSettings
from simfleet.telemetry import Snapshot, registry_for
from simfleet.timeutil import format_duration_ms, parse_instant_ms

__all__ = ["AdminApp", "StrictBody", "duration", "instant", "settle_span", "steering"]


class StrictBody(BaseModel):
    """A request body: unknown keys are refused (422), not ignored."""

    model_config = ConfigDict(extra="forbid")


def instant(text: str | None, field: str) -> int | None:
    """An ISO UTC instant of a request, or 422 naming ``field``."""
    if text is None:
        return None
    try:
        return parse_instant_ms(text)
    except ValueError as exc:
        raise Problem(422, "Invalid instant", f"{field}: {exc}.") from exc


def duration(spec: ScenarioSpec) -> tuple[int | None, str]:
    """A scenario's natural length in ms (None: until stopped) and as text."""
    natural = spec.natural_length_ms
    if natural is None:
        return None, "until stopped"
    return natural, format_duration_ms(natural)


def steering(inst: ScenarioInstance) -> bool:
    """A scenario that changes the traffic (``ScenarioSpec.steers``)."""
    return inst.spec.steers


def settle_span(spec: ScenarioSpec) -> int:
    """How long a scenario settles after it ends (its backlog included), in ms."""
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
        self.registry = registry_for(self._snapshot)

    def _snapshot(self) -> Snapshot:
        """What /metrics reports: the fleet view, and the embedded broker's memory if any."""
        mem = broker_memory(self.kafka.bootstrap_servers) or {}
        return Snapshot(
            self.view.state,
            dict(self.view.workers),
            mem.get("memory_bytes"),
            mem.get("budget_bytes"),
        )

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

    def exchange(self, cmd: Command) -> ControlState:
        """Send a command on sim.commands and wait for the control state that answers it."""
        send_command(self.kafka, cmd, timeout=self.command_timeout)
        return wait_for_request(self.kafka, cmd.request_id, timeout=self.command_timeout)

    def request(self, cmd: Command) -> ControlState:
        """Send a command on sim.commands; the state that answers it (409 if refused)."""
        try:
            state = self.exchange(cmd)
        except BrokerError as exc:
            raise Problem(503, "Broker unavailable", str(exc)) from exc
        if state.rejected is not None and state.rejected.request_id == cmd.request_id:
            raise Problem(
                409,
                "Refused by the orchestrator",
                f"{state.rejected.reason[:1].upper()}{state.rejected.reason[1:]}.",
            )
        return state
