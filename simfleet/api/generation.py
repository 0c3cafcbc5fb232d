"""The generate pipeline, shared by `simctl generate` and `Simulation`: the engines over fixed
ticks between two sim instants, chaos on the way out, external events, ground truth and the
optional metrics, as an ordered stream of writes.

A consumer of the stream decides where the writes go: `write_files` hands them to a
`FileSink` (the CLI's files), `Simulation.generate` turns them into in-memory record batches.
Both see the same writes in the same order, so the files and the batches hold the same records.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from simfleet.codec import encoders_for
from simfleet.columns import Batch
from simfleet.domain.pack import Project
from simfleet.errors import ConfigError, OutputError, SimError
from simfleet.limits import check_scale, check_sim_span
from simfleet.orchestrator.baseline import BaselineStats, IntervalCounts
from simfleet.orchestrator.catalog import get_scenario
from simfleet.orchestrator.timeline import acting, drift_truth, due, scenario_context, scheduled
from simfleet.orchestrator.transitions import check_scenario
from simfleet.producers.backfill import LABELS_ALL, backfill_ticks
from simfleet.producers.chaos import Chaos, Encoded
from simfleet.producers.engine.feedback import Decisions
from simfleet.producers.sinks import FileSink
from simfleet.producers.ticking import Forces
from simfleet.scenarios import ScenarioInstance
from simfleet.timeutil import format_ms
from simfleet.topology import key_fields, metrics_topic, truth_topic

__all__ = [
    "GenerationInterrupted",
    "Plan",
    "Write",
    "plan_run",
    "run_writes",
    "write_files",
]


@dataclass(frozen=True)
class Plan:
    """One generate run, checked: what to run, between which instants, with which scenario."""

    project: Project
    domains: tuple[str, ...]
    seed: int
    scale: float
    shards: int
    external_events: bool
    start_ms: int
    end_ms: int
    warmup_ms: int = 0
    instances: tuple[ScenarioInstance, ...] = ()
    stats: BaselineStats | None = None
    labels_all: bool = False
    # the closed loop's decider: `reference` (the pack's rules in process) or a model's
    # decisions; None: no loop
    feedback: str | Decisions | None = None

    @property
    def first_ms(self) -> int:
        """Where the engines start (the warm-up included)."""
        return self.start_ms - self.warmup_ms


def plan_run(
    project: Project,
    domains: tuple[str, ...],
    *,
    seed: int,
    scale: float,
    shards: int,
    external_events: bool,
    start_ms: int,
    duration_ms: int,
    warmup_ms: int = 0,
    scenario: str | None = None,
    scenario_at_ms: int | None = None,
    scenario_stop_at_ms: int | None = None,
    stats: BaselineStats | None = None,
    labels_all: bool = False,
    feedback: str | Decisions | None = None,
) -> Plan:
    """A checked plan: the span, the scale and the scenario against the project (a ConfigError
    or ScenarioError naming what to change otherwise)."""
    if duration_ms <= 0:
        raise ConfigError("--duration must be above 0, e.g. 6h or 3d.")
    check_sim_span(start_ms - warmup_ms, start_ms + duration_ms)
    check_scale(project, domains, scale)
    instances: list[ScenarioInstance] = []
    if scenario is not None:
        sc = get_scenario(scenario, project)
        check_scenario(sc, project, domains)
        at = scenario_at_ms if scenario_at_ms is not None else start_ms + duration_ms // 4
        instances.append(ScenarioInstance(spec=sc, started_at=at, stop_at=scenario_stop_at_ms))
    elif scenario_at_ms is not None or scenario_stop_at_ms is not None:
        raise ConfigError("--scenario-at and --scenario-stop-at need --scenario ID.")
    return Plan(
        project,
        domains,
        seed,
        scale,
        shards,
        external_events,
        start_ms,
        start_ms + duration_ms,
        warmup_ms,
        tuple(instances),
        stats,
        labels_all,
        feedback,
    )


@dataclass(frozen=True)
class Write:
    """One write of the run, in order: ``batches`` (engine columns), ``encoded`` (framed
    records that went through chaos) or ``records`` (plain records of one ``topic``)."""

    kind: Literal["batches", "encoded", "records"]
    batches: list[Batch] = field(default_factory=list)
    encoded: list[Encoded] = field(default_factory=list)
    topic: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)

    def to(self, sink: FileSink) -> None:
        """Hand this write to a file sink."""
        if self.kind == "batches":
            sink.write(self.batches)
        elif self.kind == "encoded":
            sink.write_encoded(self.encoded)
        else:
            sink.write_records(self.topic, self.records)


@dataclass
class Progress:
    """How far a run got: the sim instant every write so far covers, and its drift manifest."""

    reached_ms: int
    drifts: list[Any] = field(default_factory=list)


def run_writes(
    plan: Plan, progress: Callable[[int], None] | None = None, at: Progress | None = None
) -> Iterator[Write]:
    """The run's writes in order. ``at`` (when given) follows the sim instant reached and, at
    the end, holds the drift manifest (the scenario's drifts, as on ground truth)."""
    project, domains, seed = plan.project, plan.domains, plan.seed
    start_ms, end_ms = plan.start_ms, plan.end_ms
    instances = list(plan.instances)
    # external events of the warm-up act on it but are not written (they are before start)
    externals = (
        scheduled(project, domains, seed, plan.first_ms, end_ms) if plan.external_events else []
    )
    externals += [x for inst in instances for x in scenario_context(project, inst)]
    schemas = project.schemas()
    stats = plan.stats
    counts = (
        IntervalCounts(start_ms, stats.interval, (end_ms - start_ms) // stats.interval, {})
        if stats
        else None
    )
    # chaos is keyed by (seed, topic, tick) with one shard for the merged run
    encoders = encoders_for(schemas, None)
    chaos = {d: Chaos(seed, -1, d, encoders) for d in domains}
    topic_domain = {project.spec(d).topic(s): d for d in domains for s in project.spec(d).streams}
    chaos_truth: dict[str, list[dict[str, object]]] = {d: [] for d in domains}
    # what is in force when, as a live fleet under the same control history has it
    forces = Forces(acting(instances, externals))
    for t0, t1, batches in backfill_ticks(
        [project.spec(d) for d in domains],
        plan.first_ms,
        end_ms,
        seed,
        plan.scale,
        plan.shards,
        forces,
        progress=progress,
        emit_from=start_ms,
        schemas=schemas,
        labels_until=LABELS_ALL if plan.labels_all else None,
        feedback=plan.feedback,
    ):
        if at is not None:
            at.reached_ms = t0  # every write so far holds the run up to here
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
                yield Write("encoded", encoded=encoded)
                chaos_truth[ch.domain] += truth
            yield Write("batches", batches=calm)
        else:
            yield Write("batches", batches=batches)
        for ch in chaos.values():
            if ch.held:
                yield Write("encoded", encoded=ch.due(t1))
        if counts is not None:
            for b in batches:
                counts.add(b)
    if stats is not None and counts is not None:
        rows = stats.metrics(counts, stats.factor_for(plan.scale))
        for d in domains:
            yield Write(
                "records", topic=metrics_topic(d), records=[r for r in rows if r["domain"] == d]
            )
    for ch in chaos.values():
        yield Write("encoded", encoded=ch.drain())
    by_topic: dict[str, list[dict[str, object]]] = {}
    for topic, record in due(project, domains, externals, instances, start_ms, end_ms):
        by_topic.setdefault(topic, []).append(record)
    for d, rows in chaos_truth.items():
        by_topic.setdefault(truth_topic(d), []).extend(rows)
    for topic, records in by_topic.items():
        yield Write("records", topic=topic, records=records)
    if at is not None:
        at.drifts = [json.loads(r["detail"]) for inst in instances for r in drift_truth(inst)]


class GenerationInterrupted(KeyboardInterrupt):
    """Ctrl-C during `write_files`: nothing was kept; how far the run got, and how many events
    the removed files held."""

    def __init__(self, reached_ms: int, events: int) -> None:
        super().__init__(reached_ms, events)
        self.reached_ms = reached_ms
        self.events = events


@dataclass(frozen=True)
class Written:
    """The files a complete run wrote, and the records in each (by topic or file stem)."""

    paths: list[Path]
    counts: dict[str, int]


def write_files(
    plan: Plan,
    out: Path,
    fmt: str,
    progress: Callable[[int], None] | None = None,
    written: Callable[[int, int], None] | None = None,
) -> Written:
    """Run ``plan`` into ``out`` (one file per topic, jsonl or avro). All or nothing: an error
    or Ctrl-C removes every partial file (OutputError / GenerationInterrupted say how far).
    ``progress(t)`` follows the engines; ``written(t, events)`` each hour written."""
    if fmt not in ("jsonl", "avro"):
        raise ConfigError(f"--format must be jsonl or avro, not {fmt!r}.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--out {out}: cannot create the folder ({exc.strerror}). Choose a writable path."
        ) from exc
    sink = FileSink(
        out,
        fmt,  # type: ignore[arg-type]
        plan.project.schemas(),
        plan.seed,
        key_fields(plan.project, plan.domains),
    )
    complete = False
    at = Progress(plan.first_ms)
    try:
        try:
            told = at.reached_ms
            for write in run_writes(plan, progress, at):
                write.to(sink)
                if written is not None and at.reached_ms != told:
                    told = at.reached_ms
                    written(told, sum(sink.counts.values()))
            if at.drifts:
                # the drift manifest of the run, as on ground truth (kind `drift`)
                (out / "drift_manifest.json").write_text(json.dumps(at.drifts, indent=2) + "\n")
            complete = True
        finally:
            paths = sink.close(complete)
    except OSError as exc:
        span = plan.end_ms - plan.first_ms
        raise _write_failed(
            out, exc, sink.discarded_bytes, (at.reached_ms - plan.first_ms) / span, at.reached_ms
        ) from exc
    except KeyboardInterrupt:
        raise GenerationInterrupted(at.reached_ms, sum(sink.counts.values())) from None
    return Written(paths, dict(sink.counts))


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
