"""`sum_of`: a weighted sum of numeric fields made before (tokens x price per token)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from pydantic import Field

from simfleet.columns import Column
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec
from simfleet.domain.mechanisms.fields.product import numbers_of, rounded
from simfleet.domain.mechanisms.numbers import ByAttr, Number
from simfleet.domain.mechanisms.refs import by_problems, param_problem
from simfleet.problems import Problem

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec

__all__ = ["SumOfField"]


class SumOfField(FieldSpec):
    """`{sum_of: {input_tokens: price_in, output_tokens: price_out}}`."""

    key: ClassVar[str] = "sum_of"
    why: ClassVar[str] = (
        "A cost computed from usage on the same event with per-entity prices (a model's "
        "price per token by a `by` table), so cost and usage stay consistent."
    )

    sum_of: dict[str, Number] = Field(
        description="the sum of numeric fields made before, each times a number, a parameter "
        "or a `by` table (tokens x the model's price per token)",
    )

    def numbers(self) -> list[Number]:
        """The terms' weights."""
        return list(self.sum_of.values())

    def reads(self) -> list[tuple[str, str]]:
        """The terms."""
        return [*(("sum_of", x) for x in self.sum_of), *super().reads()]

    def problems(self, spec: DomainSpec, where: str, file: Path) -> list[Problem]:
        """The weights name parameters of the pack or drawn attributes."""
        out: list[Problem] = []
        for x, w in self.sum_of.items():
            out += param_problem(spec, f"{where}.sum_of.{x}", w, file)
            if isinstance(w, ByAttr):
                out += by_problems(spec, w, f"{where}.sum_of.{x}", file)
        return out

    def draw(self, ctx: DrawContext) -> Column:
        """The sum, cast or rounded (no `times` or bounds)."""
        v = np.zeros(ctx.n)
        for name, term in self.sum_of.items():
            x = ctx.number(term)
            v = v + np.asarray(numbers_of(ctx.cols[name]), dtype=np.float64) * x
        return rounded(self, ctx, v)
