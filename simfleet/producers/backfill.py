"""Backfill: run every shard of one or more domains between two sim instants as fast as possible.

Ticks are fixed (default one sim hour), shards run in order and each tick's batches are merged
per topic and sorted by ``occurred_at``, so the same arguments give the same events in the same
order. Used by ``simctl generate`` (files) and by the bench (Kafka).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import numpy.typing as npt

from simfleet.codec.catalog import SchemaSet
from simfleet.columns import Batch, concat_columns, take_column
from simfleet.domain.pack import Project
from simfleet.domain.params import ParamGraph
from simfleet.domain.spec import DomainSpec
from simfleet.producers.engine import ShardEngine
from simfleet.producers.runtime import modifiers_at
from simfleet.scenarios import ScenarioInstance, campaigns_at

__all__ = ["DEFAULT_TICK_MS", "LABELS_ALL", "backfill", "backfill_ticks", "merge_batches"]

DEFAULT_TICK_MS = 3_600_000
LABEL_TICK_MS = 86_400_000
LABELS_ALL = np.iinfo(np.int64).max  # ``labels_until``: every label, however late


def merge_batches(batches: Sequence[Batch]) -> list[Batch]:
    """One batch per topic, rows sorted by ``occurred_at`` (stable: shard order breaks ties)."""
    by_topic: dict[str, list[Batch]] = {}
    for b in batches:
        by_topic.setdefault(b.topic, []).append(b)
    out = []
    for group in by_topic.values():
        if len(group) == 1:
            out.append(group[0])
            continue
        names = list(group[0].columns)
        cols = {k: concat_columns([b.columns[k] for b in group]) for k in names}
        times = cols["occurred_at"]
        assert isinstance(times, np.ndarray)
        order = np.argsort(times, kind="stable")
        cols = {k: take_column(c, order) for k, c in cols.items()}
        first = group[0]
        out.append(Batch(first.stream, first.topic, len(order), cols, first.key_field))
    return out


RAMP_STEPS = 6  # ticks a short ramp or settle curve is cut into
SHORT_MS = 15 * 60_000  # a scenario that moves within less than this gets finer ticks


def _spans(inst: ScenarioInstance) -> list[int]:
    spec = inst.spec
    out = [p.ramp for p in spec.phases] + [p.duration or 0 for p in spec.phases]
    out += [spec.settle.duration, spec.settle.backlog.duration if spec.settle.backlog else 0]
    return [x for x in out if x > 0]


def change_instants(scenarios: Sequence[ScenarioInstance], domain: str) -> npt.NDArray[np.int64]:
    """Sorted instants where the parameters of ``domain`` move fast: for each scenario of the
    domain (its own, or moving its parameters) that ramps, lasts or settles within less than
    ``SHORT_MS``, its start, phase boundaries, stop and six steps of each ramp and settle curve.
    Parameters are evaluated once per tick: an hour-long tick would miss a five-minute ramp.
    Other scenarios keep the fixed ticks."""
    out: list[int] = []
    for inst in scenarios:
        targets = {m.target.split(".", 1)[0] for p in inst.spec.phases for m in p.modifiers}
        if inst.spec.domain != domain and domain not in targets and "*" not in targets:
            continue
        if not any(x < SHORT_MS for x in _spans(inst)):
            continue
        t = inst.started_at
        for phase in inst.spec.phases:
            out += [t + phase.ramp * k // RAMP_STEPS for k in range(RAMP_STEPS + 1)]
            if phase.duration is None:
                break
            t += phase.duration
        end = inst.end_ms
        if end is not None:
            out.append(end)
            settle = inst.spec.settle
            spans = [settle.duration, settle.backlog.duration if settle.backlog else 0]
            out += [end + s * k // RAMP_STEPS for s in spans for k in range(1, RAMP_STEPS + 1)]
    return np.unique(np.asarray(out, dtype=np.int64))


def backfill(
    domains: DomainSpec | Sequence[DomainSpec],
    start_ms: int,
    end_ms: int,
    seed: int,
    scale: float = 1.0,
    shards: int = 8,
    scenarios: Sequence[ScenarioInstance] = (),
    tick_ms: int = DEFAULT_TICK_MS,
    progress: Callable[[int], None] | None = None,
    merge: bool = True,
    emit_from: int | None = None,
    schemas: SchemaSet | None = None,
    labels_until: int | None = None,
) -> Iterator[list[Batch]]:
    """Yield, tick by tick, the batches of all shards (``backfill_ticks`` without the ticks)."""
    for _t0, _t1, batches in backfill_ticks(
        domains,
        start_ms,
        end_ms,
        seed,
        scale,
        shards,
        scenarios,
        tick_ms,
        progress,
        merge,
        emit_from,
        schemas,
        labels_until,
    ):
        yield batches


def backfill_ticks(
    domains: DomainSpec | Sequence[DomainSpec],
    start_ms: int,
    end_ms: int,
    seed: int,
    scale: float = 1.0,
    shards: int = 8,
    scenarios: Sequence[ScenarioInstance] = (),
    tick_ms: int = DEFAULT_TICK_MS,
    progress: Callable[[int], None] | None = None,
    merge: bool = True,
    emit_from: int | None = None,
    schemas: SchemaSet | None = None,
    labels_until: int | None = None,
) -> Iterator[tuple[int, int, list[Batch]]]:
    """Yield, tick by tick with the tick's ``[t0, t1)``, the batches of all shards: merged per
    topic and sorted (files), or shard by shard as a fleet's workers produce them
    (``merge=False``, for Kafka).

    With ``emit_from``, the ticks before it are a warm-up: generated (queues fill, entities
    activate) but not yielded; a tick ends at ``emit_from`` so nothing before it leaks out."""
    specs = [domains] if isinstance(domains, DomainSpec) else list(domains)
    if schemas is None:
        schemas = Project().schemas()
    mods = modifiers_at(scenarios)
    # each domain's engines draw from their own (seed, shard, domain, stream) streams, so adding
    # a domain to a run changes nothing in another domain's output
    runs = [
        (
            ParamGraph.from_domain(spec),
            [ShardEngine(spec, s, shards, seed, scale, schemas=schemas) for s in range(shards)],
        )
        for spec in specs
    ]
    # each domain cuts its ticks where its own parameters move fast: never another's
    breaks = [change_instants(scenarios, spec.domain) for spec in specs]
    t = start_ms
    while t < end_ms:
        t1 = min(end_ms, t + tick_ms)
        if emit_from is not None and t < emit_from < t1:
            t1 = emit_from
        batches: list[Batch] = []
        for (graph, engines), cuts in zip(runs, breaks, strict=True):
            inner = cuts[(cuts > t) & (cuts < t1)].tolist()
            for a, b in zip([t, *inner], [*inner, t1], strict=True):
                params = graph.evaluate(a, mods)
                for eng in engines:
                    acting = campaigns_at(scenarios, eng.domain.domain, a, b)
                    batches.extend(eng.tick(a, b, params, acting))
        if emit_from is None or t >= emit_from:
            yield t, t1, merge_batches(batches) if merge else batches
        if progress is not None:
            progress(t1)
        t = t1
    if labels_until is None:
        return
    while t < labels_until and any(e.pending_labels for _, engines in runs for e in engines):
        t1 = min(labels_until, t + LABEL_TICK_MS)
        batches = []
        for graph, engines in runs:
            params = graph.evaluate(t, mods)
            for eng in engines:
                batches.extend(eng.labels(t, t1, params))
        yield t, t1, merge_batches(batches) if merge else batches
        t = t1
