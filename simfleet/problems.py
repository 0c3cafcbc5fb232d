"""Problems found in a user's files, reported all at once: file, field path, what is wrong, fix.

``explain_validation`` turns a pydantic ``ValidationError`` into problems, unknown fields
first, each with a "did you mean" drawn from the fields the model allows at that place: a
misspelt ``phses`` shows as one unknown field (did you mean ``phases``?) instead of hiding
behind the "field required" it causes.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from simfleet.suggest import closest, did_you_mean

__all__ = ["Problem", "explain_validation", "model_fields_at"]

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
            ".".join(map(str, err["loc"])) or "(top level)",
            err["msg"].removeprefix("Value error, "),  # pydantic's wrapper adds nothing
            _FIXES.get(err["type"], "correct its value"),
        )
        for err in errors
        # a missing field a misspelt one stands for is that one problem, already listed
        if err["type"] != "extra_forbidden" and tuple(err["loc"]) not in explained
    ]
    return unknown + other
