"""Finite stocks: per entity and level, units that events fill, consume and restore.

A consumption takes its units if its level has them; otherwise it tries the other levels in
the stock's order (``on_empty: next``) or is not emitted (``drop``). Within a batch the events
are served in time order: a level accepts the prefix of its requests whose running total fits,
so no level ever goes below zero. The columns ``sold`` and ``remaining`` (after each event)
are added to the events for their chains (inventory events).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from simfleet.columns import Column, MaskedNumbers, StrTable, TableStrings, take_column
from simfleet.domain.spec import StockSpec, StockUse
from simfleet.errors import DomainError
from simfleet.producers.pools import EntityPool

__all__ = ["Stock", "apply_stock"]


class Stock:
    """One stock of one shard: units left and sold per (entity, level)."""

    def __init__(self, name: str, spec: StockSpec, pool: EntityPool) -> None:
        self.name = name
        self.spec = spec
        self.pool = pool
        self.levels = tuple(spec.levels)
        self.shares = np.asarray([spec.levels[k] for k in self.levels], dtype=np.float64)
        self.remaining = np.zeros((pool.size, len(self.levels)), dtype=np.int64)
        self.sold = np.zeros((pool.size, len(self.levels)), dtype=np.int64)
        # level per value of each level table seen: weak, so the tables of past batches (and
        # their ids, which Python reuses) do not stay in it
        self._lookup: weakref.WeakKeyDictionary[StrTable, npt.NDArray[np.int64]] = (
            weakref.WeakKeyDictionary()
        )

    def __getstate__(self) -> dict[str, object]:
        # engines are pickled (checkpoints); a weak cache is rebuilt, not saved
        return {k: v for k, v in self.__dict__.items() if k != "_lookup"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lookup = weakref.WeakKeyDictionary()

    def level_of(self, col: TableStrings) -> npt.NDArray[np.int64]:
        """The stock level of each value of a level column (-1: not a level)."""
        table = col.table
        lut = self._lookup.get(table)
        if lut is None:
            index = {v: i for i, v in enumerate(self.levels)}
            lut = np.asarray([index.get(v, -1) for v in table.values] + [-1], dtype=np.int64)
            self._lookup[table] = lut
        return lut[np.where(col.idx >= 0, col.idx, len(table))]

    def fill(self, ent: npt.NDArray[np.int64], amount: npt.NDArray[np.float64]) -> None:
        """Set each entity's stock: ``floor(amount x share)`` per level, none sold yet."""
        ok = ent >= 0
        units = np.floor(amount[ok, None] * self.shares[None, :]).astype(np.int64)
        self.remaining[ent[ok]] = units
        self.sold[ent[ok]] = 0

    def consume(
        self,
        ent: npt.NDArray[np.int64],
        level: npt.NDArray[np.int64],
        qty: npt.NDArray[np.int64],
        move: bool,
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Serve requests in row order: (served, level served, sold after, remaining after) per
        row; levels are changed in place in ``level``."""
        n = len(ent)
        served = np.zeros(n, dtype=np.bool_)
        sold_after = np.zeros(n, dtype=np.int64)
        left_after = np.zeros(n, dtype=np.int64)
        want = (ent >= 0) & (level >= 0) & (qty > 0)
        nl = len(self.levels)
        tries = [level] + ([np.full(n, k, dtype=np.int64) for k in range(nl)] if move else [])
        flat_left = self.remaining.reshape(-1)
        flat_sold = self.sold.reshape(-1)
        for cand in tries:
            trying = want & ~served
            while trying.any():
                rows = np.flatnonzero(trying)
                e, lv, q = ent[rows], cand[rows], qty[rows]
                key = e * nl + lv
                order = np.argsort(key, kind="stable")  # rows keep time order within a key
                ks, qs, rs = key[order], q[order], rows[order]
                cum = np.cumsum(qs)
                first = np.r_[True, ks[1:] != ks[:-1]]
                run = cum - np.maximum.accumulate(np.where(first, cum - qs, 0))
                left = flat_left[ks]
                ok = run <= left  # a prefix of each key: served in time order
                sold0 = flat_sold[ks]
                served[rs[ok]] = True
                level[rs[ok]] = lv[order][ok]
                sold_after[rs[ok]] = (sold0 + run)[ok]
                left_after[rs[ok]] = (left - run)[ok]
                np.subtract.at(flat_left, ks[ok], qs[ok])
                np.add.at(flat_sold, ks[ok], qs[ok])
                # a request larger than what is now left never fits this level; a smaller
                # one behind it gets another round
                # (so each round serves or removes at least the first request of each key)
                trying[rs] = ~ok & (qs <= flat_left[ks])
        return served, sold_after, left_after

    def restore(
        self, ent: npt.NDArray[np.int64], level: npt.NDArray[np.int64], qty: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Give units back (never more than were sold); (sold after, remaining after) per row."""
        n = len(ent)
        sold_after = np.zeros(n, dtype=np.int64)
        left_after = np.zeros(n, dtype=np.int64)
        rows = np.flatnonzero((ent >= 0) & (level >= 0) & (qty > 0))
        if len(rows) == 0:
            return sold_after, left_after
        nl = len(self.levels)
        key = ent[rows] * nl + level[rows]
        order = np.argsort(key, kind="stable")
        ks, qs = key[order], qty[rows][order]
        cum = np.cumsum(qs)
        first = np.r_[True, ks[1:] != ks[:-1]]
        run = cum - np.maximum.accumulate(np.where(first, cum - qs, 0))
        flat_left = self.remaining.reshape(-1)
        flat_sold = self.sold.reshape(-1)
        sold0, left0 = flat_sold[ks], flat_left[ks]
        back = np.minimum(run, sold0)  # never more than were sold
        sold_after[rows[order]] = sold0 - back
        left_after[rows[order]] = left0 + back
        last = np.r_[ks[1:] != ks[:-1], True]
        flat_sold[ks[last]] = (sold0 - back)[last]
        flat_left[ks[last]] = (left0 + back)[last]
        return sold_after, left_after


def _ints(col: Column, what: str) -> npt.NDArray[np.int64]:
    values = col.values if isinstance(col, MaskedNumbers) else col
    if not isinstance(values, np.ndarray):
        raise DomainError(f"stock: field `{what}` is not numeric")
    out: npt.NDArray[np.int64] = np.rint(values).astype(np.int64)
    return out


def _entities(col: Column, pool: EntityPool, what: str) -> npt.NDArray[np.int64]:
    if not isinstance(col, TableStrings) or col.table is not pool.ids:
        raise DomainError(f"stock: field `{what}` does not hold {pool.kind} ids")
    return np.asarray(col.idx, dtype=np.int64)


def apply_stock(
    uses: tuple[StockUse, ...], stocks: Mapping[str, Stock], cols: dict[str, Column]
) -> dict[str, Column]:
    """Apply a stream's stock uses to its events: the events served (all but dropped
    consumptions), with their level moved where needed and the reported columns added."""
    for use in uses:
        stock = stocks[use.stock]
        ent = _entities(cols[use.of], stock.pool, use.of)
        if use.op == "fill":
            amount = cols[use.amount]
            values = amount.values if isinstance(amount, MaskedNumbers) else amount
            stock.fill(ent, np.asarray(values, dtype=np.float64))
            continue
        lcol = cols[use.level or ""]
        if not isinstance(lcol, TableStrings):
            raise DomainError(f"stock {use.stock}: field `{use.level}` does not hold levels")
        level = stock.level_of(lcol)
        qty = _ints(cols[use.amount], use.amount)
        if use.op == "restore":
            sold, left = stock.restore(ent, level, qty)
        else:
            served, sold, left = stock.consume(ent, level, qty, use.on_empty == "next")
            table = StrTable(stock.levels)
            cols[use.level or ""] = _moved(lcol, level, table)
            if not served.all():
                cols = {k: take_column(c, served) for k, c in cols.items()}
                sold, left = sold[served], left[served]
        if use.sold is not None:
            cols[use.sold] = sold
        if use.remaining is not None:
            cols[use.remaining] = left
    return cols


def _moved(col: TableStrings, level: npt.NDArray[np.int64], levels: StrTable) -> TableStrings:
    """The level column after moves, over the column's table (widened by any level it lacks:
    a campaign that draws one tier only)."""
    table = col.table
    missing = [v for v in levels.values if v not in table.lookup]
    if missing:
        table = StrTable((*table.values, *missing))
    to_orig = np.asarray([table.lookup[v] for v in levels.values], dtype=np.int64)
    idx = np.where(level >= 0, to_orig[np.maximum(level, 0)], col.idx)
    return TableStrings(table, idx.astype(np.int64))
