"""Every simctl option, declared once, and the edge where flags become the settings tree.

Options default to None ("not given") so that the settings tree can tell a flag from a
default: precedence is flags, then ``SIMCTL_*`` environment variables, then ``--config FILE``,
then the defaults of ``simfleet.settings.Settings``.
"""

from __future__ import annotations

import functools
import inspect
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from simfleet.cli import complete
from simfleet.domain.pack import Project
from simfleet.errors import ConfigError
from simfleet.settings import KafkaSettings, Settings, child_kafka
from simfleet.timeutil import format_ms, parse_duration_ms, parse_instant_ms

__all__ = [
    "CONNECTION",
    "NO_FLAGS",
    "RUN",
    "Flags",
    "build_settings",
    "connect",
    "duration_ms",
    "instant",
    "kafka_of",
    "project_of",
    "settings_options",
    "sim_progress",
]

R = TypeVar("R")


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
ValueFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--value-format",
        help="How values are written: avro (default; single-object encoding, or the Confluent "
        "wire format with a registry), protobuf or json-schema (Confluent wire format; need "
        "--schema-registry-url), or json (bare JSON any Kafka tool shows as text). Readers "
        "(tail, record, score) tell the format from the bytes. [env: SIMCTL_VALUE_FORMAT]",
        show_default=False,
    ),
]
TraceOpt = Annotated[
    bool | None,
    typer.Option(
        "--trace-headers",
        help="A W3C `traceparent` header on every data record (ids from a hash of the record, "
        "so a record made again keeps them): a consumer's spans join the record they read. "
        "[env: SIMCTL_TRACE_HEADERS]",
        show_default=False,
    ),
]
CloudEventsOpt = Annotated[
    bool | None,
    typer.Option(
        "--cloudevents",
        help="CloudEvents binary-mode headers on every data record (ce_specversion, ce_id, "
        "ce_source, ce_type = the topic, ce_time, content-type). [env: SIMCTL_CLOUDEVENTS]",
        show_default=False,
    ),
]
ReplicationOpt = Annotated[
    int | None,
    typer.Option(
        "--replication-factor",
        help="Replicas of each topic simfleet creates. Default: the broker's own "
        "default.replication.factor. [env: SIMCTL_REPLICATION_FACTOR]",
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
        autocompletion=complete.domains,
    ),
]
ScenarioOpt = Annotated[
    str | None,
    typer.Option(
        help="Scenario id from the catalog, or the path of a scenario YAML file. "
        "[default: none, every domain at its baseline]",
        show_default=False,
        autocompletion=complete.scenario_ids,
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

# The settings options a command may take: parameter name -> (Settings field, option, default).
SETTINGS_OPTIONS: dict[str, tuple[str, Any, Any]] = {
    "config": ("config", ConfigOpt, None),
    "bootstrap": ("bootstrap_servers", BootstrapOpt, None),
    "properties": ("kafka_properties", PropertiesOpt, None),
    "registry": ("schema_registry_url", RegistryOpt, None),
    "value_format": ("value_format", ValueFormatOpt, None),
    "trace_headers": ("trace_headers", TraceOpt, None),
    "cloudevents": ("cloudevents", CloudEventsOpt, None),
    "replication_factor": ("replication_factor", ReplicationOpt, None),
    "speed": ("speed", SpeedOpt, None),
    "seed": ("seed", SeedOpt, None),
    "scale": ("scale", ScaleOpt, None),
    "shards": ("shards", ShardsOpt, None),
    "domain": ("domains", DomainOpt, None),
    "scenario": ("scenario", ScenarioOpt, None),
    "external_events": ("external_events", ExternalOpt, None),
    "pack_dir": ("pack_dirs", PackDirOpt, None),
    "scenarios_dir": ("scenarios_dirs", ScenariosDirOpt, None),
}
# The usual lists of them: a cluster's, and all of a fleet's run (`up`, `orchestrator run`)
CONNECTION = ("config", "bootstrap", "properties", "registry", "value_format")
# what producing commands add: record headers, the replicas of the topics they create
PRODUCING = ("trace_headers", "cloudevents", "replication_factor")
RUN = (
    *CONNECTION,
    *PRODUCING,
    *("speed", "seed", "scale", "shards", "domain", "scenario", "external_events"),
    *("pack_dir", "scenarios_dir"),
)

# The settings options a command was given, keyed by Settings field: build_settings(**flags)
Flags = Mapping[str, Any]
# The default of a command's `flags` parameter, only so that it may stand among options with
# defaults: settings_options always passes the options given
NO_FLAGS: Flags = MappingProxyType({})


def settings_options(*names: str) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Give a command these settings options, in this order, where its ``flags`` parameter is;
    it receives their values as one ``Flags`` mapping (so each option's declaration, and its
    mapping to a Settings field, is written once)."""
    unknown = [n for n in names if n not in SETTINGS_OPTIONS]
    if unknown:
        raise ValueError(f"no settings option {unknown}; known: {', '.join(SETTINGS_OPTIONS)}")

    def decorate(func: Callable[..., R]) -> Callable[..., R]:
        sig = inspect.signature(func, eval_str=True)
        params = list(sig.parameters.values())
        at = [p.name for p in params].index("flags")
        added = [
            inspect.Parameter(
                n,
                params[at].kind,
                default=SETTINGS_OPTIONS[n][2],
                annotation=SETTINGS_OPTIONS[n][1],
            )
            for n in names
        ]

        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> R:
            flags = {SETTINGS_OPTIONS[n][0]: kwargs.pop(n, SETTINGS_OPTIONS[n][2]) for n in names}
            return func(*args, flags=flags, **kwargs)

        # Typer reads the options from the signature: the command's own, with these in place
        command.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=[*params[:at], *added, *params[at + 1 :]]
        )
        return command

    return decorate


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
    kafka = KafkaSettings.build(
        bs,
        settings.kafka_properties,
        settings.schema_registry_url,
        settings.value_format,
        settings.record_headers,
        settings.replication_factor,
    )
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
def sim_progress(label: str, first: int, start: int, end: int) -> Iterator[Callable[..., None]]:
    """A progress bar over sim time ``[first, end)`` on a terminal (silent otherwise); what
    comes before ``start`` is shown as the warm-up. Yields the callback a backfill calls:
    ``advance(t)``, or ``advance(t, events)`` to show the events written and their rate."""
    began = time.monotonic()
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeRemainingColumn(),
        disable=not sys.stderr.isatty(),
        transient=True,
    ) as bar:
        task = bar.add_task("warm-up" if first < start else format_ms(first), total=end - first)

        def advance(t: int, events: int | None = None) -> None:
            phase = "warm-up" if t < start else format_ms(t)[:19]
            if events is not None:
                rate = events / max(time.monotonic() - began, 1e-3)
                phase += f"  {events:,} events  {rate:,.0f} events/s"
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
LogJsonOpt = Annotated[
    bool,
    typer.Option(
        "--log-json",
        help="Log JSON lines (one object per line: event, level, timestamp and the event's "
        "fields) instead of text, for a log shipper.",
    ),
]
