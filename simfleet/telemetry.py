"""Prometheus metrics of a fleet, computed at scrape time from what the fleet already counts.

Nothing here runs on the hot path: a worker hands over its newest heartbeat (built every couple
of seconds from the producer's delivery counters), the orchestrator its newest control state,
and the admin server the heartbeats of every worker it reads on ``sim.fleet``. A scrape turns
that snapshot into metric families, so the numbers are exactly the fleet's own counts.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from simfleet import __version__
from simfleet.clock import wall_ms
from simfleet.control import ControlState, Heartbeat
from simfleet.errors import ConfigError
from simfleet.scenarios import Lifecycle, lifecycle_at

__all__ = ["FleetCollector", "Snapshot", "registry_for", "serve_metrics"]


@dataclass(frozen=True)
class Snapshot:
    """What a process knows about the fleet at one moment."""

    state: ControlState | None = None
    workers: dict[str, Heartbeat] = field(default_factory=dict)
    # the embedded broker's resident memory and budget, where the process can read them
    broker_memory_bytes: int | None = None
    broker_budget_bytes: int | None = None


class FleetCollector(Collector):
    """Metric families of a snapshot, read at every scrape."""

    def __init__(self, read: Callable[[], Snapshot], wall: Callable[[], int] = wall_ms) -> None:
        self._read = read
        self._wall = wall

    def collect(self) -> Iterator[Metric]:
        """The families Prometheus scrapes (names follow its conventions)."""
        snap = self._read()
        build = GaugeMetricFamily(
            "simfleet_build_info",
            "Always 1: the simfleet version and Python implementation serving these metrics.",
            labels=["version", "python"],
        )
        build.add_metric([__version__, platform.python_version()], 1)
        yield build
        kinds = ("produced", "delivered", "failed")
        totals: dict[str, dict[str, int]] = {k: {} for k in kinds}
        for hb in snap.workers.values():
            for topic, c in hb.topics.items():
                for kind in kinds:
                    into = totals[kind]
                    into[topic] = into.get(topic, 0) + getattr(c, kind)
        for kind in kinds:
            fam = CounterMetricFamily(
                f"simfleet_records_{kind}",
                f"Records {kind} by the fleet's producers (delivery reports), per topic.",
                labels=["topic"],
            )
            for topic in sorted(totals[kind]):
                fam.add_metric([topic], totals[kind][topic])
            yield fam
        queue = GaugeMetricFamily(
            "simfleet_producer_queue_records",
            "Records waiting in a worker's producer queue (handed over, not yet reported).",
            labels=["worker"],
        )
        lag = GaugeMetricFamily(
            "simfleet_tick_lag_seconds",
            "Wall seconds a worker's generation trails the sim clock.",
            labels=["worker"],
        )
        age = GaugeMetricFamily(
            "simfleet_heartbeat_age_seconds",
            "Wall seconds since a worker's newest heartbeat was built (a worker sends one "
            "every 2 s: an age that grows means a stuck or lost worker).",
            labels=["worker"],
        )
        wall = self._wall()
        for wid in sorted(snap.workers):
            hb = snap.workers[wid]
            queue.add_metric([wid], hb.queued)
            lag.add_metric([wid], hb.tick_lag_ms / 1000)
            age.add_metric([wid], max(0, wall - hb.wall_ms) / 1000)
        yield queue
        yield lag
        yield age
        if snap.broker_memory_bytes is not None:
            yield GaugeMetricFamily(
                "simfleet_broker_memory_bytes",
                "Resident memory of the embedded broker (it keeps every record in memory).",
                value=snap.broker_memory_bytes,
            )
        if snap.broker_budget_bytes is not None:
            yield GaugeMetricFamily(
                "simfleet_broker_memory_budget_bytes",
                "The embedded broker's memory budget (--broker-memory); the fleet stops at 80 %.",
                value=snap.broker_budget_bytes,
            )
        state = snap.state
        if state is None:
            return
        now = state.clock.clock().sim_at(self._wall())
        yield GaugeMetricFamily(
            "simfleet_sim_time_seconds", "The fleet's sim clock, epoch seconds.", value=now / 1000
        )
        yield GaugeMetricFamily(
            "simfleet_control_version", "Version of the control state in force.", state.version
        )
        active = GaugeMetricFamily(
            "simfleet_scenario_active",
            "1 while a scenario instance of the control state acts on the fleet (active or "
            "settling), 0 while it is pending or settled; its lifecycle state as a label.",
            labels=["scenario", "state"],
        )
        for inst in state.scenarios:
            lc = lifecycle_at(inst, now).state
            acting = lc in (Lifecycle.ACTIVE, Lifecycle.SETTLING)
            active.add_metric([inst.spec.id, lc.value], 1 if acting else 0)
        yield active


def registry_for(read: Callable[[], Snapshot]) -> CollectorRegistry:
    """A registry holding only the fleet's families (no process or platform collectors)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(FleetCollector(read))
    return reg


def serve_metrics(read: Callable[[], Snapshot], port: int, host: str = "127.0.0.1") -> None:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread."""
    try:
        start_http_server(port, addr=host, registry=registry_for(read))
    except OSError as exc:
        raise ConfigError(
            f"--metrics-port {port}: cannot listen on {host}:{port} ({exc.strerror}). Pick a "
            "free port, or leave --metrics-port out."
        ) from exc
