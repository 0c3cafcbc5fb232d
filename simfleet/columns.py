"""Columnar batches: how generated events travel from generators to encoders and sinks.

A stream's tick produces one ``Batch``: ``n`` events as columns (numpy arrays), never as
per-event dicts. Numeric Avro types are plain arrays (``int64`` for int, long and
timestamp-millis; ``float64`` for double and float; ``bool`` for boolean). Strings come in
two shapes, both vectorisable:

- ``TableStrings``: indices into a ``StrTable`` of distinct values (categories, names) or into
  a pool's ``EntityIds``. Encoding gathers pre-encoded rows of a table; a pool's ids are not
  held as strings but rendered from the indices (head + zero-padded number), vectorised.
- ``FixedStrings``: a ``(n, width)`` uint8 matrix of ASCII characters (uuids, sequence ids).

A null is ``-1`` in ``TableStrings.idx`` or ``True`` in ``FixedStrings.null`` /
``MaskedNumbers.null``. Dicts exist only at the edges (``Batch.to_records``) for JSON lines,
Avro container files and tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, TypeAlias, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "TRUTH_STREAM",
    "Batch",
    "Column",
    "EntityIds",
    "FixedStrings",
    "MaskedNumbers",
    "StrTable",
    "TableStrings",
    "concat_columns",
    "take_column",
]

IntArray: TypeAlias = npt.NDArray[np.int64]


class StrTable:
    """A table of distinct strings, referenced by index; encoded once, gathered many times."""

    def __init__(self, values: Sequence[str]) -> None:
        self._values = tuple(values)

    @property
    def values(self) -> Sequence[str]:
        """The strings, in index order."""
        return self._values

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} values)"

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
    def lookup(self) -> Mapping[str, int]:
        """Value -> index."""
        return {v: i for i, v in enumerate(self.values)}

    @property
    def width(self) -> int | None:
        """The one length of every value when they are all ASCII of one length, else None."""
        fixed = self.fixed
        return None if fixed is None else int(fixed.shape[1])

    def chars(self, idx: IntArray) -> npt.NDArray[np.uint8]:
        """Rows ``idx`` (none null) as a (n, width) ASCII matrix; only when ``width`` is set."""
        fixed = self.fixed
        if fixed is None:
            raise ValueError("chars() needs a table of ASCII values of one width")
        return fixed[idx]

    def texts(self, idx: IntArray) -> list[str | None]:
        """The values of rows ``idx`` (``-1``: None)."""
        vals = self.values
        return [None if i < 0 else vals[i] for i in idx.tolist()]

    def utf8_of(self, idx: IntArray) -> list[bytes | None]:
        """The UTF-8 bytes of rows ``idx`` (``-1``: None)."""
        utf8 = self.utf8
        return [None if i < 0 else utf8[i] for i in idx.tolist()]


# rows up to which one 2-d pass over the digits beats a pass per digit
_SMALL = 256
_POW10 = 10 ** np.arange(18, -1, -1, dtype=np.int64)  # 10**18 .. 1


class EntityIds(StrTable):
    """The ids of one entity pool, ``<head><n>`` with ``n`` zero-padded to ``digits`` for each
    index ``n`` below ``size``: held as that rule, rendered from the indices where they leave
    as text (encoding, keys, files), so a pool of millions costs no string per entity."""

    def __init__(self, head: str, size: int, digits: int = 6) -> None:
        super().__init__(())
        self.head = head
        self.size = size
        self.digits = digits
        self._head = np.frombuffer(head.encode("utf-8"), np.uint8)

    def value(self, i: int) -> str:
        """The id of entity ``i``."""
        return f"{self.head}{i:0{self.digits}d}"

    @property
    def values(self) -> Sequence[str]:
        """Every id, rendered one by one when read (tests and the edges, not the hot path)."""
        return _RenderedIds(self)

    def __len__(self) -> int:
        return self.size

    @property
    def utf8(self) -> list[bytes]:
        """Every id as UTF-8 (not kept: a pool's ids are rendered per use)."""
        return [v.encode("utf-8") for v in self.values]

    @property
    def fixed(self) -> npt.NDArray[np.uint8] | None:
        """Every id as a (size, width) ASCII matrix, not kept; None if widths differ."""
        if self.width is None or self.size == 0:
            return None
        return self.chars(np.arange(self.size, dtype=np.int64))

    @property
    def lookup(self) -> Mapping[str, int]:
        """Id -> index, by parsing the id (no dict of millions)."""
        return _IdLookup(self)

    def find(self, value: str) -> int:
        """The index of id ``value``, or -1 when the pool has no such id."""
        rest = value[len(self.head) :]
        if not value.startswith(self.head) or not rest.isascii() or not rest.isdigit():
            return -1
        i = int(rest)
        return i if i < self.size and self.value(i) == value else -1

    @property
    def width(self) -> int | None:
        """Ids have one width while every index fits ``digits`` and the head is ASCII."""
        if self.size > 10**self.digits or len(self._head) != len(self.head):
            return None
        return len(self.head) + self.digits

    def render(self, idx: IntArray) -> tuple[npt.NDArray[np.uint8], IntArray]:
        """The UTF-8 bytes of ids ``idx`` (none null) as a zero-padded (n, w) matrix and each
        row's length: the head, then the index's decimal digits, one numpy pass per digit."""
        i = np.asarray(idx, dtype=np.int64)
        n, h = len(i), len(self._head)
        most = max(self.digits, len(str(int(i.max())))) if n else self.digits
        out = np.zeros((n, h + most), np.uint8)
        out[:, :h] = self._head
        if most == self.digits and n <= _SMALL:  # every index fits, few rows: one pass
            out[:, h:] = i[:, None] // _POW10[_POW10.size - most :] % 10 + 48
            return out, np.full(n, h + most, np.int64)
        if most == self.digits:  # every index fits: one column per digit
            v = i.copy()
            for col in range(h + most - 1, h - 1, -1):
                out[:, col] = v % 10 + 48
                v //= 10
            return out, np.full(n, h + most, np.int64)
        digits = np.full(n, self.digits, np.int64)
        for k in range(self.digits, most):
            digits += i >= 10**k
        rows, v = np.arange(n), i.copy()
        last = h + digits - 1
        for p in range(most):
            keep = p < digits
            out[rows[keep], last[keep] - p] = v[keep] % 10 + 48
            v //= 10
        return out, h + digits

    def chars(self, idx: IntArray) -> npt.NDArray[np.uint8]:
        """Rows ``idx`` as a (n, width) ASCII matrix; only when ``width`` is set."""
        if self.width is None:
            raise ValueError("chars() needs ids of one width")
        return self.render(idx)[0]

    def _bytes(self, idx: IntArray) -> list[bytes]:
        mat, _ = self.render(np.maximum(idx, 0))
        # ids hold no NUL, so the zero padding of a numpy bytes row is exactly its end
        out: list[bytes] = np.ascontiguousarray(mat).view(f"S{mat.shape[1]}").ravel().tolist()
        return out

    def utf8_of(self, idx: IntArray) -> list[bytes | None]:
        """The UTF-8 bytes of ids ``idx`` (``-1``: None), rendered in one pass."""
        out: list[bytes | None] = list(self._bytes(idx))
        for k in np.flatnonzero(idx < 0).tolist():
            out[k] = None
        return out

    def texts(self, idx: IntArray) -> list[str | None]:
        """The ids ``idx`` (``-1``: None)."""
        return [None if b is None else b.decode("utf-8") for b in self.utf8_of(idx)]

    def __reduce__(self) -> tuple[type[EntityIds], tuple[str, int, int]]:
        return (EntityIds, (self.head, self.size, self.digits))


class _RenderedIds(Sequence[str]):
    """A pool's ids as a read-only sequence, each rendered when read."""

    def __init__(self, ids: EntityIds) -> None:
        self._ids = ids

    def __len__(self) -> int:
        return self._ids.size

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...
    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        if isinstance(i, slice):
            return [self._ids.value(k) for k in range(*i.indices(self._ids.size))]
        if i < 0:
            i += self._ids.size
        if not 0 <= i < self._ids.size:
            raise IndexError(i)
        return self._ids.value(i)


class _IdLookup(Mapping[str, int]):
    """Id -> index of a pool, by parsing: the mapping interface without a dict."""

    def __init__(self, ids: EntityIds) -> None:
        self._ids = ids

    def __getitem__(self, value: str) -> int:
        i = self._ids.find(value)
        if i < 0:
            raise KeyError(value)
        return i

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and self._ids.find(value) >= 0

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids.values)

    def __len__(self) -> int:
        return self._ids.size


@dataclass(frozen=True, eq=False)
class TableStrings:
    """A string column as indices into a ``StrTable``; ``-1`` is null."""

    table: StrTable
    idx: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.idx)

    def to_list(self) -> list[str | None]:
        """Python strings, for the edges only."""
        return self.table.texts(self.idx)

    def to_bytes_list(self) -> list[bytes | None]:
        """UTF-8 bytes per row (Kafka keys)."""
        return self.table.utf8_of(self.idx)


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
        chars = np.ascontiguousarray(self.chars)
        out: list[bytes | None]
        if w and not (chars[:, -1] == 0).any():
            # numpy's fixed-width bytes drop trailing NULs: none here, so each row is whole
            out = chars.view(f"S{w}").ravel().tolist()
        else:
            flat = chars.tobytes()
            out = [flat[i * w : (i + 1) * w] for i in range(n)]
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
    if type(col) is np.ndarray:  # the common case first: this runs per column per event kind
        return col[index]
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
    widths = {t.width for t in tables}
    if len(widths) == 1 and None not in widths:
        # ids of several shards' pools: gather their characters, no union table to encode
        chars = np.concatenate([c.table.chars(np.maximum(c.idx, 0)) for c in ts])
        null = np.concatenate([c.idx < 0 for c in ts])
        return FixedStrings(chars, null if null.any() else None)
    if any(isinstance(t, EntityIds) for t in tables):
        # a pool holds millions of ids: a union of the values the rows use, not of the pools
        texts = [v for c in ts for v in c.table.texts(c.idx)]
        table = StrTable(tuple(dict.fromkeys(v for v in texts if v is not None)))
        look = table.lookup
        idx = np.fromiter((-1 if v is None else look[v] for v in texts), np.int64, len(texts))
        return TableStrings(table, idx)
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
        if isinstance(c, TableStrings) and not _all_null(c) and c.table.width == w:
            null = c.idx < 0
            chars = c.table.chars(np.maximum(c.idx, 0))
            out.append(FixedStrings(chars, null if null.any() else None))
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
    if all(type(c) is np.ndarray for c in cols):  # plain numbers: the common case
        return np.concatenate(cols)  # type: ignore[arg-type]
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
