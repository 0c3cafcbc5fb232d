"""`simctl baseline` and `simctl explain`: statistics of normal operation, and what moved what.

Both work on files, without a broker: `baseline` runs its own backfill; `explain` reads the
ground truth that `simctl generate` wrote next to the events.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from simctl.common import instant, sim_progress
from simfleet.external import load_external_library, schedule_range
from simfleet.timeutil import format_ms, parse_duration_ms
from simfleet.errors import ConfigError
from producers.backfill import backfill
from orchestrator.baseline import BaselineStats, count_intervals
from simfleet.domain.spec import load_domain

WARMUP_MS = 7 * 86_400_000  # follow-up chains need days to reach their steady state


def baseline(
    days: Annotated[int, typer.Option(help="Days of normal operation to summarise.")] = 30,
    domain: Annotated[str, typer.Option(help="Domain.")] = "marketplace",
    start: Annotated[str, typer.Option(help="First day (ISO UTC).")] = "2026-03-01T00:00:00Z",
    seed: Annotated[int, typer.Option(help="Seed of the baseline run.")] = 42,
    scale: Annotated[float, typer.Option(help="Entities and rates.")] = 1.0,
    shards: Annotated[int, typer.Option(help="Shards.")] = 8,
    interval: Annotated[
        str, typer.Option(help="Metric interval: counts per stream per interval (1h, 12h, 1d).")
    ] = "1h",
    out: Annotated[Path, typer.Option(help="Where to write the statistics (JSON).")] = Path(
        "baseline.json"
    ),
) -> None:
    """Compute per-stream baseline statistics from a backfill of normal operation.

    Mean, median, std, min, max, p25/p50/p75/p90/p95, weekday and weekend means and trend per
    stream, over `--interval` buckets, after a 7-day warm-up so chained streams are steady.
    `simctl generate --baseline FILE` then adds a <domain>.metrics topic normalised 0-100.
    """
    start_ms = instant(start, "--start")
    try:
        step = parse_duration_ms(interval)
    except ValueError as exc:
        raise ConfigError(f"--interval: {exc}.") from exc
    if days < 1:
        raise ConfigError("--days must be at least 1.")
    spec = load_domain(domain)
    lib = load_external_library(domain)
    end_ms = start_ms + days * 86_400_000
    ext = schedule_range(lib, seed, start_ms - WARMUP_MS, end_ms) if lib else []
    acting = [i for i in (x.instance(domain) for x in ext) if i is not None]
    with sim_progress("baseline", start_ms - WARMUP_MS, start_ms, end_ms) as advance:
        counts = count_intervals(
            backfill(
                spec, start_ms - WARMUP_MS, end_ms, seed, scale, shards, acting, progress=advance
            ),
            start_ms,
            end_ms,
            step,
        )
    stats = BaselineStats.from_counts(
        counts, domain=domain, seed=seed, scale=scale, shards=shards, days=days
    )
    stats.to_json(out)
    typer.echo(
        f"baseline of {len(stats.streams)} streams over {days} days "
        f"({counts.n} intervals of {interval}) written to {out}",
        err=True,
    )


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"Cannot read {path}: {exc}. Point --dir at a folder written by "
            "`simctl generate --format jsonl`."
        ) from exc


def explain(
    data_dir: Annotated[Path, typer.Option("--dir", help="Output folder of `simctl generate`.")],
    stream: Annotated[
        str | None, typer.Option(help="A topic, e.g. marketplace.customer.search.")
    ] = None,
    at: Annotated[str | None, typer.Option(help="With --stream: the instant (ISO UTC).")] = None,
    event: Annotated[
        str | None, typer.Option(help="An external event id or a scenario id.")
    ] = None,
    domain: Annotated[str, typer.Option(help="Domain.")] = "marketplace",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Say what moved a stream around a time, or which streams an event moved, from ground truth.

    simctl explain --dir out/ --stream marketplace.customer.search --at 2026-03-03T12:00:00Z
    simctl explain --dir out/ --event ext-1a2b3c4d-1772452800000
    """
    truth = _read_jsonl(data_dir / f"{domain}.ground_truth.jsonl")
    if event is not None:
        rows = [t for t in truth if t["subject_id"] == event]
        if not rows:
            raise ConfigError(f"No event or scenario {event!r} in {data_dir}'s ground truth.")
        moved = sorted({s for t in rows for s in t["moved_streams"].split(",") if s})
        result: dict[str, Any] = {"event": event, "label": rows[0]["label"], "moved_streams": moved}
        text = f"{event} ({rows[0]['label']}): " + (", ".join(moved) or "moved nothing")
    elif stream is not None and at is not None:
        t = instant(at, "--at")
        causes = []
        for r in truth:
            if (
                stream in r["moved_streams"].split(",")
                and r["window_start"] <= t <= r["window_end"]
            ):
                if r["kind"] == "scenario" and r["label"] != "started":
                    continue
                causes.append(
                    {
                        "kind": r["kind"],
                        "id": r["subject_id"],
                        "from": format_ms(r["window_start"]),
                        "until": format_ms(r["window_end"]),
                    }
                )
        result = {"stream": stream, "at": format_ms(t), "moved_by": causes}
        text = f"{stream} at {format_ms(t)}: " + (
            "; ".join(f"{c['kind']} {c['id']} ({c['from']} .. {c['until']})" for c in causes)
            or "nothing but normal operation"
        )
    else:
        raise ConfigError("Give --stream S with --at ISO, or --event ID.")
    typer.echo(json.dumps(result, indent=2) if as_json else text)
