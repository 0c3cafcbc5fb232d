"""`entity`: an id drawn from the shard's pool of an entity kind (by activity, among the
inactive, or among the idle), optionally weighted by an attribute or by recorded openings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from simfleet.columns import Column, TableStrings
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec, Fills
from simfleet.domain.mechanisms.numbers import ByAttr, Spec
from simfleet.domain.mechanisms.refs import by_problems, param_problem, unknown
from simfleet.problems import Problem
from simfleet.scenarios import DurationMs

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec

__all__ = ["EntityField", "Openings", "Peak"]


class Peak(Spec):
    """A pick weight's spike after an instant: ``1 + peak x 2 ** (-age / half_life)``."""

    peak: float | str = Field(description="extra weight at the instant: a number or a parameter")
    half_life: DurationMs = Field(gt=0)


class Openings(Spec):
    """An `entity` pick weighted by the time since instants recorded on each entity (a show's
    presale and general sale): zero before ``closed_until`` and from ``closed_after`` on, and
    times ``1 + sum of peak x 2 ** (-age / half_life)`` over the ``peaks`` already passed.

    The instants are those a stream's ``record`` keeps on the entity; an entity with none
    recorded is open, at weight 1. Weights are evaluated every ``step`` within a tick."""

    closed_until: str | None = Field(None, description="an instant: no pick before it")
    closed_after: str | None = Field(None, description="an instant: no pick from it on")
    peaks: dict[str, Peak] = Field(default_factory=dict, description="instant -> its spike")
    step: DurationMs = Field(300_000, gt=0, description="how often weights are evaluated")

    def instants(self) -> list[str]:
        """Every instant the weights read."""
        named = [self.closed_until, self.closed_after, *self.peaks]
        return list(dict.fromkeys(n for n in named if n is not None))


class EntityField(FieldSpec):
    """An entity id drawn from the shard's pool: `{entity: user}`."""

    key: ClassVar[str] = "entity"
    fills: ClassVar[Fills] = "text"
    why: ClassVar[str] = (
        "Events name the same finite population again and again, each entity at its own "
        "lognormal activity: a few heavy users, a long tail of occasional ones. Joins, "
        "per-entity aggregates and graph features need shared ids; no law gives that."
    )

    entity: str = Field(description="an entity id drawn from the shard's pool of this kind")
    pick: Literal["active", "inactive", "idle"] = Field(
        "active",
        description="which entities are drawn: active ones (by activity), inactive ones not "
        "picked before (reserved from then on), or active ones that no pending follow-up "
        "refers to",
    )
    weight: ByAttr | None = Field(
        None,
        description="multiplies each entity's activity in this draw by the number of its "
        "attribute (scalpers buy ten times as often as casual fans)",
    )
    openings: Openings | None = Field(
        None,
        description="multiplies each entity's weight by a function of the time since instants "
        "recorded on it (sales cluster just after a show's openings)",
    )

    @model_validator(mode="after")
    def _shape(self) -> EntityField:
        if self.openings is not None and self.pick != "active":
            raise ValueError("`openings` applies to `entity` fields of active entities only")
        if self.weight is not None and self.weight.of is not None:
            raise ValueError(
                "`weight` applies to `entity` fields only, and names no `of` (the entity is "
                "the one drawn)"
            )
        return self

    def numbers(self) -> list[ByAttr | float | str]:
        """The pick weight's table."""
        return [self.weight] if self.weight is not None else []

    def own_tables(self) -> list[ByAttr]:
        """The weight table reads the entity drawn: it names no `of`."""
        return [self.weight] if self.weight is not None else []

    def problems(self, spec: DomainSpec, where: str, file: Path) -> list[Problem]:
        """The entity kind exists; the weight's attribute is one of its drawn attributes;
        openings read recorded instants."""
        if self.entity not in spec.entities:
            fix = "name an entity of `entities`"
            return [unknown(file, f"{where}.entity", "entity", self.entity, spec.entities, fix)]
        out: list[Problem] = []
        if self.weight is not None:
            out += by_problems(spec, self.weight, f"{where}.weight", file, [self.entity])
        return out + self.openings_problems(spec, where, file)

    def openings_problems(self, spec: DomainSpec, where: str, file: Path) -> list[Problem]:
        """An `openings` weight reads instants some stream records on the entity kind it
        draws, and its peaks name numbers or parameters of the pack."""
        op = self.openings
        if op is None or self.entity not in spec.entities:
            return []
        kept = recorded(spec).get(self.entity, set())
        out: list[Problem] = []
        named = [("closed_until", op.closed_until), ("closed_after", op.closed_after)]
        named += [(f"peaks.{k}", k) for k in op.peaks]
        for key, instant in named:
            if instant is not None and instant not in kept:
                out.append(
                    Problem(
                        file,
                        f"{where}.openings.{key}",
                        f"no stream records the instant `{instant}` on {self.entity} entities"
                        + (f" (recorded: {', '.join(sorted(kept))})" if kept else ""),
                        f"add `record: {{<{self.entity} field>: [{instant}]}}` to the stream "
                        f"that sets it (the one announcing the {self.entity}), or name a "
                        "recorded instant",
                    )
                )
        for k, pk in op.peaks.items():
            out += param_problem(spec, f"{where}.openings.peaks.{k}.peak", pk.peak, file)
        return out

    def draw(self, ctx: DrawContext) -> Column:
        """Ids of the pool: a campaign's actors, by openings, by weight, by activity, or the
        inactive / idle ones; under local time, weighted by the hour in each entity's zone."""
        pool = ctx.engine.pool(self.entity)
        rng, n = ctx.rng, ctx.n
        among = ctx.engine.among(self.entity)
        if among is not None:
            return TableStrings(pool.ids, among[rng.integers(0, len(among), n)])
        if self.pick != "active":
            return TableStrings(pool.ids, pool.take(rng, self.pick, ctx.t0, n))
        times = ctx.cols["occurred_at"]
        assert isinstance(times, np.ndarray)
        # local time: each entity's pick weight times its zone's hour (engine.localtime)
        tilt = ctx.engine.tilt(self.entity)
        if self.openings is not None:
            idx = pool.sample_open(rng, times, self.weight, self.openings, ctx.params, tilt)
        elif self.weight is not None:
            idx = pool.sample_weighted(rng, n, self.weight, ctx.params, tilt)
        else:
            idx = pool.sample(rng, n, tilt)
        return TableStrings(pool.ids, idx)


def recorded(spec: DomainSpec) -> dict[str, set[str]]:
    """Entity kind -> the instants streams `record` on its entities."""
    out: dict[str, set[str]] = {}
    for s in spec.streams.values():
        for fname, kept in s.record.items():
            f = s.fields.get(fname)
            if isinstance(f, EntityField):
                out.setdefault(f.entity, set()).update(kept)
    return out
