"""What a run can hold, checked at the edge before anything is allocated or started.

Three limits, each a one-paragraph ``ConfigError`` naming the flag, the bad value and a value
that works:

- sim instants between 1970 and 2200 (Kafka timestamps are not negative; the calendar of
  profiles, holidays and local time is tabulated for that span);
- a scale whose entity pools fit in memory (an estimate from the packs' populations, made
  before a single pool is drawn: `--scale 1e9` asked for 22.7 TiB and crashed);
- a speed at which a sim day still takes a tenth of a wall second (beyond, every tick is a
  backfill and the fleet only falls behind).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable

from simfleet.broker.budget import format_size
from simfleet.domain.pack import Project
from simfleet.errors import ConfigError
from simfleet.timeutil import SIM_FROM_MS, SIM_UNTIL_MS, format_ms

__all__ = [
    "MAX_SPEED",
    "SIM_FROM_MS",
    "SIM_UNTIL_MS",
    "available_memory",
    "check_scale",
    "check_sim_span",
    "check_speed",
    "pool_bytes",
]

MAX_SPEED = 864_000.0
# Bytes an entity's attribute takes in a pool, with headroom: measured 4 bytes per attribute
# cell (marketplace at --scale 100: 3.5 M entities, 170 MB); 4x that covers the ids, the
# indices and the copies a draw makes.
BYTES_PER_CELL = 16
# the share of the machine's available memory the pools may take
MEMORY_SHARE = 0.8


def check_sim_span(start_ms: int, end_ms: int, start_flag: str = "--start") -> None:
    """Both ends of a run between 1970 and 2200 (sim time), or a ConfigError."""
    if not SIM_FROM_MS <= start_ms < SIM_UNTIL_MS:
        raise ConfigError(
            f"{start_flag} {format_ms(start_ms)[:19]}Z is outside the sim calendar, which runs "
            "from 1970-01-01 to 2200-01-01 (Kafka timestamps are not negative, and profiles, "
            f"holidays and time zones are tabulated for that span). Give a {start_flag} in it, "
            "e.g. 2026-03-02T00:00:00Z."
        )
    if end_ms > SIM_UNTIL_MS:
        raise ConfigError(
            f"The run from {format_ms(start_ms)[:19]}Z would end at or after 2200-01-01, the end "
            "of the sim calendar. Give an earlier --start or a shorter --duration."
        )


def check_speed(speed: float) -> None:
    """A speed the clock can follow, or a ConfigError."""
    if not 0 < speed <= MAX_SPEED:
        raise ConfigError(
            f"--speed {speed:g} is out of range: it must be above 0 and at most {MAX_SPEED:,.0f} "
            "(ten sim days a wall second). Beyond, every tick is a backfill and the fleet "
            "only falls behind; for history as fast as possible use `simctl generate` or "
            "`simctl up --backfill`."
        )


def pool_bytes(project: Project, domains: Iterable[str], scale: float) -> int:
    """An estimate of the entity pools' memory for ``domains`` at ``scale`` (all shards)."""
    cells = 0.0
    for d in domains:
        for ent in project.spec(d).entities.values():
            cells += ent.count * scale * (1 + ent.reserve) * (len(ent.attributes) + 1)
    return int(cells * BYTES_PER_CELL)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable), if known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def check_scale(
    project: Project, domains: Iterable[str], scale: float, available: int | None = None
) -> None:
    """Refuse a scale whose pools cannot fit in memory, before any is drawn."""
    domains = tuple(domains)
    need = pool_bytes(project, domains, scale)
    have = available_memory() if available is None else available
    if have is None or need <= have * MEMORY_SHARE:
        return
    fits = scale * have * MEMORY_SHARE / need
    raise ConfigError(
        f"--scale {scale:g} needs about {format_size(need)} for the entity pools of "
        f"{', '.join(domains)}, and this machine has {format_size(have)} available. Give a "
        f"--scale of at most {_round_down(fits):g}, fewer --domain, or spread the fleet's "
        "workers over more machines."
    )


def _round_down(x: float) -> float:
    """Two significant digits, never above ``x``."""
    if x <= 0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(x)) - 1)
    return float(round(math.floor(x / step) * step, 12))
