"""`integers`: a numeric law (inclusive bounds)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field

from simfleet.columns import Column
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec

__all__ = ["IntegersField"]


class IntegersField(FieldSpec):
    """`{integers: ...}`: inclusive bounds; `times`, `min`, `max`, `round` apply."""

    key: ClassVar[str] = "integers"
    numeric_law: ClassVar[bool] = True
    why: ClassVar[str] = (
        "Whole numbers equally likely between two bounds (a quantity, a seat count)."
    )

    integers: tuple[int, int] = Field(description="inclusive bounds")

    def draw_law(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
        """``n`` draws of the law, before factors, bounds and rounding."""
        out: npt.NDArray[np.float64] = rng.integers(
            self.integers[0], self.integers[1] + 1, n
        ).astype(np.float64)
        return out

    def draw(self, ctx: DrawContext) -> Column:
        """The law's draws times ``times``, clipped, cast."""
        return self.finish(ctx, self.draw_law(ctx.rng, ctx.n))
