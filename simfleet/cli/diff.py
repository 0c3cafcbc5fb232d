"""``simctl diff A B``: did this build change the traffic?"""

from __future__ import annotations

import json
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from simfleet.capture import BEGINNING, StopRule, capture, consumer_for, match_topics
from simfleet.cli.options import (
    NO_FLAGS,
    Flags,
    build_settings,
    kafka_of,
    project_of,
    settings_options,
)
from simfleet.cli.replay import source_of
from simfleet.compare import Tolerance, compare
from simfleet.recording import RecordingWriter, Source, open_source
from simfleet.settings import KafkaSettings

__all__ = ["LIVE_PREFIX", "diff"]

LIVE_PREFIX = "kafka:"


def _live(glob: str, kafka: KafkaSettings, project: Any, idle: float, tmp: Path) -> Source:
    """Live topics, drained to idle from the beginning into a temporary recording."""
    writer = RecordingWriter(tmp, project.schemas())
    consumer = consumer_for(kafka)
    try:
        matched = match_topics(consumer, [glob])
        writer.partition_counts.update(matched)
        capture(consumer, matched, BEGINNING, StopRule(idle_s=idle), writer.write)
    finally:
        consumer.close()
        writer.close({"patterns": [glob]})
    return open_source(tmp)


def _table(doc: dict[str, Any]) -> Table:
    table = Table(title=f"A: {doc['a']['where']}   B: {doc['b']['where']}")
    for col in ("topic", "A", "B", "Δ count", "key overlap", "identical", "problems"):
        table.add_column(col, justify="right" if col in ("A", "B", "Δ count") else "left")
    for name, t in doc["topics"].items():
        table.add_row(
            name,
            f"{t['count_a']:,}",
            f"{t['count_b']:,}",
            f"{t['count_rel_diff']:.1%}",
            f"{t['key_overlap']:.1%}",
            "yes" if t["identical"] else "no",
            "; ".join(t["problems"]) or "ok",
            style="red" if t["problems"] else None,
        )
    return table


@settings_options("bootstrap", "properties", "registry", "config", "pack_dir")
def diff(
    a: Annotated[
        str,
        typer.Argument(
            metavar="A",
            help="A recording, a generate folder, or live topics as kafka:GLOB.",
            show_default=False,
        ),
    ],
    b: Annotated[str, typer.Argument(metavar="B", help="The same kinds as A.", show_default=False)],
    tolerance: Annotated[
        Path | None,
        typer.Option(
            help="YAML of tolerances: count, ks, tv, interarrival_ks, min_samples, exact, "
            "ignore_topics, ignore_headers.",
            show_default=False,
        ),
    ] = None,
    strip_prefix: Annotated[
        list[str] | None,
        typer.Option(
            "--strip-prefix",
            help="Remove this prefix from topic names (either side) before matching them; "
            "repeatable (a recording replayed with --topic-prefix).",
            show_default=False,
        ),
    ] = None,
    idle: Annotated[
        float, typer.Option(min=0.1, help="kafka:GLOB sides are read until idle this long (s).")
    ] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    flags: Flags = NO_FLAGS,
) -> None:
    """Compare two recordings, generate folders or live topics; exit 1 beyond tolerance.

    Per topic: counts, key overlap, exact equality by hash (a wall-clock header ignored), and
    per field the KS (numbers) or total-variation (categories) distance, plus inter-arrival
    times. Example:

        simctl diff rec-main/ rec-branch/ --tolerance tolerance.yaml
    """
    tol = Tolerance.load(tolerance)
    run = build_settings(**flags)
    project = project_of(run)
    registry = run.schema_registry_url
    with ExitStack() as stack:
        sides = []
        for arg in (a, b):
            if arg.startswith(LIVE_PREFIX):
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="simctl-diff-")))
                sides.append(
                    _live(arg[len(LIVE_PREFIX) :], kafka_of(run), project, idle, tmp / "rec")
                )
            else:
                sides.append(source_of(Path(arg), project, registry))
        doc = compare(sides[0], sides[1], tol, strip_prefix or ())
    if as_json:
        typer.echo(json.dumps(doc, indent=2, default=str))
    else:
        Console(width=160).print(_table(doc))
        verdict = (
            "identical"
            if doc["identical"]
            else "within tolerance"
            if doc["passed"]
            else ("DIFFERENT beyond tolerance")
        )
        sys.stdout.write(f"{verdict}\n")
    if not doc["passed"]:
        raise typer.Exit(1)
