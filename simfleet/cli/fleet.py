"""`simctl orchestrator`, `simctl worker` and `simctl metrics`: the long-running processes of
a fleet.

`simctl up` starts them for you and hands each the same settings tree; run them by hand to
spread a fleet over machines: one orchestrator anywhere, `simctl worker run` on every machine
(one per core), and, for live normalised metrics, one `simctl metrics run`, all pointed at the
same --bootstrap-servers. Kafka shares the shards among the workers.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import structlog
import typer

from simfleet.cli.guard import check_cluster, fixed_flags
from simfleet.cli.options import (
    CONNECTION,
    NO_FLAGS,
    PRODUCING,
    RUN,
    Flags,
    LogJsonOpt,
    MetricsHostOpt,
    MetricsPortOpt,
    ResetOpt,
    build_settings,
    instant,
    kafka_of,
    project_of,
    settings_options,
)
from simfleet.clock import wall_ms
from simfleet.cluster import declare_gone, write_final_counts
from simfleet.errors import ConfigError
from simfleet.logs import configure_logging
from simfleet.settings import Settings
from simfleet.topology import prepare_topics

orchestrator_app = typer.Typer(
    help="Run the orchestrator by hand: the single writer of sim.control (one per cluster).",
    no_args_is_help=True,
)
worker_app = typer.Typer(
    help="Run a producer worker by hand: one per core, on any machine; Kafka shares the shards.",
    no_args_is_help=True,
)
metrics_app = typer.Typer(
    help="Publish <domain>.metrics live, normalised against a `simctl baseline` file.",
    no_args_is_help=True,
)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


@orchestrator_app.command("run")
@settings_options(*RUN)
def orchestrator_run(
    flags: Flags = NO_FLAGS,
    start: Annotated[
        str | None, typer.Option(help="Sim start instant (ISO UTC); default: now.")
    ] = None,
    reset: ResetOpt = False,
    transactional_id: Annotated[
        str | None,
        typer.Option(help="Fencing id: a newer orchestrator with it fences this one."),
    ] = None,
    metrics_port: MetricsPortOpt = None,
    metrics_host: MetricsHostOpt = "127.0.0.1",
    log_json: LogJsonOpt = False,
) -> None:
    """Run the orchestrator: the single writer of sim.control.

    On a cluster that already has a control state it resumes it (the flags for clock, seed,
    scale and scenario apply only to a fresh cluster).
    """
    from simfleet.orchestrator.catalog import get_scenario
    from simfleet.orchestrator.service import DEFAULT_TRANSACTIONAL_ID, Orchestrator
    from simfleet.orchestrator.transitions import initial_state

    configure_logging(json=log_json)
    settings = build_settings(**flags, start=start)
    project = project_of(settings)
    domains = project.resolve_domains(settings.domains)
    spec = get_scenario(settings.scenario, project) if settings.scenario else None
    wall = wall_ms()
    sim_start = instant(settings.start, "--start") if settings.start else wall
    kafka = kafka_of(settings)
    if Settings.from_child_env() is None:  # `simctl up` checked the cluster already
        check_cluster(kafka, fixed_flags(settings, domains), reset, live_check=False)
    prepare_topics(kafka, project, domains, settings.shards, settings.speed, sim_start, None)
    orch = Orchestrator(kafka, project, transactional_id or DEFAULT_TRANSACTIONAL_ID)
    stop = _stop_on_signals()
    state = orch.open(
        lambda: initial_state(
            wall,
            sim_start,
            settings.speed,
            settings.seed,
            settings.scale,
            settings.shards,
            domains,
            project,
            spec,
            settings.external_events,
            settings.backfill_ms,
            instant(settings.until, "--until") if settings.until else None,
        ),
        reset=reset,
    )
    if log_json:
        structlog.get_logger().info(
            "orchestrator.ready", version=state.version, bootstrap=kafka.bootstrap_servers
        )
    else:
        typer.echo(
            f"orchestrator: control state v{state.version} on {kafka.bootstrap_servers}", err=True
        )
    if metrics_port is not None:
        from simfleet.telemetry import Snapshot, serve_metrics

        serve_metrics(lambda: Snapshot(state=orch.state), metrics_port, metrics_host)
    try:
        orch.run(stop)
    finally:
        orch.close()


@worker_app.command("run")
@settings_options(*CONNECTION, *PRODUCING, "pack_dir")
def worker_run(
    flags: Flags = NO_FLAGS,
    worker_id: Annotated[
        str | None, typer.Option(help="Name in sim.fleet; default host-pid.")
    ] = None,
    metrics_port: MetricsPortOpt = None,
    metrics_host: MetricsHostOpt = "127.0.0.1",
    log_json: LogJsonOpt = False,
    sender: Annotated[
        str,
        typer.Option(
            help="Where the data records are produced: `process` (a child process, so that "
            "generation and produce each use a core; 1.38x the events/s of `inline` on 2 cores "
            "in bench/overlap.py) or `inline` (one process, about 28 MB less).",
        ),
    ] = "process",
) -> None:
    """Run one producer worker: claims shards, follows sim.control, produces events."""
    from simfleet.producers.worker import Worker
    from simfleet.sender import SENDERS

    if sender not in SENDERS:
        raise ConfigError(f"--sender {sender!r}: use one of {', '.join(SENDERS)}.")

    configure_logging(json=log_json)
    settings = build_settings(**flags)
    kafka = kafka_of(settings)
    stop = _stop_on_signals()

    def broker_gone(_signum: int, _frame: object) -> None:
        # the `simctl up` that started the memory-only broker saw it die: nothing queued can
        # be delivered any more, so write it off (counted failed) and stop now
        declare_gone("the embedded broker died, and its memory-only data with it")
        stop.set()

    signal.signal(signal.SIGUSR1, broker_gone)
    worker = Worker(kafka, project_of(settings), worker_id, sender=sender)
    if metrics_port is not None:
        from simfleet.telemetry import Snapshot, serve_metrics

        def snapshot() -> Snapshot:
            hb = worker.last_heartbeat
            return Snapshot(workers={} if hb is None else {hb.worker_id: hb})

        serve_metrics(snapshot, metrics_port, metrics_host)
    counts = worker.run(stop)
    # the supervising `simctl up` reads these when the cluster cannot tell it any more
    write_final_counts(worker.worker_id, counts["produced"], counts["delivered"], counts["failed"])


@metrics_app.command("run")
@settings_options(*CONNECTION, "domain", "pack_dir")
def metrics_run(
    baseline: Annotated[
        Path,
        typer.Option(
            "--baseline",
            help="Baseline statistics from `simctl baseline` (its interval is the metric "
            "interval).",
        ),
    ],
    flags: Flags = NO_FLAGS,
    log_json: LogJsonOpt = False,
) -> None:
    """Publish <domain>.metrics live: each stream's count per baseline interval, normalised
    0-100 (50 = the baseline's expectation for that hour and day type, 30/70 = -/+1 sigma).

    The counts are the workers' own tallies (sim.counts); an interval is published once every
    shard has reported past its end. Read it with `simctl tail <domain>.metrics`.
    """
    from simfleet.orchestrator.baseline import BaselineStats
    from simfleet.orchestrator.metrics import MetricsService

    configure_logging(json=log_json)
    stats = BaselineStats.from_json(baseline)
    settings = build_settings(**flags)
    project = project_of(settings)
    domains = project.resolve_domains(settings.domains or stats.domains())
    kafka = kafka_of(settings)
    stop = _stop_on_signals()
    MetricsService(kafka, stats, domains, project).run(stop)
