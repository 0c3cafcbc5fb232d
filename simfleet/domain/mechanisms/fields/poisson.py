"""`poisson`: a numeric law (the mean count)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field

from simfleet.columns import Column
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec

__all__ = ["PoissonField"]


class PoissonField(FieldSpec):
    """`{poisson: ...}`: the mean count; `times`, `min`, `max`, `round` apply."""

    key: ClassVar[str] = "poisson"
    numeric_law: ClassVar[bool] = True
    why: ClassVar[str] = "Counts of independent occurrences (items in a basket, retries)."

    poisson: float = Field(description="the mean count")

    def draw_law(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
        """``n`` draws of the law, before factors, bounds and rounding."""
        out: npt.NDArray[np.float64] = rng.poisson(self.poisson, n).astype(np.float64)
        return out

    def draw(self, ctx: DrawContext) -> Column:
        """The law's draws times ``times``, clipped, cast."""
        return self.finish(ctx, self.draw_law(ctx.rng, ctx.n))
