"""`simctl up`: the whole fleet on one machine, with live stats.

Without --bootstrap-servers it starts the embedded broker. Then it creates the topics, starts
the orchestrator and N worker processes, and shows events/s per topic, the active scenario and
delivery failures. Ctrl-C (or --duration) stops the workers first, which flush everything they
produced, then the orchestrator, then the broker.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from simfleet.broker.budget import BrokerBudget, default_budget, parse_size
from simfleet.broker.embedded import (
    EmbeddedBroker,
    check_reachable,
    free_port,
    record_foreground,
)
from simfleet.cli.admin import AdminAllowedHostOpt, AdminAllowedOriginOpt
from simfleet.cli.control import chaos_text
from simfleet.cli.guard import StateLock, check_cluster, fixed_flags
from simfleet.cli.options import (
    NO_FLAGS,
    RUN,
    AdminHostOpt,
    AdminOpt,
    Flags,
    LogJsonOpt,
    ResetOpt,
    build_settings,
    duration_ms,
    instant,
    project_of,
    settings_options,
)
from simfleet.cli.supervisor import Summary, Supervisor, log_tail
from simfleet.clock import wall_ms
from simfleet.cluster import (
    ClusterReplacedError,
    ClusterWatch,
    final_counts,
    replaced_paragraph,
)
from simfleet.control import ControlState, Heartbeat
from simfleet.control_io import Behind, FleetWatcher, read_latest_state
from simfleet.errors import BrokerError, ConfigError, DeliveryError
from simfleet.limits import check_scale, check_sim_span, check_speed
from simfleet.logs import configure_logging, logs_json
from simfleet.orchestrator.baseline import BaselineStats
from simfleet.orchestrator.catalog import get_scenario
from simfleet.orchestrator.transitions import check_scenario, scenario_rows
from simfleet.paths import state_dir
from simfleet.settings import KafkaSettings
from simfleet.timeutil import format_ms
from simfleet.topology import prepare_topics

console = Console(stderr=True)
_log = structlog.get_logger()


def _say(text: str) -> None:
    """One line for the user: text on the console, or a JSON log line under --log-json."""
    if logs_json():
        _log.info(str(text))
    else:
        console.print(text)


DEFAULT_ADMIN_PORT = 8321


# a counter unchanged this long is idle (heartbeats come every 2 s: a read between two beats
# sees no change, which is not a rate of 0)
IDLE_S = 5.0


class _Rates:
    """Events/s per topic from successive heartbeat counters: a rate is taken when a counter
    moved, over the time since it last moved; one that stands still for ``IDLE_S`` is 0."""

    def __init__(self) -> None:
        self.prev: dict[str, tuple[float, int]] = {}
        self.rates: dict[str, float] = {}

    def update(self, totals: dict[str, int], now: float) -> None:
        for topic, count in totals.items():
            before = self.prev.get(topic)
            if before is None:
                self.prev[topic] = (now, count)
            elif count != before[1] and now - before[0] >= 1.0:
                self.rates[topic] = (count - before[1]) / (now - before[0])
                self.prev[topic] = (now, count)
            elif count == before[1] and now - before[0] >= IDLE_S:
                self.rates[topic] = 0.0
                self.prev[topic] = (now, count)


def _live(workers: dict[str, Heartbeat]) -> str:
    """`2` or `2 (1 stale)`: workers heard from within the heartbeat timeout."""
    now = wall_ms()
    states = [hb.liveness(now) for hb in workers.values()]
    stale = states.count("stale")
    return f"{states.count('live')}" + (f" ({stale} stale)" if stale else "")


def _totals(workers: dict[str, Heartbeat]) -> dict[str, tuple[int, int, int]]:
    out: dict[str, tuple[int, int, int]] = {}
    for hb in workers.values():
        for topic, c in hb.topics.items():
            p, d, f = out.get(topic, (0, 0, 0))
            out[topic] = (p + c.produced, d + c.delivered, f + c.failed)
    return out


# the lines of the live table that are not topic rows: title (two with a lag line), borders,
# header, the total and the chaos caption
_TABLE_FRAME = 8
_MAX_STREAMS_PER_DOMAIN = 5


def _fold(
    totals: dict[str, tuple[int, int, int]], rates: dict[str, float], height: int | None
) -> list[tuple[str, list[str], bool]]:
    """The rows to show: (label, the topics it sums, bold). Every topic while they fit in
    ``height``; else each domain's sum, then its busiest streams, as many as fit."""
    topics = sorted(totals)
    room = None if height is None else max(height - _TABLE_FRAME, 1)
    if room is None or len(topics) <= room:
        return [(t, [t], False) for t in topics]
    by_domain: dict[str, list[str]] = {}
    for t in topics:
        by_domain.setdefault(t.split(".", 1)[0], []).append(t)
    each = min(_MAX_STREAMS_PER_DOMAIN, max(0, (room - len(by_domain)) // len(by_domain)))
    rows: list[tuple[str, list[str], bool]] = []
    for domain, names in by_domain.items():
        busiest = sorted(names, key=lambda t: -rates.get(t, 0.0))[:each]
        more = len(names) - len(busiest)
        rows.append((f"{domain}" + (f" (+{more} more)" if more else ""), names, True))
        rows += [(f"  {t.split('.', 1)[1]}", [t], False) for t in busiest]
    return rows


def _table(
    state: ControlState | None,
    workers: dict[str, Heartbeat],
    rates: _Rates,
    behind: Behind | None = None,
    height: int | None = None,
) -> Table:
    """The live table: one row per topic while they fit in ``height`` lines, else a row per
    domain with its busiest streams under it (as many as fit)."""
    now_sim = state.clock.clock().sim_at(wall_ms()) if state else 0
    title = "simfleet"
    if state is not None:
        rows = scenario_rows(state, now_sim)
        scen = (
            ", ".join(
                f"{r['id']} ({r['state']}{', ' + r['phase'] if r['phase'] else ''})" for r in rows
            )
            or "baseline"
        )
        title = (
            f"sim {format_ms(now_sim)[:19]}Z  speed {state.clock.speed:g}x  "
            f"scenario: {scen}  workers: {_live(workers)}"
        )
    if behind is not None:
        title += f"\n[red]falling behind: {behind.text()}[/red]"
    table = Table(title=title, title_justify="left")
    table.add_column("topic")
    table.add_column("events/s", justify="right")
    table.add_column("produced", justify="right")
    table.add_column("delivered", justify="right")
    table.add_column("failed", justify="right")
    totals = _totals(workers)
    for label, topics, bold in _fold(totals, rates.rates, height):
        p = sum(totals[t][0] for t in topics)
        d = sum(totals[t][1] for t in topics)
        f = sum(totals[t][2] for t in topics)
        rate = sum(rates.rates.get(t, 0.0) for t in topics)
        b = "[bold]" if bold else ""
        table.add_row(
            f"{b}{label}",
            f"{b}{rate:,.0f}",
            f"{p:,}",
            f"{d:,}",
            f"[red]{f:,}[/red]" if f else "0",
        )
    if totals:
        p = sum(v[0] for v in totals.values())
        d = sum(v[1] for v in totals.values())
        f = sum(v[2] for v in totals.values())
        table.add_row(
            "[bold]all", f"[bold]{sum(rates.rates.values()):,.0f}", f"{p:,}", f"{d:,}", f"{f:,}"
        )
    chaos: dict[str, int] = {}
    for hb in workers.values():
        for action, n in hb.chaos.items():
            chaos[action] = chaos.get(action, 0) + n
    if chaos:
        # apart from the counts above: a dropped record is not produced, a duplicate is twice
        table.caption = f"chaos applied: {chaos_text(chaos)}"
        table.caption_justify = "left"
    return table


@settings_options(*RUN)
def up(
    flags: Flags = NO_FLAGS,
    start: Annotated[
        str | None,
        typer.Option(help="Sim start instant, ISO UTC (default: now).", show_default=False),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="Sim instant (ISO UTC) at which every shard stops generating; `up` then stops "
            "by itself. Two runs with the same flags and commands write the same records.",
            show_default=False,
        ),
    ] = None,
    backfill: Annotated[
        int | None,
        typer.Option(
            parser=duration_ms,
            metavar="DURATION",
            help="First write this much sim history before --start at full speed (whole "
            "hours: 30d, 12h), then carry on live from the same state: no seam.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[int, typer.Option(min=0, help="Worker processes (0: one per core).")] = 0,
    duration: Annotated[
        int | None,
        typer.Option(
            parser=duration_ms,
            metavar="DURATION",
            help="Stop by itself after this much wall time: 90s, 10m, 2h.",
            show_default=False,
        ),
    ] = None,
    stats: Annotated[
        bool, typer.Option(help="Live stats table (a line every 5 s when not a terminal).")
    ] = True,
    port: Annotated[
        int | None, typer.Option(help="Port of the embedded broker (default: a free one).")
    ] = None,
    broker_memory: Annotated[
        str | None,
        typer.Option(
            metavar="SIZE",
            help="Memory the embedded broker may hold (default: a quarter of this machine's). "
            "It keeps every record in memory (about 85 MiB a minute for a default run) and "
            "cannot drop old ones, so the fleet stops cleanly when the broker reaches this, "
            "rather than fill the machine.",
            show_default=False,
        ),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="Baseline from `simctl baseline`: also publish <domain>.metrics live, "
            "normalised 0-100 against it."
        ),
    ] = None,
    reset: ResetOpt = False,
    outage_limit: Annotated[
        int,
        typer.Option(
            parser=duration_ms,
            metavar="DURATION",
            help="How long the fleet waits for a broker that hangs or is away before it stops.",
        ),
    ] = 300_000,
    admin: AdminOpt = True,
    admin_port: Annotated[
        int | None,
        typer.Option(
            "--admin-port",
            min=1,
            max=65535,
            help="Port of the admin web page, API and WebSocket (default 8321; if another fleet "
            "holds 8321, a free port, announced; a port given here and taken is refused).",
            show_default=False,
        ),
    ] = None,
    admin_host: AdminHostOpt = "127.0.0.1",
    admin_allowed_host: AdminAllowedHostOpt = None,
    admin_allowed_origin: AdminAllowedOriginOpt = None,
    log_json: LogJsonOpt = False,
) -> None:
    """Start everything: broker (embedded unless --bootstrap-servers), orchestrator, workers.

    With no --domain, every domain of the project runs. Then steer it from another terminal:
    `simctl scenario start supply-crisis`, `simctl status`,
    `simctl tail marketplace.booking.confirmed`. The admin page is on
    http://127.0.0.1:8321/ (or a free port, announced, when another fleet holds it) unless
    --no-admin.
    """
    if log_json:
        configure_logging(json=True)  # its own lines; each child gets --log-json below
    # every child logs as `up` does
    json_args = ["--log-json"] if log_json else []
    admin_args: list[str] = []
    if admin:
        from simfleet.admin.security import Access, check_bind

        # a refused bind, a bad allowed name or a taken port stops `up` before anything starts
        Access.build(
            check_bind(admin_host), admin_host, admin_allowed_host or (), admin_allowed_origin or ()
        )
        port_given = admin_port is not None
        admin_port = _admin_port(admin_host, admin_port or DEFAULT_ADMIN_PORT, port_given)
        admin_args = ["admin", "run", "--admin-host", admin_host, *json_args]
        for flag, values in (
            ("--admin-allowed-host", admin_allowed_host),
            ("--admin-allowed-origin", admin_allowed_origin),
        ):
            admin_args += [a for v in values or () for a in (flag, v)]
    settings = build_settings(**flags, start=start, until=until, backfill_ms=backfill)
    project = project_of(settings)
    domains = project.resolve_domains(settings.domains)
    if settings.scenario is not None:  # unknown ids fail here, before anything
        check_scenario(get_scenario(settings.scenario, project), project, domains)
    # the children get the resolved domains and the scenario as a file-free spec reference
    settings = settings.model_copy(update={"domains": domains})
    # what cannot run is refused here, before a broker or a process is started
    if duration is not None and duration <= 0:
        raise ConfigError(
            "--duration must be above 0, e.g. 90s or 2h (leave it out to run until Ctrl-C)."
        )
    sim_from = instant(settings.start, "--start") if settings.start is not None else wall_ms()
    sim_to = instant(settings.until, "--until") if settings.until is not None else sim_from
    check_sim_span(sim_from - (settings.backfill_ms or 0), max(sim_from, sim_to))
    check_speed(settings.speed)
    check_scale(project, domains, settings.scale)
    if broker_memory is not None and settings.bootstrap_servers:
        raise ConfigError(
            "--broker-memory bounds the embedded broker, and --bootstrap-servers names another "
            "cluster: its own retention settings bound it. Leave one of the two out."
        )
    budget = parse_size(broker_memory) if broker_memory is not None else default_budget()
    stats_file = BaselineStats.from_json(baseline) if baseline is not None else None
    n_workers = workers or os.cpu_count() or 1
    if n_workers > settings.shards:
        raise ConfigError(
            f"--workers {n_workers} is more than --shards {settings.shards}: the extra workers "
            "would own no shard and produce nothing. Use at most as many workers as shards, "
            "or raise --shards."
        )
    # the properties file is checked (by librdkafka) before anything starts
    KafkaSettings.build(
        settings.bootstrap_servers or "127.0.0.1:9092",
        settings.kafka_properties,
        settings.schema_registry_url,
        settings.value_format,
        settings.record_headers,
        settings.replication_factor,
    )
    lock = StateLock(state_dir())
    lock.acquire(settings.bootstrap_servers)  # one `simctl up` per state folder
    logs = state_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    broker: EmbeddedBroker | None = None
    forget = None
    sup: Supervisor | None = None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    kafka: KafkaSettings | None = None
    summary: Summary | None = None
    cluster: ClusterWatch | None = None
    replaced: ClusterReplacedError | None = None
    died: _BrokerDiedError | None = None
    shutil.rmtree(final_counts("-").parent, ignore_errors=True)  # no earlier run's counters
    try:
        if settings.bootstrap_servers:
            check_reachable(settings.bootstrap_servers, timeout=10.0)
            bs = settings.bootstrap_servers
            check_cluster(  # one fleet per cluster; flags that contradict its state refused
                KafkaSettings.build(
                    bs,
                    settings.kafka_properties,
                    settings.schema_registry_url,
                    settings.value_format,
                    settings.record_headers,
                    settings.replication_factor,
                ),
                fixed_flags(settings, domains),
                reset,
            )
        else:
            broker = EmbeddedBroker()
            bs = broker.start(port=port)
            forget = record_foreground(broker, budget)
            _say(f"embedded broker on {bs} (log {broker.log_path})")
        kafka = KafkaSettings.build(
            bs,
            settings.kafka_properties,
            settings.schema_registry_url,
            settings.value_format,
            settings.record_headers,
            settings.replication_factor,
        )
        wall = wall_ms()
        sim_start = instant(settings.start, "--start") if settings.start else wall
        if settings.until is not None and instant(settings.until, "--until") <= sim_start:
            raise ConfigError(
                f"--until {settings.until} is not after the start ({format_ms(sim_start)}): "
                "the fleet would generate nothing. Give an instant after --start."
            )
        # the orchestrator would create them too; here the check knows the run's --duration
        prepare_topics(
            kafka, project, domains, settings.shards, settings.speed, sim_start, duration
        )
        sup = Supervisor(logs, settings.child_env(kafka))
        orch = sup.spawn(
            "orchestrator", ["orchestrator", "run", *json_args, *(["--reset"] if reset else [])]
        )
        _wait_for_state(kafka, orch.proc, orch.log)
        cluster = ClusterWatch(kafka)  # the fleet's cluster, from now on
        sup.before_restart = cluster.verify
        if stats_file is not None and baseline is not None:
            sup.spawn("metrics", ["metrics", "run", *json_args, "--baseline", str(baseline)])
        for i in range(n_workers):
            sup.spawn(f"worker-{i}", ["worker", "run", *json_args, "--worker-id", f"worker-{i}"])
        if admin:
            assert admin_port is not None  # set above whenever the admin server runs
            # again: taken while the fleet started (another fleet's `up`)?
            admin_port = _admin_port(admin_host, admin_port, port_given)
            args = [*admin_args, "--admin-port", str(admin_port)]
            args += ["--baseline", str(baseline)] if baseline is not None else []
            sup.spawn("admin", args, critical=False)
            _say(f"admin page on http://{admin_host}:{admin_port}/ (API docs: /docs)")
        _say(
            f"orchestrator and {n_workers} worker(s) started for {', '.join(domains)}; "
            f"logs in {logs}/; Ctrl-C stops everything"
        )
        if stats_file is not None:
            _say(
                f"live metrics against {baseline}: `simctl tail {domains[0]}.metrics` "
                "(one record per stream per interval, as soon as every shard has passed it)"
            )
        _watch(
            kafka,
            sup,
            cluster,
            stop,
            None if duration is None else duration / 1000,
            stats,
            outage_limit / 1000,
            broker,
            None if broker is None or broker.pid is None else BrokerBudget(broker.pid, budget),
        )
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a user stops `up`: the finally below shuts down in order
    except ClusterReplacedError as exc:
        replaced = exc  # told below in one paragraph, with the counts of the shutdown
    except _BrokerDiedError as exc:
        died = exc  # likewise
    finally:
        if cluster is not None:
            cluster.close()
        if sup is not None:
            summary = sup.shutdown(
                kafka, replaced=replaced is not None, broker_dead=died is not None
            )
        if forget is not None:
            forget()
        if broker is not None:
            broker.stop()
        lock.release()
        if summary is not None:  # on every exit, an error's included
            _say(summary.line())
    if replaced is not None:
        done = summary or Summary(0, 0, 0, 0)
        raise ClusterReplacedError(
            replaced_paragraph(
                "The fleet (orchestrator and workers)",
                kafka.bootstrap_servers if kafka is not None else "?",
                cluster.reason if cluster is not None and cluster.reason else str(replaced),
                done.produced,
                done.delivered,
                done.failed + done.lost,
            )
        )
    if died is not None:
        done = summary or Summary(0, 0, 0, 0)
        raise BrokerError(
            f"{died} It kept every record in memory, so the topics, the control state and the "
            f"checkpoints went with it: what was delivered is gone. The fleet stopped: produced "
            f"{done.produced:,}, delivered {done.delivered:,} (to the dead broker), failed "
            f"{done.failed + done.lost:,} (what was still queued, written off). Worker logs are "
            f"in {logs}/. `simctl up` starts a fresh broker and a fresh run; for data that "
            "outlives a broker, run against a real cluster with --bootstrap-servers."
        )
    if summary is not None and summary.failed:
        # records in flight in a worker that died are not failures: the shard's next owner
        # regenerates them from its checkpoint and writes those that did not land
        raise DeliveryError(
            f"{summary.failed} produced record(s) were not delivered; see the worker logs in "
            f"{logs}/."
        )


def _admin_port(host: str, port: int, given: bool) -> int:
    """``port`` when it is free. Taken: refused when the user gave it; the default instead
    moves to a free port, said so (a second fleet in another folder), rather than announce
    another fleet's page as this one's."""
    from simfleet.admin.server import check_port

    try:
        check_port(host, port)
    except ConfigError:
        if given:
            raise
        moved = free_port()
        _say(
            f"admin port {port} is taken (another fleet's admin page?); this fleet's is on "
            f"port {moved}"
        )
        return moved
    return port


class _BrokerDiedError(Exception):
    """The embedded broker this `up` started has exited (said in one paragraph above)."""

    def __init__(self, broker: EmbeddedBroker, status: int) -> None:
        how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
        log = broker.log_path
        tail = f" Its log {log} ends with: {log_tail(log)}" if log is not None else ""
        super().__init__(
            f"The embedded broker on port {broker.port} {how} at "
            f"{format_ms(wall_ms())[:19]}Z.{tail}"
        )


def _wait_for_state(settings: KafkaSettings, orch: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if orch.poll() is not None:
            raise BrokerError(
                f"The orchestrator exited (code {orch.returncode}) before publishing a control "
                f"state. Its log {log} ends with: {log_tail(log)}"
            )
        if read_latest_state(settings, 2.0) is not None:
            return
        time.sleep(0.2)  # polling a condition with a deadline
    raise BrokerError(f"The orchestrator published no control state within 30 s; see {log}.")


def _reached_end(state: ControlState, workers: dict[str, Heartbeat], now_wall: int) -> bool:
    """Every shard is held by a live worker that has generated up to the fleet's end."""
    if state.end_ms is None:
        return False
    live = [hb for hb in workers.values() if hb.liveness(now_wall) == "live" and hb.shards]
    held = {s for hb in live for s in hb.shards}
    return held == set(range(state.shards)) and all(
        hb.reached_ms is not None and hb.reached_ms >= state.end_ms for hb in live
    )


def _watch(
    settings: KafkaSettings,
    sup: Supervisor,
    cluster: ClusterWatch,
    stop: threading.Event,
    duration: float | None,
    stats: bool,
    outage_limit: float,
    broker: EmbeddedBroker | None = None,
    budget: BrokerBudget | None = None,
) -> None:
    watcher = FleetWatcher(settings)
    sup.beats = watcher.processes  # kept up to date by watcher.poll
    rates = _Rates()
    started = time.monotonic()
    state = read_latest_state(settings)
    last_state = last_line = 0.0
    away_since: float | None = None
    table = stats and console.is_terminal and not logs_json()
    live = Live(console=console, refresh_per_second=2) if table else None
    try:
        if live is not None:
            live.start()
        while not stop.is_set():
            if duration is not None and time.monotonic() - started >= duration:
                break
            if state is not None and _reached_end(state, watcher.workers, wall_ms()):
                _say(f"every shard reached --until {format_ms(state.end_ms or 0)}")
                break
            if cluster.reason is not None:
                raise ClusterReplacedError(cluster.reason)
            if broker is not None and (status := broker.exited()) is not None:
                raise _BrokerDiedError(broker, status)
            if budget is not None:
                for note in budget.check():
                    _say(note)
            for note in sup.tend():
                _say(note)
            watcher.poll(0.5)
            now = time.monotonic()
            if now - last_state >= 2.0:
                last_state = now
                try:
                    state = read_latest_state(settings, 2.0) or state
                    if away_since is not None:
                        _say(f"broker reachable again after {now - away_since:.0f} s")
                        away_since = None
                except BrokerError:
                    # production waits in the producers' queues; ride it out up to the limit
                    if away_since is None:
                        away_since = now
                        _say(f"broker unreachable since {format_ms(wall_ms())[:19]}Z")
                    elif now - away_since > outage_limit:
                        raise BrokerError(
                            f"The broker at {settings.bootstrap_servers} has been unreachable "
                            f"for {now - away_since:.0f} s (the limit is {outage_limit:.0f} s, "
                            "--outage-limit); the fleet stops."
                        ) from None
            rates.update({t: v[1] for t, v in _totals(watcher.workers).items()}, now)
            if live is not None:
                live.update(
                    _table(
                        state,
                        watcher.workers,
                        rates,
                        watcher.behind(wall_ms()),
                        console.size.height,
                    )
                )
            elif stats and now - last_line >= 5.0:
                last_line = now
                total = sum(rates.rates.values())
                failed = sum(v[2] for v in _totals(watcher.workers).values())
                scen = (
                    ",".join(
                        f"{r['id']}:{r['state']}"
                        for r in scenario_rows(state, state.clock.clock().sim_at(wall_ms()))
                    )
                    if state
                    else "-"
                )
                behind = watcher.behind(wall_ms())
                if logs_json():
                    lag_s = None if behind is None else behind.lag_ms / 1000
                    line = {"event": "stats", "events_per_s": round(total, 1), "failed": failed}
                    line |= {"workers": _live(watcher.workers), "scenario": scen or "baseline"}
                    print(json.dumps({**line, "behind_s": lag_s}), flush=True)
                    continue
                lag = f"  behind={behind.lag_ms / 1000:.0f}s" if behind is not None else ""
                print(
                    f"{total:,.0f} events/s  workers={_live(watcher.workers)}  "
                    f"scenario={scen or 'baseline'}  failed={failed}{lag}",
                    flush=True,
                )
    finally:
        if live is not None:
            live.stop()
        watcher.close()
