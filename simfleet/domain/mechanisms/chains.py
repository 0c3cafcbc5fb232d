"""`then`: follow-up events an event schedules on the same entities after a delay (a
booking's outcome, a payment's chargeback); the models (chain, delay law, delays by
attribute) and their checks (the engine: simfleet.producers.engine.chains)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from simfleet.domain.mechanisms.numbers import ByAttr, Number, Spec
from simfleet.domain.mechanisms.refs import by_problems, delay_table, param_problem, unknown
from simfleet.problems import Problem
from simfleet.scenarios import DurationMs

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec

__all__ = ["Chain", "DelayBy", "DelaySpec", "Requires", "problems"]


class DelaySpec(Spec):
    """The delay law of a follow-up."""

    uniform: tuple[DurationMs, DurationMs] | None = None
    exponential: DurationMs | None = Field(None, description="mean delay")
    lognormal: tuple[DurationMs, float] | None = Field(
        None,
        description="[median, sigma]: most arrive near the median, a long tail later "
        "(chargebacks: median 2w, within [1d, 120d] with min and max)",
    )
    min: DurationMs = 0
    max: DurationMs | None = None
    prefer: str | None = Field(
        None,
        description="a profile: due times are drawn within the delay law with density "
        "proportional to that profile (sessions happen when students prefer)",
    )
    within_hours: tuple[float, float] | None = Field(
        None,
        description="UTC hours [lo, hi): the due time's time of day is mapped into them, "
        "shifted by whole days to stay within the delay law's bounds",
    )

    within_share: float = Field(
        1.0,
        ge=0,
        le=1,
        description="the share of due times mapped into `within_hours`; the rest keep the "
        "law's time of day (a few sessions at night: minimal, not none)",
    )

    @model_validator(mode="after")
    def _one_law(self) -> DelaySpec:
        laws = [k for k in ("uniform", "exponential", "lognormal") if getattr(self, k) is not None]
        if len(laws) != 1:
            raise ValueError(
                "a delay is one of `uniform: [lo, hi]`, `exponential: mean` or "
                f"`lognormal: [median, sigma]`; found {laws or 'none'}"
            )
        if self.lognormal is not None and not (self.lognormal[0] > 0 and self.lognormal[1] >= 0):
            raise ValueError("`lognormal: [median, sigma]` needs median > 0 and sigma >= 0")
        if self.within_share < 1.0 and self.within_hours is None:
            raise ValueError("`within_share` applies to `within_hours` only")
        if self.within_hours is not None and not (
            0 <= self.within_hours[0] < self.within_hours[1] <= 24
        ):
            raise ValueError("`within_hours: [lo, hi]` needs 0 <= lo < hi <= 24")
        return self

    def bounds(self) -> tuple[int, int | None]:
        """The least and the greatest delay this law gives (None: unbounded)."""
        if self.uniform is not None:
            lo, hi = max(self.min, self.uniform[0]), self.uniform[1]
            return lo, hi if self.max is None else min(hi, self.max)
        return self.min, self.max


class DelayBy(Spec):
    """Delay laws by an entity's drawn attribute: the law of the attribute's value of the entity
    in field ``of``; values not listed keep the chain's ``delay``.

    YAML: ``{by: persona, of: user_id, laws: {fraudster: {lognormal: [2w, 0.8], ...}}}``."""

    by: str
    of: str
    laws: dict[str, DelaySpec]


class Requires(Spec):
    """A condition on the cause of a follow-up: an event of one of ``any_of`` with the same
    value of field ``on`` came before it (a refund only for a booking whose payment went
    through). Values are remembered for ``within`` (at least; at most twice that)."""

    any_of: tuple[str, ...] = Field(min_length=1, description="streams, any of which will do")
    key: str = Field(description="the field whose value the cause and the earlier event share")
    within: DurationMs = Field(
        30 * 86_400_000, gt=0, description="how long an earlier event's value is remembered"
    )


class Chain(Spec):
    """Follow-ups an event schedules on the same entities.

    Either ``one_of`` (exactly one target per event, weights are numbers or parameter paths)
    or ``to`` with a ``probability`` (a number or a parameter path).
    """

    one_of: dict[str, Number] | None = None
    to: str | None = None
    probability: Number | None = None
    delay: DelaySpec
    delay_by: DelayBy | None = Field(
        None, description="other delay laws for entities of some attribute values"
    )
    rename: dict[str, str] = Field(
        default_factory=dict, description="target field <- source field, beyond same names"
    )
    fresh: tuple[str, ...] = Field(
        (), description="same-named fields the target draws anew (a retry's transaction id)"
    )
    set: dict[str, str | int | float] = Field(
        default_factory=dict, description="target fields given a constant by this chain"
    )
    delay_field: str | None = Field(
        None,
        description="a target field (in targets whose schema has it) that receives the "
        "delay, in `delay_unit`s: resolution times, session lengths",
    )
    delay_unit: DurationMs = Field(60_000, gt=0)
    requires: Requires | None = Field(
        None,
        description="follow up only causes preceded by an event of another stream with the "
        "same value of a field (a refund only after a succeeded payment of the booking)",
    )

    @model_validator(mode="after")
    def _shape(self) -> Chain:
        if (self.one_of is None) == (self.to is None):
            raise ValueError("a chain has either `one_of: {stream: weight}` or `to: stream`")
        if self.to is not None and self.probability is None:
            raise ValueError("a chain with `to` needs a `probability` (number or parameter)")
        for b in self.by_tables():
            if b.of is None:
                raise ValueError(f"a `by: {b.by}` table needs `of`: the field holding the entity")
        return self

    def targets(self) -> list[str]:
        """The streams this chain can emit."""
        return list(self.one_of) if self.one_of is not None else [self.to or ""]

    def by_tables(self) -> list[ByAttr]:
        """Every `by` table of the chain."""
        found = [self.probability, *(self.one_of or {}).values()]
        return [t for b in found if isinstance(b, ByAttr) for t in b.tables()]


def problems(spec: DomainSpec, chain: Chain, where: str, file: Path) -> list[Problem]:
    out: list[Problem] = []
    prefer = chain.delay.prefer
    if prefer is not None and prefer not in spec.profiles:
        out.append(
            unknown(
                file,
                f"{where}.delay.prefer",
                "profile",
                prefer,
                spec.profiles,
                "name a profile of `profiles`",
            )
        )
    fix = "name a stream of this pack"
    if chain.to is not None:
        if chain.to not in spec.streams:
            out.append(unknown(file, f"{where}.to", "stream", chain.to, spec.streams, fix))
        out += param_problem(spec, f"{where}.probability", chain.probability, file)
        if isinstance(chain.probability, ByAttr):
            out += by_problems(spec, chain.probability, f"{where}.probability", file)
    if chain.delay_by is not None:
        out += [
            dataclasses.replace(p, path=p.path.replace(".values", ".laws"))
            for p in by_problems(spec, delay_table(chain), f"{where}.delay_by", file)
        ]
    if chain.requires is not None:
        out += _requires_problems(spec, chain.requires, f"{where}.requires", file)
    for target, w in (chain.one_of or {}).items():
        if isinstance(w, ByAttr):
            out += by_problems(spec, w, f"{where}.one_of.{target}", file)
        if target not in spec.streams:
            out.append(
                unknown(file, f"{where}.one_of.{target}", "stream", target, spec.streams, fix)
            )
        out += param_problem(spec, f"{where}.one_of.{target}", w, file)
    return out


def produced(spec: DomainSpec, stream: str) -> bool:
    """Whether anything in the pack emits ``stream``: a rate, an aggregate, a chain, an
    episode or a journey."""
    s = spec.streams[stream]
    return bool(
        s.rate
        or s.aggregate is not None
        or s.at_start
        or any(stream in c.targets() for st in spec.streams.values() for c in st.then)
        or any(e.emit == stream for e in spec.episodes.values())
        or any(f.stream == stream for f in spec.floors.values())
        or any(stream in j.streams() for j in spec.journeys.values())
    )


def _requires_problems(spec: DomainSpec, req: Requires, where: str, file: Path) -> list[Problem]:
    """Each required stream exists and something in the pack emits it: a requirement that
    can never be met would silently drop every follow-up."""
    out: list[Problem] = []
    for i, name in enumerate(req.any_of):
        at = f"{where}.any_of.{i}"
        if name not in spec.streams:
            out.append(
                unknown(file, at, "stream", name, spec.streams, "name a stream of this pack")
            )
        elif not produced(spec, name):
            out.append(
                Problem(
                    file,
                    at,
                    f"the chain requires an earlier {name} event, but nothing in the pack emits "
                    f"{name}: no follow-up would ever be met",
                    f"give {name} a rate or chain to it, or require another stream",
                )
            )
    return out
