"""Every simctl option, declared once, and the edge where flags become the settings tree.

Options default to None ("not given") so that the settings tree can tell a flag from a
default: precedence is flags, then ``SIMCTL_*`` environment variables, then ``--config FILE``,
then the defaults of ``simfleet.settings.Settings``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from simfleet.domain.pack import Project
from simfleet.errors import ConfigError
from simfleet.settings import KafkaSettings, Settings, child_kafka
from simfleet.timeutil import format_ms, parse_duration_ms, parse_instant_ms

__all__ = [
    "build_settings",
    "connect",
    "duration_ms",
    "instant",
    "kafka_of",
    "project_of",
    "sim_progress",
]


def duration_ms(value: str | int) -> int:
    """`90s`, `30m`, `6h`, `3d`, `1w` (or `500ms`) in ms: one duration type for every flag."""
    if isinstance(value, int):
        return value
    try:
        return parse_duration_ms(str(value))
    except ValueError as exc:
        raise typer.BadParameter(f"{exc}.") from exc


# -- settings of the run (Settings fields) -------------------------------------------------
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="YAML or TOML file of settings (seed, scale, shards, speed, domains, ...). "
        "Flags win over SIMCTL_* variables, which win over the file. [env: SIMCTL_CONFIG]",
        show_default=False,
    ),
]
BootstrapOpt = Annotated[
    str | None,
    typer.Option(
        "--bootstrap-servers",
        "-b",
        help="Kafka bootstrap servers. Default: the embedded broker started by `simctl up`. "
        "[env: SIMCTL_BOOTSTRAP_SERVERS]",
        show_default=False,
    ),
]
PropertiesOpt = Annotated[
    Path | None,
    typer.Option(
        "--kafka-properties",
        help="A file of librdkafka `key=value` settings (SASL, TLS); only secrets are "
        "redacted when shown. [env: SIMCTL_KAFKA_PROPERTIES]",
        show_default=False,
    ),
]
RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--schema-registry-url",
        help="Confluent wire format through this Schema Registry; default: Avro single-object "
        "encoding. Credentials in the URL are never printed. [env: SIMCTL_SCHEMA_REGISTRY_URL]",
        show_default=False,
    ),
]
SeedOpt = Annotated[
    int | None,
    typer.Option(help="Seed of every shard's pools and random streams. [default: 42]"),
]
ScaleOpt = Annotated[
    float | None,
    typer.Option(help="Multiplies entity counts and event rates. [default: 1]"),
]
ShardsOpt = Annotated[
    int | None,
    typer.Option(help="Entity-space shards, shared among the workers. [default: 8]"),
]
SpeedOpt = Annotated[
    float | None,
    typer.Option(help="Sim seconds per wall second: 1 realtime ... 3600. [default: 60]"),
]
DomainOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--domain",
        help="A domain to run (repeat for several). Default: every domain of the project.",
        show_default=False,
    ),
]
ScenarioOpt = Annotated[
    str | None,
    typer.Option(
        help="Scenario id from the catalog, or the path of a scenario YAML file. "
        "[default: none, every domain at its baseline]",
        show_default=False,
    ),
]
ExternalOpt = Annotated[
    bool | None,
    typer.Option(
        "--external-events/--no-external-events",
        help="Schedule 2-5 external events a day per domain. [default: on]",
        show_default=False,
    ),
]
PackDirOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--pack-dir",
        help="A folder laid out like the project (producers/<domain>/, schemas/<domain>/, "
        "scenarios/<domain>/) whose domains join the project. Repeatable.",
        show_default=False,
    ),
]
ScenariosDirOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--scenarios-dir",
        help="A folder of your own scenario files, added to the catalog. Repeatable.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ResetOpt = Annotated[
    bool,
    typer.Option(
        "--reset",
        help="Start over on a cluster that already holds a fleet's state: a new control state "
        "with these settings (seed, scale, shards, domains) instead of refusing the difference.",
    ),
]


def build_settings(**flags: Any) -> Settings:
    """The settings tree: handed down by `simctl up` if this is one of its children, else
    built from the flags given, the environment and the config file."""
    handed = Settings.from_child_env()
    if handed is not None:
        return handed
    config = flags.pop("config", None)
    for key in ("domains", "pack_dirs", "scenarios_dirs"):
        if flags.get(key) is not None:
            flags[key] = tuple(flags[key])
    return Settings.build(config_file=config, **flags)


def project_of(settings: Settings) -> Project:
    """The project (packs, schemas, scenarios) the settings name."""
    return Project(settings.pack_dirs, settings.scenarios_dirs)


def kafka_of(settings: Settings, check: bool = True) -> KafkaSettings:
    """Kafka settings for a cluster that answers (within 10 s), or a clear BrokerError."""
    handed = child_kafka()
    if handed is not None:
        return handed
    from simfleet.broker.embedded import check_reachable, resolve_bootstrap

    bs = resolve_bootstrap(settings.bootstrap_servers)
    kafka = KafkaSettings.build(bs, settings.kafka_properties, settings.schema_registry_url)
    if check:
        check_reachable(bs, timeout=10.0)
    return kafka


def connect(**flags: Any) -> tuple[Settings, KafkaSettings]:
    """Settings and a reachable Kafka, from the connection flags."""
    settings = build_settings(**flags)
    return settings, kafka_of(settings)


def instant(text: str, flag: str) -> int:
    """An ISO-8601 flag value as sim epoch ms, or a ConfigError naming the flag."""
    try:
        return parse_instant_ms(text)
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}.") from exc


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


JunitOpt = Annotated[
    Path | None,
    typer.Option(
        "--junit-xml",
        help="Also write the verdicts as JUnit XML to this file, for CI.",
        show_default=False,
    ),
]
# -- serving HTTP (admin server, Prometheus) -------------------------------------------------
MetricsPortOpt = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        min=1,
        max=65535,
        help="Serve Prometheus metrics on http://<--metrics-host>:PORT/metrics. [default: off]",
        show_default=False,
    ),
]
MetricsHostOpt = Annotated[
    str,
    typer.Option("--metrics-host", help="Interface the --metrics-port server listens on."),
]
AdminPortOpt = Annotated[
    int,
    typer.Option(
        "--admin-port", min=1, max=65535, help="Port of the admin web page, API and WebSocket."
    ),
]
AdminHostOpt = Annotated[
    str,
    typer.Option(
        "--admin-host",
        help="Interface the admin server listens on. Anything but loopback requires a bearer "
        "token in SIMCTL_ADMIN_TOKEN.",
    ),
]
AdminOpt = Annotated[
    bool,
    typer.Option("--admin/--no-admin", help="Serve the admin page, API and /metrics."),
]
