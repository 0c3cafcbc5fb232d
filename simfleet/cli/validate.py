"""`simctl validate`: check packs, schemas and scenarios, and list every problem at once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simfleet.cli.options import (
    NO_FLAGS,
    Flags,
    build_settings,
    project_of,
    settings_options,
)

PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Packs, scenario files, schema files, or roots laid out like the project "
        "(producers/, schemas/, scenarios/). Default: the whole project.",
        show_default=False,
    ),
]


@settings_options("config", "pack_dir", "scenarios_dir")
def validate(
    paths: PathsArg = None,
    flags: Flags = NO_FLAGS,
) -> None:
    """Check domain packs, Avro schemas and scenarios; list every problem with its fix.

    Run it before a fleet: nothing it can find fails mid-run. Examples:

        simctl validate                              # the whole project
        simctl validate my-scenarios/flash.yaml      # one file, against the project
        simctl validate --pack-dir ../my-domains     # the project with your packs
    """
    from simfleet.orchestrator.validate import check_paths, check_project

    settings = build_settings(**flags)
    project = project_of(settings)
    report = check_paths(paths, project) if paths else check_project(project)
    for problem in report.problems:
        typer.echo(problem.line())
    for warning in report.warnings:
        typer.echo(f"warning: {warning.line()}")
    typer.echo(report.summary())
    if report.problems:
        raise typer.Exit(report.exit_code)  # 2: a file refused unread (too large, too long)
