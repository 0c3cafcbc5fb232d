"""The sim clock: sim = sim_anchor + (wall - wall_anchor) x speed.

Wall time is injected (a callable returning epoch ms), never read inside generation code, so
tests pin exact instants.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SimClock", "wall_ms"]


def wall_ms() -> int:
    """The machine's wall clock in epoch ms: the one place the real clock is read."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class SimClock:
    """Maps wall instants to sim instants; immutable, a new one is made on a speed change."""

    sim_anchor_ms: int
    wall_anchor_ms: int
    speed: float

    def sim_at(self, wall: int) -> int:
        """The sim instant at a wall instant."""
        return self.sim_anchor_ms + int((wall - self.wall_anchor_ms) * self.speed)

    def wall_at(self, sim: int) -> int:
        """The wall instant at which sim time reaches ``sim``."""
        return self.wall_anchor_ms + math.ceil((sim - self.sim_anchor_ms) / self.speed)

    def rebased(self, wall: int, speed: float) -> SimClock:
        """The same sim timeline continued at another speed from ``wall`` on."""
        return SimClock(self.sim_at(wall), wall, speed)

    def now(self, read_wall: Callable[[], int] = wall_ms) -> int:
        """The current sim instant."""
        return self.sim_at(read_wall())


# Sim quanta a live fleet ticks in: divisors of an hour, so that quanta tile hours and days.
QUANTA_MS = (
    250,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
)
QUANTUM_WALL_MS = 1_000  # a live quantum lasts at most this long on the wall at the fleet's speed


def quantum_for(speed: float) -> int:
    """The sim quantum of a fleet running at ``speed``: the largest of ``QUANTA_MS`` that
    lasts at most ``QUANTUM_WALL_MS`` on the wall (an hour at 3600x and above, a second at
    realtime); shorter ones cost CPU, a tick costing about 0.2 ms per stream whatever its
    length. A shard's records depend on its state and the quanta it ticks, never on when a
    tick ran, so a fixed quantum makes a shard's output the same whoever makes it, whenever."""
    fit = [q for q in QUANTA_MS if q <= speed * QUANTUM_WALL_MS]
    return fit[-1] if fit else QUANTA_MS[0]
