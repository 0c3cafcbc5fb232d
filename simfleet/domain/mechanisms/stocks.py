"""`stocks` and a stream's `stock`: finite quantities per entity and level, filled,
consumed and restored by events; the models and their checks (the engine:
simfleet.producers.engine.stock)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from simfleet.domain.mechanisms.numbers import Spec
from simfleet.domain.mechanisms.refs import unknown
from simfleet.problems import Problem

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec, StreamSpec

__all__ = ["StockSpec", "StockUse", "problems"]


class StockSpec(Spec):
    """A finite stock per entity and level (a show's seats per tier), filled by one stream's
    events and consumed by another's; it never goes below zero.

    YAML: ``{entity: show, levels: {Standard: 0.6, Premium: 0.3, VIP: 0.1}}``: a fill of amount
    a gives each level ``floor(a x share)``; levels are tried in this order when one runs out."""

    entity: str = Field(description="the entity kind that holds the stock")
    levels: dict[str, float] = Field(min_length=1, description="level -> share of a fill")

    @model_validator(mode="after")
    def _shares(self) -> StockSpec:
        if any(v < 0 for v in self.levels.values()) or sum(self.levels.values()) > 1 + 1e-9:
            raise ValueError("`levels` shares must be >= 0 and add up to at most 1")
        return self


class StockUse(Spec):
    """How a stream's events touch a stock: ``fill`` it (``amount``: the entity's total),
    ``consume`` from it (``amount`` units of level ``level``) or ``restore`` to it.

    A consumption that finds its level short moves to the next level with room
    (``on_empty: next``) or is not emitted at all (``drop``): a sold-out tier takes no more
    orders. ``sold`` and ``remaining`` name the columns, after each event, that its chains
    carry to their targets (inventory events)."""

    stock: str
    op: Literal["fill", "consume", "restore"]
    of: str = Field(description="the field holding the entity id")
    amount: str = Field(description="the numeric field: units (or the total, for a fill)")
    level: str | None = Field(None, description="the field holding the level (not for fill)")
    on_empty: Literal["next", "drop"] = "drop"
    sold: str | None = None
    remaining: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> StockUse:
        if (self.op == "fill") != (self.level is None):
            raise ValueError("`fill` takes no `level`; `consume` and `restore` need one")
        return self

    def reported(self) -> list[str]:
        """The columns this use adds to its events for their chains."""
        return [c for c in (self.sold, self.remaining) if c is not None]


def problems(
    spec: DomainSpec, s: StreamSpec, use: StockUse, where: str, file: Path
) -> list[Problem]:
    """A stock use names a stock of the pack, the stream's entity field of the stock's kind,
    and (consume, restore) a `choice` field holding every level of the stock."""
    stock = spec.stocks.get(use.stock)
    if stock is None:
        return [
            unknown(
                file, f"{where}.stock", "stock", use.stock, spec.stocks, "declare it under `stocks`"
            )
        ]
    out: list[Problem] = []
    # fields the stream does not generate are carried to it by a chain (checked there)
    of = s.fields.get(use.of)
    if of is not None and of.entity != stock.entity:
        out.append(
            Problem(
                file,
                f"{where}.of",
                f"`{use.of}` is not an `entity: {stock.entity}` field of this stream",
                f"name the field that draws the {stock.entity} holding the stock",
            )
        )
    lvl = s.fields.get(use.level or "")
    if lvl is not None:
        values = {str(v) for v in (lvl.choice or ())}
        missing = [k for k in stock.levels if k not in values]
        if missing:
            out.append(
                Problem(
                    file,
                    f"{where}.level",
                    f"`{use.level}` is not a `choice` of this stream holding every level of stock "
                    f"{use.stock} (missing: {', '.join(missing)})",
                    f"draw it with `choice: [{', '.join(stock.levels)}]`",
                )
            )
    return out
