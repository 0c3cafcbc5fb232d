"""`bernoulli`: true with a probability (a number, a parameter, a `by` table)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from pydantic import Field

from simfleet.columns import Column
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec
from simfleet.domain.mechanisms.numbers import ByAttr, Number
from simfleet.domain.mechanisms.refs import by_problems, param_problem
from simfleet.problems import Problem

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec

__all__ = ["BernoulliField"]


class BernoulliField(FieldSpec):
    """`{bernoulli: 0.02}`: a flag (bool, or 0/1 in an int field)."""

    key: ClassVar[str] = "bernoulli"
    why: ClassVar[str] = (
        "Flags whose rate a scenario moves (a parameter) or that depend on who acts (a `by` "
        "table: fraudsters fail logins more), read by `null_if` and chain conditions."
    )

    bernoulli: Number = Field(description="probability, parameter path or `by` table")

    def numbers(self) -> list[Number]:
        """The probability."""
        return [self.bernoulli]

    def problems(self, spec: DomainSpec, where: str, file: Path) -> list[Problem]:
        """The probability names a parameter of the pack or a drawn attribute."""
        out = param_problem(spec, f"{where}.bernoulli", self.bernoulli, file)
        if isinstance(self.bernoulli, ByAttr):
            out += by_problems(spec, self.bernoulli, f"{where}.bernoulli", file)
        return out

    def draw(self, ctx: DrawContext) -> Column:
        """One uniform draw per event against the probability (no factors or bounds)."""
        v = ctx.rng.random(ctx.n) < ctx.number(self.bernoulli)
        return v if ctx.ftype.kind == "bool" else v.astype(np.int64)
