"""`process`: the value of a random process of the pack (a price) for the event's entity."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from simfleet.codec.catalog import FieldType
from simfleet.columns import Column
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec, generators
from simfleet.domain.mechanisms.refs import unknown
from simfleet.domain.mechanisms.volatility import ReadBy
from simfleet.problems import Problem

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec

__all__ = ["ProcessField"]

_FLOAT = FieldType("float", False)


class ProcessField(FieldSpec):
    """`{process: price, of: instrument_id, read: bid}`; with `read: move`, a numeric `law`
    multiplied by the move (`{process: price, of: id, read: move, law: {lognormal: [5, 1]}}`)."""

    key: ClassVar[str] = "process"
    why: ClassVar[str] = (
        "Values that evolve continuously per entity in sim time (a price path), identical "
        "whatever the tick, so quotes and trades of one instrument agree and volatility "
        "is realistic; volumes rise with the size of the latest move."
    )

    process: str = Field(
        description="a process of the pack (`processes`): its value for the entity in field "
        "`of` at the event's instant",
    )
    of: str | None = Field(None, description="the event's field holding the entity id")
    read: Literal["level", "bid", "ask", "move"] = Field(
        "level",
        description="what is read: the level, the level less or plus half its spread, or "
        "(`move`, a multiplier of `law`) 1 + the size of the latest move in standard "
        "deviations of normal times",
    )
    law: FieldSpec | None = Field(
        None, description="with `read: move`: the numeric generator the move multiplies"
    )
    read_by: ReadBy | None = Field(
        None,
        description="what is read by the value of another field of the event (`{field: side, "
        "values: {buy: ask, sell: bid}}`: buyer-initiated trades print at the ask)",
    )

    @classmethod
    def absorbs(cls, raw: Mapping[str, Any]) -> bool:
        """A `move` takes the numeric law written beside it (`{lognormal: ..., process: ...,
        read: move}`, the short form) as its `law`."""
        return raw.get("read") == "move" and "law" not in raw

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, raw: Any) -> Any:
        if not isinstance(raw, Mapping) or "law" in raw:
            return raw
        laws = [k for k in raw if k in generators() and k != cls.key]
        if not laws:
            return raw
        out = {k: v for k, v in raw.items() if k not in laws}
        return {**out, "law": {k: raw[k] for k in laws}}

    @model_validator(mode="after")
    def _shape(self) -> ProcessField:
        if self.of is None:
            raise ValueError("`process` needs `of`: the field holding the entity id")
        if self.read == "move" and self.law is None:
            raise ValueError("`read: move` multiplies a numeric law: add one, e.g. lognormal")
        if self.read != "move" and self.law is not None:
            raise ValueError("`law` applies to `read: move` only")
        if self.law is not None and self.law.fills != "number":
            raise ValueError(f"a `move` multiplies a numeric law, not `{self.law.key}`")
        if self.read_by is not None and self.read == "move":
            raise ValueError("`read_by` picks a level, bid or ask: it takes no `read: move`")
        return self

    def reads(self) -> list[tuple[str, str]]:
        """The field `read_by` reads is made first."""
        own = [("read_by.field", self.read_by.field)] if self.read_by is not None else []
        return [*own, *super().reads()]

    def problems(self, spec: DomainSpec, where: str, file: Path) -> list[Problem]:
        """The process exists."""
        if self.process in spec.processes:
            return []
        fix = "name a process of `processes`"
        return [unknown(file, f"{where}.process", "process", self.process, spec.processes, fix)]

    def draw(self, ctx: DrawContext) -> Column:
        """The process's level, bid or ask, or the law times the move; times `times`."""
        factor: Any = 1.0
        for x in self.factors():
            factor = factor * ctx.number(x)
        if self.law is not None:
            law = self.law.draw(dataclasses.replace(ctx, ftype=_FLOAT, table=None))
            factor = factor * np.asarray(law, dtype=np.float64)
        proc = ctx.engine.process(self.process)
        out: Column = proc.column(self, ctx.cols, ctx.params, ctx.ftype, factor)
        return out
