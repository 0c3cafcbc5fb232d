"""Entity episodes and floors: rate processes per entity, declared in a pack's ``episodes:``
and ``floors:``.

An episode process draws, for each period (multiples of ``every`` since the epoch, UTC) and
each entity of its kind, whether the entity has an episode, its window (inside the period) and
its multiplier. A period's draw uses its own random stream (seed, shard, domain, process,
period), so it depends neither on how ticks cut time nor on the order of anything else; the
draws are uniforms that each tick maps through its parameter values (an episode where
u < probability), so a scenario acts from the tick it starts in. At an
instant t, an entity's own rate on the streams a process multiplies is scaled by

    the multiplier         inside the window,
    1                      in the period, outside the window,
    ``otherwise``          in a period without an episode,

times the same for every other process of the stream, and 0 after an ``emit`` that retires
the entity in this tick. A multiplied stream is drawn per entity: the entity's share of the
stream's rate (its activity, over the active entities' total) times the integral of its
multiplier over the tick, a Poisson count each, and times by inverse transform over the
entity's piecewise-constant multiplier. Without episodes that is the usual draw, split per
entity. A process's ``emit`` stream gets one event at the window's start of every entity
active then; with ``truth``, each episode is a ground-truth record (kind ``episode``).

A floor guarantees ``at_least`` events of a stream per active entity and period: at an
instant drawn uniformly in the period, an entity with fewer events of the stream since the
period began gets the missing ones there. All state is plain numpy arrays.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simfleet.codec.catalog import FieldType
from simfleet.columns import TRUTH_STREAM, Batch, Column, StrTable, TableStrings
from simfleet.domain.spec import DomainSpec, EpisodeSpec, FloorSpec
from simfleet.errors import DomainError
from simfleet.producers.engine.fields import StreamRuntime, weight
from simfleet.producers.pools import EntityPool, stable_hash

__all__ = ["Emitted", "Episodes"]

NEVER = np.iinfo(np.int64).max
Emitted = tuple[str, npt.NDArray[np.int64], dict[str, Column]]  # stream, times, carried columns


@dataclass
class _Period:
    """One period's episodes of one process, for every entity of the pool: the draws (free of
    parameters) and, from the tick's parameters, who has one and at what multiplier."""

    start: int
    u: npt.NDArray[np.float64]  # an episode where u < probability
    v: npt.NDArray[np.float64]  # the multiplier's place in its range
    lo: npt.NDArray[np.int64]
    hi: npt.NDArray[np.int64]
    hit: npt.NDArray[np.bool_]
    mult: npt.NDArray[np.float64]
    otherwise: float = 1.0
    factor: npt.NDArray[np.float64] | None = None  # `gamma`: each entity's activity factor

    def apply(self, spec: EpisodeSpec, domain: DomainSpec, params: Mapping[str, float]) -> None:
        """Who has an episode and its multiplier, at the tick's parameter values (a scenario
        that starts mid-period acts from its start, on the windows still to come)."""
        self.hit = self.u < weight(domain, spec.probability, params)
        lo_m = weight(domain, spec.multiplier[0], params)
        hi_m = weight(domain, spec.multiplier[1], params)
        self.mult = lo_m + (hi_m - lo_m) * self.v
        if self.factor is not None:
            self.mult = self.mult * self.factor
        self.otherwise = weight(domain, spec.otherwise, params)


@dataclass
class _Process:
    name: str
    spec: EpisodeSpec
    pool: EntityPool
    key: int
    periods: dict[int, _Period]


@dataclass
class _Floor:
    name: str
    spec: FloorSpec
    pool: EntityPool
    key: int
    period: int
    at: npt.NDArray[np.int64]  # the instant each entity's floor is checked
    seen: npt.NDArray[np.int64]  # events of the stream in the period, before this tick


class Episodes:
    """The episode processes and floors of one shard of one domain."""

    def __init__(
        self,
        domain: DomainSpec,
        pools: Mapping[str, EntityPool],
        seed: int,
        shard: int,
        truth_topic: str,
        truth_types: Mapping[str, FieldType] | None,
    ) -> None:
        self.domain = domain
        self.seed = seed
        self.shard = shard
        self.truth_topic = truth_topic
        self.truth_types = truth_types
        self._procs = [
            _Process(n, e, pools[e.entity], stable_hash("episode", domain.domain, n), {})
            for n, e in domain.episodes.items()
        ]
        self._by_stream: dict[str, list[_Process]] = {}
        for p in self._procs:
            for s in p.spec.streams:
                self._by_stream.setdefault(s, []).append(p)
        self._floors = []
        for n, f in domain.floors.items():
            kind = domain.streams[f.stream].fields[f.field].entity or ""
            pool = pools[kind]
            self._floors.append(
                _Floor(
                    n,
                    f,
                    pool,
                    stable_hash("floor", domain.domain, n),
                    -1,
                    np.zeros(pool.size, np.int64),
                    np.zeros(pool.size, np.int64),
                )
            )
        # this tick's: entities an emit retires (pool kind -> per entity, the instant; NEVER)
        self._until: dict[str, npt.NDArray[np.int64]] = {}
        self._emits: list[Emitted] = []
        self._truth: list[tuple[_Process, _Period, npt.NDArray[np.int64]]] = []

    @property
    def active(self) -> bool:
        """Whether the domain declares any episode or floor."""
        return bool(self._procs or self._floors)

    def modulates(self, stream: str) -> bool:
        """Whether episodes multiply ``stream``'s rate per entity."""
        return stream in self._by_stream

    # -- periods

    def _period(self, p: _Process, k: int, params: Mapping[str, float]) -> _Period:
        got = p.periods.get(k)
        if got is None:
            spec, n = p.spec, p.pool.size
            rng = np.random.default_rng([self.seed, self.shard, p.key, k])
            b = k * spec.every
            u, v = rng.random(n), rng.random(n)
            if spec.duration is None:
                dur = np.full(n, spec.every, np.int64)
            else:
                dur = rng.integers(spec.duration[0], spec.duration[1] + 1, n, dtype=np.int64)
            lo = b + (rng.random(n) * np.maximum(spec.every - dur, 1)).astype(np.int64)
            got = _Period(b, u, v, lo, lo + dur, np.zeros(n, np.bool_), np.ones(n))
            if spec.gamma is not None:
                got.factor = self._gamma(rng, spec.gamma, p.pool)
            p.periods[k] = got
        got.apply(p.spec, self.domain, params)
        return got

    @staticmethod
    def _gamma(rng: np.random.Generator, shape: float, pool: EntityPool) -> npt.NDArray[np.float64]:
        """Gamma factors of mean 1 and shape ``shape``, one per entity, scaled so that their
        activity-weighted mean over the active entities is 1: entities' own rates vary from
        period to period while the stream's total stays as declared."""
        g = rng.gamma(shape, 1.0 / shape, pool.size)
        w = pool.activity * pool.active
        mean = float((w * g).sum() / w.sum()) if w.sum() > 0 else 1.0
        out: npt.NDArray[np.float64] = g / mean if mean > 0 else g
        return out

    def start_tick(self, t0: int, t1: int, params: Mapping[str, float]) -> None:
        """Draw the periods the tick touches; note the episodes starting in it (their emits,
        truth records and the entities the emits retire)."""
        self._until, self._emits, self._truth = {}, [], []
        for p in self._procs:
            every = p.spec.every
            for k in list(p.periods):
                if (k + 1) * every <= t0:
                    del p.periods[k]  # windows lie inside their period: done with it
            for k in range(t0 // every, (t1 - 1) // every + 1):
                per = self._period(p, k, params)
                starts = per.hit & (per.lo >= t0) & (per.lo < t1) & p.pool.active
                idx = np.flatnonzero(starts).astype(np.int64)
                if len(idx) == 0:
                    continue
                idx = idx[np.argsort(per.lo[idx], kind="stable")]
                if p.spec.truth:
                    self._truth.append((p, per, idx))
                if p.spec.emit is not None:
                    times = per.lo[idx]
                    col = TableStrings(p.pool.ids, idx)
                    self._emits.append((p.spec.emit, times, {p.spec.field: col}))
                    if self.domain.streams[p.spec.emit].retires == p.spec.field:
                        until = self._until.setdefault(p.pool.kind, np.full(p.pool.size, NEVER))
                        np.minimum.at(until, idx, times)

    def emitted(self) -> list[Emitted]:
        """The events the episodes starting in this tick emit (make them after the rated
        streams: an emit may retire its entity)."""
        return self._emits

    # -- multiplied streams

    def _density(
        self, p: _Process, idx: npt.NDArray[np.int64], t: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float64]:
        out = np.ones(t.shape, np.float64)
        ks = t // p.spec.every
        for k in np.unique(ks).tolist():
            per = p.periods.get(k)
            if per is None:  # a segment past the tick's end (zero length): any value will do
                continue
            sel = ks == k
            i, ti = idx[sel], t[sel]
            inside = (ti >= per.lo[i]) & (ti < per.hi[i])
            out[sel] = np.where(per.hit[i], np.where(inside, per.mult[i], 1.0), per.otherwise)
        return out

    @staticmethod
    def _moves(p: _Process, t0: int, t1: int) -> bool:
        """Whether process ``p`` multiplies any rate by other than 1 in ``[t0, t1)``."""
        every = p.spec.every
        for k in range(t0 // every, (t1 - 1) // every + 1):
            per = p.periods[k]
            if per.otherwise != 1.0 or bool(np.any(per.mult[per.hit] != 1.0)):
                return True
        return False

    def draw(
        self,
        rt: StreamRuntime,
        per_ms: float,
        t0: int,
        t1: int,
        params: Mapping[str, float],
    ) -> tuple[npt.NDArray[np.int64], dict[str, Column]]:
        """Events of a multiplied stream in ``[t0, t1)``: their times (sorted) and the entity
        column; ``per_ms`` is the stream's usual rate per millisecond in the tick."""
        procs = self._by_stream[rt.name]
        fname, pool = procs[0].spec.field, procs[0].pool
        until_all = self._until.get(pool.kind)
        idx = np.flatnonzero(pool.active).astype(np.int64)
        empty = np.empty(0, np.int64)
        if len(idx) == 0 or per_ms <= 0:
            return empty, {fname: TableStrings(pool.ids, empty)}
        act = pool.activity[idx]
        wspec = rt.spec.fields[fname].weight
        if wspec is not None:
            act = act * pool.by_values(wspec, idx, params)
        total = act.sum()
        if total <= 0:
            return empty, {fname: TableStrings(pool.ids, empty)}
        n = len(idx)
        until = np.full(n, NEVER, np.int64) if until_all is None else until_all[idx]
        edges = [np.full(n, t0, np.int64), np.full(n, t1, np.int64), np.clip(until, t0, t1)]
        # a process whose multiplier is 1 all tick long (no episode, `otherwise` 1: a burst
        # process between scenarios) changes nothing: left out, it costs nothing
        procs = [p for p in procs if self._moves(p, t0, t1)]
        for p in procs:
            every = p.spec.every
            for k in range(t0 // every, (t1 - 1) // every + 1):
                per = p.periods[k]
                edges.append(np.full(n, min(max(per.start, t0), t1), np.int64))
                edges.append(np.clip(per.lo[idx], t0, t1))
                edges.append(np.clip(per.hi[idx], t0, t1))
        bp = np.sort(np.stack(edges, axis=1), axis=1)
        length = np.diff(bp, axis=1)
        mid = bp[:, :-1] + length // 2
        rows = np.broadcast_to(idx[:, None], mid.shape).reshape(-1)
        dens = (mid < until[:, None]).astype(np.float64)
        for p in procs:
            dens = dens * self._density(p, rows, mid.reshape(-1)).reshape(mid.shape)
        mass = length * dens
        cum = np.cumsum(mass, axis=1)
        lam = per_ms * act / total * cum[:, -1]
        counts = rt.rng.poisson(lam)
        who = np.repeat(np.arange(n), counts)
        if len(who) == 0:
            return empty, {fname: TableStrings(pool.ids, empty)}
        u = rt.rng.random(len(who)) * cum[who, -1]
        seg = np.minimum((cum[who] <= u[:, None]).sum(axis=1), length.shape[1] - 1)
        before = cum[who, seg] - mass[who, seg]
        d = np.where(dens[who, seg] > 0, dens[who, seg], 1.0)
        times = bp[who, seg] + ((u - before) / d).astype(np.int64)
        times = np.clip(times, bp[who, seg], np.maximum(bp[who, seg + 1] - 1, bp[who, seg]))
        order = np.argsort(times, kind="stable")
        return times[order], {fname: TableStrings(pool.ids, idx[who[order]])}

    # -- floors

    def floors(
        self,
        out: Mapping[str, list[dict[str, Column]]],
        t0: int,
        t1: int,
        params: Mapping[str, float],
    ) -> list[Emitted]:
        """The events the floors add in ``[t0, t1)`` (``out``: the tick's events so far)."""
        made: list[Emitted] = []
        for f in self._floors:
            spec, pool = f.spec, f.pool
            ids, times = [], []
            for cols in out.get(spec.stream, ()):
                col = cols[spec.field]
                if not isinstance(col, TableStrings) or col.table is not pool.ids:
                    raise DomainError(
                        f"floor {f.name}: field `{spec.field}` of {spec.stream} does not hold "
                        f"{pool.kind} ids"
                    )
                ids.append(col.idx)
                t = cols["occurred_at"]
                assert isinstance(t, np.ndarray)
                times.append(t)
            ev_idx = np.concatenate(ids) if ids else np.empty(0, np.int64)
            ev_t = np.concatenate(times) if times else np.empty(0, np.int64)
            until = self._until.get(pool.kind)
            need_at = float(weight(self.domain, spec.at_least, params))
            every = spec.every
            for k in range(t0 // every, (t1 - 1) // every + 1):
                a, b = max(t0, k * every), min(t1, (k + 1) * every)
                if f.period != k:
                    rng = np.random.default_rng([self.seed, self.shard, f.key, k])
                    f.period = k
                    f.at = k * every + rng.integers(0, every, pool.size, dtype=np.int64)
                    f.seen[:] = 0
                sel = (ev_t >= a) & (ev_t < b)
                i, t = ev_idx[sel], ev_t[sel]
                short = round(need_at)
                if short > 0:
                    early = np.bincount(i[t < f.at[i]], minlength=pool.size)
                    alive = (
                        pool.active
                        if until is None
                        else pool.active | ((until < NEVER) & (until > f.at))
                    )
                    due = np.flatnonzero((f.at >= a) & (f.at < b) & alive).astype(np.int64)
                    need = short - (f.seen[due] + early[due])
                    due, need = due[need > 0], need[need > 0]
                    if len(due):
                        who = np.repeat(due, need)
                        who = who[np.argsort(f.at[who], kind="stable")]
                        made.append(
                            (spec.stream, f.at[who], {spec.field: TableStrings(pool.ids, who)})
                        )
                        f.seen += np.bincount(who, minlength=pool.size)
                f.seen += np.bincount(i, minlength=pool.size)
        return made

    # -- ground truth

    def truth(self) -> Batch | None:
        """The ground-truth records of the episodes that started in this tick (kind
        ``episode``: the process as label, the entity as subject, the window; ``detail``:
        the entity kind, multiplier and period, JSON). Few a day: built per record."""
        if not self._truth or self.truth_types is None:
            return None
        rows: list[tuple[int, str, str, int, str, str, str]] = []
        for p, per, idx in self._truth:
            names = [*p.spec.streams, *([p.spec.emit] if p.spec.emit else [])]
            moved = ",".join(self.domain.topic(s) for s in names)
            for i, lo, hi, m in zip(
                idx.tolist(),
                per.lo[idx].tolist(),
                per.hi[idx].tolist(),
                per.mult[idx].tolist(),
                strict=True,
            ):
                entity = p.pool.ids.value(i)
                detail = {"entity": p.pool.kind, "multiplier": round(m, 4), "period": per.start}
                rows.append(
                    (
                        lo,
                        f"episode-{p.name}-{entity}-{lo}",
                        entity,
                        hi,
                        p.name,
                        moved,
                        json.dumps(detail, sort_keys=True, separators=(",", ":")),
                    )
                )
        rows.sort()
        n = len(rows)
        zeros = np.zeros(n, np.int64)

        def strings(pos: int) -> TableStrings:
            values = [str(r[pos]) for r in rows]
            table = StrTable(tuple(dict.fromkeys(values)))
            return TableStrings(table, np.asarray([table.lookup[v] for v in values], np.int64))

        def const(value: str) -> TableStrings:
            return TableStrings(StrTable((value,)), zeros)

        starts = np.asarray([r[0] for r in rows], np.int64)
        cols: dict[str, Column] = {
            "event_id": strings(1),
            "occurred_at": starts,
            "domain": const(self.domain.domain),
            "kind": const("episode"),
            "subject_id": strings(2),
            "label": strings(4),
            "moved_parameters": const(""),
            "moved_streams": strings(5),
            "window_start": starts,
            "window_end": np.asarray([r[3] for r in rows], np.int64),
            "action": const(""),
            "topic": const(""),
            "detail": strings(6),
        }
        missing = [k for k in self.truth_types if k not in cols]
        if missing:
            raise DomainError(
                f"{self.truth_topic}: the ground-truth schema has fields {missing} that episode "
                "records do not fill; give them defaults in the schema."
            )
        order = {k: cols[k] for k in self.truth_types}
        return Batch(TRUTH_STREAM, self.truth_topic, n, order, "event_id")
