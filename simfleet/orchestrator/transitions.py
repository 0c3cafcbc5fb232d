"""How the desired state changes: pure functions of (state, command or wall instant).

The orchestrator process only moves bytes; every decision is here, tested with fixed clocks.
"""

from __future__ import annotations

from typing import Any

from simfleet.clock import SimClock, quantum_for
from simfleet.control import ClockState, Command, ControlState, Rejection
from simfleet.domain.pack import Project
from simfleet.errors import ScenarioError, SimError
from simfleet.external import DAY_MS, ExternalLibrary, Injection, injected
from simfleet.orchestrator.timeline import Outgoing, due, scenario_context, scheduled
from simfleet.scenario_check import Known, refusal_error, scenario_problems
from simfleet.scenarios import Lifecycle, ScenarioInstance, ScenarioSpec, lifecycle_at
from simfleet.suggest import did_you_mean
from simfleet.timeutil import format_duration_ms, format_ms

__all__ = [
    "LEAD_WALL_MS",
    "Outgoing",
    "advance",
    "apply_command",
    "check_scenario",
    "housekeep",
    "initial_state",
    "reset_state",
    "scenario_rows",
    "state_conflicts",
]

# Changes apply this far (in wall time) after they are published, so every producer has read
# them before their effective_at comes.
LEAD_WALL_MS = 1500
HISTORY = 20


def check_scenario(
    spec: ScenarioSpec, project: Project, domains: tuple[str, ...] | None = None
) -> None:
    """Raise ``ScenarioError`` listing every problem of the scenario against the project (and
    the fleet's ``domains``), in the words of ``simctl validate`` (``simfleet.scenario_check``)."""
    # a model's dump: its default settle reads as a linear one of 0, which only a file is
    # refused for (the file this spec came from was checked when it was read)
    raw = spec.model_dump(mode="json")
    problems = scenario_problems(raw, Known.of_project(project, domains), written=False)
    if problems:
        raise refusal_error(f"Scenario {spec.id}", problems)


# what a fleet's data depends on; changing any of them mid-cluster needs --reset
FIXED = ("seed", "scale", "shards", "domains")


def state_conflicts(state: ControlState, wanted: dict[str, Any]) -> list[str]:
    """``field: cluster has X, flags say Y`` for each fixed setting asked to differ."""
    out = []
    for name in FIXED:
        if name in wanted and wanted[name] != getattr(state, name):
            out.append(
                f"{name}: the cluster has {getattr(state, name)!r}, you asked {wanted[name]!r}"
            )
    return out


def reset_state(old: ControlState, new: ControlState) -> ControlState:
    """``new`` published over ``old``: a later version that keeps the commands already read."""
    return new.model_copy(
        update={
            "version": old.version + 1,
            "last_command_offset": old.last_command_offset,
            "history": (*old.history, *new.history)[-HISTORY:],
        }
    )


def find_template(
    project: Project, domains: tuple[str, ...], template: str, domain: str | None
) -> ExternalLibrary:
    """The library (of one of ``domains``) holding ``template``; ``domain`` settles ties."""
    if domain is not None:
        if domain not in domains:
            raise ScenarioError(f"domain {domain!r} is not running; the fleet runs {list(domains)}")
        lib = project.library(domain)
        lib.template(template)
        return lib
    holders = [d for d in domains if any(t.id == template for t in project.library(d).templates)]
    if len(holders) == 1:
        return project.library(holders[0])
    if len(holders) > 1:
        raise ScenarioError(
            f"template {template!r} exists in several domains ({', '.join(holders)}); "
            "say which with --domain"
        )
    every = [t.id for d in domains for t in project.library(d).templates]
    raise ScenarioError(
        f"no running domain has an external event template {template!r}"
        f"{did_you_mean(template, every)}. Templates: {', '.join(every) or 'none'}"
    )


def initial_state(
    wall: int,
    sim_start: int,
    speed: float,
    seed: int,
    scale: float,
    shards: int,
    domains: tuple[str, ...],
    project: Project,
    scenario: ScenarioSpec | None = None,
    external_events: bool = True,
    backfill_ms: int = 0,
    end_ms: int | None = None,
) -> ControlState:
    """Version 1: the clock anchored now, optionally a scenario from the start; with
    ``backfill_ms``, shards begin that long before the start and write it at full speed."""
    scenarios: tuple[ScenarioInstance, ...] = ()
    if scenario is not None:
        check_scenario(scenario, project, domains)
        scenarios = (ScenarioInstance(spec=scenario, started_at=sim_start),)
    return ControlState(
        version=1,
        effective_at=sim_start,
        issued_at_wall=wall,
        clock=ClockState(sim_anchor_ms=sim_start, wall_anchor_ms=wall, speed=speed),
        seed=seed,
        scale=scale,
        shards=shards,
        domains=domains,
        scenarios=scenarios,
        history=(f"{format_ms(sim_start)} fleet started",),
        external_events=external_events,
        external_scheduled_until=sim_start - sim_start % DAY_MS,
        published_until=sim_start,
        run=f"{wall:x}-{seed}",
        origin_ms=sim_start - backfill_ms,
        quantum_ms=quantum_for(speed),
        live_from_ms=sim_start,
        end_ms=end_ms,
    )


def _next(
    state: ControlState, wall: int, effective_at: int, note: str | None, **changes: Any
) -> ControlState:
    history = state.history if note is None else (*state.history, note)[-HISTORY:]
    return state.model_copy(
        update={
            "version": state.version + 1,
            "issued_at_wall": wall,
            "effective_at": effective_at,
            "history": history,
            **changes,
        }
    )


def apply_command(
    state: ControlState, cmd: Command, offset: int, wall: int, project: Project
) -> ControlState:
    """The state after ``cmd`` (read at ``offset``) at wall instant ``wall``."""
    clock = state.clock.clock()
    lead_at = clock.sim_at(wall + LEAD_WALL_MS)
    common: dict[str, Any] = {
        "last_command_offset": offset,
        "last_request_id": cmd.request_id,
        "rejected": None,
    }
    try:
        if cmd.expires_at_wall is not None and wall > cmd.expires_at_wall:
            raise ScenarioError(
                f"the request expired {format_duration_ms(wall - cmd.expires_at_wall)} before "
                "the orchestrator read it; it was not applied"
            )
        if cmd.action == "scenario.start":
            raw = cmd.scenario or {}
            known = Known.of_project(project, state.domains)
            problems = scenario_problems(raw, known, written=False)
            if problems:
                raise refusal_error(f"The scenario sent ({raw.get('id', 'no id')})", problems)
            spec = ScenarioSpec.model_validate(raw)
            at = max(cmd.at or lead_at, lead_at)
            busy = [
                i.spec.id
                for i in state.scenarios
                if spec.steers
                and i.spec.steers
                and i.spec.domain == spec.domain
                and lifecycle_at(i, at).state in (Lifecycle.PENDING, Lifecycle.ACTIVE)
            ]
            if busy and not (cmd.stack or cmd.replace):
                # one steering scenario at a time per domain, whoever asks (CLI, admin page, a
                # plan); domains steer their own parameters, so theirs run side by side
                raise ScenarioError(
                    f"{', '.join(busy)} is active, so {spec.id} was not started: stop it first, "
                    "or start this one replacing it (simctl scenario start --replace, or "
                    '"replace": true over HTTP), or beside it (--stack, "stack": true)'
                )
            kept = []
            for inst in state.scenarios:
                other = spec.steers and inst.spec.steers and inst.spec.domain != spec.domain
                if not (cmd.stack or other) and (inst.end_ms is None or inst.end_ms > at):
                    inst = inst.model_copy(update={"stop_at": at})  # noqa: PLW2901
                kept.append(inst)
            new = ScenarioInstance(spec=spec, started_at=at)
            context = scenario_context(project, new)
            return _next(
                state,
                wall,
                at,
                f"{format_ms(at)} {spec.id} started",
                scenarios=(*kept, new),
                injections=(*state.injections, *context),
                **common,
            )
        if cmd.action == "scenario.stop":
            at = max(cmd.at or lead_at, lead_at)
            live = [i for i in state.scenarios if i.end_ms is None or i.end_ms > at]
            if not live:
                raise ScenarioError("no scenario is active, so there is nothing to stop")
            stopped = tuple(
                i.model_copy(update={"stop_at": at}) if i in live else i for i in state.scenarios
            )
            names = ", ".join(i.spec.id for i in live)
            return _next(
                state,
                wall,
                at,
                f"{format_ms(at)} {names} stopped, settling",
                scenarios=stopped,
                **common,
            )
        if cmd.action == "inject":
            lib = find_template(project, state.domains, cmd.template or "", cmd.domain)
            at = max(cmd.at or lead_at, lead_at)
            inj = injected(lib, cmd.template or "", at, cmd.params)
            return _next(
                state,
                wall,
                at,
                f"{format_ms(at)} injected {inj.template}",
                injections=(*state.injections, inj),
                **common,
            )
        if cmd.action == "reset":
            return _next(
                state,
                wall,
                lead_at,
                f"{format_ms(lead_at)} reset to baseline",
                scenarios=(),
                **common,
            )
        if cmd.action == "clock.speed":
            if not cmd.speed or cmd.speed <= 0:
                raise ScenarioError("speed must be above 0")
            new_clock: SimClock = clock.rebased(wall, cmd.speed)
            now = new_clock.sim_at(wall)
            return _next(
                state,
                wall,
                now,
                f"{format_ms(now)} speed {cmd.speed:g}x",
                clock=ClockState(
                    sim_anchor_ms=new_clock.sim_anchor_ms,
                    wall_anchor_ms=new_clock.wall_anchor_ms,
                    speed=cmd.speed,
                ),
                **common,
            )
    except SimError as exc:
        return _next(
            state,
            wall,
            state.effective_at,
            None,
            last_command_offset=offset,
            # readers add their own full stop (the CLI, the admin server)
            rejected=Rejection(request_id=cmd.request_id, reason=str(exc).removesuffix(".")),
        )
    raise AssertionError(f"unhandled action {cmd.action}")  # pragma: no cover


def advance(
    state: ControlState, wall: int, project: Project
) -> tuple[ControlState, list[Outgoing]] | None:
    """Move the state to wall instant ``wall``: schedule the next day's external events,
    publish what fell due (external events and ground truth), drop what has settled.

    Returns the new state with the records to publish in the same transaction, or None.
    """
    now = state.clock.clock().sim_at(wall)
    injections: list[Injection] = list(state.injections)
    scheduled_until = state.external_scheduled_until
    if state.external_events:
        while scheduled_until < now + DAY_MS:
            day_end = (scheduled_until // DAY_MS + 1) * DAY_MS
            injections += [
                i
                for i in scheduled(project, state.domains, state.seed, scheduled_until, day_end)
                if i.at >= state.published_until
            ]
            scheduled_until = day_end
    lo = state.published_until
    out = due(project, state.domains, injections, state.scenarios, lo, now) if now > lo else []
    # a settled scenario leaves the state once every lagged effect of it has passed (the
    # causal graph's horizon): dropping it then changes no parameter, so when the drop is
    # noticed (a wall instant) leaves the records alone
    horizon = max((project.graph(d).horizon_ms for d in state.domains), default=0)
    settled = [
        i for i in state.scenarios if lifecycle_at(i, now - horizon).state is Lifecycle.SETTLED
    ]
    kept_inj = tuple(i for i in injections if i.ends_at >= now)  # published (at < now) and over
    if not (
        settled
        or out
        or scheduled_until != state.external_scheduled_until
        or len(kept_inj) != len(state.injections)
    ):
        return None
    note = f"{format_ms(now)} {', '.join(i.spec.id for i in settled)} settled" if settled else None
    new = _next(
        state,
        wall,
        max(now, state.effective_at),
        note,
        scenarios=tuple(i for i in state.scenarios if i not in settled),
        injections=kept_inj,
        external_scheduled_until=scheduled_until,
        published_until=max(now, lo),
    )
    return new, out


def housekeep(state: ControlState, wall: int, project: Project) -> ControlState | None:
    """The state after ``advance``, without its records; None when nothing changed."""
    moved = advance(state, wall, project)
    return None if moved is None else moved[0]


def scenario_rows(state: ControlState, t: int) -> list[dict[str, Any]]:
    """Status of every scenario instance at sim instant ``t``."""
    rows = []
    for inst in state.scenarios:
        lc = lifecycle_at(inst, t)
        end = inst.end_ms
        rows.append(
            {
                "id": inst.spec.id,
                "name": inst.spec.name,
                "state": lc.state.value,
                "phase": lc.phase,
                "progress": round(lc.progress, 3),
                "started_at": format_ms(inst.started_at),
                "stop_at": format_ms(inst.stop_at) if inst.stop_at is not None else None,
                "ends_at": format_ms(end) if end is not None else None,
            }
        )
    return rows
