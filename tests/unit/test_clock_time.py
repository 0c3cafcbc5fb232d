"""The sim clock and the time vocabulary of files and flags, pinned at exact milliseconds."""

from __future__ import annotations

import pytest

from simfleet.clock import SimClock
from simfleet.timeutil import format_ms, parse_duration_ms, parse_instant_ms

T0 = 1_772_409_600_000  # 2026-03-02T00:00:00Z
WALL0 = 1_000_000


@pytest.mark.parametrize(
    ("speed", "wall", "sim"),
    [
        (1.0, WALL0, T0),
        (1.0, WALL0 + 1, T0 + 1),
        (60.0, WALL0 + 1_000, T0 + 60_000),
        (3600.0, WALL0 + 1_000, T0 + 3_600_000),
        (0.5, WALL0 + 2_000, T0 + 1_000),
        (60.0, WALL0 - 1_000, T0 - 60_000),
    ],
)
def test_sim_at_scales_wall_offset_by_speed(speed: float, wall: int, sim: int) -> None:
    """sim = sim_anchor + (wall - wall_anchor) x speed, in whole ms."""
    assert SimClock(T0, WALL0, speed).sim_at(wall) == sim


@pytest.mark.parametrize(
    ("speed", "sim", "wall"),
    [
        (1.0, T0 + 5, WALL0 + 5),
        (60.0, T0 + 60_000, WALL0 + 1_000),
        (0.5, T0 + 1_000, WALL0 + 2_000),
        (3600.0, T0 + 86_400_000, WALL0 + 24_000),
    ],
)
def test_wall_at_inverts_sim_at_on_exact_instants(speed: float, sim: int, wall: int) -> None:
    """wall_at is the inverse of sim_at where the speed divides the sim offset exactly."""
    clock = SimClock(T0, WALL0, speed)
    assert clock.wall_at(sim) == wall
    assert clock.sim_at(clock.wall_at(sim)) == sim


def test_wall_at_is_never_before_sim_reaches_the_instant() -> None:
    """At wall_at(s) the sim clock has reached s (the docstring's contract), at any speed."""
    clock = SimClock(T0, WALL0, 3.0)
    for sim in range(T0, T0 + 10):
        assert clock.sim_at(clock.wall_at(sim)) >= sim


@pytest.mark.parametrize("new_speed", [0.25, 1.0, 7.0, 3600.0])
def test_rebased_keeps_sim_continuous_at_the_rebase_instant(new_speed: float) -> None:
    """A speed change does not jump sim time: old and new clock agree at the rebase wall ms."""
    old = SimClock(T0, WALL0, 60.0)
    wall = WALL0 + 12_345
    new = old.rebased(wall, new_speed)
    assert new.sim_at(wall) == old.sim_at(wall) == T0 + 12_345 * 60
    assert new.wall_anchor_ms == wall
    assert new.speed == new_speed
    assert new.sim_at(wall + 1_000) == old.sim_at(wall) + int(1_000 * new_speed)


def test_now_reads_the_injected_wall_clock() -> None:
    """now() asks the injected wall reader, never the machine clock."""
    assert SimClock(T0, WALL0, 10.0).now(lambda: WALL0 + 100) == T0 + 1_000


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("500ms", 500),
        ("90s", 90_000),
        ("30m", 1_800_000),
        ("6h", 21_600_000),
        ("1.5h", 5_400_000),
        ("3d", 259_200_000),
        ("1w", 604_800_000),
        ("0s", 0),
        (" 6 h ", 21_600_000),
        (90, 90_000),
        (1.5, 1_500),
    ],
)
def test_parse_duration_ms_reads_number_and_unit(text: str | float, ms: int) -> None:
    """Durations: a number and a unit (ms s m h d w); bare numbers are seconds."""
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "6", "h", "-1h", "6x", "6hours", "1h30m", "six h"])
def test_parse_duration_ms_rejects_malformed_text_with_an_example(text: str) -> None:
    """A malformed duration raises ValueError quoting the text and showing valid forms."""
    with pytest.raises(ValueError, match="is not a duration") as info:
        parse_duration_ms(text)
    assert repr(text) in str(info.value)
    assert "6h" in str(info.value)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-03-02T00:00:00Z", T0),
        ("2026-03-02T00:00:00+00:00", T0),
        ("2026-03-02T00:00:00", T0),  # naive is UTC
        ("2026-03-02T02:00:00+02:00", T0),
        ("2026-03-02T08:00:00.123Z", T0 + 8 * 3_600_000 + 123),
        ("2026-03-02", T0),
    ],
)
def test_parse_instant_ms_reads_iso8601_naive_as_utc(text: str, ms: int) -> None:
    """ISO-8601 instants to epoch ms; `Z` and offsets honoured, naive instants read as UTC."""
    assert parse_instant_ms(text) == ms


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", ""])
def test_parse_instant_ms_rejects_non_iso_with_an_example(text: str) -> None:
    """A non-ISO instant raises ValueError naming the text and a valid example."""
    with pytest.raises(ValueError, match="ISO-8601") as info:
        parse_instant_ms(text)
    assert "2026-03-02T00:00:00Z" in str(info.value)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (T0, "2026-03-02T00:00:00.000Z"),
        (T0 + 8 * 3_600_000 + 5, "2026-03-02T08:00:00.005Z"),
        (T0 + 999, "2026-03-02T00:00:00.999Z"),
        (T0 - 1, "2026-03-01T23:59:59.999Z"),
    ],
)
def test_format_ms_writes_utc_with_milliseconds(ms: int, text: str) -> None:
    """format_ms writes UTC with three ms digits and a Z."""
    assert format_ms(ms) == text


def test_format_and_parse_round_trip_every_millisecond_of_a_second() -> None:
    """parse_instant_ms(format_ms(ms)) == ms with no float drift, for every ms of a second."""
    for ms in range(T0 + 3_600_000, T0 + 3_601_000):
        assert parse_instant_ms(format_ms(ms)) == ms
