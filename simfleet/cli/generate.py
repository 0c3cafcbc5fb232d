"""`simctl generate`: backfill straight to files, no broker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

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
from simfleet.cli.score import parse_decision
from simfleet.codec import encoders_for
from simfleet.domain.spec import DomainSpec
from simfleet.errors import ConfigError, OutputError, SimError
from simfleet.limits import check_scale, check_sim_span
from simfleet.orchestrator.baseline import BaselineStats, IntervalCounts
from simfleet.orchestrator.catalog import get_scenario
from simfleet.orchestrator.timeline import acting, drift_truth, due, scenario_context, scheduled
from simfleet.orchestrator.transitions import check_scenario
from simfleet.producers.backfill import LABELS_ALL, backfill_ticks
from simfleet.producers.chaos import Chaos
from simfleet.producers.engine.feedback import Decisions
from simfleet.producers.sinks import FileSink
from simfleet.producers.ticking import Forces
from simfleet.scenarios import ScenarioInstance
from simfleet.timeutil import format_ms
from simfleet.topology import key_fields, metrics_topic, truth_topic


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
    start_ms = instant(start, "--start")
    span, warm = duration, warmup
    if span <= 0:
        raise ConfigError("--duration must be above 0, e.g. 6h or 3d.")
    check_sim_span(start_ms - warm, start_ms + span)
    check_scale(project, domains, settings.scale)
    instances: list[ScenarioInstance] = []
    if scenario is not None:
        sc = get_scenario(scenario, project)
        check_scenario(sc, project, domains)
        at = instant(scenario_at, "--scenario-at") if scenario_at else start_ms + span // 4
        stop = instant(scenario_stop_at, "--scenario-stop-at") if scenario_stop_at else None
        instances.append(ScenarioInstance(spec=sc, started_at=at, stop_at=stop))
    elif scenario_at or scenario_stop_at:
        raise ConfigError("--scenario-at and --scenario-stop-at need --scenario ID.")
    stats = BaselineStats.from_json(baseline_file) if baseline_file else None
    end_ms = start_ms + span
    # external events of the warm-up act on it but are not written (they are before --start)
    externals = (
        scheduled(project, domains, settings.seed, start_ms - warm, end_ms)
        if settings.external_events
        else []
    )
    externals += [x for inst in instances for x in scenario_context(project, inst)]
    schemas = project.schemas()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--out {out}: cannot create the folder ({exc.strerror}). Choose a writable path."
        ) from exc
    sink = FileSink(
        out,
        fmt,  # type: ignore[arg-type]
        schemas,
        settings.seed,
        key_fields(project, domains),
    )
    complete = False
    reached = start_ms - warm  # the sim instant every file is written up to
    try:
        with sim_progress("generate", start_ms - warm, start_ms, end_ms) as advance:
            try:
                counts = (
                    IntervalCounts(start_ms, stats.interval, span // stats.interval, {})
                    if stats
                    else None
                )
                # chaos is keyed by (seed, topic, tick) with one shard for the merged run
                encoders = encoders_for(schemas, None)
                chaos = {d: Chaos(settings.seed, -1, d, encoders) for d in domains}
                topic_domain = {
                    project.spec(d).topic(s): d for d in domains for s in project.spec(d).streams
                }
                chaos_truth: dict[str, list[dict[str, object]]] = {d: [] for d in domains}
                # what is in force when, as a live fleet under the same control history has it
                forces = Forces(acting(instances, externals))
                for t0, t1, batches in backfill_ticks(
                    [project.spec(d) for d in domains],
                    start_ms - warm,
                    end_ms,
                    settings.seed,
                    settings.scale,
                    settings.shards,
                    forces,
                    progress=advance,
                    emit_from=start_ms,
                    schemas=schemas,
                    labels_until=LABELS_ALL if labels_until == "all" else None,
                    feedback=decider,
                ):
                    reached = t0  # every file holds the run up to here
                    in_force = forces.chaos(t0)
                    if in_force:
                        calm = []
                        for b in batches:
                            # ground truth (a journey's episodes) is labels, not traffic: no chaos
                            d = None if b.is_truth else topic_domain.get(b.topic)
                            if d is None:
                                calm.append(b)
                                continue
                            ch = chaos[d]
                            actions = ch.actions_for(in_force, b.topic)
                            if not actions:
                                calm.append(b)
                                continue
                            encoded, truth = ch.apply(b, t0, actions, t1)
                            sink.write_encoded(encoded)
                            chaos_truth[ch.domain] += truth
                        sink.write(calm)
                    else:
                        sink.write(batches)
                    for ch in chaos.values():
                        if ch.held:
                            sink.write_encoded(ch.due(t1))
                    if counts is not None:
                        for b in batches:
                            counts.add(b)
                if stats is not None and counts is not None:
                    rows = stats.metrics(counts, stats.factor_for(settings.scale))
                    for d in domains:
                        sink.write_records(metrics_topic(d), [r for r in rows if r["domain"] == d])
                for ch in chaos.values():
                    sink.write_encoded(ch.drain())
                by_topic: dict[str, list[dict[str, object]]] = {}
                for topic, record in due(project, domains, externals, instances, start_ms, end_ms):
                    by_topic.setdefault(topic, []).append(record)
                for d, rows in chaos_truth.items():
                    by_topic.setdefault(truth_topic(d), []).extend(rows)
                for topic, records in by_topic.items():
                    sink.write_records(topic, records)
                drifts = [json.loads(r["detail"]) for inst in instances for r in drift_truth(inst)]
                if drifts:
                    # the drift manifest of the run, as on ground truth (kind `drift`)
                    (out / "drift_manifest.json").write_text(json.dumps(drifts, indent=2) + "\n")
                complete = True
            finally:
                paths = sink.close(complete)
    except OSError as exc:
        done = (reached - start_ms + warm) / (end_ms - start_ms + warm)
        raise _write_failed(out, exc, sink.discarded_bytes, done, reached) from exc
    except KeyboardInterrupt:
        typer.echo(
            f"interrupted at sim {format_ms(reached)[:19]}Z after {sum(sink.counts.values()):,} "
            f"events: nothing was kept in {out}/ (the partial files are removed, so no file "
            "holds a part of the run). The same flags write the same records again.",
            err=True,
        )
        raise typer.Exit(130) from None
    total = sum(sink.counts.values())
    typer.echo(f"wrote {total:,} events in {len(paths)} files to {out}/", err=True)
    for p in paths:
        typer.echo(f"  {p.name}: {sink.counts[p.name.rsplit('.', 1)[0]]:,}", err=True)


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


def _write_failed(out: Path, exc: OSError, written: int, done: float, reached: int) -> SimError:
    """One paragraph for a write that failed mid-run (a full disk, a quota, a lost mount)."""
    need = f"about {_mib(written / done)} in all" if done > 0.001 else "more than that"
    return OutputError(
        f"Writing to --out {out} failed at sim {format_ms(reached)[:19]}Z "
        f"({exc.strerror or exc}): {_mib(written)} were written for {done:.0%} of the run, so "
        f"it needs {need}. Nothing was kept: the partial files are removed. Free the space "
        "(or choose another --out) and run the same command again; it writes the same records."
    )


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"
