"""Options shared by simctl commands, and building settings from them at the edge."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from simfleet.settings import KafkaSettings
from simfleet.timeutil import format_ms, parse_instant_ms
from simfleet.errors import ConfigError

BootstrapOpt = Annotated[
    str | None,
    typer.Option(
        "--bootstrap-servers",
        "-b",
        envvar="SIMCTL_BOOTSTRAP_SERVERS",
        help="Kafka bootstrap servers. Default: the embedded broker started by `simctl up`.",
    ),
]
PropertiesOpt = Annotated[
    Path | None,
    typer.Option(
        "--kafka-properties",
        envvar="SIMCTL_KAFKA_PROPERTIES",
        help="A file of librdkafka `key=value` settings (SASL, TLS); secrets are redacted.",
    ),
]
RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--schema-registry-url",
        envvar="SIMCTL_SCHEMA_REGISTRY_URL",
        help="Confluent wire format through this Schema Registry; default: Avro single-object.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def instant(text: str, flag: str) -> int:
    """An ISO-8601 flag value as sim epoch ms, or a ConfigError naming the flag."""
    try:
        return parse_instant_ms(text)
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}.") from exc


def connect(
    bootstrap: str | None,
    properties: Path | None = None,
    registry: str | None = None,
    check: bool = True,
) -> KafkaSettings:
    """Settings for a cluster that answers (within 10 s), or a clear BrokerError."""
    from simfleet.broker.embedded import check_reachable, resolve_bootstrap

    bs = resolve_bootstrap(bootstrap)
    settings = KafkaSettings.build(bs, properties, registry)
    if check:
        check_reachable(bs, timeout=10.0)
    return settings


@contextmanager
def sim_progress(label: str, first: int, start: int, end: int) -> Iterator[Callable[[int], None]]:
    """A progress bar over sim time ``[first, end)`` on a terminal (silent otherwise); what
    comes before ``start`` is shown as the warm-up. Yields the callback a backfill calls."""
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeRemainingColumn(),
        disable=not sys.stderr.isatty(),
        transient=True,
    ) as bar:
        task = bar.add_task("warm-up" if first < start else format_ms(first), total=end - first)

        def advance(t: int) -> None:
            phase = "warm-up" if t < start else format_ms(t)[:19]
            bar.update(task, completed=t - first, description=phase)

        yield advance
