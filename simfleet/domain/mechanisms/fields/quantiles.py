"""`quantiles`: an empirical numeric law (values at evenly spaced probabilities)."""

from __future__ import annotations

import itertools
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator

from simfleet.columns import Column
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec

__all__ = ["QuantilesField"]


class QuantilesField(FieldSpec):
    """`{quantiles: [q0, ..., q100]}`: the values at evenly spaced probabilities, linear in
    between; `times`, `min`, `max`, `round` apply."""

    key: ClassVar[str] = "quantiles"
    numeric_law: ClassVar[bool] = True
    why: ClassVar[str] = (
        "A measured quantity whose shape no named law fits (two humps, a floor, a cap): "
        "`simctl fit` writes it from a recording's quantiles, so the marginal matches."
    )

    quantiles: tuple[float, ...] = Field(
        description="values at probabilities 0, 1/(n-1), ..., 1 (nondecreasing, at least 2)"
    )

    @field_validator("quantiles")
    @classmethod
    def _ordered(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) < 2 or any(b < a for a, b in itertools.pairwise(v)):
            raise ValueError("`quantiles` needs at least 2 nondecreasing values")
        return v

    def draw_law(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
        """``n`` draws by the inverse CDF, before factors, bounds and rounding."""
        q = np.asarray(self.quantiles, dtype=np.float64)
        grid = np.linspace(0.0, 1.0, len(q))
        out: npt.NDArray[np.float64] = np.interp(rng.random(n), grid, q)
        return out

    def draw(self, ctx: DrawContext) -> Column:
        """The law's draws times ``times``, clipped, cast."""
        return self.finish(ctx, self.draw_law(ctx.rng, ctx.n))
