"""`processes.<name>.clustering`, `.jumps`, `.spread_follows`, `.tick`: the stylized facts of
a price process (volatility that comes in spells, jumps, a spread that widens with the
volatility, prices on a tick grid); the models and their checks (the engine's draw:
simfleet.producers.engine.volatility). Every one is off unless a pack writes it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simfleet.domain.mechanisms.numbers import Spec
from simfleet.scenarios import DurationMs

__all__ = ["ClusteringSpec", "JumpsSpec", "ReadBy"]


class ClusteringSpec(Spec):
    """A stochastic-volatility factor per entity: the log of the volatility multiplier is an
    Ornstein-Uhlenbeck process (exact on the grid), scaled so that the mean variance is the
    declared volatility's: calm and stormy spells, fat tails at every horizon, and the
    realized volatility over long spans still the parameter.

    YAML: ``clustering: {half_life: 20m, spread: 0.45}``."""

    half_life: DurationMs = Field(
        gt=0,
        description="how long a calm or stormy spell lasts: the half-life of the "
        "log-volatility's pull back to normal",
    )
    spread: float = Field(
        gt=0,
        le=1.5,
        description="standard deviation of the log-volatility (0.45: a stormy spell often has "
        "twice the volatility of a calm one)",
    )


class JumpsSpec(Spec):
    """Compound Poisson jumps of the log-level (normal sizes), carrying ``share`` of the
    variance, so the diffusion carries the rest and the total stays the declared volatility.

    YAML: ``jumps: {every: 12h, share: 0.1}``."""

    every: DurationMs = Field(gt=0, description="mean time between two jumps of an entity")
    share: float = Field(gt=0, lt=1, description="the share of the variance jumps carry")


class ReadBy(Spec):
    """What a `process` field reads, by the value of another field of the event (a trade's
    side: buys print at the ask, sells at the bid).

    YAML: ``read_by: {field: side, values: {buy: ask, sell: bid}}``."""

    field: str = Field(description="a field of the event made before this one")
    values: dict[str, Literal["level", "bid", "ask"]] = Field(
        description="the field's value -> what is read; values not listed read `read`"
    )
