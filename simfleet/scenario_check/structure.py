"""A scenario's structure: the model's own checks (pydantic, every error at once with its bad
value) and the lengths that cannot run (a phase, a settle or a backlog of zero length)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from simfleet.problems import Problem, explain_validation
from simfleet.scenario_check.limits import TOP
from simfleet.scenarios import ScenarioSpec
from simfleet.timeutil import parse_duration_ms

__all__ = ["items", "lengths_problems", "spec_problems", "value_at"]


def items(value: object) -> list[tuple[int, Any]]:
    """Indexed items of a YAML list (nothing when it is not one)."""
    return list(enumerate(value)) if isinstance(value, list | tuple) else []


def value_at(value: object, key: str) -> Any:
    """A key of a YAML mapping (None when it is not one)."""
    return value.get(key) if isinstance(value, dict) else None


def spec_problems(raw: object, file: Path | None) -> tuple[ScenarioSpec | None, list[Problem]]:
    """The scenario model, or every problem pydantic finds (unknown fields first)."""
    if not isinstance(raw, dict):
        return None, [
            Problem(
                file,
                TOP,
                "must hold a mapping with id, name, description, domain, phases; it holds a "
                f"{type(raw).__name__}",
                "write those fields as a YAML mapping",
            )
        ]
    try:
        return ScenarioSpec.model_validate(raw), []
    except ValidationError as exc:
        return None, explain_validation(exc, ScenarioSpec, file)


def _ms(value: object) -> int | None:
    """A duration as the model reads it (text parsed, a bare number in ms); None if invalid
    (the model's check reports that)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        try:
            return parse_duration_ms(value)
        except ValueError:
            return None
    return None


def lengths_problems(raw: object, file: Path | None, written: bool = True) -> list[Problem]:
    """Phases of zero length; with ``written`` (a file, not a model's dump, where the default
    settle reads as a linear one of 0), a settle or backlog of zero length."""
    out: list[Problem] = []
    for i, phase in items(value_at(raw, "phases")):
        given = value_at(phase, "duration")
        if _ms(given) == 0:
            out.append(
                Problem(
                    file,
                    f"phases.{i}.duration",
                    f"{given!r}: phase {value_at(phase, 'name')!r} has zero length, so it never "
                    "acts",
                    "give it a duration above 0, e.g. 1h, or remove the phase",
                )
            )
    settle = value_at(raw, "settle")
    if not written or not isinstance(settle, dict):
        return out
    curve = settle.get("curve", "linear")
    given = settle.get("duration", 0)
    written_out = "curve" in settle or "duration" in settle
    if written_out and curve in ("linear", "exponential") and _ms(given) == 0:
        out.append(
            Problem(
                file,
                "settle.duration" if "duration" in settle else "settle",
                f"{given!r}: a {curve} settle of zero length ends at once"
                if "duration" in settle
                else f"{'an' if curve == 'exponential' else 'a'} {curve} settle without a "
                "duration ends at once",
                "give the settle a duration above 0, e.g. duration: 1h, or write curve: immediate",
            )
        )
    backlog = value_at(settle, "backlog")
    if isinstance(backlog, dict) and _ms(backlog.get("duration")) == 0:
        out.append(
            Problem(
                file,
                "settle.backlog.duration",
                f"{backlog.get('duration')!r}: a backlog of zero length adds nothing",
                "give the backlog a duration above 0, e.g. duration: 1h, or remove it",
            )
        )
    return out
