"""``simctl schema pack|scenario``: the JSON Schema of a pack or a scenario file, for editors."""

from __future__ import annotations

import typer

from simfleet.domain.editor_schema import pack_schema, render, scenario_schema

app = typer.Typer(
    help=(
        "Print the JSON Schema of a pack's streams.yaml or of a scenario file (generated from "
        "the models). The shipped files point editors at the copies beside them with a first "
        "line `# yaml-language-server: $schema=../pack.schema.json`."
    ),
    no_args_is_help=True,
)


@app.command("pack")
def pack() -> None:
    """Print the JSON Schema of a pack (producers/<domain>/streams.yaml)."""
    typer.echo(render(pack_schema()), nl=False)


@app.command("scenario")
def scenario() -> None:
    """Print the JSON Schema of a scenario file (scenarios/<domain>/*.yaml)."""
    typer.echo(render(scenario_schema()), nl=False)
