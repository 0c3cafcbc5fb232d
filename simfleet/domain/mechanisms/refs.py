"""The reference checks field generators and stream-level mechanisms share: a name unknown to
the pack (with "did you mean"), a parameter path, a `by` table over a drawn attribute."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from simfleet.domain.mechanisms.base import FieldSpec
from simfleet.domain.mechanisms.numbers import ByAttr
from simfleet.problems import Problem
from simfleet.suggest import did_you_mean

if TYPE_CHECKING:
    from simfleet.domain.spec import Chain, DomainSpec

__all__ = [
    "by_problems",
    "by_shape_problems",
    "choice_attrs",
    "delay_table",
    "numeric_attrs",
    "param_problem",
    "unknown",
]


def unknown(
    file: Path | None, where: str, what: str, name: str, known: Iterable[str], fix: str
) -> Problem:
    """``unknown <what> 'name' (did you mean `x`?)``."""
    known = list(known)
    return Problem(file, where, f"unknown {what} {name!r}{did_you_mean(name, known)}", fix)


def param_problem(spec: DomainSpec, where: str, value: object, file: Path) -> list[Problem]:
    if isinstance(value, str) and value not in spec.parameters:
        return [
            unknown(
                file,
                where,
                "parameter",
                value,
                spec.parameters,
                "name a parameter of `parameters` (without the domain prefix)",
            )
        ]
    return []


def by_shape_problems(
    spec: DomainSpec,
    b: ByAttr,
    where: str,
    file: Path,
    kinds: Iterable[str] | None,
    over_choice: bool,
) -> list[Problem] | None:
    """The problems of a `by` table that needs no check of its listed values (`by: value`, a
    numeric attribute, an unknown attribute, a missing `values`); None for a table over a
    `choice` attribute (``over_choice``), whose values the caller checks."""
    if b.by == "value":
        fix = "list a number per value: `values: {a: 1, b: 2}`"
        needs = [Problem(file, f"{where}.values", "`by: value` needs `values`", fix)]
        return needs if b.numeric else []
    kinds = None if kinds is None else list(kinds)
    numeric = [k for k in numeric_attrs(spec, kinds) if k.split(".", 1)[1] == b.by]
    if numeric and not b.numeric:
        fix = f"drop `values` (the number is {b.by} itself, or {b.by} ** `power`)"
        return [Problem(file, f"{where}.values", f"{numeric[0]} is a numeric attribute", fix)]
    if numeric:
        return []
    if not over_choice:
        drawn = [*choice_attrs(spec, kinds), *numeric_attrs(spec, kinds)]
        names = sorted({k.split(".", 1)[1] for k in drawn})
        fix = (
            "name an entity attribute drawn with `choice` (a persona, a segment) or a numeric "
            "law (a popularity)"
        )
        return [unknown(file, f"{where}.by", "drawn attribute", b.by, names, fix)]
    if b.numeric:
        fix = f"list a number per value of {b.by}: `values: {{...}}`"
        return [Problem(file, f"{where}.values", f"`by: {b.by}` is not numeric", fix)]
    return None


def numeric_attrs(spec: DomainSpec, kinds: Iterable[str] | None) -> list[str]:
    """``kind.attr`` of the numeric attributes (a law, no `choice`) of ``kinds`` (all: None)."""
    return [
        f"{kind}.{aname}"
        for kind, ent in spec.entities.items()
        if kinds is None or kind in kinds
        for aname, a in ent.attributes.items()
        if isinstance(a, FieldSpec) and a.numeric_law
    ]


def _recorded(spec: DomainSpec) -> dict[str, set[str]]:
    """Entity kind -> the instants streams `record` on its entities."""
    out: dict[str, set[str]] = {}
    for s in spec.streams.values():
        for fname, kept in s.record.items():
            f = s.fields.get(fname)
            if f is not None and f.entity is not None:
                out.setdefault(f.entity, set()).update(kept)
    return out


def choice_attrs(spec: DomainSpec, kinds: Iterable[str] | None) -> dict[str, tuple[str, ...]]:
    """``kind.attr`` -> values, for the drawn (`choice`) attributes of ``kinds`` (all: None)."""
    return {
        f"{kind}.{aname}": tuple(str(c) for c in a.choice)
        for kind, ent in spec.entities.items()
        if kinds is None or kind in kinds
        for aname, a in ent.attributes.items()
        if isinstance(a, FieldSpec) and a.choice is not None
    }


def by_problems(
    spec: DomainSpec, b: ByAttr, where: str, file: Path, kinds: Iterable[str] | None = None
) -> list[Problem]:
    """A `by` table whose attribute is not drawn by `choice`, or whose values it never takes,
    or that names no parameter; which entity field `of` names is checked with the stream's
    schema (``by: value``: a `choice` field of the event, checked there too)."""
    named = [p for v in b.params() for p in param_problem(spec, f"{where}.values", v, file)]
    attrs = {k: v for k, v in choice_attrs(spec, kinds).items() if k.split(".", 1)[1] == b.by}
    shape = by_shape_problems(spec, b, where, file, kinds, bool(attrs))
    if shape is not None:
        return named + shape
    out: list[Problem] = named
    for attr, choices in attrs.items():
        for v in b.listed:
            if v not in choices:
                out.append(
                    unknown(
                        file,
                        f"{where}.values.{v}",
                        f"value of {attr}",
                        v,
                        choices,
                        f"list values of {attr}: {', '.join(choices)}",
                    )
                )
        unlisted = [c for c in choices if c not in b.listed]
        if unlisted and b.default is None and b.otherwise is None:
            out.append(
                Problem(
                    file,
                    f"{where}.values",
                    f"lists no number for {', '.join(unlisted)} of {attr}",
                    "list every value, or give a `default` (or an `otherwise` table)",
                )
            )
    return out


def delay_table(chain: Chain) -> ByAttr:
    """A chain's ``delay_by`` as a `by` table (its laws' values listed), for the checks."""
    by = chain.delay_by
    assert by is not None
    return ByAttr(by=by.by, of=by.of, values=dict.fromkeys(by.laws, 0.0), default=0.0)
