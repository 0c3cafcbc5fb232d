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
