"""`pareto`: a bounded power law."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from simfleet.columns import Column
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec
from simfleet.domain.mechanisms.numbers import Spec

__all__ = ["Pareto", "ParetoField", "bounded_pareto"]


class Pareto(Spec):
    """A bounded Pareto law (a power law between ``min`` and ``max``): density proportional to
    ``x ** -(alpha + 1)``; the top few percent of draws hold most of the total."""

    alpha: float = Field(gt=0, description="the tail index: the smaller, the heavier the tail")
    min: float = Field(gt=0)
    max: float

    @model_validator(mode="after")
    def _bounds(self) -> Pareto:
        if not self.max > self.min:
            raise ValueError(f"`pareto` needs max > min: {self.min}, {self.max}")
        return self


def bounded_pareto(
    rng: np.random.Generator, alpha: float, lo: float, hi: float, n: int
) -> npt.NDArray[np.float64]:
    """``n`` draws of a Pareto law of index ``alpha`` truncated to ``[lo, hi]``, by inverting
    its CDF ``(1 - (lo/x)^alpha) / (1 - (lo/hi)^alpha)``."""
    u = rng.random(n)
    tail = 1.0 - (lo / hi) ** alpha
    out: npt.NDArray[np.float64] = lo * (1.0 - u * tail) ** (-1.0 / alpha)
    return np.minimum(out, hi)


class ParetoField(FieldSpec):
    """`{pareto: {alpha: 1.2, min: 1, max: 1000}}`; `times`, `min`, `max`, `round` apply."""

    key: ClassVar[str] = "pareto"
    numeric_law: ClassVar[bool] = True
    why: ClassVar[str] = (
        "Heavy tails where a few hold most of the total (a show's popularity, a whale's "
        "spend): a lognormal's tail is too light for the top percent to dominate."
    )

    pareto: Pareto = Field(description="a bounded power law: `{alpha: 1.2, min: 1, max: 1000}`")

    def draw_law(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
        """``n`` draws of the law, before factors, bounds and rounding."""
        return bounded_pareto(rng, self.pareto.alpha, self.pareto.min, self.pareto.max, n)

    def draw(self, ctx: DrawContext) -> Column:
        """The law's draws times ``times``, clipped, cast."""
        return self.finish(ctx, self.draw_law(ctx.rng, ctx.n))
