"""Field generation: fills each field of a batch of events with one vectorised draw.

A stream's fields come from its spec (entity picks, entity attributes, id sequences, choices,
numeric laws) and their types from the stream's Avro schema (``SchemaEntry.fields``). Every draw
uses the stream's own random stream, in field order, so the same inputs give the same output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from simfleet.codec.catalog import FieldType
from simfleet.columns import (
    Column,
    EntityIds,
    FixedStrings,
    MaskedNumbers,
    StrTable,
    TableStrings,
)
from simfleet.domain.spec import ByAttr, DomainSpec, FieldSpec, Number, StreamSpec
from simfleet.errors import DomainError
from simfleet.producers.engine.processes import Process
from simfleet.producers.laws import draw_law
from simfleet.producers.pools import EntityPool
from simfleet.producers.profiles import RateProfile

__all__ = [
    "FieldMaker",
    "StreamRuntime",
    "by_column",
    "gen_number",
    "number",
    "seq_column",
    "uuid_column",
    "weight",
]

VALUE = "value"  # `by: value`: a table over the values of a `choice` field of the event
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# byte -> its two hex digits, as one uint16 (memory order: high digit first)
_HEX_PAIRS = (
    np.stack([_HEX[np.arange(256) >> 4], _HEX[np.arange(256) & 0x0F]], axis=1)
    .astype(np.uint8)
    .view(np.uint16)
    .ravel()
)


def uuid_column(rng: np.random.Generator, n: int) -> FixedStrings:
    """``n`` random version-4 UUIDs as a (n, 36) character matrix."""
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hx = _HEX_PAIRS.take(raw).view(np.uint8)  # (n, 32) hex digits
    out = np.empty((n, 36), dtype=np.uint8)
    out[:, 0:8] = hx[:, 0:8]
    out[:, 9:13] = hx[:, 8:12]
    out[:, 14:18] = hx[:, 12:16]
    out[:, 19:23] = hx[:, 16:20]
    out[:, 24:36] = hx[:, 20:32]
    out[:, [8, 13, 18, 23]] = ord("-")
    return FixedStrings(out)


def seq_column(prefix: str, shard: int, start: int, n: int) -> FixedStrings:
    """``<prefix>-<shard:03>-<seq:010>`` ids for sequence numbers start .. start+n-1."""
    head = np.frombuffer(f"{prefix}-{shard:03d}-".encode(), dtype=np.uint8)
    values = np.arange(start, start + n, dtype=np.int64)
    pow10 = 10 ** np.arange(9, -1, -1, dtype=np.int64)
    digits = ((values[:, None] // pow10) % 10 + 48).astype(np.uint8)
    return FixedStrings(np.hstack([np.broadcast_to(head, (n, len(head))), digits]))


@dataclass
class StreamRuntime:
    """One stream of one shard: its spec, its schema's field types and its random stream."""

    name: str
    topic: str
    spec: StreamSpec
    types: dict[str, FieldType]
    rng: np.random.Generator
    profile: RateProfile | None
    rate_param: str
    tables: dict[str, StrTable] = field(default_factory=dict)


def weight(domain: DomainSpec, w: float | str, params: Mapping[str, float]) -> float:
    """A weight or probability: a number, or the name of a parameter of ``domain``."""
    return params[domain.param_path(w)] if isinstance(w, str) else float(w)


def by_column(
    b: ByAttr,
    cols: Mapping[str, Column],
    pool_of_table: Mapping[int, EntityPool],
    params: Mapping[str, float] | None = None,
    domain: str = "",
) -> npt.NDArray[np.float64]:
    """Per event, the number of table ``b`` for the entity in field ``b.of`` (``by: value``:
    for the value of the `choice` field or carried tag ``b.of`` itself); where the value is
    not listed, the number of table ``b.otherwise`` if there is one."""
    col = cols[b.of or ""]
    if b.by == VALUE and isinstance(col, TableStrings):
        numbers = np.asarray(
            [*b.table(col.table.values, params, domain), b.fallback(params, domain)]
        )
        out = numbers[np.where(col.idx >= 0, col.idx, len(col.table))]
        table, codes = col.table, col.idx
    else:
        pool = pool_of_table.get(id(col.table)) if isinstance(col, TableStrings) else None
        if pool is None or not isinstance(col, TableStrings):
            raise DomainError(f"`by: {b.by}` table: field `{b.of}` does not hold entity ids")
        out = pool.by_values(b, col.idx, params)
        if b.otherwise is None:
            return out
        table, values = pool.attributes[b.by]
        codes = np.where(col.idx >= 0, values[np.maximum(col.idx, 0)], -1)
    if b.otherwise is None:
        return out
    listed = np.asarray([v in b.listed for v in table.values] + [False])
    rest = ~listed[np.where(codes >= 0, codes, len(table))]
    if rest.any():
        out = np.where(rest, by_column(b.otherwise, cols, pool_of_table, params, domain), out)
    return out


def number(
    domain: DomainSpec,
    w: Number,
    params: Mapping[str, float],
    cols: Mapping[str, Column],
    pool_of_table: Mapping[int, EntityPool],
) -> float | npt.NDArray[np.float64]:
    """A number, a parameter's value, or (a `by` table) one number per event."""
    if isinstance(w, ByAttr):
        return by_column(w, cols, pool_of_table, params, domain.domain)
    return weight(domain, w, params)


def row_choice(
    rng: np.random.Generator, w: list[float | npt.NDArray[np.float64]], n: int
) -> npt.NDArray[np.int64]:
    """One index per event into ``w`` (weights, scalars or one per event); one uniform draw
    per event either way, so scalar weights draw exactly as before."""
    u = rng.random(n)
    if all(np.ndim(x) == 0 for x in w):
        ws = np.asarray(w, dtype=np.float64)
        total = ws.sum()
        cdf = np.cumsum(ws) / total if total > 0 else np.linspace(0, 1, len(ws) + 1)[1:]
        return np.searchsorted(cdf, u, side="right").astype(np.int64)
    m = np.column_stack([np.broadcast_to(np.asarray(x, np.float64), (n,)) for x in w])
    cum = np.cumsum(m, axis=1)
    total = cum[:, -1]
    safe = np.where(total > 0, total, 1.0)
    pick: npt.NDArray[np.int64] = (cum / safe[:, None] <= u[:, None]).sum(axis=1)
    return np.minimum(pick, len(w) - 1).astype(np.int64)


def gen_number(
    domain: DomainSpec,
    f: FieldSpec,
    n: int,
    rng: np.random.Generator,
    params: Mapping[str, float],
    ftype: FieldType,
    cols: Mapping[str, Column] | None = None,
    pool_of_table: Mapping[int, EntityPool] | None = None,
) -> npt.NDArray[Any]:
    """``n`` values of a numeric (or boolean) field from its law (``cols``: the fields made so
    far, which `by` tables read)."""
    v: npt.NDArray[Any]
    given = cols or {}
    pools = pool_of_table or {}
    if f.bernoulli is not None:
        v = rng.random(n) < number(domain, f.bernoulli, params, given, pools)
        return v if ftype.kind == "bool" else v.astype(np.int64)
    if f.const is not None:
        v = np.full(n, f.const)
    elif f.param is not None:
        v = np.full(n, params[domain.param_path(f.param)], dtype=np.float64)
    else:
        drawn = draw_law(f, rng, n)
        if drawn is None:  # pragma: no cover - the spec validator guarantees one generator
            raise DomainError(f"field without generator: {f}")
        v = drawn
    for x in f.factors():
        v = v * number(domain, x, params, given, pools)
    if f.min is not None or f.max is not None:
        v = np.clip(v, f.min, f.max)
    if ftype.kind == "bool":
        return v.astype(np.bool_)
    if ftype.kind == "int":
        return np.rint(v).astype(np.int64)
    v = v.astype(np.float64)
    return np.round(v, f.round) if f.round is not None else v


def _numbers(col: Column) -> npt.NDArray[Any]:
    if isinstance(col, MaskedNumbers):
        return col.values
    if not isinstance(col, np.ndarray):
        raise DomainError("a numeric field was expected")
    return col


def _nulled(col: Column, null: npt.NDArray[np.bool_]) -> Column:
    """``col`` with the rows of ``null`` made null."""
    if isinstance(col, TableStrings):
        return TableStrings(col.table, np.where(null, -1, col.idx).astype(np.int64))
    if isinstance(col, FixedStrings):
        return FixedStrings(col.chars, null if col.null is None else null | col.null)
    if isinstance(col, MaskedNumbers):
        return MaskedNumbers(col.values, null | col.null)
    return MaskedNumbers(col, null)


def as_table_strings(col: Column) -> TableStrings:
    """A string column as table strings (concatenation may give fixed-width ones); numbers
    as their text."""
    if isinstance(col, TableStrings):
        return col
    if isinstance(col, FixedStrings):
        uniq, inv = np.unique(col.chars, axis=0, return_inverse=True)  # one decode per value
        table = StrTable(tuple(bytes(r).decode() for r in uniq))
        idx = inv.reshape(-1).astype(np.int64)
        if col.null is not None:
            idx[col.null] = -1
        return TableStrings(table, idx)
    arr = col.values if isinstance(col, MaskedNumbers) else col
    uniq, inv = np.unique(np.asarray(arr), return_inverse=True)
    return TableStrings(StrTable(tuple(map(str, uniq.tolist()))), inv.reshape(-1).astype(np.int64))


def tagged(tag: Column, made: Column, ftype: FieldType) -> Column:
    """A field's generated values, replaced where a campaign tagged the event."""
    tag = as_table_strings(tag)
    if not isinstance(tag, TableStrings):
        raise DomainError("a campaign tag column holds strings")
    hit = tag.idx >= 0
    if not hit.any():
        return made
    if hit.all() and ftype.kind == "str":
        return tag  # carried whole, as any carried field
    if isinstance(made, TableStrings):
        # keep the generated column's table (an entity pool's ids) when it holds every tag
        mapped = tag.idx
        if made.table is not tag.table:
            used = np.unique(tag.idx[hit])  # only the tags used: a table may be a whole pool
            look = made.table.lookup
            found = np.asarray(
                [-1 if v is None else look.get(v, -1) for v in tag.table.texts(used)], np.int64
            )
            mapped = np.full(len(tag.idx), -1, np.int64)
            mapped[hit] = found[np.searchsorted(used, tag.idx[hit])]
        if np.all(mapped[hit] >= 0):
            return TableStrings(made.table, np.where(hit, mapped, made.idx).astype(np.int64))
        if isinstance(made.table, EntityIds) or isinstance(tag.table, EntityIds):
            # a table of the values the rows hold, not of every id of a pool
            rows = [
                t if h else m
                for h, m, t in zip(
                    hit.tolist(), made.table.texts(made.idx), tag.table.texts(tag.idx), strict=True
                )
            ]
            table = StrTable(tuple(dict.fromkeys(v for v in rows if v is not None)))
            look = table.lookup
            return TableStrings(
                table,
                np.fromiter((-1 if v is None else look[v] for v in rows), np.int64, len(rows)),
            )
        table = StrTable((*made.table.values, *tag.table.values))
        idx = np.where(hit, len(made.table) + tag.idx, made.idx)
        return TableStrings(table, idx.astype(np.int64))
    if not isinstance(made, np.ndarray):
        raise DomainError(f"a campaign tag cannot replace a column of kind {ftype.kind}")
    if ftype.kind == "bool":
        values = np.asarray([v.lower() in ("true", "1") for v in tag.table.values], np.bool_)
    else:
        values = np.asarray([float(v) for v in tag.table.values], np.float64)
    out = made.copy()
    out[hit] = values[tag.idx[hit]].astype(made.dtype)
    return out


def _law_only(f: FieldSpec) -> FieldSpec:
    """The numeric law of a field that a process ``move`` multiplies, unscaled and unrounded."""
    return f.model_copy(
        update={
            "process": None,
            "read": "level",
            "of": None,
            "times": None,
            "round": None,
            "min": None,
            "max": None,
        }
    )


_FLOAT = FieldType("float", False)


class FieldMaker:
    """Makes the columns of a shard's events; holds the shard's id sequence counters."""

    def __init__(self, domain: DomainSpec, shard: int, pools: Mapping[str, EntityPool]) -> None:
        self.domain = domain
        self.shard = shard
        self.pools = pools
        self.seq: dict[str, int] = {}  # per `seq` prefix: the next sequence number
        self.pool_of_table = {id(p.ids): p for p in pools.values()}
        self._among: Mapping[str, npt.NDArray[np.int64]] = {}
        self.processes: Mapping[str, Process] = {}  # set by the engine

    def make(
        self,
        rt: StreamRuntime,
        times: npt.NDArray[np.int64],
        carried: dict[str, Column],
        params: Mapping[str, float],
        t0: int,
        among: Mapping[str, npt.NDArray[np.int64]] | None = None,
        override: Mapping[str, FieldSpec] | None = None,
    ) -> dict[str, Column]:
        """Events of ``rt`` at ``times``: ``carried`` columns as given, the rest generated.

        ``t0`` is the start of the current tick (entity picks other than ``active`` need it).
        A campaign's events draw entities of the kinds in ``among`` among those only, and take
        the generators of ``override`` over the stream's own.
        """
        n = len(times)
        cols: dict[str, Column] = {"event_id": uuid_column(rt.rng, n), "occurred_at": times}
        cols.update(carried)
        specs = rt.spec.fields if not override else {**rt.spec.fields, **override}
        self._among = among or {}
        for fname, f in specs.items():
            if fname not in cols:
                cols[fname] = self.gen_field(rt, fname, f, n, cols, params, t0)
            elif fname in self.domain.tags:
                made = self.gen_field(rt, fname, f, n, cols, params, t0)
                cols[fname] = tagged(cols[fname], made, rt.types[fname])
        return cols

    def gen_field(
        self,
        rt: StreamRuntime,
        fname: str,
        f: FieldSpec,
        n: int,
        cols: Mapping[str, Column],
        params: Mapping[str, float],
        t0: int,
    ) -> Column:
        """``n`` values of field ``fname`` (``cols``: the fields made so far)."""
        ftype = rt.types[fname]
        rng = rt.rng
        col: Column
        if f.entity is not None:
            pool = self.pools[f.entity]
            among = self._among.get(f.entity)
            if among is not None:
                col = TableStrings(pool.ids, among[rng.integers(0, len(among), n)])
            elif f.openings is not None:
                times = cols["occurred_at"]
                assert isinstance(times, np.ndarray)
                idx = pool.sample_open(rng, times, f.weight, f.openings, params)
                col = TableStrings(pool.ids, idx)
            elif f.pick == "active" and f.weight is not None:
                col = TableStrings(pool.ids, pool.sample_weighted(rng, n, f.weight, params))
            elif f.pick == "active":
                col = TableStrings(pool.ids, pool.sample(rng, n))
            else:
                col = TableStrings(pool.ids, pool.take(rng, f.pick, t0, n))
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
            if isinstance(col, np.ndarray):  # a numeric attribute
                if ftype.kind == "int":
                    col = np.rint(col).astype(np.int64)
                elif f.round is not None:
                    col = np.round(col, f.round)
        elif f.seq is not None:
            start = self.seq.get(f.seq, 0)
            self.seq[f.seq] = start + n
            col = seq_column(f.seq, self.shard, start, n)
        elif fname in rt.tables:
            table = rt.tables[fname]
            if f.weights is not None:
                w = [number(self.domain, x, params, cols, self.pool_of_table) for x in f.weights]
                idx = row_choice(rng, w, n)
            elif len(table) > 1:
                idx = rng.integers(0, len(table), n, dtype=np.int64)
            else:
                idx = np.zeros(n, dtype=np.int64)
            if ftype.kind != "str":
                values = np.asarray([float(v) for v in table.values])[idx]
                col = np.rint(values).astype(np.int64) if ftype.kind == "int" else values
            else:
                col = TableStrings(table, idx)
        elif f.after is not None:
            base = np.asarray(_numbers(cols[f.after.of]), dtype=np.int64)
            lo, hi = f.after.uniform
            col = base + rng.integers(lo, hi + 1, n, dtype=np.int64)
        elif f.sum_of is not None:
            v = np.zeros(n)
            for name, term in f.sum_of.items():
                x = number(self.domain, term, params, cols, self.pool_of_table)
                v = v + np.asarray(_numbers(cols[name]), dtype=np.float64) * x
            if ftype.kind == "int":
                col = np.rint(v).astype(np.int64)
            else:
                col = np.round(v, f.round) if f.round is not None else v
        elif f.product is not None:
            v = np.ones(n)
            for name in f.product:
                v = v * np.asarray(_numbers(cols[name]), dtype=np.float64)
            if ftype.kind == "int":
                col = np.rint(v).astype(np.int64)
            else:
                col = np.round(v, f.round) if f.round is not None else v
        elif f.process is not None:
            col = self._process_field(f, n, rng, cols, params, ftype)
        else:
            col = gen_number(self.domain, f, n, rng, params, ftype, cols, self.pool_of_table)
        if f.null_if is not None:
            flag = np.asarray(_numbers(cols[f.null_if]), dtype=np.bool_)
            col = _nulled(col, flag)
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

    def _process_field(
        self,
        f: FieldSpec,
        n: int,
        rng: np.random.Generator,
        cols: Mapping[str, Column],
        params: Mapping[str, float],
        ftype: FieldType,
    ) -> Column:
        """A field reading a process: its level, bid or ask, or a numeric law times the move."""
        factor: float | npt.NDArray[np.float64] = 1.0
        for x in f.factors():
            factor = factor * number(self.domain, x, params, cols, self.pool_of_table)
        if f.read == "move":
            law = gen_number(self.domain, _law_only(f), n, rng, params, _FLOAT)
            factor = factor * np.asarray(law, dtype=np.float64)
        return self.processes[f.process or ""].column(f, cols, params, ftype, factor)
