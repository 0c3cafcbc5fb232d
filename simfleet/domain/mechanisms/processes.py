"""`processes`: a random process per entity in sim time (an instrument's price), read by
`process` fields; the model and its checks (the engine's draw:
simfleet.producers.engine.processes)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from simfleet.domain.mechanisms.numbers import ByAttr, Number, Spec
from simfleet.domain.mechanisms.refs import by_problems, param_problem, unknown
from simfleet.domain.mechanisms.volatility import ClusteringSpec, JumpsSpec
from simfleet.problems import Problem
from simfleet.scenarios import DurationMs

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec

__all__ = ["ProcessSpec", "problems"]


class ProcessSpec(Spec):
    """A random process per entity, evolving in sim time (an instrument's price): geometric
    Brownian motion on a grid of ``step``, exact in the step, so the realized volatility of
    any sampling of it is ``volatility`` whatever the tick.

    ``drift``, ``decline`` (subtracted from it: parameters never go below zero) and
    ``volatility`` are per ``per`` (a year by default): numbers, parameter paths or `by` tables
    over an attribute of the entity (no `of`: the entity is the process's own). `clustering`,
    `jumps`, `spread_follows` and `tick` add the stylized facts of prices (volatility in
    spells, jumps, a spread that follows it, a price grid), each off unless written."""

    entity: str = Field(description="the entity kind each path belongs to")
    start: float | ByAttr = Field(description="the median starting level, per entity")
    start_spread: float = Field(0.0, ge=0, description="lognormal spread of starting levels")
    drift: Number = 0.0
    decline: Number = 0.0
    volatility: Number = 0.0
    spread: Number = Field(0.0, description="bid-ask spread, relative to the level")
    per: DurationMs = Field(365 * 86_400_000, gt=0, description="the unit of drift, volatility")
    step: DurationMs = Field(1_000, gt=0, description="the grid the path is drawn on")
    window: DurationMs = Field(60_000, gt=0, description="the span a `move` is measured over")
    # the stylized facts (simfleet.domain.mechanisms.volatility), each off unless written
    clustering: ClusteringSpec | None = Field(
        None, description="a stochastic-volatility factor: volatility in calm and stormy spells"
    )
    jumps: JumpsSpec | None = Field(
        None, description="compound Poisson jumps carrying a share of the variance"
    )
    spread_follows: float = Field(
        0.0,
        ge=0,
        le=3,
        description="with `clustering`: the spread's elasticity to the volatility factor (1: "
        "the spread is proportional to it; its median stays `spread`)",
    )
    tick: float | ByAttr | None = Field(
        None,
        description="the price grid: level, bid and ask are whole ticks, bid and ask at least "
        "one tick off the level (give the fields a matching `round`)",
    )

    @model_validator(mode="after")
    def _shape(self) -> ProcessSpec:
        for b in self.by_tables():
            if b.of is not None:
                raise ValueError(
                    f"`by: {b.by}` in a process names no `of`: the entity is the process's own"
                )
        if self.window < self.step:
            raise ValueError("`window` must be at least one `step`")
        if isinstance(self.start, float) and self.start <= 0:
            raise ValueError("`start` must be above 0 (levels are positive)")
        if self.spread_follows and self.clustering is None:
            raise ValueError("`spread_follows` reads the volatility factor: add `clustering`")
        if isinstance(self.tick, float) and self.tick <= 0:
            raise ValueError("`tick` must be above 0 (the price grid's step, e.g. 0.01)")
        return self

    def numbers(self) -> dict[str, Number]:
        """The process's numbers by name."""
        return {
            "drift": self.drift,
            "decline": self.decline,
            "volatility": self.volatility,
            "spread": self.spread,
        }

    def by_tables(self) -> list[ByAttr]:
        """Every `by` table of the process."""
        found = [self.start, self.tick, *self.numbers().values()]
        return [t for b in found if isinstance(b, ByAttr) for t in b.tables()]


def problems(spec: DomainSpec, file: Path) -> list[Problem]:
    """A process names an entity of the pack, parameters of the pack and drawn attributes of
    its entity."""
    out: list[Problem] = []
    for name, ps in spec.processes.items():
        where = f"processes.{name}"
        if ps.entity not in spec.entities:
            fix = "name an entity of `entities`"
            out.append(unknown(file, f"{where}.entity", "entity", ps.entity, spec.entities, fix))
            continue
        if isinstance(ps.start, ByAttr) and ps.start.params():
            fix = "give numbers: starting levels are drawn once, before any parameter moves"
            out.append(Problem(file, f"{where}.start", "starting levels are fixed", fix))
        if isinstance(ps.tick, ByAttr):
            if ps.tick.params():
                fix = "give numbers: the price grid does not move"
                out.append(Problem(file, f"{where}.tick", "the tick is fixed", fix))
            out += by_problems(spec, ps.tick, f"{where}.tick", file, [ps.entity])
        for key, v in ps.numbers().items():
            out += param_problem(spec, f"{where}.{key}", v, file)
            if isinstance(v, ByAttr):
                out += by_problems(spec, v, f"{where}.{key}", file, [ps.entity])
        if isinstance(ps.start, ByAttr):
            out += by_problems(spec, ps.start, f"{where}.start", file, [ps.entity])
    return out
