"""Field generation: fills each field of a batch of events with one vectorised draw.

A stream's fields come from its spec (entity picks, entity attributes, id sequences, choices,
numeric laws) and their types from the stream's Avro schema (``SchemaEntry.fields``). Every draw
uses the stream's own random stream, in field order, so the same inputs give the same output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
from simfleet.domain.mechanisms import DrawContext, Number
from simfleet.domain.mechanisms.fields.choice import row_choice
from simfleet.domain.mechanisms.fields.product import numbers_of
from simfleet.domain.mechanisms.fields.seq import seq_column
from simfleet.domain.spec import ByAttr, DomainSpec, FieldSpec, StreamSpec
from simfleet.errors import DomainError
from simfleet.producers.engine.localtime import Tilt
from simfleet.producers.engine.processes import Process
from simfleet.producers.pools import EntityPool
from simfleet.producers.profiles import RateProfile

__all__ = [
    "FieldMaker",
    "StreamRuntime",
    "by_column",
    "number",
    "row_choice",
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


class FieldMaker:
    """Makes the columns of a shard's events; holds the shard's id sequence counters."""

    def __init__(self, domain: DomainSpec, shard: int, pools: Mapping[str, EntityPool]) -> None:
        self.domain = domain
        self.shard = shard
        self.pools = pools
        self.seq: dict[str, int] = {}  # per `seq` prefix: the next sequence number
        self.pool_of_table = {id(p.ids): p for p in pools.values()}
        self._among: Mapping[str, npt.NDArray[np.int64]] = {}
        # per entity kind: the local-time tilt of the rated draw being made (set by the tick)
        self.tilts: Mapping[str, Tilt] = {}
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
        """``n`` values of field ``fname`` (``cols``: the fields made so far): the draw of
        the field's generator, then its nulls."""
        ftype = rt.types[fname]
        ctx = DrawContext(
            self, rt.name, fname, ftype, rt.rng, n, cols, params, t0, rt.tables.get(fname)
        )
        col = f.draw(ctx)
        if f.null_if is not None:
            flag = np.asarray(numbers_of(cols[f.null_if]), dtype=np.bool_)
            col = _nulled(col, flag)
        if f.null_rate > 0:
            null = rt.rng.random(n) < f.null_rate
            if isinstance(col, TableStrings):
                idx = col.idx.copy()
                idx[null] = -1
                col = TableStrings(col.table, idx)
            elif isinstance(col, FixedStrings):
                col = FixedStrings(col.chars, null)
            elif isinstance(col, np.ndarray):
                col = MaskedNumbers(col, null)
        return col

    # -- what a generator's draw asks of the engine (simfleet.domain.mechanisms.FieldEngine)

    def pool(self, kind: str) -> EntityPool:
        """The shard's pool of ``kind`` entities."""
        return self.pools[kind]

    def pool_holding(self, col: Column) -> EntityPool:
        """The pool whose ids ``col`` holds."""
        return next(p for p in self.pools.values() if p.ids is getattr(col, "table", None))

    def among(self, kind: str) -> npt.NDArray[np.int64] | None:
        """A campaign's actors of ``kind`` (None outside campaigns)."""
        return self._among.get(kind)

    def tilt(self, kind: str) -> Tilt | None:
        """The local-time tilt of ``kind`` draws in the batch being made (None: none)."""
        return self.tilts.get(kind)

    def next_seq(self, prefix: str, n: int) -> int:
        """The first of ``n`` new sequence numbers of ``prefix``."""
        start = self.seq.get(prefix, 0)
        self.seq[prefix] = start + n
        return start

    def process(self, name: str) -> Process:
        """The shard's process ``name``."""
        return self.processes[name]

    def number(
        self, w: Number, cols: Mapping[str, Column], params: Mapping[str, float]
    ) -> float | npt.NDArray[np.float64]:
        """A number, a parameter's value or (a `by` table) one number per event."""
        return number(self.domain, w, params, cols, self.pool_of_table)

    def param(self, name: str, params: Mapping[str, float]) -> float:
        """The current value of the pack's parameter ``name``."""
        return params[self.domain.param_path(name)]
