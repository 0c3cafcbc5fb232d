"""The per-shard engine: turns (sim window, parameter values) into columnar batches.

One ``ShardEngine`` owns one shard: its entity pools, one random stream per (seed, shard,
stream), id counters, and the queue of pending follow-ups. ``tick(t0, t1, params)`` draws a
Poisson count per rate-driven stream, fills each field with one vectorised draw, schedules
chained follow-ups, releases those due before ``t1``, emits the aggregates whose period
boundary (plus the stream's jitter) falls in the tick, and returns one batch per stream sorted
by ``occurred_at``. It reads no clock and no global randomness: the same inputs give the same
output.

Entity lifecycle: draws see active entities only. A stream that ``retires`` a field takes the
entity out at once (retiring streams are drawn first in a tick, so no later event of the tick
names it); a stream that ``activates`` one makes it drawable from the next tick, so no event
names an entity before the event that activated it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from producers.pools import EntityPool, Relation, stable_hash
from producers.profiles import RateProfile
from simfleet.codec.catalog import FieldType, SchemaSet
from simfleet.columns import (
    Batch,
    Column,
    FixedStrings,
    MaskedNumbers,
    StrTable,
    TableStrings,
    concat_columns,
    take_column,
)
from simfleet.domain.spec import (
    AggregateSpec,
    Chain,
    DomainSpec,
    FieldSpec,
    RelationSpec,
    StreamSpec,
)
from simfleet.errors import DomainError

__all__ = ["ShardEngine"]

IMPLICIT = ("event_id", "occurred_at")
MAX_CHAIN_ROUNDS = 16
DAY_MS = 86_400_000
PREFER_CANDIDATES = 16  # candidate delays per follow-up when a delay prefers a profile

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_POS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)], dtype=np.int64)


def uuid_column(rng: np.random.Generator, n: int) -> FixedStrings:
    """``n`` random version-4 UUIDs as a (n, 36) character matrix."""
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hx = np.empty((n, 32), dtype=np.uint8)
    hx[:, 0::2] = _HEX[raw >> 4]
    hx[:, 1::2] = _HEX[raw & 0x0F]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    out[:, _UUID_POS] = hx
    return FixedStrings(out)


def seq_column(prefix: str, shard: int, start: int, n: int) -> FixedStrings:
    """``<prefix>-<shard:03>-<seq:010>`` ids for sequence numbers start .. start+n-1."""
    head = np.frombuffer(f"{prefix}-{shard:03d}-".encode(), dtype=np.uint8)
    values = np.arange(start, start + n, dtype=np.int64)
    pow10 = 10 ** np.arange(9, -1, -1, dtype=np.int64)
    digits = ((values[:, None] // pow10) % 10 + 48).astype(np.uint8)
    return FixedStrings(np.hstack([np.broadcast_to(head, (n, len(head))), digits]))


class _Pending:
    """Follow-ups of one chain edge, kept as a few sorted chunks (merged when they pile up)."""

    MAX_CHUNKS = 8

    def __init__(self) -> None:
        self.chunks: list[tuple[npt.NDArray[np.int64], dict[str, Column], int]] = []
        self.size = 0

    def push(self, due: npt.NDArray[np.int64], cols: dict[str, Column]) -> None:
        order = np.argsort(due, kind="stable")
        self.chunks.append((due[order], {k: take_column(c, order) for k, c in cols.items()}, 0))
        self.size += len(due)
        if len(self.chunks) > self.MAX_CHUNKS:
            self._compact()

    def _compact(self) -> None:
        dues = [d[c:] for d, _, c in self.chunks]
        due = np.concatenate(dues)
        names = list(self.chunks[0][1])
        cols = {
            k: concat_columns([take_column(cs[k], slice(c, None)) for _, cs, c in self.chunks])
            for k in names
        }
        order = np.argsort(due, kind="stable")
        self.chunks = [(due[order], {k: take_column(c, order) for k, c in cols.items()}, 0)]

    def pop(self, t1: int) -> tuple[npt.NDArray[np.int64], dict[str, Column]] | None:
        """Rows due before ``t1``, sorted by due time."""
        parts: list[tuple[npt.NDArray[np.int64], dict[str, Column]]] = []
        kept = []
        for due, cols, cursor in self.chunks:
            j = int(np.searchsorted(due, t1, side="left"))
            if j > cursor:
                sl = slice(cursor, j)
                parts.append((due[sl], {k: take_column(c, sl) for k, c in cols.items()}))
            if max(j, cursor) < len(due):
                kept.append((due, cols, max(j, cursor)))
        self.chunks = kept
        if not parts:
            return None
        due = np.concatenate([p[0] for p in parts])
        self.size -= len(due)
        names = list(parts[0][1])
        cols = {k: concat_columns([p[1][k] for p in parts]) for k in names}
        if len(parts) > 1:
            order = np.argsort(due, kind="stable")
            due = due[order]
            cols = {k: take_column(c, order) for k, c in cols.items()}
        return due, cols


@dataclass
class _StreamRuntime:
    name: str
    topic: str
    spec: StreamSpec
    types: dict[str, FieldType]
    rng: np.random.Generator
    profile: RateProfile | None
    rate_param: str
    tables: dict[str, StrTable] = field(default_factory=dict)


@dataclass
class _AggRuntime:
    """What an aggregate stream has seen of its sources and not yet summarised."""

    spec: AggregateSpec
    offset: int
    # per source stream: chunks of (occurred_at, {needed field: column})
    seen: dict[str, list[tuple[npt.NDArray[np.int64], dict[str, Column]]]]
    needs: dict[str, list[str]]
    shard_table: StrTable


@dataclass
class _Edge:
    source: str
    index: int
    chain: Chain
    targets: list[str]
    carry: list[dict[str, str]]  # per target: target field <- source field
    queues: list[_Pending]


class ShardEngine:
    """Generates the events of one shard of one domain."""

    def __init__(
        self,
        domain: DomainSpec,
        shard: int,
        shards: int,
        seed: int,
        scale: float = 1.0,
        max_pending: int = 2_000_000,
        schemas: SchemaSet | None = None,
    ) -> None:
        if schemas is None:
            from simfleet.domain.pack import Project

            schemas = Project().schemas()
        self.domain = domain
        self.shard = shard
        self.shards = shards
        self.seed = seed
        self.scale = scale
        self.max_pending = max_pending
        self.dropped_followups = 0
        self._share = scale / shards
        self.pools = {
            kind: EntityPool(kind, spec, shard, shards, seed, scale, domain.domain)
            for kind, spec in domain.entities.items()
        }
        profiles = {k: RateProfile(v, domain.growth_reference) for k, v in domain.profiles.items()}
        self._profiles = profiles
        self._pool_of_table = {id(p.ids): p for p in self.pools.values()}
        for kind, spec in domain.entities.items():
            for aname, attr in spec.attributes.items():
                if isinstance(attr, RelationSpec):
                    rng = np.random.default_rng(
                        [seed, shard, stable_hash("relation", domain.domain, kind, aname)]
                    )
                    owner = self.pools[kind]
                    owner.relations[aname] = Relation(
                        owner, self.pools[attr.relation], attr.per[0], attr.per[1], rng
                    )
        self._start: int | None = None
        self._t0 = 0
        self._seq: dict[str, int] = {}
        self.streams: dict[str, _StreamRuntime] = {}
        for name, s in domain.streams.items():
            types = self._types(schemas, domain.topic(name))
            self._check_fields(name, s, types)
            rt = _StreamRuntime(
                name=name,
                topic=domain.topic(name),
                spec=s,
                types=types,
                rng=np.random.default_rng([seed, shard, stable_hash(domain.domain, name)]),
                profile=profiles.get(s.profile),
                rate_param=f"{domain.topic(name)}.rate",
            )
            for fname, f in s.fields.items():
                if f.choice is not None or isinstance(f.const, str):
                    values = f.choice if f.choice is not None else (f.const,)
                    rt.tables[fname] = StrTable(tuple(str(v) for v in values))
            self.streams[name] = rt
        self._aggs = {
            name: self._agg_runtime(name, s.aggregate)
            for name, s in domain.streams.items()
            if s.aggregate is not None
        }
        # rate-driven streams, the retiring ones first (see the module docstring)
        self._rated = sorted(
            (n for n, s in domain.streams.items() if s.rate),
            key=lambda n: domain.streams[n].retires is None,
        )
        self.edges: dict[str, list[_Edge]] = {}
        self._set_tables: dict[tuple[str, int, str], StrTable] = {}
        for name, s in domain.streams.items():
            for i, chain in enumerate(s.then):
                targets = chain.targets()
                carry = []
                for t in targets:
                    ttypes = self.streams[t].types
                    mapping = {
                        f: f
                        for f in ttypes
                        if f not in IMPLICIT
                        and f in self.streams[name].types
                        and f not in chain.set
                    }
                    mapping.update(chain.rename)
                    carry.append(mapping)
                    for fname, value in chain.set.items():
                        self._set_tables[(name, i, fname)] = StrTable((str(value),))
                self.edges.setdefault(name, []).append(
                    _Edge(name, i, chain, targets, carry, [_Pending() for _ in targets])
                )

    def _types(self, schemas: SchemaSet, topic: str) -> dict[str, FieldType]:
        entry = schemas.get(topic)
        if entry is None:
            raise DomainError(
                f"stream {topic} has no Avro schema: add schemas/{self.domain.domain}/"
                f'{topic.split(".", 1)[1]}.avsc with "simfleet.topic": "{topic}".'
            )
        return entry.fields

    def _check_fields(self, name: str, s: StreamSpec, types: dict[str, FieldType]) -> None:
        for implicit in IMPLICIT:
            if implicit not in types:
                raise DomainError(
                    f"schemas/{self.domain.domain}/{name}.avsc lacks the field `{implicit}`; every "
                    "event carries event_id (string) and occurred_at (timestamp-millis long)."
                )
        for fname in s.fields:
            if fname not in types:
                raise DomainError(
                    f"domains/{self.domain.domain}.yaml: stream {name} generates field `{fname}` "
                    f"that its schema schemas/{self.domain.domain}/{name}.avsc does not declare; "
                    "add it to the schema or remove it from the stream."
                )
        if s.key not in types:
            raise DomainError(f"stream {name}: key field `{s.key}` is not in its schema")
        picks = [f for f, fs in s.fields.items() if fs.pick != "active"]
        if picks and not s.rate:
            raise DomainError(
                f"stream {name}: fields {picks} pick inactive or idle entities, which caps the "
                "event count; only rate-driven streams can do that."
            )
        if s.aggregate is not None:
            agg = s.aggregate
            need = ["period_start", agg.group_by or "shard_id", *agg.metrics]
            lacking = [f for f in need if f not in types]
            if lacking:
                raise DomainError(
                    f"schemas/{self.domain.domain}/{name}.avsc lacks {lacking}: an aggregate "
                    "carries period_start, its group field (shard_id without group_by) and "
                    "one field per metric."
                )

    def _agg_runtime(self, name: str, agg: AggregateSpec) -> _AggRuntime:
        needs: dict[str, list[str]] = {src: [] for src in agg.sources()}
        for m in agg.metrics.values():
            src = m.source or agg.source
            if agg.group_by is not None and agg.group_by not in needs[src]:
                needs[src].append(agg.group_by)
            if m.field is not None and m.field not in needs[src]:
                needs[src].append(m.field)
        for src, fields in needs.items():
            missing = [f for f in fields if f not in self.streams[src].types]
            if missing:
                raise DomainError(f"aggregate {name}: stream {src} has no field(s) {missing}")
        jitter = agg.jitter if agg.jitter is not None else min(agg.every // 6, 1_800_000)
        offset = stable_hash("jitter", self.seed, self.domain.topic(name)) % max(jitter, 1)
        return _AggRuntime(
            agg, offset, {src: [] for src in needs}, needs, StrTable((f"shard-{self.shard:03d}",))
        )

    @property
    def pending(self) -> int:
        """Follow-ups waiting in this shard."""
        return sum(q.size for edges in self.edges.values() for e in edges for q in e.queues)

    # -- field generation -------------------------------------------------------------

    def _gen_field(
        self,
        rt: _StreamRuntime,
        fname: str,
        f: FieldSpec,
        n: int,
        cols: Mapping[str, Column],
        params: Mapping[str, float],
    ) -> Column:
        ftype = rt.types[fname]
        rng = rt.rng
        col: Column
        if f.entity is not None:
            pool = self.pools[f.entity]
            if f.pick == "active":
                col = TableStrings(pool.ids, pool.sample(rng, n))
            else:
                col = TableStrings(pool.ids, pool.take(rng, f.pick, self._t0, n))
        elif f.attr is not None:
            src = cols[f.of or ""]
            if not isinstance(src, TableStrings):
                raise DomainError(
                    f"stream {rt.name} field {fname}: `of: {f.of}` is not an entity field"
                )
            pool = next(p for p in self.pools.values() if p.ids is src.table)
            times = cols["occurred_at"]
            assert isinstance(times, np.ndarray)
            col = pool.attribute(f.attr, src.idx, times)
        elif f.seq is not None:
            start = self._seq.get(f.seq, 0)
            self._seq[f.seq] = start + n
            col = seq_column(f.seq, self.shard, start, n)
        elif fname in rt.tables:
            table = rt.tables[fname]
            if f.weights is not None:
                w = np.asarray([self._weight(x, params) for x in f.weights], dtype=np.float64)
                cdf = np.cumsum(w) / w.sum()
                idx = np.searchsorted(cdf, rng.random(n), side="right").astype(np.int64)
            elif len(table) > 1:
                idx = rng.integers(0, len(table), n, dtype=np.int64)
            else:
                idx = np.zeros(n, dtype=np.int64)
            if ftype.kind != "str":
                values = np.asarray([float(v) for v in table.values])[idx]
                col = np.rint(values).astype(np.int64) if ftype.kind == "int" else values
            else:
                col = TableStrings(table, idx)
        else:
            col = self._gen_number(f, n, rng, params, ftype)
        if f.null_rate > 0:
            null = rng.random(n) < f.null_rate
            if isinstance(col, TableStrings):
                idx = col.idx.copy()
                idx[null] = -1
                col = TableStrings(col.table, idx)
            elif isinstance(col, FixedStrings):
                col = FixedStrings(col.chars, null)
            elif isinstance(col, np.ndarray):
                col = MaskedNumbers(col, null)
        return col

    def _gen_number(
        self,
        f: FieldSpec,
        n: int,
        rng: np.random.Generator,
        params: Mapping[str, float],
        ftype: FieldType,
    ) -> npt.NDArray[Any]:
        v: npt.NDArray[Any]
        if f.bernoulli is not None:
            p = (
                params[self.domain.param_path(f.bernoulli)]
                if isinstance(f.bernoulli, str)
                else f.bernoulli
            )
            v = rng.random(n) < p
            return v if ftype.kind == "bool" else v.astype(np.int64)
        if f.const is not None:
            v = np.full(n, f.const)
        elif f.param is not None:
            v = np.full(n, params[self.domain.param_path(f.param)], dtype=np.float64)
        elif f.uniform is not None:
            v = rng.uniform(f.uniform[0], f.uniform[1], n)
        elif f.normal is not None:
            v = rng.normal(f.normal[0], f.normal[1], n)
        elif f.lognormal is not None:
            v = rng.lognormal(f.lognormal[0], f.lognormal[1], n)
        elif f.poisson is not None:
            v = rng.poisson(f.poisson, n).astype(np.float64)
        elif f.integers is not None:
            v = rng.integers(f.integers[0], f.integers[1] + 1, n).astype(np.float64)
        else:  # pragma: no cover - the spec validator guarantees one generator
            raise DomainError(f"field without generator: {f}")
        if f.times is not None:
            v = v * params[self.domain.param_path(f.times)]
        if f.min is not None or f.max is not None:
            v = np.clip(v, f.min, f.max)
        if ftype.kind == "bool":
            return v.astype(np.bool_)
        if ftype.kind == "int":
            return np.rint(v).astype(np.int64)
        v = v.astype(np.float64)
        return np.round(v, f.round) if f.round is not None else v

    def _make(
        self,
        rt: _StreamRuntime,
        times: npt.NDArray[np.int64],
        carried: dict[str, Column],
        params: Mapping[str, float],
    ) -> dict[str, Column]:
        n = len(times)
        cols: dict[str, Column] = {"event_id": uuid_column(rt.rng, n), "occurred_at": times}
        cols.update(carried)
        for fname, f in rt.spec.fields.items():
            if fname not in cols:
                cols[fname] = self._gen_field(rt, fname, f, n, cols, params)
        return cols

    # -- chains -------------------------------------------------------------------------

    def _delay(self, edge: _Edge, rng: np.random.Generator, n: int) -> npt.NDArray[np.int64]:
        d = edge.chain.delay
        if d.uniform is not None:
            out = rng.integers(d.uniform[0], d.uniform[1] + 1, n, dtype=np.int64)
        else:
            out = rng.exponential(d.exponential or 1, n).astype(np.int64)
        if d.min or d.max is not None:
            out = np.clip(out, d.min, d.max)
        return out

    def _due(
        self, edge: _Edge, rng: np.random.Generator, cause: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Due times of follow-ups of events at ``cause``: the delay law, shaped by `prefer`
        (profile-weighted choice among candidates) and `within_hours` (time of day mapped
        into the window, moved by whole days to stay within the law's bounds)."""
        d = edge.chain.delay
        n = len(cause)
        if d.prefer is None:
            due = cause + self._delay(edge, rng, n)
        else:
            k = PREFER_CANDIDATES
            cand = cause[:, None] + self._delay(edge, rng, n * k).reshape(n, k)
            w = self._profiles[d.prefer].factors(cand.reshape(-1)).reshape(n, k)
            cum = np.cumsum(w, axis=1)
            u = rng.random(n) * cum[:, -1]
            pick = np.minimum((cum < u[:, None]).sum(axis=1), k - 1)
            due = cand[np.arange(n), pick]
        if d.within_hours is not None:
            lo_h, hi_h = d.within_hours
            lo, hi = int(lo_h * 3_600_000), int(hi_h * 3_600_000)
            tod = due % DAY_MS
            mapped = due - tod + lo + tod * (hi - lo) // DAY_MS
            least, most = d.bounds()
            mapped = np.where(mapped < cause + least, mapped + DAY_MS, mapped)
            if most is not None:
                back = (mapped > cause + most) & (mapped - DAY_MS >= cause + least)
                mapped = np.where(back, mapped - DAY_MS, mapped)
            if d.within_share < 1.0:
                # the rest keep the law's own time of day: minimal at night, not none
                mapped = np.where(rng.random(n) < d.within_share, mapped, due)
            due = mapped
        return due

    def _weight(self, w: float | str, params: Mapping[str, float]) -> float:
        return params[self.domain.param_path(w)] if isinstance(w, str) else float(w)

    def _schedule(
        self, name: str, cols: dict[str, Column], n: int, params: Mapping[str, float]
    ) -> None:
        rng = self.streams[name].rng
        times = cols["occurred_at"]
        assert isinstance(times, np.ndarray)
        for edge in self.edges.get(name, ()):
            chain = edge.chain
            if chain.one_of is not None:
                w = np.asarray([self._weight(x, params) for x in chain.one_of.values()])
                total = w.sum()
                cdf = np.cumsum(w) / total if total > 0 else np.linspace(0, 1, len(w) + 1)[1:]
                pick = np.searchsorted(cdf, rng.random(n), side="right")
                masks = [pick == k for k in range(len(edge.targets))]
            else:
                p = self._weight(chain.probability or 0.0, params)
                masks = [rng.random(n) < p]
            for k, mask in enumerate(masks):
                m = int(mask.sum())
                if m == 0:
                    continue
                if self.pending + m > self.max_pending:
                    self.dropped_followups += m
                    continue
                due = self._due(edge, rng, times[mask])
                carried = {dst: take_column(cols[src], mask) for dst, src in edge.carry[k].items()}
                for c in carried.values():
                    if isinstance(c, TableStrings):
                        pool = self._pool_of_table.get(id(c.table))
                        if pool is not None:
                            pool.mark_busy(c.idx, due)
                tname = edge.targets[k]
                if chain.delay_field is not None and chain.delay_field in self.streams[tname].types:
                    waited = (due - times[mask]) // chain.delay_unit
                    if self.streams[tname].types[chain.delay_field].kind == "float":
                        waited = waited.astype(np.float64)
                    carried[chain.delay_field] = waited
                for fname, value in edge.chain.set.items():
                    if self.streams[edge.targets[k]].types[fname].kind == "str":
                        table = self._set_tables[(name, edge.index, fname)]
                        carried[fname] = TableStrings(table, np.zeros(m, dtype=np.int64))
                    else:
                        carried[fname] = np.full(m, value)
                edge.queues[k].push(due, carried)

    # -- the tick -----------------------------------------------------------------------

    def tick(self, t0: int, t1: int, params: Mapping[str, float]) -> list[Batch]:
        """Events with ``t0 <= occurred_at < t1``, one batch per stream that has any."""
        out: dict[str, list[dict[str, Column]]] = {}
        span = t1 - t0
        if span <= 0:
            return []
        if self._start is None:
            self._start = t0
            for pool in self.pools.values():
                pool.begin(t0)
        self._t0 = t0
        activations: list[tuple[str, dict[str, Column]]] = []
        mid = t0 + span // 2
        for name in self._rated:
            rt = self.streams[name]
            factor = 1.0
            if rt.profile is not None:
                factor = rt.profile.factor(mid) * rt.profile.spike(self.seed, rt.topic, mid)
            lam = params[rt.rate_param] * self._share * factor * span / 1000.0
            n = int(rt.rng.poisson(lam))
            for f in rt.spec.fields.values():
                if f.entity is not None and f.pick != "active":
                    n = min(n, len(self.pools[f.entity].candidates(f.pick, t0)))
            if n == 0:
                continue
            times = t0 + np.sort(rt.rng.integers(0, span, n, dtype=np.int64))
            cols = self._make(rt, times, {}, params)
            out.setdefault(name, []).append(cols)
            self._lifecycle(rt, cols, activations)
            self._schedule(name, cols, n, params)
        for _ in range(MAX_CHAIN_ROUNDS):
            released = False
            for edges in self.edges.values():
                for edge in edges:
                    for target, queue in zip(edge.targets, edge.queues, strict=True):
                        popped = queue.pop(t1)
                        if popped is None:
                            continue
                        released = True
                        due, carried = popped
                        rt = self.streams[target]
                        cols = self._make(rt, due, carried, params)
                        out.setdefault(target, []).append(cols)
                        self._lifecycle(rt, cols, activations)
                        self._schedule(target, cols, len(due), params)
            if not released:
                break
        for name, cols in activations:
            joined_at = cols["occurred_at"]
            assert isinstance(joined_at, np.ndarray)
            self._entity_pool(name, cols).activate(self._entity_idx(name, cols), joined_at)
        for name, agg in self._aggs.items():
            for cols in self._aggregate(name, agg, out, t0, t1, params):
                out.setdefault(name, []).append(cols)
                self._schedule(name, cols, len(cols["occurred_at"]), params)
        return [self._batch(name, parts) for name, parts in out.items()]

    # -- lifecycle ----------------------------------------------------------------------

    def _entity_col(self, name: str, field_name: str, cols: Mapping[str, Column]) -> TableStrings:
        col = cols[field_name]
        if not isinstance(col, TableStrings) or id(col.table) not in self._pool_of_table:
            raise DomainError(f"stream {name}: `{field_name}` does not hold entity ids")
        return col

    def _entity_pool(self, name: str, cols: Mapping[str, Column]) -> EntityPool:
        fname = self.streams[name].spec.activates or ""
        return self._pool_of_table[id(self._entity_col(name, fname, cols).table)]

    def _entity_idx(self, name: str, cols: Mapping[str, Column]) -> npt.NDArray[np.int64]:
        fname = self.streams[name].spec.activates or ""
        return self._entity_col(name, fname, cols).idx

    def _lifecycle(
        self,
        rt: _StreamRuntime,
        cols: dict[str, Column],
        activations: list[tuple[str, dict[str, Column]]],
    ) -> None:
        if rt.spec.retires is not None:
            col = self._entity_col(rt.name, rt.spec.retires, cols)
            self._pool_of_table[id(col.table)].retire(col.idx)
        if rt.spec.activates is not None:
            activations.append((rt.name, cols))

    # -- aggregates ---------------------------------------------------------------------

    def _aggregate(
        self,
        name: str,
        agg: _AggRuntime,
        out: Mapping[str, list[dict[str, Column]]],
        t0: int,
        t1: int,
        params: Mapping[str, float],
    ) -> list[dict[str, Column]]:
        """Remember this tick's source events; summarise every period whose boundary plus
        offset falls in [t0, t1)."""
        for src, fields in agg.needs.items():
            for cols in out.get(src, ()):
                times = cols["occurred_at"]
                assert isinstance(times, np.ndarray)
                agg.seen[src].append((times, {f: cols[f] for f in fields}))
        every = agg.spec.every
        start = self._start if self._start is not None else t0
        first = ((t0 - agg.offset) // every + (1 if (t0 - agg.offset) % every else 0)) * every
        emitted: list[dict[str, Column]] = []
        b = first
        while b + agg.offset < t1:
            if b > start:
                summary = self._summarise(name, agg, b - every, b)
                if summary is not None:
                    at = np.full(len(summary["period_start"]), b + agg.offset, dtype=np.int64)
                    emitted.append(self._make(self.streams[name], at, summary, params))
            b += every
        # forget what every emitted period covered
        horizon = b - every
        for src, chunks in agg.seen.items():
            kept = []
            for times, cols in chunks:
                keep = times >= horizon
                if keep.all():
                    kept.append((times, cols))
                elif keep.any():
                    kept.append((times[keep], {k: take_column(c, keep) for k, c in cols.items()}))
            agg.seen[src] = kept
        return emitted

    def _summarise(self, name: str, agg: _AggRuntime, lo: int, hi: int) -> dict[str, Column] | None:
        spec = agg.spec
        rows: dict[str, tuple[int, dict[str, Column]]] = {}
        for src, chunks in agg.seen.items():
            n = 0
            parts = []
            for times, cols in chunks:
                sel = (times >= lo) & (times < hi)
                k = int(sel.sum())
                if k:
                    n += k
                    parts.append({f: take_column(c, sel) for f, c in cols.items()})
            merged = {f: concat_columns([p[f] for p in parts]) for f in agg.needs[src]} if n else {}
            rows[src] = (n, merged)
        types = self.streams[name].types
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
            uniq, inv = np.unique(allg.idx, return_inverse=True)
            inv = inv.reshape(-1).astype(np.int64)
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

    def _batch(self, name: str, parts: list[dict[str, Column]]) -> Batch:
        rt = self.streams[name]
        order_names = list(rt.types)
        if len(parts) == 1:
            cols = parts[0]
        else:
            cols = {k: concat_columns([p[k] for p in parts]) for k in order_names}
            times = cols["occurred_at"]
            assert isinstance(times, np.ndarray)
            order = np.argsort(times, kind="stable")
            cols = {k: take_column(c, order) for k, c in cols.items()}
        n = len(cols["occurred_at"])
        missing = [k for k in order_names if k not in cols]
        if missing:
            raise DomainError(
                f"stream {name}: no generator and nothing carried for field(s) {missing}; add a "
                f"generator in domains/{self.domain.domain}.yaml or carry them through a chain."
            )
        return Batch(name, rt.topic, n, {k: cols[k] for k in order_names}, rt.spec.key)
