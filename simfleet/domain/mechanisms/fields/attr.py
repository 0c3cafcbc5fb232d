"""`attr`: an attribute of the entity another field of the event holds."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field, model_validator

from simfleet.columns import Column, TableStrings
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec, Fills
from simfleet.errors import DomainError

__all__ = ["AttrField"]


class AttrField(FieldSpec):
    """An attribute of the entity in field `of`: `{attr: persona, of: user_id}`."""

    key: ClassVar[str] = "attr"
    fills: ClassVar[Fills] = "attribute"
    why: ClassVar[str] = (
        "An entity's attributes are drawn once and then repeat on every event about it (a "
        "user's country, a show's venue): consistent denormalised facts, and relations "
        "followed one hop (a student's regular tutor). An independent draw per event "
        "would contradict itself."
    )

    attr: str = Field(description="an attribute of the entity in field `of`")
    of: str | None = Field(None, description="the event's field holding the entity id")

    @model_validator(mode="after")
    def _of(self) -> AttrField:
        if self.of is None:
            raise ValueError("`attr` needs `of`: the field holding the entity id")
        return self

    def draw(self, ctx: DrawContext) -> Column:
        """The attribute's value for each event's entity (a numeric one cast and rounded)."""
        src = ctx.cols[self.of or ""]
        if not isinstance(src, TableStrings):
            raise DomainError(
                f"stream {ctx.stream} field {ctx.name}: `of: {self.of}` is not an entity field"
            )
        pool = ctx.engine.pool_holding(src)
        times = ctx.cols["occurred_at"]
        assert isinstance(times, np.ndarray)
        col: Column = pool.attribute(self.attr, src.idx, times)
        if isinstance(col, np.ndarray):  # a numeric attribute
            if ctx.ftype.kind == "int":
                col = np.rint(col).astype(np.int64)
            elif self.round is not None:
                col = np.round(col, self.round)
        return col
