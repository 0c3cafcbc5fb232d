"""The numbers a pack writes: a number, a parameter path, or a number by an entity's drawn
attribute (a `by` table); shared by field generators and stream-level mechanisms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from simfleet.timeutil import parse_duration_ms

__all__ = ["ByAttr", "Number", "SignedDurationMs", "Spec"]


class Spec(BaseModel):
    """A frozen pack model: unknown keys are refused, aliases and names both accepted."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ByAttr(Spec):
    """A number that depends on an entity's drawn attribute (a persona): the value listed for
    the attribute's value of the entity in field ``of``, else ``default``; or, over a numeric
    attribute (a show's popularity), the attribute's value raised to ``power``.

    YAML: ``{by: persona, of: user_id, values: {casual: 0.4, scalper: 0.05}, default: 0.2}``,
    ``{by: popularity, of: show_id, power: 0.3}``; in an entity field's ``weight`` ``of`` is
    left out (the entity is the one being drawn).
    """

    by: str = Field(description="a drawn (`choice` or numeric) attribute of the entity")
    of: str | None = Field(None, description="the event's field holding the entity id")
    values: dict[str, float | str] | None = Field(
        None,
        description="attribute value -> number, or a parameter path (its current value); "
        "none over a numeric attribute",
    )
    power: float | None = Field(
        None, description="over a numeric attribute: the number is the value ** power (1)"
    )
    default: float | str | None = Field(
        None,
        description="for attribute values not listed (a number or a parameter path); without "
        "it every value is listed",
    )
    otherwise: ByAttr | None = Field(
        None,
        description="for events whose value is not listed (or that have none): this table's "
        "number instead of `default`; in a chain, `by: value` over a carried campaign tag "
        "falls back to the entity's table (ATO-tagged payments reach a chargeback)",
    )

    def tables(self) -> list[ByAttr]:
        """This table and those it falls back to."""
        return [self, *(self.otherwise.tables() if self.otherwise is not None else [])]

    @model_validator(mode="after")
    def _one_fallback(self) -> ByAttr:
        if self.values is None and (self.default is not None or self.otherwise is not None):
            raise ValueError(
                f"`by: {self.by}` without `values` reads a numeric attribute: it takes no "
                "`default` or `otherwise`"
            )
        if self.values is not None and self.power is not None:
            raise ValueError(
                f"`by: {self.by}`: `power` applies to a numeric attribute (no `values`)"
            )
        if self.otherwise is not None and self.default is not None:
            raise ValueError(
                f"`by: {self.by}`: give `default` or `otherwise` (a table for the values not "
                "listed), not both"
            )
        return self

    def table(
        self, choices: Sequence[str], params: Mapping[str, float] | None = None, domain: str = ""
    ) -> tuple[float, ...]:
        """The number for each of ``choices`` (the attribute's values, in table order);
        parameter paths take their value in ``params`` (names relative to ``domain``)."""
        listed = self.listed
        return tuple(self._number(listed.get(c, self.default), params, domain) for c in choices)

    @property
    def numeric(self) -> bool:
        """Whether the table reads a numeric attribute (no `values`)."""
        return self.values is None

    @property
    def listed(self) -> dict[str, float | str]:
        """The values listed (none over a numeric attribute)."""
        return self.values or {}

    @property
    def exponent(self) -> float:
        """The power a numeric attribute is raised to."""
        return 1.0 if self.power is None else self.power

    def fallback(self, params: Mapping[str, float] | None = None, domain: str = "") -> float:
        """The number of events with no entity (or no listed value): ``default``, else 0."""
        return self._number(self.default, params, domain)

    def _number(
        self, v: float | str | None, params: Mapping[str, float] | None, domain: str
    ) -> float:
        if v is None:
            return 0.0
        if isinstance(v, str):
            if params is None:
                raise ValueError(f"`by: {self.by}`: {v} is a parameter; give its value")
            return params[f"{domain}.{v}"]
        return float(v)

    def params(self) -> list[str]:
        """The parameter paths the table names."""
        found = [*self.listed.values(), self.default]
        return [v for v in found if isinstance(v, str)]


Number = float | str | ByAttr  # a number, a parameter path, or a number by entity attribute


def _signed_duration(v: object) -> object:
    if isinstance(v, str) and v.startswith("-"):
        return -parse_duration_ms(v[1:])
    return parse_duration_ms(v) if isinstance(v, str) else v


SignedDurationMs = Annotated[int, BeforeValidator(_signed_duration)]
