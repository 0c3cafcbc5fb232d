"""`after`: an instant a uniform delay after another instant of the event."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field, model_validator

from simfleet.columns import Column
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec
from simfleet.domain.mechanisms.fields.product import numbers_of
from simfleet.domain.mechanisms.numbers import SignedDurationMs, Spec

__all__ = ["After", "AfterField"]


class After(Spec):
    """An instant after another: ``{of: presale_at, uniform: [1d, 7d]}``; a negative bound
    (``-14d``) reaches before it (the openings of shows announced before a run)."""

    of: str = Field("occurred_at", description="the instant field it follows")
    uniform: tuple[SignedDurationMs, SignedDurationMs] = Field(
        description="the delay's bounds (durations, inclusive)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> After:
        if self.uniform[0] > self.uniform[1]:
            raise ValueError(f"`uniform: [lo, hi]` needs lo <= hi: {self.uniform}")
        return self


class AfterField(FieldSpec):
    """`{after: {of: presale_at, uniform: [1d, 7d]}}`: a timestamp."""

    key: ClassVar[str] = "after"
    why: ClassVar[str] = (
        "Instants inside an event that follow one another (a show's presale, then its "
        "general sale, then the show): ordered timestamps that `record` keeps on the "
        "entity and `openings` weights read."
    )

    after: After = Field(
        description="an instant: a timestamp field (or occurred_at) plus a uniform delay"
    )

    def reads(self) -> list[tuple[str, str]]:
        """The instant it follows."""
        return [("after.of", self.after.of), *super().reads()]

    def draw(self, ctx: DrawContext) -> Column:
        """The instant plus a uniform whole number of milliseconds (no modifiers)."""
        base = np.asarray(numbers_of(ctx.cols[self.after.of]), dtype=np.int64)
        lo, hi = self.after.uniform
        return base + ctx.rng.integers(lo, hi + 1, ctx.n, dtype=np.int64)
