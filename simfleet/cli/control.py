"""`simctl scenario ...`, `simctl status`, `simctl reset`, `simctl speed`: steering a running fleet.

Commands go to the orchestrator through sim.commands; the answer is read back from
sim.control, so what is printed is what the fleet will do.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from simfleet.broker.budget import broker_memory, format_size
from simfleet.cli import complete
from simfleet.cli.options import (
    NO_FLAGS,
    Flags,
    JsonOpt,
    build_settings,
    connect,
    instant,
    kafka_of,
    project_of,
    settings_options,
)
from simfleet.clock import wall_ms
from simfleet.control import Command, ControlState
from simfleet.control_io import FleetWatcher, read_latest_state, send_command, wait_for_request
from simfleet.errors import BrokerError, ConfigError, ScenarioError
from simfleet.orchestrator.catalog import get_scenario, list_scenarios, load_scenario_file
from simfleet.orchestrator.transitions import check_scenario, scenario_rows
from simfleet.settings import KafkaSettings
from simfleet.timeutil import format_ms

scenario_app = typer.Typer(
    help="List, inspect, validate, start and stop scenarios (YAML files in "
    "scenarios/<domain>/, plus any --scenarios-dir).",
    no_args_is_help=True,
)
console = Console()


def _state(settings: KafkaSettings) -> ControlState:
    state = read_latest_state(settings)
    if state is None:
        raise BrokerError(
            f"No fleet is running on {settings.bootstrap_servers}: sim.control holds no state. "
            "Start one with `simctl up`."
        )
    return state


REQUEST_TIMEOUT_S = 10.0


def request(settings: KafkaSettings, cmd: Command) -> ControlState:
    """Send a command that expires with our wait: applied now, or never."""
    cmd = cmd.model_copy(update={"expires_at_wall": wall_ms() + int(REQUEST_TIMEOUT_S * 1000)})
    send_command(settings, cmd)
    try:
        state = wait_for_request(settings, cmd.request_id, timeout=REQUEST_TIMEOUT_S + 2)
    except BrokerError as exc:
        raise BrokerError(
            f"Not applied: no orchestrator answered within {REQUEST_TIMEOUT_S:.0f} s, and the "
            "request has expired, so it will not be applied later either. Is the fleet "
            "running? `simctl status` shows it; `simctl up` starts one."
        ) from exc
    if state.rejected is not None and state.rejected.request_id == cmd.request_id:
        raise ScenarioError(f"The orchestrator rejected the request: {state.rejected.reason}.")
    return state


def _emit(data: Any, as_json: bool, text: str) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(text)


@scenario_app.command("list")
@settings_options("config", "pack_dir", "scenarios_dir")
def scenario_list(
    as_json: JsonOpt = False,
    flags: Flags = NO_FLAGS,
) -> None:
    """List the scenarios of the catalog."""
    settings = build_settings(**flags)
    catalog = list_scenarios(project_of(settings))
    rows = [
        {"id": sid, "name": spec.name, "domain": spec.domain, "file": str(path)}
        for sid, (path, spec) in catalog.items()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("id", "name", "domain", "description")
    for sid, (_path, spec) in catalog.items():
        table.add_row(sid, spec.name, spec.domain, spec.description.strip())
    console.print(table)


@scenario_app.command("show")
@settings_options("config", "pack_dir", "scenarios_dir")
def scenario_show(
    scenario_id: Annotated[str, typer.Argument(help="An id (supply-crisis) or a file's path.")],
    flags: Flags = NO_FLAGS,
) -> None:
    """Print a scenario: phases, modifiers, settle curve and expected effects (as JSON)."""
    settings = build_settings(**flags)
    spec = get_scenario(scenario_id, project_of(settings))
    typer.echo(json.dumps(spec.model_dump(mode="json"), indent=2))


@scenario_app.command("validate")
@settings_options("config", "pack_dir")
def scenario_validate(
    file: Annotated[Path, typer.Argument(help="A scenario YAML file.")],
    flags: Flags = NO_FLAGS,
) -> None:
    """Check a scenario file: its fields, and that every modifier target names a parameter."""
    from simfleet.scenario_check import Known, file_problems, refusal_error

    settings = build_settings(**flags)
    problems = file_problems(file, Known.of_project(project_of(settings)))
    if problems:  # every one at once, as `simctl validate` lists them
        raise refusal_error(f"Scenario file {file}", problems)
    spec = load_scenario_file(file)
    typer.echo(f"{file}: valid scenario {spec.id} ({len(spec.phases)} phase(s))")


@scenario_app.command("start")
@settings_options("bootstrap", "properties", "config", "pack_dir", "scenarios_dir")
def scenario_start(
    scenario_id: Annotated[
        str,
        typer.Argument(
            help="Scenario id (supply-crisis) or the path of a scenario file.",
            autocompletion=complete.scenario_ids,
        ),
    ],
    at: Annotated[
        str | None, typer.Option(help="Sim instant (ISO UTC) to start at; default: now.")
    ] = None,
    stack: Annotated[bool, typer.Option(help="Keep the active scenario(s) running too.")] = False,
    replace: Annotated[
        bool, typer.Option(help="Stop the active scenario(s) and start this one.")
    ] = False,
    flags: Flags = NO_FLAGS,
    as_json: JsonOpt = False,
) -> None:
    """Start a scenario on the running fleet; every producer switches at the same sim instant.

    While another scenario that steers the fleet is active, it is refused (naming that one)
    unless --replace stops it or --stack runs both, as the admin server answers too.
    """
    run = build_settings(**flags)
    project = project_of(run)
    spec = get_scenario(scenario_id, project)  # a bad id or file fails before any broker
    check_scenario(spec, project)
    settings = kafka_of(run)
    at_ms = instant(at, "--at") if at else None
    cmd = Command(
        request_id=uuid.uuid4().hex,
        action="scenario.start",
        scenario=spec.model_dump(mode="json"),
        at=at_ms,
        stack=stack,
        replace=replace,
    )
    state = request(settings, cmd)
    _emit(
        {
            "version": state.version,
            "effective_at": format_ms(state.effective_at),
            "scenario": spec.id,
        },
        as_json,
        f"{spec.id} starts at sim {format_ms(state.effective_at)} (control v{state.version})",
    )


@scenario_app.command("stop")
@settings_options("bootstrap", "properties", "config")
def scenario_stop(
    flags: Flags = NO_FLAGS,
    as_json: JsonOpt = False,
) -> None:
    """Stop the active scenario(s); they settle back along their settle curve."""
    _, settings = connect(**flags)
    state = request(settings, Command(request_id=uuid.uuid4().hex, action="scenario.stop"))
    _emit(
        {"version": state.version, "effective_at": format_ms(state.effective_at)},
        as_json,
        f"stopping at sim {format_ms(state.effective_at)}; settling (control v{state.version})",
    )


def _scenario_status(state: ControlState) -> dict[str, Any]:
    now = state.clock.clock().sim_at(wall_ms())
    return {
        "sim_time": format_ms(now),
        "control_version": state.version,
        "scenarios": scenario_rows(state, now),
        "history": list(state.history),
    }


@scenario_app.command("status")
@settings_options("bootstrap", "properties", "config")
def scenario_status(
    flags: Flags = NO_FLAGS,
    as_json: JsonOpt = False,
) -> None:
    """Show each scenario's lifecycle: pending, active (phase), settling (progress), settled."""
    _, settings = connect(**flags)
    data = _scenario_status(_state(settings))
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"sim time {data['sim_time']}  control v{data['control_version']}")
    if not data["scenarios"]:
        typer.echo("no scenario: baseline")
    for r in data["scenarios"]:
        phase = f" phase={r['phase']}" if r["phase"] is not None else ""
        typer.echo(f"  {r['id']}: {r['state']}{phase} progress={r['progress']:.0%}")


@settings_options("bootstrap", "properties", "config")
def status(
    flags: Flags = NO_FLAGS,
    as_json: JsonOpt = False,
) -> None:
    """Show the fleet: clock, scenarios, workers and their delivery counters."""
    _, settings = connect(**flags)
    state = _state(settings)
    watcher = FleetWatcher(settings)
    try:
        # the heartbeats already on sim.fleet, read to its end: no fixed wait (the bound only
        # matters on a machine too busy to read them in time)
        watcher.read_to_end(5.0)
    finally:
        watcher.close()
    data = _scenario_status(state)
    now_wall = wall_ms()
    data |= {
        "speed": state.clock.speed,
        "seed": state.seed,
        "scale": state.scale,
        "shards": state.shards,
        "domains": list(state.domains),
        "kafka": settings.redacted(),
        "broker": broker_memory(settings.bootstrap_servers),
        "behind": None
        if (behind := watcher.behind(now_wall)) is None
        else {
            "lag_s": behind.lag_ms / 1000,
            "since": format_ms(behind.since_wall_ms),
            "workers": list(behind.workers),
        },
        "workers": [
            {
                "worker": hb.worker_id,
                "state": hb.liveness(now_wall),
                "shards": list(hb.shards),
                "stopping": hb.stopping,
                "produced": sum(c.produced for c in hb.topics.values()),
                "delivered": sum(c.delivered for c in hb.topics.values()),
                "failed": sum(c.failed for c in hb.topics.values()),
                "chaos": dict(hb.chaos),
                "last_seen": format_ms(hb.wall_ms),
            }
            for hb in watcher.workers.values()
        ],
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(
        f"sim time {data['sim_time']}  (wall {format_ms(now_wall)})  speed "
        f"{state.clock.speed:g}x  control v{state.version}  seed {state.seed}  scale "
        f"{state.scale:g}  shards {state.shards}"
    )
    if behind is not None:
        typer.echo(f"falling behind: {behind.text()}")
    if data["broker"] is not None:
        held, budget = data["broker"]["memory_bytes"], data["broker"]["budget_bytes"]
        of = f" of its {format_size(budget)} (--broker-memory)" if budget else ""
        typer.echo(f"embedded broker: {format_size(held)} in memory{of}")
    if not data["scenarios"]:
        typer.echo("scenario: none (every domain at its baseline)")
    for r in data["scenarios"]:
        phase = f" phase={r['phase']}" if r["phase"] is not None else ""
        typer.echo(f"scenario {r['id']}: {r['state']}{phase} progress={r['progress']:.0%}")
    table = Table(
        "worker",
        "state",
        "shards",
        "produced",
        "delivered",
        "failed",
        "chaos",
        "last seen (wall)",
    )
    for w in data["workers"]:
        table.add_row(
            w["worker"],
            w["state"] if w["state"] == "live" else f"[red]{w['state']}[/red]",
            ",".join(map(str, w["shards"])),
            f"{w['produced']:,}",
            f"{w['delivered']:,}",
            f"{w['failed']:,}",
            chaos_text(w["chaos"]),
            w["last_seen"],
        )
    console.print(table)


def chaos_text(counts: dict[str, int]) -> str:
    """``drop 12, duplicate 3`` (``-`` when no chaos was applied)."""
    return ", ".join(f"{a} {n:,}" for a, n in sorted(counts.items()) if n) or "-"


@settings_options("bootstrap", "properties", "config")
def inject(
    template: Annotated[str, typer.Argument(help="External event template id, e.g. cloud-outage.")],
    domain: Annotated[
        str | None,
        typer.Option(help="The template's domain, when several running domains have it."),
    ] = None,
    at: Annotated[str | None, typer.Option(help="Sim instant (ISO UTC); default: now.")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(help="k=v: causal=false, magnitude=high, duration=6h, delay=1h, title=..."),
    ] = None,
    flags: Flags = NO_FLAGS,
    as_json: JsonOpt = False,
) -> None:
    """Inject one external event now (or --at): published on <domain>.external_events, labelled
    on <domain>.ground_truth, and, unless causal=false, applied to the parameters it moves.

    Templates are in producers/<domain>/external.yaml.
    """
    params: dict[str, str] = {}
    for item in param or []:
        k, sep, v = item.partition("=")
        if not sep:
            raise ConfigError(f"--param {item!r}: write key=value, e.g. --param magnitude=high.")
        params[k.strip()] = v.strip()
    _, settings = connect(**flags)
    at_ms = instant(at, "--at") if at else None
    cmd = Command(
        request_id=uuid.uuid4().hex,
        action="inject",
        template=template,
        domain=domain,
        at=at_ms,
        params=params,
    )
    state = request(settings, cmd)
    inj = next(i for i in reversed(state.injections) if i.injected)
    _emit(
        {
            "event_id": inj.event_id,
            "template": inj.template,
            "at": format_ms(inj.at),
            "causal": inj.causal,
            "version": state.version,
        },
        as_json,
        f"{inj.template} ({inj.event_id}) at sim {format_ms(inj.at)} (control v{state.version})",
    )


@settings_options("bootstrap", "properties", "config")
def reset(
    flags: Flags = NO_FLAGS,
) -> None:
    """Clear every scenario at once (no settle): back to baseline."""
    _, settings = connect(**flags)
    state = request(settings, Command(request_id=uuid.uuid4().hex, action="reset"))
    typer.echo(f"reset at sim {format_ms(state.effective_at)} (control v{state.version})")


@settings_options("bootstrap", "properties", "config")
def speed(
    value: Annotated[float, typer.Argument(help="Sim seconds per wall second.")],
    flags: Flags = NO_FLAGS,
) -> None:
    """Change the sim clock's speed; sim time continues from where it is."""
    _, settings = connect(**flags)
    state = request(
        settings, Command(request_id=uuid.uuid4().hex, action="clock.speed", speed=value)
    )
    typer.echo(f"speed {state.clock.speed:g}x from sim {format_ms(state.effective_at)}")
