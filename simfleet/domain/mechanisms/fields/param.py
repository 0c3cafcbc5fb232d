"""`param`: the current value of a parameter of the pack."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from pydantic import Field

from simfleet.columns import Column
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec
from simfleet.domain.mechanisms.refs import param_problem
from simfleet.problems import Problem

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec

__all__ = ["ParamField"]


class ParamField(FieldSpec):
    """`{param: fee_rate}`: what the parameter is now (scenarios move it)."""

    key: ClassVar[str] = "param"
    why: ClassVar[str] = (
        "Makes a parameter visible in the data (a price list, a fee rate): when a scenario "
        "moves it the events show the new value from that instant on."
    )

    param: str = Field(description="the current value of a parameter")

    def problems(self, spec: DomainSpec, where: str, file: Path) -> list[Problem]:
        """The parameter exists."""
        return param_problem(spec, f"{where}.param", self.param, file)

    def draw(self, ctx: DrawContext) -> Column:
        """The value, ``n`` times, times ``times``, clipped, cast."""
        value = ctx.engine.param(self.param, ctx.params)
        return self.finish(ctx, np.full(ctx.n, value, dtype=np.float64))
