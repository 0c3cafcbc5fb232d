"""`cases`: a field whose law depends on the value of another field of the same event (a
timeout's latency at the client timeout, no tokens on a rate-limited call)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from simfleet.columns import (
    Column,
    FixedStrings,
    MaskedNumbers,
    TableStrings,
    concat_columns,
    take_column,
)
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec, Fills
from simfleet.domain.mechanisms.numbers import ByAttr
from simfleet.errors import DomainError
from simfleet.problems import Problem
from simfleet.suggest import did_you_mean

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec

__all__ = ["CasesField", "case_codes"]


class _Rows(Mapping[str, Column]):
    """The fields made so far, restricted to some rows (taken when a branch reads them)."""

    def __init__(self, cols: Mapping[str, Column], rows: npt.NDArray[np.int64]) -> None:
        self._cols = cols
        self._rows = rows
        self._taken: dict[str, Column] = {}

    def __getitem__(self, key: str) -> Column:
        got = self._taken.get(key)
        if got is None:
            got = self._taken[key] = take_column(self._cols[key], self._rows)
        return got

    def __iter__(self) -> Iterator[str]:
        return iter(self._cols)

    def __len__(self) -> int:
        return len(self._cols)


def _matches(col: Column, value: str) -> npt.NDArray[np.bool_]:
    """Where a column (of the field the cases read) holds ``value``; nulls never match."""
    if isinstance(col, TableStrings):
        code = col.table.lookup.get(value)
        found: npt.NDArray[np.bool_] = col.idx == (-2 if code is None else code)
        return found
    if isinstance(col, FixedStrings):
        key = np.frombuffer(value.encode(), np.uint8)
        if key.size != col.chars.shape[1]:
            return np.zeros(len(col.chars), np.bool_)
        hit: npt.NDArray[np.bool_] = np.all(col.chars == key, axis=1)
        return hit if col.null is None else hit & ~col.null
    values, null = (col.values, col.null) if isinstance(col, MaskedNumbers) else (col, None)
    arr = np.asarray(values)
    if arr.dtype == np.bool_:
        lowered = value.lower()
        if lowered not in ("true", "false", "1", "0"):
            return np.zeros(len(arr), np.bool_)
        out: npt.NDArray[np.bool_] = arr == (lowered in ("true", "1"))
    else:
        try:
            out = arr == float(value)
        except ValueError:
            return np.zeros(len(arr), np.bool_)
    return out if null is None else out & ~null


def case_codes(col: Column, values: list[str], n: int) -> npt.NDArray[np.int64]:
    """Per event (``n``), the index in ``values`` of the value its column holds (the first
    that matches), ``len(values)`` for none of them."""
    codes = np.full(n, len(values), np.int64)
    for k in range(len(values) - 1, -1, -1):  # the first listed wins
        codes[_matches(col, values[k])] = k
    return codes


class CasesField(FieldSpec):
    """`{cases: status, when: {timeout: {normal: [30000, 300]}}, otherwise: {lognormal: ...}}`:
    each event takes the law of the value its field `cases` holds, or `otherwise`."""

    key: ClassVar[str] = "cases"
    fills: ClassVar[Fills] = "values"  # each law is checked against the field's type itself
    why: ClassVar[str] = (
        "Fields that depend on an outcome of the same event (a timeout's latency sits at "
        "the client timeout and it bills nothing; a rate-limited call is fast and empty; an "
        "error carries part of an answer): independent draws per field make failures look "
        "like successes."
    )

    cases: str = Field(description="the event's field (made before) whose value picks the law")
    when: dict[str | int, FieldSpec] = Field(
        description="value -> the law of the events holding it (any generator, modifiers included)"
    )
    otherwise: FieldSpec | None = Field(
        None,
        description="the law of the events holding a value not listed (needed unless "
        "every value is)",
    )

    @model_validator(mode="after")
    def _branches(self) -> CasesField:
        if not self.when:
            raise ValueError("`cases` needs `when: {value: law}` with at least one value")
        for value, f in self.laws():
            if f.null_rate or f.null_if is not None:
                raise ValueError(
                    f"`null_rate`/`null_if` in the law of `{value}` are not applied inside "
                    "`cases`: write them on the `cases` field itself"
                )
        if self.times is not None or self.min is not None or self.max is not None:
            raise ValueError("write `times`, `min` and `max` in each law of `cases`")
        if self.round is not None:
            raise ValueError("write `round` in each law of `cases`")
        return self

    def laws(self) -> list[tuple[str, FieldSpec]]:
        """(value, law) of each case, `otherwise` last (as ``*``)."""
        out = [(str(v), f) for v, f in self.when.items()]
        return [*out, ("*", self.otherwise)] if self.otherwise is not None else out

    def branches(self) -> list[FieldSpec]:
        """The laws a value picks among."""
        return [f for _, f in self.laws()]

    def by_tables(self) -> list[ByAttr]:
        """Every `by` table of every law."""
        return [t for f in self.branches() for t in f.by_tables()]

    def reads(self) -> list[tuple[str, str]]:
        """The field the cases read, and what each law reads."""
        out = [("cases", self.cases)]
        for value, f in self.laws():
            at = "otherwise" if value == "*" else f"when.{value}"
            out += [(f"{at}.{w}", x) for w, x in f.reads()]
        return [*out, *super().reads()]

    def problems(self, spec: DomainSpec, where: str, file: Path) -> list[Problem]:
        """Each law's own checks; listed values a `choice` field read can hold, and an
        `otherwise` unless every value is listed."""
        out: list[Problem] = []
        for value, f in self.laws():
            at = f"{where}.otherwise" if value == "*" else f"{where}.when.{value}"
            out += f.problems(spec, at, file)
        stream = where.split(".fields.", maxsplit=1)[0].removeprefix("streams.")
        src = spec.streams[stream].fields.get(self.cases) if stream in spec.streams else None
        if src is None or src.choice is None:
            return out
        known = [str(v) for v in src.choice]
        for listed in self.when:
            value = str(listed)
            if value not in known:
                out.append(
                    Problem(
                        file,
                        f"{where}.when.{value}",
                        f"`{value}` is no value of field `{self.cases}`"
                        f"{did_you_mean(str(value), known)}",
                        f"list values of `{self.cases}`: {', '.join(known)}",
                    )
                )
        missing = [v for v in known if v not in {str(w) for w in self.when}]
        if missing and self.otherwise is None:
            out.append(
                Problem(
                    file,
                    f"{where}.otherwise",
                    f"`{self.cases}` may hold {', '.join(missing)}, which `when` does not list",
                    "add `otherwise: {...}` (the law of the other values) or list them",
                )
            )
        return out

    def draw(self, ctx: DrawContext) -> Column:
        """Each law drawn for the events its value picks (in the order listed, `otherwise`
        last), the results put back in the events' order."""
        laws = self.laws()
        listed = [v for v, _ in laws if v != "*"]
        codes = case_codes(ctx.cols[self.cases], listed, ctx.n)
        if self.otherwise is None and np.any(codes == len(listed)):
            raise DomainError(
                f"stream {ctx.stream} field {ctx.name}: an event's `{self.cases}` holds a value "
                f"that `when` does not list ({', '.join(listed)}); add `otherwise: {{...}}`"
            )
        parts: list[Column] = []
        rows: list[npt.NDArray[np.int64]] = []
        for k, (_, f) in enumerate(laws):
            at = np.flatnonzero(codes == k).astype(np.int64)
            if len(at) == 0 and (parts or k < len(laws) - 1):
                continue
            sub = dataclasses.replace(ctx, n=len(at), cols=_Rows(ctx.cols, at), table=None)
            parts.append(f.draw(sub))
            rows.append(at)
        made = concat_columns(parts)
        order = np.concatenate(rows)
        back = np.empty(len(order), np.int64)
        back[order] = np.arange(len(order), dtype=np.int64)
        return take_column(made, back)
