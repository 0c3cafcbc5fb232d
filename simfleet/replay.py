"""Replaying a ``Source`` (recording or generate folder) to Kafka, paced or at full speed.

- Order: topics are merged by timestamp for pacing, but each topic's messages keep the order
  they were read in, so each partition goes out in offset order and each key in order.
- Partitions: a message goes to its original partition when the target topic has the same
  partition count as the source topic; otherwise (or from a generate folder) the key decides,
  with the fleet's murmur2 partitioner, so a key still lands in one partition.
- Pacing: a message of timestamp ``ts`` is due ``(ts - first) / speed`` after the first one,
  on a monotonic clock; ``speed`` None is no pacing at all. The clock and the wait are
  injected (the wait serves delivery reports while it waits).
- Timestamps: kept (``original``) or shifted so that the first message is now (``now``).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from simfleet.errors import ConfigError
from simfleet.recording import Message, Source

__all__ = ["Pacer", "Renamer", "merged", "parse_renames"]


class Pacer:
    """Waits until each message is due: ``(ts - first_ts) / speed`` after the first one."""

    def __init__(
        self,
        speed: float | None,
        clock: Callable[[], float],
        wait: Callable[[float], None],
    ) -> None:
        if speed is not None and speed <= 0:
            raise ConfigError(f"--speed must be above 0, not {speed:g}.")
        self.speed = speed
        self._clock = clock
        self._wait = wait
        self._first_ts: int | None = None
        self._t0 = 0.0

    def due(self, ts: int) -> float:
        """The monotonic instant a message of timestamp ``ts`` is due (the first: now)."""
        if self._first_ts is None:
            self._first_ts = ts
            self._t0 = self._clock()
        if self.speed is None:
            return self._t0
        return self._t0 + max(0, ts - self._first_ts) / 1000.0 / self.speed

    def pace(self, ts: int) -> None:
        """Wait until a message of timestamp ``ts`` is due; at once when it is late."""
        if self.speed is None:
            return
        target = self.due(ts)
        while True:
            left = target - self._clock()
            if left <= 0:
                return
            self._wait(left)


def merged(source: Source, topics: Iterable[str]) -> Iterator[Message]:
    """The messages of ``topics`` merged by timestamp; each topic keeps its own order."""
    its = [source.messages(t) for t in topics]
    return heapq.merge(*its, key=lambda m: m.timestamp)


@dataclass(frozen=True)
class Renamer:
    """Target topic names: ``FROM=TO`` renames (``p1.*=p2.*`` for prefixes), then a prefix."""

    renames: tuple[tuple[str, str], ...] = ()
    prefix: str = ""

    def __call__(self, topic: str) -> str:
        for src, dst in self.renames:
            if src.endswith("*"):
                if topic.startswith(src[:-1]):
                    topic = dst.removesuffix("*") + topic[len(src) - 1 :]
                    break
            elif topic == src:
                topic = dst
                break
        return self.prefix + topic


def parse_renames(values: Iterable[str], flag: str = "--rename") -> tuple[tuple[str, str], ...]:
    """``FROM=TO`` pairs; a ConfigError naming the flag for anything else."""
    out = []
    for v in values:
        src, sep, dst = v.partition("=")
        if not sep or not src or not dst or src.endswith("*") != dst.endswith("*"):
            raise ConfigError(
                f"{flag} {v!r}: expected FROM=TO, a topic name on each side "
                "(marketplace.orders=orders.copy) or a prefix with * on both sides "
                "(marketplace.*=copy.marketplace.*)."
            )
        out.append((src, dst))
    return tuple(out)


def partition_plan(
    source_counts: Mapping[str, int], target_counts: Mapping[str, int], rename: Renamer
) -> dict[str, bool]:
    """Per source topic: keep the original partition (same count on the target) or not."""
    return {t: n > 0 and target_counts.get(rename(t)) == n for t, n in source_counts.items()}
