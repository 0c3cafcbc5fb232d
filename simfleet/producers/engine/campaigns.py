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
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from simfleet.codec.catalog import FieldType
from simfleet.columns import Column, StrTable, TableStrings
from simfleet.domain.mechanisms.bursts import burst_schedule
from simfleet.domain.spec import DomainSpec, FieldSpec
from simfleet.errors import DomainError
from simfleet.producers.engine.fields import StreamRuntime, as_table_strings
from simfleet.producers.pools import EntityPool, stable_hash
from simfleet.scenarios import CampaignStream, CampaignWindow

__all__ = ["CampaignRun", "as_tag", "burn", "burst_times", "start_campaign"]

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
    seed: int = 0
    # per stream, the bursts of a point process (not the clock's), drawn at the first use
    schedules: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = field(
        default_factory=dict
    )
    effort: float = 1.0  # the share of the ring's effort on this tactic (closed loop), x rate

    def schedule(
        self, sname: str, cs: CampaignStream
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
        """The bursts of stream ``sname`` over the window, or None on the clock."""
        if cs.burst is None or cs.burst.process == "clock":
            return None
        got = self.schedules.get(sname)
        if got is None:
            # no shard in the key: a ring's burst hits every shard at once
            rng = np.random.default_rng([self.seed, stable_hash("bursts", self.window.key, sname)])
            got = burst_schedule(cs.burst, self.window.start, self.window.end, rng)
            self.schedules[sname] = got
        return got


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
    return CampaignRun(w, actors, runtimes, overrides, rng, tags, seed)


def burn(
    run: CampaignRun,
    pool: EntityPool,
    used: npt.NDArray[np.int64],
    at: int,
    rng: np.random.Generator,
) -> int:
    """Replace the campaign's actors of ``pool``'s kind among ``used`` (entities a blocked
    event used) by fresh ones, drawn as its actors were (new ones activated at ``at``); how
    many were replaced. A kind with no candidate left keeps its actors."""
    kind = pool.kind
    actors = run.actors.get(kind)
    spec = run.window.campaign.actors.get(kind)
    if actors is None or spec is None or len(actors) == 0:
        return 0
    hit = np.flatnonzero(np.isin(actors, used))
    if len(hit) == 0:
        return 0
    cand = pool.candidates("inactive", at) if spec.new else np.flatnonzero(pool.active)
    cand = cand[~np.isin(cand, actors)]
    k = min(len(hit), len(cand))
    if k == 0:
        return 0
    fresh = np.sort(rng.choice(cand, size=k, replace=False)).astype(np.int64)
    if spec.new:
        pool.reserved[fresh] = True
        for name, value in spec.attributes.items():
            table, codes = pool.attributes[name]
            codes[fresh] = table.lookup[value]
        pool.activate(fresh, np.full(k, at, dtype=np.int64))
    replaced = actors.copy()
    replaced[hit[:k]] = fresh
    run.actors[kind] = replaced
    return k


def _text(v: object) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def burst_times(
    cs: CampaignStream,
    w: CampaignWindow,
    rng: np.random.Generator,
    lo: int,
    hi: int,
    share: float,
    schedule: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None,
) -> npt.NDArray[np.int64]:
    """The campaign's event times of one stream in ``[lo, hi)``, sorted: Poisson at its rate,
    or, with bursts, at ``rate x every / length`` within the bursts only (``schedule``: the
    bursts of a point process; otherwise on the clock from the window's start)."""
    if cs.burst is None:
        spans = [(lo, hi)]
        rate = cs.rate
    elif schedule is not None:
        starts, ends = schedule
        pick = (starts < hi) & (ends > lo)
        spans = [
            (int(s), int(e))
            for s, e in zip(np.maximum(starts[pick], lo), np.minimum(ends[pick], hi), strict=True)
        ]
        rate = cs.rate * cs.burst.every / cs.burst.length
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
