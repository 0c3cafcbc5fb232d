"""`choice`: one of listed values, uniformly or by weights (numbers, parameters, `by`
tables)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from simfleet.columns import Column, StrTable, TableStrings
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec, Fills
from simfleet.domain.mechanisms.numbers import ByAttr, Number
from simfleet.domain.mechanisms.refs import by_problems, param_problem
from simfleet.problems import Problem

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec

__all__ = ["ChoiceField", "row_choice", "table_column"]


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


def table_column(
    ctx: DrawContext, values: tuple[object, ...], idx: npt.NDArray[np.int64]
) -> Column:
    """Rows ``idx`` of the field's value table: strings, or numbers for a numeric field."""
    table = ctx.table if ctx.table is not None else StrTable(tuple(str(v) for v in values))
    if ctx.ftype.kind != "str":
        picked = np.asarray([float(v) for v in table.values])[idx]
        return np.rint(picked).astype(np.int64) if ctx.ftype.kind == "int" else picked
    return TableStrings(table, idx)


class ChoiceField(FieldSpec):
    """One of the listed values: `{choice: [card, wallet], weights: [0.7, 0.3]}`."""

    key: ClassVar[str] = "choice"
    fills: ClassVar[Fills] = "values"
    why: ClassVar[str] = (
        "Categories with a realistic mix, which a scenario can shift (weights that are "
        "parameters) and which depend on who acts (weights by a persona): the categorical "
        "half of every event."
    )

    choice: tuple[str | int | float, ...] = Field(description="the values")
    weights: tuple[Number, ...] | None = Field(
        None, description="one per choice: a number, a parameter path or a `by` table"
    )

    @model_validator(mode="after")
    def _weights(self) -> ChoiceField:
        if self.weights is not None and len(self.weights) != len(self.choice):
            raise ValueError("`weights` must have one weight per `choice` value")
        return self

    def numbers(self) -> list[Number]:
        """The weights."""
        return list(self.weights or ())

    def problems(self, spec: DomainSpec, where: str, file: Path) -> list[Problem]:
        """Weights name parameters of the pack and drawn attributes."""
        out: list[Problem] = []
        for k, w in enumerate(self.weights or ()):
            out += param_problem(spec, f"{where}.weights.{k}", w, file)
        for k, w in enumerate(self.weights or ()):
            if isinstance(w, ByAttr):
                out += by_problems(spec, w, f"{where}.weights.{k}", file)
        return out

    def draw(self, ctx: DrawContext) -> Column:
        """Indices into the values: by weight (one uniform draw per event), else uniform."""
        n = len(self.choice)
        if self.weights is not None:
            idx = row_choice(ctx.rng, [ctx.number(x) for x in self.weights], ctx.n)
        elif n > 1:
            idx = ctx.rng.integers(0, n, ctx.n, dtype=np.int64)
        else:
            idx = np.zeros(ctx.n, dtype=np.int64)
        return table_column(ctx, self.choice, idx)
