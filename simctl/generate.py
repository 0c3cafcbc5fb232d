"""`simctl generate`: backfill straight to files, no broker."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simctl.common import instant, sim_progress
from simfleet.codec import SchemaSet
from simfleet.external import for_scenario, load_external_library, schedule_range
from simfleet.paths import schemas_dir
from simfleet.scenarios import ScenarioInstance
from simfleet.timeutil import parse_duration_ms
from simfleet.errors import ConfigError
from orchestrator.catalog import get_scenario
from orchestrator.transitions import scenario_truth as _scenario_truth
from producers.backfill import backfill
from orchestrator.baseline import BaselineStats, IntervalCounts
from producers.sinks import FileSink
from simfleet.domain.spec import load_domain


def generate(
    domain: Annotated[str, typer.Option(help="Domain to generate, e.g. marketplace.")],
    start: Annotated[
        str, typer.Option(help="Sim start instant, ISO-8601 UTC (2026-03-02T00:00:00Z).")
    ],
    duration: Annotated[str, typer.Option(help="How much sim time to generate: 6h, 3d, 2w.")],
    out: Annotated[Path, typer.Option(help="Output folder: one file per topic.")],
    seed: Annotated[
        int, typer.Option(help="Same seed, same arguments: byte-identical files.")
    ] = 42,
    scale: Annotated[float, typer.Option(help="Multiplies entity counts and rates.")] = 1.0,
    shards: Annotated[int, typer.Option(help="Entity-space shards (as a fleet would run).")] = 8,
    scenario: Annotated[
        str | None, typer.Option(help="A scenario id to apply, e.g. supply-crisis.")
    ] = None,
    scenario_at: Annotated[
        str | None,
        typer.Option(help="When the scenario starts (default: start + 1/4 of duration)."),
    ] = None,
    scenario_stop_at: Annotated[
        str | None, typer.Option(help="When it is stopped (default: its phases' own length).")
    ] = None,
    external_events: Annotated[
        bool, typer.Option(help="Include 2-5 external events a day and their ground truth.")
    ] = True,
    baseline_file: Annotated[
        Path | None,
        typer.Option("--baseline", help="Baseline JSON (simctl baseline): add <domain>.metrics."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="jsonl or avro (Avro object container files).")
    ] = "jsonl",
    warmup: Annotated[
        str,
        typer.Option(
            help="Sim time run before --start and not written, so chained streams (sessions, "
            "ratings, renewals) start steady. As when reading a topic from the middle, the "
            "first day then holds outcomes whose requests came before --start. Use 7d with "
            "--baseline."
        ),
    ] = "0s",
) -> None:
    """Backfill events between two sim instants straight to files, as fast as possible.

    Writes DIR/<topic>.jsonl (one JSON object per line) or DIR/<topic>.avro. Example:

        simctl generate --domain marketplace --start 2026-03-02T00:00:00Z --duration 3d --out out/
    """
    if fmt not in ("jsonl", "avro"):
        raise ConfigError(f"--format must be jsonl or avro, not {fmt!r}.")
    if shards < 1 or scale <= 0:
        raise ConfigError("--shards must be at least 1 and --scale above 0.")
    start_ms = instant(start, "--start")
    try:
        span = parse_duration_ms(duration)
    except ValueError as exc:
        raise ConfigError(f"--duration: {exc}.") from exc
    try:
        warm = parse_duration_ms(warmup)
    except ValueError as exc:
        raise ConfigError(f"--warmup: {exc}.") from exc
    if span <= 0 or warm < 0:
        raise ConfigError("--duration must be above 0 and --warmup at least 0s.")
    spec = load_domain(domain)
    instances: list[ScenarioInstance] = []
    if scenario is not None:
        sc = get_scenario(scenario)
        at = instant(scenario_at, "--scenario-at") if scenario_at else start_ms + span // 4
        stop = instant(scenario_stop_at, "--scenario-stop-at") if scenario_stop_at else None
        instances.append(ScenarioInstance(spec=sc, started_at=at, stop_at=stop))
    elif scenario_at or scenario_stop_at:
        raise ConfigError("--scenario-at and --scenario-stop-at need --scenario ID.")
    lib = load_external_library(domain)
    end_ms = start_ms + span
    # external events of the warm-up act on it but are not written (they are before --start)
    externals = (
        schedule_range(lib, seed, start_ms - warm, end_ms) if lib and external_events else []
    )
    if lib is not None:
        externals += [
            for_scenario(lib, e.template, inst.started_at + e.offset, inst.spec.id)
            for inst in instances
            for e in inst.spec.external_events
            if start_ms <= inst.started_at + e.offset < end_ms
        ]
        externals.sort(key=lambda x: x.at)
    acting = instances + [i for i in (x.instance(domain) for x in externals) if i is not None]
    sink = FileSink(out, fmt, SchemaSet.load(schemas_dir()), seed)  # type: ignore[arg-type]
    complete = False
    with sim_progress("generate", start_ms - warm, start_ms, end_ms) as advance:
        try:
            stats = BaselineStats.from_json(baseline_file) if baseline_file else None
            counts = (
                IntervalCounts(start_ms, stats.interval, span // stats.interval, {})
                if stats
                else None
            )
            for batches in backfill(
                spec,
                start_ms - warm,
                end_ms,
                seed,
                scale,
                shards,
                acting,
                progress=advance,
                emit_from=start_ms,
            ):
                sink.write(batches)
                if counts is not None:
                    for b in batches:
                        counts.add(b)
            if stats is not None and counts is not None:
                sink.write_records(
                    f"{domain}.metrics", stats.metrics(counts, stats.factor_for(scale))
                )
            if lib is not None:
                written = [x for x in externals if x.at >= start_ms]
                sink.write_records(lib.topic, [x.public_record() for x in written])
                truth = [x.truth_record() for x in written]
                for inst in instances:
                    truth.append(_scenario_truth(inst, "started", inst.started_at))
                    if inst.end_ms is not None and inst.end_ms < end_ms:
                        truth.append(_scenario_truth(inst, "stopped", inst.end_ms))
                truth.sort(key=lambda r: r["occurred_at"])
                sink.write_records(lib.truth_topic, truth)
            complete = True
        finally:
            paths = sink.close(complete)
    total = sum(sink.counts.values())
    typer.echo(f"wrote {total} events in {len(paths)} files to {out}/", err=True)
    for p in paths:
        typer.echo(f"  {p.name}: {sink.counts[p.name.rsplit('.', 1)[0]]}", err=True)
