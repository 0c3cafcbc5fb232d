"""Campaigns: a group of actors with their own behaviour for a window (an attack), flowing
through the domain's own streams.

When a campaign first acts in a shard, it takes its actors per entity kind (new entities,
activated at once, or active ones), each kind from its own random stream keyed by (seed,
shard, scenario instance, campaign). Its events of a stream come at its own rate (packed in
bursts if it says so), draw every entity field of an actor kind among the actors, take the
campaign's field generators over the stream's own, and carry the campaign's tags to every
follow-up. A campaign draws from its own random streams only: the domain's usual traffic is
the same with or without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from simfleet.codec.catalog import FieldType
from simfleet.columns import Column, StrTable, TableStrings
from simfleet.domain.spec import DomainSpec, FieldSpec
from simfleet.errors import DomainError
from simfleet.producers.engine.fields import StreamRuntime, as_table_strings
from simfleet.producers.pools import EntityPool, stable_hash
from simfleet.scenarios import CampaignStream, CampaignWindow

__all__ = ["CampaignRun", "as_tag", "burst_times", "start_campaign"]

HIDDEN = FieldType("str", True)  # a tag the stream's schema lacks: carried, never written


@dataclass
class CampaignRun:
    """A campaign in one shard: its actors and, per stream, a runtime drawing from the
    campaign's own random stream with the campaign's generators."""

    window: CampaignWindow
    actors: dict[str, npt.NDArray[np.int64]]
    runtimes: dict[str, StreamRuntime]
    overrides: dict[str, dict[str, FieldSpec]]
    rng: np.random.Generator
    tags: dict[str, TableStrings]


def start_campaign(
    w: CampaignWindow,
    domain: DomainSpec,
    streams: Mapping[str, StreamRuntime],
    pools: Mapping[str, EntityPool],
    seed: int,
    shard: int,
    shards: int,
    scale: float,
    t0: int,
) -> CampaignRun:
    """The campaign's run in this shard, its actors taken at ``t0``."""
    c = w.campaign
    actors: dict[str, npt.NDArray[np.int64]] = {}
    for kind, a in c.actors.items():
        pool = pools[kind]
        rng = np.random.default_rng([seed, shard, stable_hash("campaign", w.key, kind)])
        k = max(1, round(a.count * scale / shards))
        cand = pool.candidates("inactive", t0) if a.new else np.flatnonzero(pool.active)
        for name, value in a.where.items():
            table, codes = pool.attributes[name]
            cand = cand[codes[cand] == table.lookup.get(value, -1)]
        if len(cand) == 0 and a.where:
            actors[kind] = np.empty(0, dtype=np.int64)  # none here: the campaign acts elsewhere
            continue
        if len(cand) == 0:
            raise DomainError(
                f"campaign {w.key}: no {'inactive' if a.new else 'active'} {kind} left to "
                f"act; give entities.{kind} a larger `reserve` or fewer actors"
            )
        idx = rng.choice(cand, size=min(k, len(cand)), replace=False).astype(np.int64)
        if a.new:
            pool.reserved[idx] = True
            for name, value in a.attributes.items():
                table, codes = pool.attributes[name]
                codes[idx] = table.lookup[value]
            pool.activate(idx, np.full(len(idx), w.start, dtype=np.int64))
        actors[kind] = idx
    runtimes: dict[str, StreamRuntime] = {}
    overrides: dict[str, dict[str, FieldSpec]] = {}
    for sname, cs in c.streams.items():
        rt = streams[sname]
        over = {f: FieldSpec.model_validate(raw) for f, raw in cs.fields.items()}
        tables = dict(rt.tables)
        types = dict(rt.types)
        for f, spec in over.items():
            types.setdefault(f, HIDDEN)
            tables.pop(f, None)
            if spec.choice is not None or isinstance(spec.const, str):
                values = spec.choice if spec.choice is not None else (spec.const,)
                tables[f] = StrTable(tuple(str(v) for v in values))
        rng = np.random.default_rng([seed, shard, stable_hash("campaign", w.key, sname)])
        runtimes[sname] = replace(rt, rng=rng, tables=tables, types=types)
        overrides[sname] = over
    tags = {k: TableStrings(StrTable((_text(v),)), np.zeros(0, np.int64)) for k, v in c.set.items()}
    del domain
    rng = np.random.default_rng([seed, shard, stable_hash("campaign", w.key)])
    return CampaignRun(w, actors, runtimes, overrides, rng, tags)


def _text(v: object) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def burst_times(
    cs: CampaignStream,
    w: CampaignWindow,
    rng: np.random.Generator,
    lo: int,
    hi: int,
    share: float,
) -> npt.NDArray[np.int64]:
    """The campaign's event times of one stream in ``[lo, hi)``, sorted: Poisson at its rate,
    or, with bursts, at ``rate x every / length`` within the bursts only."""
    if cs.burst is None:
        spans = [(lo, hi)]
        rate = cs.rate
    else:
        every, length = cs.burst.every, cs.burst.length
        first = (lo - w.start) // every
        spans = []
        b = w.start + first * every
        while b < hi:
            s, e = max(lo, b), min(hi, b + length)
            if e > s:
                spans.append((s, e))
            b += every
        rate = cs.rate * every / length
    total = sum(e - s for s, e in spans)
    if total <= 0:
        return np.zeros(0, dtype=np.int64)
    n = int(rng.poisson(rate * share * total / 1000.0))
    pos = np.sort(rng.integers(0, total, n, dtype=np.int64))
    starts = np.asarray([s for s, _ in spans], dtype=np.int64)
    ends = np.cumsum([e - s for s, e in spans])
    which = np.searchsorted(ends, pos, side="right")
    before = np.r_[0, ends[:-1]]
    out: npt.NDArray[np.int64] = starts[which] + pos - before[which]
    return out


def as_tag(col: Column) -> TableStrings:
    """A hidden tag column as strings (entity ids, choices, numbers)."""
    return as_table_strings(col)
