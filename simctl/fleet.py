"""`simctl orchestrator`, `simctl worker` and `simctl metrics`: the long-running processes of
a fleet.

`simctl up` starts them for you; run them by hand to spread a fleet over machines: one
orchestrator anywhere, `simctl worker` on every machine (one per core), and, for live
normalised metrics, one `simctl metrics run`, all pointed at the same --bootstrap-servers.
Kafka shares the shards among the workers.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from simctl.common import BootstrapOpt, PropertiesOpt, RegistryOpt, connect, instant
from simfleet.clock import wall_ms
from simfleet.kafka import ensure_topics
from simfleet.topology import fleet_topics
from simfleet.errors import ConfigError
from simfleet.logs import configure_logging
from orchestrator.catalog import get_scenario
from orchestrator.metrics import MetricsService
from orchestrator.service import DEFAULT_TRANSACTIONAL_ID, Orchestrator
from orchestrator.transitions import initial_state
from orchestrator.baseline import BaselineStats
from producers.worker import Worker

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
def orchestrator_run(
    bootstrap: BootstrapOpt = None,
    properties: PropertiesOpt = None,
    speed: Annotated[
        float, typer.Option(help="Sim seconds per wall second (1 = realtime, up to 3600+).")
    ] = 60.0,
    seed: Annotated[int, typer.Option(help="Seed of every shard's random streams and pools.")] = 42,
    scale: Annotated[float, typer.Option(help="Multiplies entity counts and rates.")] = 1.0,
    shards: Annotated[
        int, typer.Option(help="Entity-space shards (partitions of sim.shards).")
    ] = 8,
    domain: Annotated[list[str] | None, typer.Option(help="Domain(s) to run.")] = None,
    scenario: Annotated[
        str, typer.Option(help="Scenario in force from the start.")
    ] = "normal-operations",
    start: Annotated[
        str | None, typer.Option(help="Sim start instant (ISO UTC); default: now.")
    ] = None,
    transactional_id: Annotated[
        str, typer.Option(help="Fencing id: a newer orchestrator with it fences this one.")
    ] = DEFAULT_TRANSACTIONAL_ID,
    external_events: Annotated[
        bool, typer.Option(help="Schedule 2-5 external events a day (a fresh cluster only).")
    ] = True,
    log_json: Annotated[bool, typer.Option("--log-json", help="Log JSON lines.")] = False,
) -> None:
    """Run the orchestrator: the single writer of sim.control.

    On a cluster that already has a control state it resumes it (the flags for clock, seed,
    scale and scenario apply only to a fresh cluster).
    """
    configure_logging(json=log_json)
    if speed <= 0 or shards < 1 or scale <= 0:
        raise ConfigError("--speed and --scale must be above 0 and --shards at least 1.")
    settings = connect(bootstrap, properties)
    domains = tuple(domain or ["marketplace"])
    ensure_topics(settings, fleet_topics(domains, shards))
    spec = get_scenario(scenario)
    wall = wall_ms()
    sim_start = instant(start, "--start") if start else wall
    orch = Orchestrator(settings, transactional_id)
    stop = _stop_on_signals()
    state = orch.open(
        lambda: initial_state(
            wall, sim_start, speed, seed, scale, shards, domains, spec, external_events
        )
    )
    typer.echo(
        f"orchestrator: control state v{state.version} on {settings.bootstrap_servers}", err=True
    )
    try:
        orch.run(stop)
    finally:
        orch.close()


@worker_app.command("run")
def worker_run(
    bootstrap: BootstrapOpt = None,
    properties: PropertiesOpt = None,
    registry: RegistryOpt = None,
    worker_id: Annotated[
        str | None, typer.Option(help="Name in sim.fleet; default host-pid.")
    ] = None,
    log_json: Annotated[bool, typer.Option("--log-json", help="Log JSON lines.")] = False,
) -> None:
    """Run one producer worker: claims shards, follows sim.control, produces events."""
    configure_logging(json=log_json)
    settings = connect(bootstrap, properties, registry)
    stop = _stop_on_signals()
    Worker(settings, worker_id).run(stop)


BaselineOpt = Annotated[
    Path,
    typer.Option(
        "--baseline",
        help="Baseline statistics from `simctl baseline` (its interval is the metric interval).",
    ),
]


@metrics_app.command("run")
def metrics_run(
    baseline: BaselineOpt,
    bootstrap: BootstrapOpt = None,
    properties: PropertiesOpt = None,
    registry: RegistryOpt = None,
    domain: Annotated[str, typer.Option(help="Domain whose <domain>.metrics to publish.")] = (
        "marketplace"
    ),
    log_json: Annotated[bool, typer.Option("--log-json", help="Log JSON lines.")] = False,
) -> None:
    """Publish <domain>.metrics live: each stream's count per baseline interval, normalised
    0-100 (50 = the baseline's expectation for that hour and day type, 30/70 = -/+1 sigma).

    The counts are the workers' own tallies (sim.counts); an interval is published once every
    shard has reported past its end. Read it with `simctl tail marketplace.metrics`.
    """
    configure_logging(json=log_json)
    stats = BaselineStats.from_json(baseline)
    settings = connect(bootstrap, properties, registry)
    stop = _stop_on_signals()
    MetricsService(settings, stats, domain).run(stop)
