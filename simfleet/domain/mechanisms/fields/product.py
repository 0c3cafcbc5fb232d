"""`product`: the product of numeric fields made before (unit price x quantity)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field

from simfleet.columns import Column, MaskedNumbers
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec
from simfleet.errors import DomainError

__all__ = ["ProductField", "numbers_of", "rounded"]


def numbers_of(col: Column) -> npt.NDArray[Any]:
    """The values of a numeric column (nulls included as drawn)."""
    if isinstance(col, MaskedNumbers):
        return col.values
    if not isinstance(col, np.ndarray):
        raise DomainError("a numeric field was expected")
    return col


def rounded(f: FieldSpec, ctx: DrawContext, v: npt.NDArray[np.float64]) -> Column:
    """A computed value cast to an int field, or rounded to the field's `round`."""
    if ctx.ftype.kind == "int":
        return np.rint(v).astype(np.int64)
    return np.round(v, f.round) if f.round is not None else v


class ProductField(FieldSpec):
    """`{product: [unit_price, quantity]}`."""

    key: ClassVar[str] = "product"
    why: ClassVar[str] = (
        "Totals consistent with their parts on the same event (amount = unit price x "
        "quantity), so a reconciliation of the data holds exactly."
    )

    product: tuple[str, ...] = Field(
        description="the product of numeric fields made before (unit price x quantity)"
    )

    def reads(self) -> list[tuple[str, str]]:
        """The factors."""
        return [*(("product", x) for x in self.product), *super().reads()]

    def draw(self, ctx: DrawContext) -> Column:
        """The product, cast or rounded (no `times` or bounds)."""
        v = np.ones(ctx.n)
        for name in self.product:
            v = v * np.asarray(numbers_of(ctx.cols[name]), dtype=np.float64)
        return rounded(self, ctx, v)
