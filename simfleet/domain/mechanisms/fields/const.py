"""`const`: one value for every event."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from simfleet.columns import Column
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec, Fills
from simfleet.domain.mechanisms.fields.choice import table_column

__all__ = ["ConstField"]


class ConstField(FieldSpec):
    """The same value on every event: `{const: EUR}`."""

    key: ClassVar[str] = "const"
    fills: ClassVar[Fills] = "values"
    why: ClassVar[str] = (
        "Fields a schema requires but the domain fixes (a currency, a schema version); a "
        "campaign sets one to mark its events (`{const: card_testing}`)."
    )

    const: str | int | float | bool = Field(description="the value")

    def draw(self, ctx: DrawContext) -> Column:
        """The value, ``n`` times (a text value through the field's table)."""
        if isinstance(self.const, str):
            return table_column(ctx, (self.const,), np.zeros(ctx.n, dtype=np.int64))
        return self.finish(ctx, np.full(ctx.n, self.const))
