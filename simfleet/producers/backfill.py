"""Backfill: run every shard of one or more domains between two sim instants as fast as possible.

Ticks are fixed (default one sim hour), shards run in order and each tick's batches are merged
per topic and sorted by ``occurred_at``, so the same arguments give the same events in the same
order. Used by ``simctl generate`` (files) and by the bench (Kafka). The ticking itself, and
what is in force when, is ``producers.ticking``'s, shared with the live worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from simfleet.codec.catalog import SchemaSet
from simfleet.columns import Batch, concat_columns, take_column
from simfleet.domain.pack import Project
from simfleet.domain.params import ParamGraph
from simfleet.domain.spec import DomainSpec
from simfleet.producers.engine import ShardEngine
from simfleet.producers.engine.feedback import Decisions
from simfleet.producers.ticking import HOUR_TICK_MS, Fixed, Forces, Grid, Ticker
from simfleet.scenarios import ScenarioInstance

__all__ = ["DEFAULT_TICK_MS", "LABELS_ALL", "backfill", "backfill_ticks", "merge_batches"]

DEFAULT_TICK_MS = HOUR_TICK_MS
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


def backfill(
    domains: DomainSpec | Sequence[DomainSpec],
    start_ms: int,
    end_ms: int,
    seed: int,
    scale: float = 1.0,
    shards: int = 8,
    scenarios: Sequence[ScenarioInstance] | Forces = (),
    tick_ms: int = DEFAULT_TICK_MS,
    progress: Callable[[int], None] | None = None,
    merge: bool = True,
    emit_from: int | None = None,
    schemas: SchemaSet | None = None,
    labels_until: int | None = None,
    feedback: str | Decisions | None = None,
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
        feedback,
    ):
        yield batches


def backfill_ticks(
    domains: DomainSpec | Sequence[DomainSpec],
    start_ms: int,
    end_ms: int,
    seed: int,
    scale: float = 1.0,
    shards: int = 8,
    scenarios: Sequence[ScenarioInstance] | Forces = (),
    tick_ms: int = DEFAULT_TICK_MS,
    progress: Callable[[int], None] | None = None,
    merge: bool = True,
    emit_from: int | None = None,
    schemas: SchemaSet | None = None,
    labels_until: int | None = None,
    feedback: str | Decisions | None = None,
) -> Iterator[tuple[int, int, list[Batch]]]:
    """Yield, tick by tick with the tick's ``[t0, t1)``, the batches of all shards: merged per
    topic and sorted (files), or shard by shard as a fleet's workers produce them
    (``merge=False``, for Kafka).

    ``scenarios``: the instances acting (scenarios, causal external events), or their
    ``Forces`` when the caller reads the same forces (generate: the chaos in force).
    ``feedback``: the decider of the closed loop (`reference`, or a model's ``Decisions``)
    for packs that declare one.

    With ``emit_from``, the ticks before it are a warm-up: generated (queues fill, entities
    activate) but not yielded; a tick ends at ``emit_from`` so nothing before it leaks out."""
    specs = [domains] if isinstance(domains, DomainSpec) else list(domains)
    if schemas is None:
        schemas = Project().schemas()
    forces = scenarios if isinstance(scenarios, Forces) else Forces(scenarios)
    ticker = Ticker({spec.domain: ParamGraph.from_domain(spec) for spec in specs}, Fixed(forces))
    # each domain's engines draw from their own (seed, shard, domain, stream) streams, so adding
    # a domain to a run changes nothing in another domain's output
    engines = [
        ShardEngine(spec, s, shards, seed, scale, schemas=schemas, feedback=feedback)
        for spec in specs
        for s in range(shards)
    ]
    t = start_ms
    for t0, t1 in Grid(tick_ms, seam=emit_from, end=end_ms).ticks(start_ms, end_ms):
        # each domain cuts its ticks where its own parameters move fast: never another's
        batches = [b for step in ticker.between(engines, t0, t1) for b in step.batches]
        if emit_from is None or t0 >= emit_from:
            yield t0, t1, merge_batches(batches) if merge else batches
        if progress is not None:
            progress(t1)
        t = t1
    if labels_until is None:
        return
    while t < labels_until and any(e.pending_labels for e in engines):
        t1 = min(labels_until, t + LABEL_TICK_MS)
        batches = ticker.labels(engines, t, t1)
        yield t, t1, merge_batches(batches) if merge else batches
        t = t1
