"""`normal`: a numeric law ([mean, sd])."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field

from simfleet.columns import Column
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec

__all__ = ["NormalField"]


class NormalField(FieldSpec):
    """`{normal: ...}`: [mean, sd]; `times`, `min`, `max`, `round` apply."""

    key: ClassVar[str] = "normal"
    numeric_law: ClassVar[bool] = True
    why: ClassVar[str] = (
        "A measurement scattered symmetrically around a typical value (a temperature, a rating)."
    )

    normal: tuple[float, float] = Field(description="[mean, sd]")

    def draw_law(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
        """``n`` draws of the law, before factors, bounds and rounding."""
        out: npt.NDArray[np.float64] = rng.normal(self.normal[0], self.normal[1], n)
        return out

    def draw(self, ctx: DrawContext) -> Column:
        """The law's draws times ``times``, clipped, cast."""
        return self.finish(ctx, self.draw_law(ctx.rng, ctx.n))
