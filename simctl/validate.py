"""`simctl validate`: check packs, schemas and scenarios, and list every problem at once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Packs, scenario files, schema files, or roots laid out like the project "
        "(producers/, schemas/, scenarios/). Default: the whole project.",
        show_default=False,
    ),
]


def validate(paths: PathsArg = None) -> None:
    """Check domain packs, Avro schemas and scenarios; list every problem with its fix."""
    from simfleet.domain.pack import Project
    from simfleet.domain.validate import check_paths, check_project

    project = Project()
    report = check_paths(paths, project) if paths else check_project(project)
    for problem in report.problems:
        typer.echo(problem.line())
    typer.echo(report.summary())
    if report.problems:
        raise typer.Exit(1)
