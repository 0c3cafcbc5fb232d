"""The per-shard engine: turns (sim window, parameter values) into columnar batches.

One ``ShardEngine`` owns one shard: its entity pools, one random stream per (seed, shard,
stream), id counters, and the queue of pending follow-ups. ``tick(t0, t1, params)`` draws a
Poisson count per rate-driven stream, fills each field with one vectorised draw, schedules
chained follow-ups, releases those due before ``t1``, and returns one batch per stream sorted
by ``occurred_at``. It reads no clock and no global randomness: the same inputs give the same
output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from simfleet.core.columns import (
    Batch,
    Column,
    FixedStrings,
    MaskedNumbers,
    StrTable,
    TableStrings,
    concat_columns,
    take_column,
)
from simfleet.core.paths import schemas_dir
from simfleet.errors import DomainError
from simfleet.producers.pools import EntityPool, stable_hash
from simfleet.producers.profiles import RateProfile
from simfleet.producers.spec import Chain, DomainSpec, FieldSpec, StreamSpec

__all__ = ["FieldType", "ShardEngine", "stream_field_types"]

IMPLICIT = ("event_id", "occurred_at")
MAX_CHAIN_ROUNDS = 16

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_POS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)], dtype=np.int64)


@dataclass(frozen=True, slots=True)
class FieldType:
    """What the Avro schema says a field is: kind int | float | bool | str, and nullability."""

    kind: str
    nullable: bool


def _field_type(avro_type: Any) -> FieldType:
    nullable = False
    if isinstance(avro_type, list):
        branches = [b for b in avro_type if b != "null"]
        nullable = len(branches) < len(avro_type)
        avro_type = branches[0]
    if isinstance(avro_type, dict):
        avro_type = "str" if avro_type.get("type") == "enum" else avro_type["type"]
    kind = {
        "long": "int",
        "int": "int",
        "double": "float",
        "float": "float",
        "boolean": "bool",
        "string": "str",
        "str": "str",
    }[avro_type]
    return FieldType(kind, nullable)


def stream_field_types(domain: str, stream: str, root: Path | None = None) -> dict[str, FieldType]:
    """Field name -> type of a stream's Avro schema (``schemas/<domain>/<stream>.avsc``)."""
    path = (root or schemas_dir()) / domain / f"{stream}.avsc"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DomainError(
            f"stream {domain}.{stream} needs its Avro schema at {path}: {exc}. Add the file."
        ) from exc
    return {f["name"]: _field_type(f["type"]) for f in doc["fields"]}


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
        schema_root: Path | None = None,
    ) -> None:
        self.domain = domain
        self.shard = shard
        self.shards = shards
        self.seed = seed
        self.scale = scale
        self.max_pending = max_pending
        self.dropped_followups = 0
        self._share = scale / shards
        self.pools = {
            kind: EntityPool(kind, spec, shard, shards, seed, scale)
            for kind, spec in domain.entities.items()
        }
        profiles = {k: RateProfile(v, domain.growth_reference) for k, v in domain.profiles.items()}
        self._seq: dict[str, int] = {}
        self.streams: dict[str, _StreamRuntime] = {}
        for name, s in domain.streams.items():
            types = stream_field_types(domain.domain, name, schema_root)
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
            col = TableStrings(pool.ids, pool.sample(rng, n))
        elif f.attr is not None:
            src = cols[f.of or ""]
            if not isinstance(src, TableStrings):
                raise DomainError(
                    f"stream {rt.name} field {fname}: `of: {f.of}` is not an entity field"
                )
            pool = next(p for p in self.pools.values() if p.ids is src.table)
            table, idx = pool.attributes[f.attr]
            col = TableStrings(table, idx[src.idx])
        elif f.seq is not None:
            start = self._seq.get(f.seq, 0)
            self._seq[f.seq] = start + n
            col = seq_column(f.seq, self.shard, start, n)
        elif fname in rt.tables:
            table = rt.tables[fname]
            if f.weights is not None:
                w = np.asarray(f.weights, dtype=np.float64)
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
                due = times[mask] + self._delay(edge, rng, m)
                carried = {dst: take_column(cols[src], mask) for dst, src in edge.carry[k].items()}
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
        mid = t0 + span // 2
        for name, rt in self.streams.items():
            if not rt.spec.rate:
                continue
            factor = rt.profile.factor(mid) if rt.profile else 1.0
            lam = params[rt.rate_param] * self._share * factor * span / 1000.0
            n = int(rt.rng.poisson(lam))
            if n == 0:
                continue
            times = t0 + np.sort(rt.rng.integers(0, span, n, dtype=np.int64))
            cols = self._make(rt, times, {}, params)
            out.setdefault(name, []).append(cols)
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
                        self._schedule(target, cols, len(due), params)
            if not released:
                break
        return [self._batch(name, parts) for name, parts in out.items()]

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
