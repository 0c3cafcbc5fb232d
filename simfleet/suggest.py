""" "Did you mean" for names people type: domains, scenarios, fields, topics, templates."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest", "did_you_mean"]


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name ``name`` is most likely a misspelling of, if any is close."""
    hits = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return hits[0] if hits else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean `x`?)`` or the empty string."""
    hit = closest(name, known)
    return f" (did you mean `{hit}`?)" if hit else ""
