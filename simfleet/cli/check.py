"""`simctl check`: judge a scenario's assertions against a run's records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from simfleet.cli.assertions import (
    Events,
    evaluate,
    outcome_table,
    read_folder,
    read_topics,
    scenario_origin,
    topics_of,
    write_junit,
)
from simfleet.cli.options import (
    NO_FLAGS,
    Flags,
    JunitOpt,
    build_settings,
    instant,
    kafka_of,
    project_of,
    settings_options,
)
from simfleet.domain.pack import Project
from simfleet.errors import ConfigError
from simfleet.orchestrator.catalog import get_scenario
from simfleet.scenarios import ScenarioSpec
from simfleet.topology import truth_topic

__all__ = ["check", "origin_of"]

console = Console()


def origin_of(events: Events, spec: ScenarioSpec, since: str | None) -> int:
    """Where windows count from: ``--since``, else the scenario's start, else the first record."""
    if since is not None:
        return instant(since, "--since")
    started = scenario_origin(events, spec)
    if started is not None:
        return started
    firsts = [int(min(r["occurred_at"] for r in rs)) for rs in events.values() if rs]
    if not firsts:
        raise ConfigError(
            f"No records to check scenario {spec.id} against: the topics it names are empty. "
            "Check --data or --bootstrap-servers, or give --since."
        )
    return min(firsts)


def _wanted(spec: ScenarioSpec, project: Project) -> set[str]:
    topics = topics_of(spec.assertions) | {truth_topic(spec.domain)}
    if any(a.kind == "custom" for a in spec.assertions):
        topics |= {e.topic for e in project.schemas() if e.topic.startswith(f"{spec.domain}.")}
    return topics


@settings_options("bootstrap", "properties", "config", "pack_dir", "scenarios_dir")
def check(
    scenario: Annotated[
        str, typer.Argument(help="Scenario id or the path of a scenario file with assertions.")
    ],
    data: Annotated[
        Path | None,
        typer.Option(help="A folder of `simctl generate` output (default: live topics)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Origin of the windows, ISO UTC (default: when the scenario started)."),
    ] = None,
    junit_xml: JunitOpt = None,
    flags: Flags = NO_FLAGS,
) -> None:
    """Judge a scenario's assertions against a `generate` folder or live topics.

    Prints expected and actual values, writes --junit-xml, exits 1 when an assertion fails.
    Example: simctl check my-scenario.yaml --data out/ --junit-xml checks.xml
    """
    settings = build_settings(**flags)
    project = project_of(settings)
    spec = get_scenario(scenario, project)
    if not spec.assertions:
        raise ConfigError(
            f"Scenario {spec.id} has no `assertions:` to check. Add some, e.g. "
            "assertions: [{kind: count, topic: marketplace.booking.requested, min: 1}]."
        )
    wanted = _wanted(spec, project)
    if data is not None:
        events = read_folder(data, wanted)
    else:
        events = read_topics(kafka_of(settings), project.schemas(), sorted(wanted))
    outcomes = evaluate(spec.assertions, events, origin_of(events, spec, since))
    console.print(outcome_table(outcomes, f"simctl check {spec.id}"))
    if junit_xml is not None:
        write_junit(junit_xml, {f"simctl check {spec.id}": outcomes})
    failed = sum(not o.passed for o in outcomes)
    if failed:
        typer.echo(f"{failed} of {len(outcomes)} assertion(s) failed", err=True)
        raise typer.Exit(1)
    typer.echo(f"all {len(outcomes)} assertion(s) passed", err=True)
