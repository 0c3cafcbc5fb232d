"""`local`: a rate profile read in each entity's own timezone (a user in Mumbai peaks at 9 pm
in Mumbai), from an attribute naming IANA zones or a distribution over zones by an attribute
(by country); the models and their checks (the engine: simfleet.producers.engine.localtime).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, model_validator

from simfleet.domain.mechanisms.numbers import Spec
from simfleet.domain.mechanisms.refs import unknown
from simfleet.problems import Problem

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec

__all__ = ["LocalTimeSpec", "problems", "zone"]


class LocalTimeSpec(Spec):
    """The profile's hours and days are local to the entity of kind ``entity`` that a stream
    of the profile draws: its zone is its attribute ``zone`` (IANA names), or drawn once per
    entity from ``zones`` by its attribute ``by`` (``{US: {America/New_York: 0.5, ...},
    IN: Asia/Kolkata}``), else ``otherwise``. The stream's rate is the zones' mix of the
    profile, and each event's entity is drawn with its zone's weight at that hour."""

    entity: str = Field(description="the entity kind whose timezone reads the profile")
    zone: str | None = Field(None, description="an attribute holding IANA zone names")
    by: str | None = Field(None, description="an attribute the zones depend on (country)")
    zones: dict[str, str | dict[str, float]] = Field(
        default_factory=dict,
        description="value of `by` -> a zone, or zones with weights (normalised)",
    )
    otherwise: str = Field("UTC", description="the zone of values `zones` does not list")

    @model_validator(mode="after")
    def _one(self) -> LocalTimeSpec:
        if (self.zone is None) == (self.by is None):
            raise ValueError("`local` takes exactly one of `zone` and `by`")
        if self.by is not None and not self.zones:
            raise ValueError("`local.by` needs `zones`: value -> zone or {zone: weight}")
        return self

    def names(self) -> list[str]:
        """Every zone it names (those of a `zone` attribute come from the pack)."""
        out = [self.otherwise]
        for z in self.zones.values():
            out += [z] if isinstance(z, str) else list(z)
        return list(dict.fromkeys(out))


@cache
def zone(name: str) -> ZoneInfo | None:
    """The IANA zone ``name`` (None if unknown)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def problems(spec: DomainSpec, profile: str, loc: LocalTimeSpec, file: Path) -> list[Problem]:
    """The entity kind and its attribute exist, and every zone is an IANA name."""
    where = f"profiles.{profile}.local"
    if loc.entity not in spec.entities:
        fix = "name an entity of `entities`"
        return [unknown(file, f"{where}.entity", "entity", loc.entity, spec.entities, fix)]
    attrs = spec.entities[loc.entity].attributes
    out: list[Problem] = []
    attr = loc.zone or loc.by or ""
    key = "zone" if loc.zone is not None else "by"
    if attr not in attrs:
        fix = f"name a `choice` attribute of {loc.entity}"
        out.append(unknown(file, f"{where}.{key}", "attribute", attr, attrs, fix))
    names = loc.names()
    if loc.zone is not None and attr in attrs:
        names += [str(v) for v in getattr(attrs[attr], "choice", None) or ()]
    for name in names:
        if zone(name) is None:
            out.append(
                Problem(
                    file,
                    where,
                    f"{name!r} is not an IANA timezone",
                    "write a zone as Area/City (America/New_York, Asia/Kolkata) or UTC",
                )
            )
    return out
