"""`simctl generate`: backfill straight to files, no broker."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from simfleet.api.generation import GenerationInterrupted, plan_run, write_files
from simfleet.cli import complete
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
from simfleet.cli.score import parse_decision
from simfleet.domain.spec import DomainSpec
from simfleet.errors import ConfigError
from simfleet.orchestrator.baseline import BaselineStats
from simfleet.producers.engine.feedback import Decisions
from simfleet.timeutil import format_ms


@settings_options(
    "config", "domain", "seed", "scale", "shards", "external_events", "pack_dir", "scenarios_dir"
)
def generate(
    start: Annotated[
        str, typer.Option(help="Sim start instant, ISO-8601 UTC (2026-03-02T00:00:00Z).")
    ],
    duration: Annotated[
        int,
        typer.Option(
            parser=duration_ms,
            metavar="DURATION",
            help="How much sim time to generate: 6h, 3d, 2w.",
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output folder: one file per topic.")],
    flags: Flags = NO_FLAGS,
    scenario: Annotated[
        str | None,
        typer.Option(
            help="A scenario to apply: an id (supply-crisis) or a scenario file's path.",
            show_default=False,
            autocompletion=complete.scenario_ids,
        ),
    ] = None,
    scenario_at: Annotated[
        str | None,
        typer.Option(help="When the scenario starts (default: start + 1/4 of duration)."),
    ] = None,
    scenario_stop_at: Annotated[
        str | None, typer.Option(help="When it is stopped (default: its phases' own length).")
    ] = None,
    baseline_file: Annotated[
        Path | None,
        typer.Option("--baseline", help="Baseline JSON (simctl baseline): add <domain>.metrics."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="jsonl or avro (Avro object container files).")
    ] = "jsonl",
    warmup: Annotated[
        int,
        typer.Option(
            parser=duration_ms,
            metavar="DURATION",
            help="Sim time run before --start and not written, so chained streams (sessions, "
            "ratings, renewals) start steady. As when reading a topic from the middle, the "
            "first day then holds outcomes whose requests came before --start. Use 7d with "
            "--baseline.",
        ),
    ] = 0,
    labels_until: Annotated[
        str,
        typer.Option(
            help="`window`: write the labels (streams with label_of) known by the window's "
            "end, as a consumer would have seen them; `all`: also the later ones, each at the "
            "instant it becomes known, so an offline training set is complete.",
        ),
    ] = "window",
    feedback: Annotated[
        str | None,
        typer.Option(
            help="Close the loop: `reference` decides every subject event (payment attempts) "
            "with the pack's reference velocity rules in process; a file of a model's JSON "
            "decisions (one per line, the format `simctl score` reads) blocks the subjects it "
            "says `block` to (or, without a decision, scores at the rules' `block` mark). "
            "Blocked attempts burn the campaign's identities and each ring moves effort to "
            "the tactics that pass (ground truth kind `adaptation`). Packs without "
            "`feedback:` are unchanged.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Backfill events between two sim instants straight to files, as fast as possible.

    Writes DIR/<topic>.jsonl (one JSON object per line) or DIR/<topic>.avro (with
    DIR/<topic>.avro.index, which lets `simctl replay` send the records without decoding
    them), for every domain (or those given with --domain). Each domain's files depend only
    on its own pack and the seed: adding a domain changes nothing in another's. Example:

        simctl generate --start 2026-03-02T00:00:00Z --duration 3d --out out/
    """
    if fmt not in ("jsonl", "avro"):
        raise ConfigError(f"--format must be jsonl or avro, not {fmt!r}.")
    if labels_until not in ("window", "all"):
        raise ConfigError(
            f"--labels-until must be `window` or `all`, not {labels_until!r}: `all` also "
            "writes the labels that become known after the window."
        )
    settings = build_settings(**flags)
    project = project_of(settings)
    domains = project.resolve_domains(settings.domains)
    decider: str | Decisions | None = None
    if feedback is not None:
        looped = [d for d in domains if project.spec(d).feedback is not None]
        decider = _decider(feedback, [project.spec(d) for d in looped])
    plan = plan_run(
        project,
        domains,
        seed=settings.seed,
        scale=settings.scale,
        shards=settings.shards,
        external_events=settings.external_events,
        start_ms=instant(start, "--start"),
        duration_ms=duration,
        warmup_ms=warmup,
        scenario=scenario,
        scenario_at_ms=instant(scenario_at, "--scenario-at") if scenario_at else None,
        scenario_stop_at_ms=(
            instant(scenario_stop_at, "--scenario-stop-at") if scenario_stop_at else None
        ),
        stats=BaselineStats.from_json(baseline_file) if baseline_file else None,
        labels_all=labels_until == "all",
        feedback=decider,
    )
    began = time.monotonic()
    try:
        with sim_progress("generate", plan.first_ms, plan.start_ms, plan.end_ms) as advance:
            written = write_files(plan, out, fmt, advance, advance)
    except GenerationInterrupted as stop:
        typer.echo(
            f"interrupted at sim {format_ms(stop.reached_ms)[:19]}Z after {stop.events:,} "
            f"events: nothing was kept in {out}/ (the partial files are removed, so no file "
            "holds a part of the run). The same flags write the same records again.",
            err=True,
        )
        raise typer.Exit(130) from None
    paths, counts = written.paths, written.counts
    total = sum(counts.values())
    took = max(time.monotonic() - began, 1e-3)
    typer.echo(
        f"wrote {total:,} events in {len(paths)} files to {out}/ in {took:,.1f} s "
        f"({total / took:,.0f} events/s)",
        err=True,
    )
    for p in paths:
        typer.echo(f"  {p.name}: {counts[p.name.rsplit('.', 1)[0]]:,}", err=True)


def _decider(feedback: str, looped: list[DomainSpec]) -> str | Decisions:
    """`--feedback`: `reference`, or a file of a model's decisions (the subjects it blocked,
    by key or event id); some domain of the run must declare a loop."""
    if not looped:
        raise ConfigError(
            "--feedback: no domain of this run declares `feedback:` in its pack, so there is "
            "no loop to close. Add --domain ticketing (or a pack with `feedback:`)."
        )
    if feedback == "reference":
        return feedback
    path = Path(feedback)
    if not path.is_file():
        raise ConfigError(
            f"--feedback {feedback!r}: neither `reference` nor a file. `simctl generate` closes "
            "the loop with `reference` (the pack's reference velocity rules, in process) or "
            "with a file of a model's decisions, one JSON object per line, e.g. "
            '{"transaction_id": "txn-000-000001", "decision": "block"}.'
        )
    blocked: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--feedback {path}: cannot read it ({exc}).") from exc
    keys = {s.feedback.key for s in looped if s.feedback is not None}
    mark = min(s.feedback.reference.block for s in looped if s.feedback is not None)
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        found = [d for k in keys if (d := parse_decision(line.encode(), 0, k)) is not None]
        if not found:
            raise ConfigError(
                f"--feedback {path}, line {i}: not a decision: {line[:80]!r}. Each line is a "
                "JSON object naming its subject (by key, e.g. transaction_id, or event_id) with "
                "a `decision` (block, review or allow) and/or a `score` in 0-1."
            )
        for d in found:
            said = d.decision == "block" or (d.decision is None and (d.score or 0.0) >= mark)
            if said:
                blocked.update(x for x in (d.key, d.event_id) if x is not None)
    return Decisions(frozenset(blocked))
