"""``simctl schema pack|scenario``: the JSON Schema of a pack or a scenario file, for editors;
``simctl schema value TOPIC --as proto|json-schema``: what a topic's values are written with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from simfleet.codec.formats import json_schema_of, proto_source_of
from simfleet.domain.editor_schema import pack_schema, render, scenario_schema
from simfleet.domain.pack import Project
from simfleet.errors import ConfigError

app = typer.Typer(
    help=(
        "Print the JSON Schema of a pack's streams.yaml or of a scenario file (generated from "
        "the models). The shipped files point editors at the copies beside them with a first "
        "line `# yaml-language-server: $schema=../pack.schema.json`. `schema value` prints the "
        "Protobuf or JSON Schema a topic's values are written with under --value-format."
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


@app.command("value")
def value(
    topic: Annotated[str, typer.Argument(help="A topic, e.g. ticketing.payment.attempted.")],
    as_: Annotated[
        str, typer.Option("--as", help="proto (a .proto file) or json-schema.")
    ] = "proto",
    pack_dir: Annotated[
        list[Path] | None,
        typer.Option("--pack-dir", help="A folder of your own packs (as `simctl generate`)."),
    ] = None,
) -> None:
    """Print the schema a topic's values have under --value-format protobuf or json-schema,
    derived from its Avro schema (the one source)."""
    schemas = Project(tuple(pack_dir or ())).schemas()
    entry = schemas.get(topic)
    if entry is None:
        known = ", ".join(sorted(e.topic for e in schemas)[:8])
        raise ConfigError(
            f"simctl schema value: no schema serves topic {topic!r}; some that do: {known} "
            "(`simctl topics` lists a cluster's)."
        )
    if as_ == "proto":
        typer.echo(proto_source_of(entry), nl=False)
    elif as_ == "json-schema":
        typer.echo(json.dumps(json_schema_of(entry), indent=2))
    else:
        raise ConfigError(f"simctl schema value --as {as_!r}: use proto or json-schema.")
