"""Columnar batches: how generated events travel from generators to encoders and sinks.

A stream's tick produces one ``Batch``: ``n`` events as columns (numpy arrays), never as
per-event dicts. Numeric Avro types are plain arrays (``int64`` for int, long and
timestamp-millis; ``float64`` for double and float; ``bool`` for boolean). Strings come in
two shapes, both vectorisable:

- ``TableStrings``: indices into a ``StrTable`` of distinct values (entity ids of a pool,
  categories, names). Encoding gathers pre-encoded rows of the table.
- ``FixedStrings``: a ``(n, width)`` uint8 matrix of ASCII characters (uuids, sequence ids).

A null is ``-1`` in ``TableStrings.idx`` or ``True`` in ``FixedStrings.null`` /
``MaskedNumbers.null``. Dicts exist only at the edges (``Batch.to_records``) for JSON lines,
Avro container files and tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "TRUTH_STREAM",
    "Batch",
    "Column",
    "FixedStrings",
    "MaskedNumbers",
    "StrTable",
    "TableStrings",
    "concat_columns",
    "take_column",
]

IntArray: TypeAlias = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class StrTable:
    """A table of distinct strings, referenced by index; encoded once, gathered many times."""

    values: tuple[str, ...]

    @cached_property
    def utf8(self) -> list[bytes]:
        """Each value as UTF-8 bytes (Kafka keys, Avro bodies)."""
        return [v.encode("utf-8") for v in self.values]

    @cached_property
    def fixed(self) -> npt.NDArray[np.uint8] | None:
        """The values as a (n, width) ASCII matrix when they all have one width, else None."""
        if not self.values:
            return None
        width = len(self.values[0])
        if (
            width == 0
            or any(len(v) != width for v in self.values)
            or not all(v.isascii() for v in self.values)
        ):
            return None
        return np.frombuffer("".join(self.values).encode("ascii"), np.uint8).reshape(-1, width)

    @cached_property
    def lookup(self) -> dict[str, int]:
        """Value -> index."""
        return {v: i for i, v in enumerate(self.values)}

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True, eq=False)
class TableStrings:
    """A string column as indices into a ``StrTable``; ``-1`` is null."""

    table: StrTable
    idx: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.idx)

    def to_list(self) -> list[str | None]:
        """Python strings, for the edges only."""
        vals = self.table.values
        return [None if i < 0 else vals[i] for i in self.idx.tolist()]

    def to_bytes_list(self) -> list[bytes | None]:
        """UTF-8 bytes per row (Kafka keys)."""
        utf8 = self.table.utf8
        return [None if i < 0 else utf8[i] for i in self.idx.tolist()]


@dataclass(frozen=True, eq=False)
class FixedStrings:
    """A string column of ASCII values of one width, as a ``(n, width)`` uint8 matrix."""

    chars: npt.NDArray[np.uint8]
    null: npt.NDArray[np.bool_] | None = None

    def __len__(self) -> int:
        return int(self.chars.shape[0])

    @property
    def width(self) -> int:
        """Characters per value."""
        return int(self.chars.shape[1])

    def to_bytes_list(self) -> list[bytes | None]:
        """ASCII bytes per row (Kafka keys)."""
        n, w = self.chars.shape
        flat = np.ascontiguousarray(self.chars).tobytes()
        out: list[bytes | None] = [flat[i * w : (i + 1) * w] for i in range(n)]
        if self.null is not None:
            for i in np.flatnonzero(self.null).tolist():
                out[i] = None
        return out

    def to_list(self) -> list[str | None]:
        """Python strings, for the edges only."""
        return [None if b is None else b.decode("ascii") for b in self.to_bytes_list()]


@dataclass(frozen=True, eq=False)
class MaskedNumbers:
    """A nullable numeric column: values plus a null mask."""

    values: npt.NDArray[Any]
    null: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.values)

    def to_list(self) -> list[Any]:
        """Python numbers or None, for the edges only."""
        vals: list[Any] = self.values.tolist()
        for i in np.flatnonzero(self.null).tolist():
            vals[i] = None
        return vals


Column: TypeAlias = npt.NDArray[Any] | TableStrings | FixedStrings | MaskedNumbers


def take_column(
    col: Column, index: npt.NDArray[np.int64] | npt.NDArray[np.bool_] | slice
) -> Column:
    """Rows of a column selected by an index array or a boolean mask."""
    if isinstance(col, TableStrings):
        return TableStrings(col.table, col.idx[index])
    if isinstance(col, FixedStrings):
        return FixedStrings(col.chars[index], None if col.null is None else col.null[index])
    if isinstance(col, MaskedNumbers):
        return MaskedNumbers(col.values[index], col.null[index])
    return col[index]


@lru_cache(maxsize=512)
def _union(tables: tuple[StrTable, ...]) -> tuple[StrTable, tuple[npt.NDArray[np.int64], ...]]:
    """One table holding the values of several, and each one's index remap into it."""
    values: dict[str, int] = {}
    for t in tables:
        for v in t.values:
            values.setdefault(v, len(values))
    union = StrTable(tuple(values))
    remaps = tuple(
        np.asarray([values[v] for v in t.values] + [-1], dtype=np.int64) for t in tables
    )  # the trailing -1 maps null (-1) to null
    return union, remaps


def _all_null(col: Column) -> bool:
    if isinstance(col, TableStrings):
        return bool((col.idx < 0).all())
    if isinstance(col, FixedStrings):
        return col.null is not None and bool(col.null.all())
    return False


def _concat_tables(ts: list[TableStrings]) -> Column:
    """TableStrings of one table, or fixed-width ids gathered, or a union table."""
    tables = tuple(dict.fromkeys(c.table for c in ts))
    if len(tables) == 1:
        return TableStrings(ts[0].table, np.concatenate([c.idx for c in ts]))
    fixed = [t.fixed for t in tables]
    if all(f is not None for f in fixed) and len({f.shape[1] for f in fixed if f is not None}) == 1:
        # ids of several shards' pools: gather their characters, no union table to encode
        chars = np.concatenate([c.table.fixed[np.maximum(c.idx, 0)] for c in ts])  # type: ignore[index]
        null = np.concatenate([c.idx < 0 for c in ts])
        return FixedStrings(chars, null if null.any() else None)
    union, remaps = _union(tables)
    where = {t: r for t, r in zip(tables, remaps, strict=True)}
    return TableStrings(union, np.concatenate([where[c.table][c.idx] for c in ts]))


def _as_fixed(cols: Sequence[Column]) -> Sequence[Column]:
    """Table strings beside fixed-width strings of their width, as fixed-width strings (a
    union of pools' ids came out fixed-width, the next chunk did not)."""
    widths = {c.width for c in cols if isinstance(c, FixedStrings) and not _all_null(c)}
    if len(widths) != 1:
        return cols
    w = widths.pop()
    out: list[Column] = []
    for c in cols:
        fixed = c.table.fixed if isinstance(c, TableStrings) and not _all_null(c) else None
        if isinstance(c, TableStrings) and fixed is not None and fixed.shape[1] == w:
            null = c.idx < 0
            out.append(FixedStrings(fixed[np.maximum(c.idx, 0)], null if null.any() else None))
        else:
            out.append(c)
    return out


def concat_columns(cols: Sequence[Column]) -> Column:
    """Rows of several columns, one after the other.

    String columns of different shapes are unified: ``TableStrings`` of different tables go
    through a union table; a column that is entirely null takes the shape of the others.
    """
    first = cols[0]
    if len(cols) == 1:
        return first
    if any(isinstance(c, FixedStrings) for c in cols):
        cols = _as_fixed(cols)
        widths = {c.width for c in cols if isinstance(c, FixedStrings) and not _all_null(c)}
        if len(widths) > 1 or any(
            not isinstance(c, FixedStrings) and not _all_null(c) for c in cols
        ):
            raise ValueError("cannot concatenate string columns of different widths or kinds")
        w = widths.pop() if widths else 0
        fs = [
            c
            if isinstance(c, FixedStrings) and c.width == w
            else FixedStrings(np.zeros((len(c), w), np.uint8), np.ones(len(c), np.bool_))
            for c in cols
        ]
        nulls = None
        if any(c.null is not None for c in fs):
            nulls = np.concatenate(
                [c.null if c.null is not None else np.zeros(len(c), np.bool_) for c in fs]
            )
        return FixedStrings(np.concatenate([c.chars for c in fs]), nulls)
    if isinstance(first, TableStrings):
        return _concat_tables([c for c in cols if isinstance(c, TableStrings)])
    if isinstance(first, MaskedNumbers) or any(isinstance(c, MaskedNumbers) for c in cols):
        ms = [
            c if isinstance(c, MaskedNumbers) else MaskedNumbers(c, np.zeros(len(c), np.bool_))  # type: ignore[arg-type]
            for c in cols
        ]
        return MaskedNumbers(
            np.concatenate([c.values for c in ms]), np.concatenate([c.null for c in ms])
        )
    return np.concatenate(cols)  # type: ignore[arg-type]


def column_to_list(col: Column) -> list[Any]:
    """Python values of a column, for the edges only."""
    if isinstance(col, TableStrings | FixedStrings | MaskedNumbers):
        return col.to_list()
    return col.tolist()  # type: ignore[no-any-return]


TRUTH_STREAM = "ground_truth"  # the stream name of the ground-truth batches engines write


@dataclass(frozen=True, eq=False)
class Batch:
    """``n`` events of one stream, as columns; ``occurred_at`` (ms) is sorted ascending."""

    stream: str
    topic: str
    n: int
    columns: Mapping[str, Column]
    key_field: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_truth(self) -> bool:
        """Ground truth an engine writes (journeys, episodes): labels, not traffic; stream
        counts, baselines and live metrics leave it out."""
        return self.stream == TRUTH_STREAM

    @property
    def occurred_at(self) -> npt.NDArray[np.int64]:
        """Event times in sim epoch milliseconds (also the Kafka record timestamps)."""
        col = self.columns["occurred_at"]
        assert isinstance(col, np.ndarray)
        return col

    def keys(self) -> list[bytes | None]:
        """Kafka keys: the entity id of each event, as bytes."""
        col = self.columns[self.key_field]
        if isinstance(col, TableStrings | FixedStrings):
            return col.to_bytes_list()
        return [str(v).encode() for v in column_to_list(col)]

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per event: for JSON lines, Avro container files and tests, not the hot path."""
        names = list(self.columns)
        lists = [column_to_list(self.columns[k]) for k in names]
        return [dict(zip(names, row, strict=True)) for row in zip(*lists, strict=True)]
