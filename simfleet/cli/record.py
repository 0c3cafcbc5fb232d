"""``simctl record``: capture topics into a self-contained recording folder."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from simfleet.capture import BEGINNING, END, StopRule, capture, consumer_for, match_topics
from simfleet.cli.options import (
    NO_FLAGS,
    Flags,
    connect,
    duration_ms,
    instant,
    project_of,
    settings_options,
)
from simfleet.codec import registry_client
from simfleet.errors import ConfigError
from simfleet.recording import RecordingWriter

__all__ = ["TopicsOpt", "record"]

TopicsOpt = Annotated[
    list[str],
    typer.Option(
        "--topics",
        "-t",
        help="Topic name or glob ('marketplace.*'); repeat for several.",
        show_default=False,
    ),
]


def _registry_lookup(url: str | None) -> Any:
    if url is None:
        return None
    client = registry_client(url)

    def lookup(schema_id: int) -> tuple[str, str | None] | None:
        try:
            registered = client.get_schema(schema_id)
        except Exception:  # noqa: BLE001 - any registry failure leaves the schema unknown
            return None
        if (registered.schema_type or "AVRO").upper() != "AVRO":
            # Protobuf / JSON Schema values are recorded and replayed as bytes; the book holds
            # Avro schemas only, so diff compares their counts and bytes, not fields
            return None
        text = registered.schema_str
        name = json.loads(text).get("name") if text else None
        return text, name

    return lookup


@settings_options("bootstrap", "properties", "registry", "config", "pack_dir")
def record(
    topics: TopicsOpt,
    out: Annotated[Path, typer.Option(help="The recording's folder (created; must be new).")],
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at each partition's oldest record.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(help="Start at the first record timestamped at or after this ISO instant."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="Stop once every partition shows a record timestamped at or after this ISO "
            "instant (record timestamps are sim time); those records are left out."
        ),
    ] = None,
    for_: Annotated[
        int | None,
        typer.Option(
            "--for",
            parser=duration_ms,
            metavar="DURATION",
            help="Stop after this much wall time: 90s, 10m, 1h.",
        ),
    ] = None,
    idle: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Drain to idle: stop after this many seconds without a new record. "
            "(The high watermark is not trusted: Tansu may report it short.)",
        ),
    ] = None,
    flags: Flags = NO_FLAGS,
) -> None:
    """Capture every record of some topics into Avro files plus a manifest.json.

    Starts at new records unless --from-beginning or --since is given; runs until --until,
    --for or --idle says so, or until Ctrl-C (which still leaves a valid recording). Example:

        simctl record --topics 'marketplace.*' --from-beginning --idle 5 --out rec/
    """
    if from_beginning and since is not None:
        raise ConfigError("--from-beginning and --since exclude each other; give one.")
    start: str | int = BEGINNING if from_beginning else END
    if since is not None:
        start = instant(since, "--since")
    stop = StopRule(
        until_ms=instant(until, "--until") if until is not None else None,
        for_s=for_ / 1000 if for_ is not None else None,
        idle_s=idle,
    )
    run, kafka = connect(**flags)
    writer = RecordingWriter(out, project_of(run).schemas(), _registry_lookup(kafka.registry_url))
    consumer = consumer_for(kafka)
    started = datetime.now(UTC)
    reason = "interrupted"
    try:
        matched = match_topics(consumer, topics)
        writer.partition_counts.update(matched)
        parts = sum(matched.values())
        rules = [
            f"until {until}" if until else "",
            f"for {for_ / 1000:g} s" if for_ else "",
            f"idle {idle:g} s" if idle else "",
        ]
        sys.stderr.write(
            f"recording {len(matched)} topic(s), {parts} partition(s) from "
            f"{'the beginning' if start == BEGINNING else 'now' if start == END else since}; "
            f"stop: {', '.join(r for r in rules if r) or 'Ctrl-C'}\n"
        )
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]record"),
            TextColumn("{task.completed:,} records"),
            TimeElapsedColumn(),
            disable=not sys.stderr.isatty(),
            transient=True,
        ) as bar:
            task = bar.add_task("record", total=None)
            reason = capture(
                consumer,
                matched,
                start,
                stop,
                writer.write,
                progress=lambda n: bar.update(task, completed=n),
            )
    finally:
        consumer.close()
        manifest = writer.close(
            {
                "created_at": started.isoformat().replace("+00:00", "Z"),
                "stopped_by": reason,
                "patterns": list(topics),
                "start": start if isinstance(start, str) else since,
                "until": until,
                "for_ms": for_,
                "idle_s": idle,
            }
        )
    sys.stderr.write(
        f"recorded {writer.total} records of {len(writer.partition_counts)} topic(s) to {out}/ "
        f"(stopped by {reason}); manifest: {manifest}\n"
    )
