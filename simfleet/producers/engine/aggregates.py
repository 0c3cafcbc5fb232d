"""Aggregate streams: periodic summaries (count, distinct, sum, mean, min, max) of other streams.

An aggregate remembers the events of its source streams it has not summarised yet, and emits one
row per group (one per shard without ``group_by``) for every period whose boundary, plus the
stream's jitter offset, falls in the tick. Summaries draw nothing from a random stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from simfleet.codec.catalog import FieldType
from simfleet.columns import (
    Column,
    MaskedNumbers,
    StrTable,
    TableStrings,
    concat_columns,
    take_column,
)
from simfleet.domain.spec import AggregateSpec
from simfleet.errors import DomainError
from simfleet.producers.engine.fields import StreamRuntime
from simfleet.producers.pools import stable_hash

__all__ = ["AggRuntime", "Held", "agg_runtime", "aggregate", "summarise"]


I32 = np.iinfo(np.int32)


@dataclass(frozen=True)
class Held:
    """One tick's events of a source, held until their periods are summarised (a day's worth
    for a daily aggregate): times as int32 offsets from the chunk's first, string columns as
    int32 indices, so a held event costs half what the tick's columns do."""

    base: int
    at: npt.NDArray[np.signedinteger[Any]]  # occurred_at - base
    cols: dict[str, Column]  # the columns not narrowed
    codes: dict[str, tuple[StrTable, npt.NDArray[np.int32]]]  # string columns, narrowed

    @staticmethod
    def of(times: npt.NDArray[np.int64], cols: Mapping[str, Column]) -> Held:
        """Hold these events (``times`` sorted ascending, as a batch's ``occurred_at``)."""
        base = int(times[0]) if len(times) else 0
        span = int(times[-1]) - base if len(times) else 0
        at: npt.NDArray[np.signedinteger[Any]] = (times - base).astype(
            np.int32 if span <= I32.max else np.int64
        )
        codes = {
            k: (c.table, c.idx.astype(np.int32))
            for k, c in cols.items()
            if isinstance(c, TableStrings) and len(c.table) <= I32.max
        }
        return Held(base, at, {k: c for k, c in cols.items() if k not in codes}, codes)

    def times(self) -> npt.NDArray[np.int64]:
        """The events' occurred_at."""
        return self.at.astype(np.int64) + self.base

    def columns(self, sel: npt.NDArray[np.bool_] | None = None) -> dict[str, Column]:
        """The held columns (rows ``sel``) as the tick made them."""
        out = {k: c if sel is None else take_column(c, sel) for k, c in self.cols.items()}
        for k, (table, idx) in self.codes.items():
            out[k] = TableStrings(table, (idx if sel is None else idx[sel]).astype(np.int64))
        return out

    def keep(self, sel: npt.NDArray[np.bool_]) -> Held:
        """The rows ``sel`` only."""
        return Held(
            self.base,
            self.at[sel],
            {k: take_column(c, sel) for k, c in self.cols.items()},
            {k: (t, idx[sel]) for k, (t, idx) in self.codes.items()},
        )


@dataclass
class AggRuntime:
    """What an aggregate stream has seen of its sources and not yet summarised."""

    spec: AggregateSpec
    offset: int
    seen: dict[str, list[Held]]  # per source stream: the events held, a chunk per tick
    needs: dict[str, list[str]]
    shard_table: StrTable


def agg_runtime(
    name: str,
    agg: AggregateSpec,
    streams: Mapping[str, StreamRuntime],
    seed: int,
    shard: int,
) -> AggRuntime:
    """The runtime of aggregate stream ``name`` of one shard; checks its sources' fields."""
    needs: dict[str, list[str]] = {src: [] for src in agg.sources()}
    for m in agg.metrics.values():
        src = m.source or agg.source
        if agg.group_by is not None and agg.group_by not in needs[src]:
            needs[src].append(agg.group_by)
        if m.field is not None and m.field not in needs[src]:
            needs[src].append(m.field)
    for src, fields in needs.items():
        missing = [f for f in fields if f not in streams[src].types]
        if missing:
            raise DomainError(f"aggregate {name}: stream {src} has no field(s) {missing}")
    jitter = agg.jitter if agg.jitter is not None else min(agg.every // 6, 1_800_000)
    offset = stable_hash("jitter", seed, streams[name].topic) % max(jitter, 1)
    return AggRuntime(
        agg, offset, {src: [] for src in needs}, needs, StrTable((f"shard-{shard:03d}",))
    )


def aggregate(
    name: str,
    agg: AggRuntime,
    out: Mapping[str, list[dict[str, Column]]],
    t0: int,
    t1: int,
    start: int,
    types: Mapping[str, FieldType],
) -> list[tuple[npt.NDArray[np.int64], dict[str, Column]]]:
    """Remember this tick's source events; summarise every period whose boundary plus
    offset falls in [t0, t1).

    ``out``: this tick's events by stream; ``start``: the first tick's start (no period ends
    before it); ``types``: the aggregate stream's field types. Returns, per summarised period,
    the emission times and the summary columns (the caller makes the events from them).
    """
    for src, fields in agg.needs.items():
        for cols in out.get(src, ()):
            times = cols["occurred_at"]
            assert isinstance(times, np.ndarray)
            agg.seen[src].append(Held.of(times, {f: cols[f] for f in fields}))
    every = agg.spec.every
    first = ((t0 - agg.offset) // every + (1 if (t0 - agg.offset) % every else 0)) * every
    emitted: list[tuple[npt.NDArray[np.int64], dict[str, Column]]] = []
    b = first
    while b + agg.offset < t1:
        if b > start:
            summary = summarise(name, agg, b - every, b, types)
            if summary is not None:
                at = np.full(len(summary["period_start"]), b + agg.offset, dtype=np.int64)
                emitted.append((at, summary))
        b += every
    # forget what every emitted period covered
    horizon = b - every
    for src, chunks in agg.seen.items():
        kept = []
        for held in chunks:
            keep = held.times() >= horizon
            if keep.all():
                kept.append(held)
            elif keep.any():
                kept.append(held.keep(keep))
        agg.seen[src] = kept
    return emitted


def unique_inverse(
    idx: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``np.unique(idx, return_inverse=True)`` as int64 arrays; by counting, not sorting,
    when the indices are non-negative and dense (a table's rows, the usual case)."""
    n = len(idx)
    if n and int(idx.min()) >= 0 and int(idx.max()) < 4 * n + 1024:
        present = np.bincount(idx) > 0
        rank = np.cumsum(present) - 1
        return np.flatnonzero(present).astype(np.int64), rank[idx].astype(np.int64)
    uniq, inv = np.unique(idx, return_inverse=True)
    return uniq.astype(np.int64), inv.reshape(-1).astype(np.int64)


def summarise(
    name: str, agg: AggRuntime, lo: int, hi: int, types: Mapping[str, FieldType]
) -> dict[str, Column] | None:
    """The summary rows of period [lo, hi), or None when ``group_by`` finds no group."""
    spec = agg.spec
    rows: dict[str, tuple[int, dict[str, Column]]] = {}
    for src, chunks in agg.seen.items():
        n = 0
        parts = []
        for held in chunks:
            times = held.times()
            sel = (times >= lo) & (times < hi)
            k = int(sel.sum())
            if k:
                n += k
                parts.append(held.columns(sel))
        merged = {f: concat_columns([p[f] for p in parts]) for f in agg.needs[src]} if n else {}
        rows[src] = (n, merged)
    out: dict[str, Column] = {}
    inverse: dict[str, npt.NDArray[np.int64]] = {}
    if spec.group_by is None:
        groups = 1
        for src, (n, _) in rows.items():
            inverse[src] = np.zeros(n, dtype=np.int64)
        out["shard_id"] = TableStrings(agg.shard_table, np.zeros(1, dtype=np.int64))
    else:
        keyed = [(src, cols[spec.group_by]) for src, (n, cols) in rows.items() if n]
        if not keyed:
            return None
        allg = concat_columns([c for _, c in keyed])
        if not isinstance(allg, TableStrings):
            raise DomainError(f"aggregate {name}: group_by must be a string column of ids")
        uniq, inv = unique_inverse(allg.idx)
        groups = len(uniq)
        pos = 0
        for src, c in keyed:
            inverse[src] = inv[pos : pos + len(c)]
            pos += len(c)
        for src in rows:
            inverse.setdefault(src, np.zeros(0, dtype=np.int64))
        out[spec.group_by] = TableStrings(allg.table, uniq.astype(np.int64))
    for mname, m in spec.metrics.items():
        src = m.source or spec.source
        inv = inverse[src]
        counts = np.bincount(inv, minlength=groups)
        value: npt.NDArray[Any]
        if m.op == "count" or len(inv) == 0:
            value = counts.astype(np.float64)  # zeros when the source had no events
        elif m.op == "distinct":
            col = rows[src][1][m.field or ""]
            ids = col.idx if isinstance(col, TableStrings) else np.asarray(col)
            pairs = np.unique(np.stack([inv, ids.astype(np.int64)]), axis=1)
            value = np.bincount(pairs[0], minlength=groups).astype(np.float64)
        else:
            col = rows[src][1][m.field or ""]
            vals = np.asarray(
                col.values if isinstance(col, MaskedNumbers) else col, dtype=np.float64
            )
            if m.op in ("sum", "mean"):
                if m.round is not None:
                    # sum in integer units of the last digit: the total is exact
                    unit = 10.0**m.round
                    units = np.rint(vals * unit).astype(np.int64)
                    total = np.zeros(groups, dtype=np.int64)
                    np.add.at(total, inv, units)
                    value = total / unit
                else:
                    value = np.bincount(inv, weights=vals, minlength=groups)
                if m.op == "mean":
                    value = np.divide(value, counts, out=np.zeros(groups), where=counts > 0)
                    if m.round is not None:
                        value = np.round(value, m.round)
            else:
                fill = np.inf if m.op == "min" else -np.inf
                value = np.full(groups, fill)
                (np.minimum if m.op == "min" else np.maximum).at(value, inv, vals)
                value[~np.isfinite(value)] = 0.0
        out[mname] = np.rint(value).astype(np.int64) if types[mname].kind == "int" else value
    out["period_start"] = np.full(groups, lo, dtype=np.int64)
    return out
