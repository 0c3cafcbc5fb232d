"""The names a scenario's ``chaos`` and ``assertions`` use, against the project's topics."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from simfleet.problems import Problem
from simfleet.scenario_check.names import unknown
from simfleet.scenario_check.structure import items, value_at

__all__ = ["chaos_problems"]


def chaos_problems(
    raw: Mapping[str, Any], fields: Mapping[str, Iterable[str]], file: Path | None
) -> list[Problem]:
    """Names a scenario's ``chaos`` and ``assertions`` use that no topic has: stream globs
    matching no topic, an unknown ``emit`` topic, fields to set that the topics lack, and
    assertion topics. ``fields`` maps every topic of the project to its field names."""
    topics = sorted(fields)
    out: list[Problem] = []
    lists = [("chaos", value_at(raw, "chaos"))]
    lists += [(f"phases.{i}.chaos", value_at(p, "chaos")) for i, p in items(raw.get("phases"))]
    for where, actions in lists:
        for j, a in items(actions):
            out += _action(f"{where}.{j}", a, fields, topics, file)
    for j, a in items(raw.get("assertions")):
        named = [(k, value_at(a, k)) for k in ("topic", "denominator", "cause", "effect")]
        named += [(f"topics.{n}", t) for n, t in items(value_at(a, "topics"))]
        for k, t in named:
            if isinstance(t, str) and t not in fields:
                out.append(
                    unknown(file, f"assertions.{j}.{k}", "topic", t, topics, "name a stream topic")
                )
    return out


def _action(
    at: str,
    a: object,
    fields: Mapping[str, Iterable[str]],
    topics: list[str],
    file: Path | None,
) -> list[Problem]:
    out: list[Problem] = []
    glob = value_at(a, "streams")
    matched = [t for t in topics if isinstance(glob, str) and fnmatchcase(t, glob)]
    if isinstance(glob, str) and not matched:
        out.append(
            unknown(
                file,
                f"{at}.streams",
                "stream glob (it matches no topic)",
                glob,
                topics,
                "give a topic or a glob such as <domain>.customer.*",
            )
        )
    emit = value_at(a, "emit")
    if isinstance(emit, str) and emit not in fields:
        out.append(unknown(file, f"{at}.emit", "topic", emit, topics, "name a stream topic"))
    sets = value_at(a, "set")
    injects = value_at(a, "action") == "inject" and isinstance(emit, str) and emit in fields
    where_set = [emit] if injects else matched
    if isinstance(sets, dict) and where_set:
        known = {f for t in where_set for f in fields[t]}
        for name in sets:
            if name not in known:
                out.append(
                    unknown(
                        file,
                        f"{at}.set.{name}",
                        "field",
                        str(name),
                        sorted(known),
                        f"set a field of {', '.join(where_set[:3])}",
                    )
                )
    return out
