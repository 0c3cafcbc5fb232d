"""`simctl baseline` and `simctl explain`: statistics of normal operation, and what moved what.

Both work on files, without a broker: `baseline` runs its own backfill; `explain` reads the
ground truth that `simctl generate` wrote next to the events.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from simfleet.cli.options import (
    NO_FLAGS,
    Flags,
    build_settings,
    duration_ms,
    instant,
    project_of,
    settings_options,
    sim_progress,
)
from simfleet.errors import ConfigError
from simfleet.orchestrator.baseline import BaselineStats, count_intervals
from simfleet.orchestrator.timeline import acting, scheduled
from simfleet.producers.backfill import backfill
from simfleet.timeutil import format_duration_ms, format_ms

WARMUP_MS = 7 * 86_400_000  # follow-up chains need days to reach their steady state


@settings_options("config", "domain", "seed", "scale", "shards", "pack_dir")
def baseline(
    days: Annotated[int, typer.Option(min=1, help="Days of normal operation to summarise.")] = 30,
    flags: Flags = NO_FLAGS,
    start: Annotated[str, typer.Option(help="First day (ISO UTC).")] = "2026-03-01T00:00:00Z",
    interval: Annotated[
        int,
        typer.Option(
            parser=duration_ms,
            metavar="DURATION",
            help="Metric interval: counts per stream per interval (1h, 12h, 1d).",
        ),
    ] = 3_600_000,
    out: Annotated[Path, typer.Option(help="Where to write the statistics (JSON).")] = Path(
        "baseline.json"
    ),
) -> None:
    """Compute per-stream baseline statistics from a backfill of normal operation.

    Mean, median, std, min, max, p25/p50/p75/p90/p95, weekday and weekend means and trend per
    stream of every domain (or those given with --domain), over `--interval` buckets, after a
    7-day warm-up so chained streams are steady. `simctl generate --baseline FILE` then adds a
    <domain>.metrics topic per domain, normalised 0-100.
    """
    settings = build_settings(**flags)
    project = project_of(settings)
    domains = project.resolve_domains(settings.domains)
    start_ms = instant(start, "--start")
    if interval <= 0:
        raise ConfigError("--interval must be above 0, e.g. 1h.")
    end_ms = start_ms + days * 86_400_000
    ext = scheduled(project, domains, settings.seed, start_ms - WARMUP_MS, end_ms)
    with sim_progress("baseline", start_ms - WARMUP_MS, start_ms, end_ms) as advance:
        counts = count_intervals(
            backfill(
                [project.spec(d) for d in domains],
                start_ms - WARMUP_MS,
                end_ms,
                settings.seed,
                settings.scale,
                settings.shards,
                acting((), ext),
                progress=advance,
                schemas=project.schemas(),
            ),
            start_ms,
            end_ms,
            interval,
        )
    stats = BaselineStats.from_counts(
        counts,
        domains=list(domains),
        seed=settings.seed,
        scale=settings.scale,
        shards=settings.shards,
        days=days,
    )
    stats.to_json(out)
    typer.echo(
        f"baseline of {len(stats.streams)} streams of {', '.join(domains)} over {days} days "
        f"({counts.n} intervals of {format_duration_ms(interval)}) written to {out}",
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


def _truth_file(data_dir: Path, domain: str | None, stream: str | None) -> str:
    if domain is None and stream is not None:
        domain = stream.split(".", 1)[0]
    if domain is not None:
        return f"{domain}.ground_truth.jsonl"
    found = sorted(p.name for p in data_dir.glob("*.ground_truth.jsonl"))
    if len(found) != 1:
        raise ConfigError(
            f"{data_dir} holds ground truth of {len(found)} domains ({', '.join(found) or 'none'});"
            " say which with --domain."
        )
    return found[0]


def explain(
    data_dir: Annotated[Path, typer.Option("--dir", help="Output folder of `simctl generate`.")],
    stream: Annotated[
        str | None, typer.Option(help="A topic, e.g. marketplace.customer.search.")
    ] = None,
    at: Annotated[str | None, typer.Option(help="With --stream: the instant (ISO UTC).")] = None,
    event: Annotated[
        str | None, typer.Option(help="An external event id or a scenario id.")
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option(help="The domain whose ground truth to read (default: the only one there)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Say what moved a stream around a time, or which streams an event moved, from ground truth.

    simctl explain --dir out/ --stream marketplace.customer.search --at 2026-03-03T12:00:00Z
    simctl explain --dir out/ --event ext-1a2b3c4d-1772452800000
    """
    truth = _read_jsonl(data_dir / _truth_file(data_dir, domain, stream))
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
