"""`lognormal`: a numeric law ([mu, sigma] of the logarithm)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field

from simfleet.columns import Column
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec

__all__ = ["LognormalField"]


class LognormalField(FieldSpec):
    """`{lognormal: ...}`: [mu, sigma] of the logarithm; `times`, `min`, `max`, `round` apply."""

    key: ClassVar[str] = "lognormal"
    numeric_law: ClassVar[bool] = True
    why: ClassVar[str] = (
        "Positive amounts with a long right tail (basket values, durations, token counts): "
        "most near the median, a few far above."
    )

    lognormal: tuple[float, float] = Field(description="[mu, sigma] of the logarithm")

    def draw_law(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
        """``n`` draws of the law, before factors, bounds and rounding."""
        out: npt.NDArray[np.float64] = rng.lognormal(self.lognormal[0], self.lognormal[1], n)
        return out

    def draw(self, ctx: DrawContext) -> Column:
        """The law's draws times ``times``, clipped, cast."""
        return self.finish(ctx, self.draw_law(ctx.rng, ctx.n))
