"""`uniform`: a numeric law ([lo, hi): every value equally likely)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field

from simfleet.columns import Column
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec

__all__ = ["UniformField"]


class UniformField(FieldSpec):
    """`{uniform: [lo, hi]}`: every value equally likely; `times`, `min`, `max`, `round`
    apply."""

    key: ClassVar[str] = "uniform"
    numeric_law: ClassVar[bool] = True
    why: ClassVar[str] = (
        "A bounded quantity with no preferred value inside its range (a delay's jitter, a score)."
    )

    uniform: tuple[float, float] = Field(description="[lo, hi): every value equally likely")

    def draw_law(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
        """``n`` draws of the law, before factors, bounds and rounding."""
        out: npt.NDArray[np.float64] = rng.uniform(self.uniform[0], self.uniform[1], n)
        return out

    def draw(self, ctx: DrawContext) -> Column:
        """The law's draws times ``times``, clipped, cast."""
        return self.finish(ctx, self.draw_law(ctx.rng, ctx.n))
