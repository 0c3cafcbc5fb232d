"""Problems found in a user's files, reported all at once: file, field path, what is wrong, fix.

``explain_validation`` turns a pydantic ``ValidationError`` into problems, unknown fields
first, each with a "did you mean" drawn from the fields the model allows at that place: a
misspelt ``phses`` shows as one unknown field (did you mean ``phases``?) instead of hiding
behind the "field required" it causes. Every message echoes the bad value (``'explode' is not
one of multiply, add, set, shift``), and what pydantic reports only as a consequence of another
error is left out: a union's alternatives are one problem, and a list too short "after
validation" because an item of it failed is that item's problem.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from simfleet.suggest import closest, did_you_mean

__all__ = ["Problem", "explain_validation", "model_fields_at", "said"]

_FIXES = {
    "extra_forbidden": "remove it or correct its spelling",
    "missing": "add it",
    "literal_error": "use one of the allowed values",
    "enum": "use one of the allowed values",
    "string_pattern_mismatch": "use lower-case letters, digits and dashes",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file."""

    file: Path | None
    path: str
    message: str
    fix: str

    def sentence(self) -> str:
        """``field `a.b`: what (fix)``."""
        return f"field `{self.path}`: {self.message} ({self.fix})"

    def line(self) -> str:
        """``file: field `a.b`: what (fix)``, for lists of problems."""
        where = f"{self.file}: " if self.file is not None else ""
        return f"{where}{self.sentence()}"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through unions, tuples, lists, dicts)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out += _models_in(arg)
    return out


def _child(annotation: Any, step: str | int) -> list[Any]:  # noqa: PLR0911 - one per shape
    """Annotations below one step of a location (a field name, an index or a dict key)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _child(args[0], step)
    if origin in (typing.Union, types.UnionType):
        return [c for a in args for c in _child(a, step)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, f in annotation.model_fields.items():
            if step in (name, f.alias):
                return [f.annotation]
        return []
    if origin in (tuple, list, Sequence) and isinstance(step, int):
        return [args[0]] if args else []
    if origin is dict:
        return [args[1]] if len(args) == 2 else []
    return []


def model_fields_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Field names (and aliases) a model allows at location ``loc`` (the parent of a field)."""
    current: list[Any] = [model]
    for step in loc:
        current = [c for a in current for c in _child(a, step)]
    names: list[str] = []
    for a in current:
        for m in _models_in(a) if not isinstance(a, type) else [a]:
            if isinstance(m, type) and issubclass(m, BaseModel):
                for name, f in m.model_fields.items():
                    names.append(f.alias or name)
    return list(dict.fromkeys(names))


def explain_validation(
    exc: ValidationError, model: type[BaseModel], file: Path | None = None
) -> list[Problem]:
    """Every problem of a validation error; unknown fields first, with "did you mean"."""
    errors = exc.errors()
    missing = {tuple(e["loc"]) for e in errors if e["type"] == "missing"}
    unknown: list[Problem] = []
    explained: set[tuple[Any, ...]] = set()  # missing fields a misspelt one stands for
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] != "extra_forbidden" or not loc:
            continue
        allowed = model_fields_at(model, loc[:-1])
        near = closest(str(loc[-1]), allowed)
        fix = _FIXES["extra_forbidden"] + (
            f"; allowed here: {', '.join(allowed)}" if allowed else ""
        )
        if near is not None and (*loc[:-1], near) in missing:
            explained.add((*loc[:-1], near))
            fix = f"rename it to `{near}`"
        hint = did_you_mean(str(loc[-1]), allowed) if near is not None else ""
        unknown.append(Problem(file, ".".join(map(str, loc)), f"unknown field{hint}", fix))
    other = [
        Problem(
            file,
            ".".join(map(str, loc)) or "(top level)",
            said(err) if len(group) == 1 else _none_of(group),
            _fix(err),
        )
        for loc, group in _unions(errors)
        for err in group[:1]
        # a missing field a misspelt one stands for is that one problem, already listed
        if err["type"] != "extra_forbidden" and loc not in explained and not _cascade(err)
    ]
    return unknown + other


# the fix of an error whose bound is in its context: {ctx key: wording}
_BOUNDS = {
    "greater_than": ("gt", "give a value above {}"),
    "greater_than_equal": ("ge", "give {} or more"),
    "less_than": ("lt", "give a value below {}"),
    "less_than_equal": ("le", "give {} or less"),
    "too_short": ("min_length", "give at least {} item(s)"),
    "too_long": ("max_length", "give at most {} item(s)"),
}
_KIND_FIXES = {
    "float_parsing": "give a number",
    "float_type": "give a number",
    "int_parsing": "give a whole number",
    "int_type": "give a whole number",
    "int_from_float": "give a whole number",
    "bool_parsing": "give true or false",
    "bool_type": "give true or false",
    "string_type": "give a text",
    "model_type": "write a mapping of the fields this place takes",
    "model_attributes_type": "write a mapping of the fields this place takes",
    "dict_type": "write a mapping",
    "list_type": "write a list",
    "tuple_type": "write a list",
}


def _fix(err: Mapping[str, Any]) -> str:
    """How to correct one error, its bound named when it has one."""
    kind = err["type"]
    bound = _BOUNDS.get(kind)
    ctx = err.get("ctx") or {}
    if bound is not None and bound[0] in ctx:
        return bound[1].format(ctx[bound[0]])
    return _KIND_FIXES.get(kind) or _FIXES.get(kind, "correct its value")


_LONGEST_ECHO = 60  # characters of a bad value quoted in a message


def _echo(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _LONGEST_ECHO else f"{text[: _LONGEST_ECHO - 3]}..."


def said(err: Mapping[str, Any]) -> str:
    """One pydantic error as a sentence that quotes the bad value.

    ``'explode' is not one of multiply, add, set, shift`` rather than ``Input should be
    'multiply', 'add', 'set' or 'shift'``; a message that already quotes it is kept.
    """
    msg = str(err["msg"]).removeprefix("Value error, ")  # pydantic's wrapper adds nothing
    kind = err["type"]
    if "input" not in err or kind in ("missing", "extra_forbidden"):
        return msg
    value = err["input"]
    if kind in ("literal_error", "enum"):
        expected = str((err.get("ctx") or {}).get("expected", ""))
        allowed = expected.replace("'", "").replace(" or ", ", ")
        return f"{_echo(value)} is not one of {allowed}"
    if isinstance(value, dict) and kind in ("value_error", "assertion_error"):
        return msg  # a model's own check: its message names what it looked at
    if kind == "too_short":
        msg = msg.split(" after validation", 1)[0]
    if isinstance(value, str) and repr(value) in msg:
        return msg  # already quoted (a duration's or a pattern's own message)
    head, should, rest = msg.partition(" should ")
    if should and head in ("Input", "String", "Tuple", "List", "Dictionary", "Value"):
        return f"{_echo(value)} should {rest}"
    return f"{msg}, not {_echo(value)}"


def _unions(errors: Sequence[Mapping[str, Any]]) -> list[tuple[tuple[Any, ...], list[Any]]]:
    """Errors by location; a union's alternatives (the same input, tagged by type under one
    location) are one group at the union's location."""
    out: list[tuple[tuple[Any, ...], list[Any]]] = []
    for err in errors:
        loc = tuple(err["loc"])
        if out and len(loc) > 1 and _same_union(out[-1], loc, err):
            out[-1][1].append(err)
        else:
            out.append((loc, [err]))
    return [(loc[:-1], g) if len(g) > 1 else (loc, g) for loc, g in out]


def _same_union(last: tuple[tuple[Any, ...], list[Any]], loc: tuple[Any, ...], err: Any) -> bool:
    before, group = last
    first = group[0]
    return (
        before[:-1] == loc[:-1]
        and isinstance(loc[-1], str)
        and isinstance(before[-1], str)
        and "input" in err
        and "input" in first
        and err["input"] is first["input"]
    )


def _none_of(group: Sequence[Mapping[str, Any]]) -> str:
    """``[1] is none of: a valid number; a valid string``."""
    forms = "; ".join(str(e["msg"]).removeprefix("Input should be ") for e in group)
    return f"{_echo(group[0]['input'])} is none of: {forms}"


def _cascade(err: Mapping[str, Any]) -> bool:
    """A list "too short after validation" that was long enough before: an item failed, and
    that item's error is the problem."""
    if err["type"] != "too_short":
        return False
    value = err.get("input")
    least = (err.get("ctx") or {}).get("min_length", 0)
    return isinstance(value, list | tuple) and len(value) >= least
