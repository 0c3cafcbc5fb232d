"""What a scenario file may be at most, refused before it is parsed.

A scenario is a few phases of modifiers; a file of megabytes or of thousands of phases is a
mistake (a generator run away), and parsing one costs minutes and gigabytes before pydantic says
anything. So the file's size is read before its text, its phases are counted on the YAML event
stream (no document is built) before it is loaded, and a mapping that reaches the checks another
way (a command on the control topic) has its phases counted before pydantic sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from simfleet.problems import Problem

__all__ = [
    "MAX_BYTES",
    "MAX_PHASES",
    "TOP",
    "Refusal",
    "count_phases",
    "phases_refusal",
    "read_scenario_file",
]

MAX_BYTES = 1_000_000
MAX_PHASES = 1_000
TOP = "(top level)"
# the C loader, where PyYAML was built with it, reads a capped file three times faster
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Refusal(Problem):
    """A problem that keeps a file from being checked at all (too large, too many phases)."""


def _too_many(file: Path | None, count: str) -> Refusal:
    return Refusal(
        file,
        "phases",
        f"holds {count} phases, over the {MAX_PHASES:,} a scenario may have; it was not checked",
        "a scenario is a few phases: split it into several scenarios run one after another",
    )


def phases_refusal(raw: object, file: Path | None = None) -> Refusal | None:
    """The refusal of a mapping with more phases than the cap, before any model sees it."""
    phases = raw.get("phases") if isinstance(raw, dict) else None
    if isinstance(phases, list | tuple) and len(phases) > MAX_PHASES:
        return _too_many(file, f"{len(phases):,}")
    return None


def count_phases(text: str, cap: int = MAX_PHASES) -> int:
    """The items of the top-level ``phases`` list, counted on the event stream and stopped
    past ``cap``; 0 when the text is not YAML (loading it then says why)."""
    stack: list[list[Any]] = []  # per open collection: [kind, current key, expecting a key]
    count = 0
    try:
        for ev in yaml.parse(text, Loader=_LOADER):
            if isinstance(ev, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                stack.pop()
                continue
            if not isinstance(ev, yaml.NodeEvent):
                continue
            if stack and stack[-1][0] == "map":
                top = stack[-1]
                if top[2]:
                    top[1] = ev.value if isinstance(ev, yaml.ScalarEvent) else None
                top[2] = not top[2]
            elif len(stack) == 2 and stack[0][1] == "phases":
                count += 1
                if count > cap:
                    return count
            if isinstance(ev, yaml.MappingStartEvent):
                stack.append(["map", None, True])
            elif isinstance(ev, yaml.SequenceStartEvent):
                stack.append(["seq", None, False])
    except yaml.YAMLError:
        return 0
    return count


def read_scenario_file(path: Path) -> tuple[Any, list[Problem]]:
    """A scenario file's content, or the problem that keeps it from being read: too large
    (before reading it), too many phases (before loading it), not readable, not YAML."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return None, [
                Refusal(
                    path,
                    TOP,
                    f"is {size:,} bytes, over the {MAX_BYTES:,} a scenario file may hold; it "
                    "was not read",
                    "a scenario is a few phases of modifiers: split it into several files",
                )
            ]
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [Problem(path, TOP, f"cannot be read: {exc.strerror}", "check the file")]
    except UnicodeDecodeError as exc:
        return None, [
            Problem(path, TOP, f"is not UTF-8 text ({exc.reason})", "save it as UTF-8 YAML")
        ]
    if count_phases(text) > MAX_PHASES:
        return None, [_too_many(path, f"more than {MAX_PHASES:,}")]
    try:
        return yaml.load(text, Loader=_LOADER), []  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or str(exc)
        return None, [Problem(path, TOP, f"is not valid YAML{where}: {what}", "fix the syntax")]
