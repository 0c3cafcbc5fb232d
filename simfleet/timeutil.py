"""Durations and instants as files and flags write them: `90s`, `30m`, `6h`, `3d`, ISO UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["format_duration_ms", "format_ms", "parse_duration_ms", "parse_instant_ms"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_duration_ms(text: str | int | float) -> int:
    """`6h` -> 21600000. Bare numbers are seconds."""
    if isinstance(text, int | float):
        return int(text * 1000)
    m = _DURATION.match(text)
    if not m:
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit: 500ms, 90s, 30m, 6h, 3d, 1w"
        )
    return int(float(m.group(1)) * _UNIT_MS[m.group(2)])


def parse_instant_ms(text: str) -> int:
    """ISO-8601 instant -> epoch ms. A naive instant is read as UTC."""
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not an ISO-8601 instant; write e.g. 2026-03-02T00:00:00Z"
        ) from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


# The sim calendar: Kafka timestamps are not negative, and profiles, holidays and time zones
# are tabulated up to 2200. Every run's instants lie in [SIM_FROM_MS, SIM_UNTIL_MS).
SIM_FROM_MS = 0
SIM_UNTIL_MS = 7_258_118_400_000  # 2200-01-01T00:00:00Z


def format_ms(ms: int) -> str:
    """Epoch ms -> `2026-03-02T08:00:00.000Z`."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def format_duration_ms(ms: int) -> str:
    """21600000 -> `6h`: the largest unit that divides it exactly."""
    for unit in ("w", "d", "h", "m", "s"):
        if ms and ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms}ms"
