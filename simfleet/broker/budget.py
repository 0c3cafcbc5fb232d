"""A memory budget for the memory-only embedded broker, watched while a fleet runs on it.

What Tansu 0.6.0 offers (pinned in ``tests/broker/test_tansu_memory.py``): it holds every
record of every topic in its process memory (a default `simctl up` adds about 85 MiB a
minute, ``bench/broker_memory.py``); it refuses DeleteRecords and ignores ``retention.*``
settings; deleting a topic frees its memory, but deleting one under a running producer fails
the records in flight (an idempotent producer is even fenced). No old record can be dropped
safely while the fleet produces, so the budget is a guard: the fleet is told at 60 % of it,
and stops cleanly at 80 % (the rest is headroom for what the stop itself writes: the queues'
last records, a checkpoint per shard), every record accounted and nothing lost, rather than
fill the machine.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simfleet.broker.embedded import recorded_broker
from simfleet.errors import BrokerError, ConfigError

__all__ = [
    "STOP_SHARE",
    "WARN_SHARE",
    "BrokerBudget",
    "broker_memory",
    "broker_rss",
    "default_budget",
    "format_size",
    "parse_size",
]

WARN_SHARE = 0.6
STOP_SHARE = 0.8
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)\s*$", re.IGNORECASE)


def parse_size(text: str, flag: str = "--broker-memory") -> int:
    """``2GB``, ``512MiB``, ``1.5G`` -> bytes (binary units: a broker's memory is paged)."""
    m = _SIZE.match(text)
    if m is None or float(m.group(1)) <= 0:
        raise ConfigError(
            f"{flag} {text!r} is not a size: write a number and a unit, such as 2GB or 512MB."
        )
    unit = "KMGT".find(m.group(2).upper()) + 1 if m.group(2) else 0
    return int(float(m.group(1)) * 1024**unit)


def format_size(n: float) -> str:
    """Bytes -> ``1.7 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024:
            return f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} PiB"


def default_budget(total: int | None = None) -> int:
    """A quarter of the machine's memory (4 GiB where it cannot be read): the broker may
    grow for hours, and never take the machine the fleet and its consumers run on."""
    if total is None:
        try:
            meminfo = Path("/proc/meminfo").read_text(encoding="ascii")
            total = int(meminfo.split("MemTotal:")[1].split()[0]) * 1024
        except (OSError, IndexError, ValueError):
            return 4 * 2**30
    return total // 4


def broker_rss(pid: int) -> int | None:
    """The broker process's resident memory in bytes, ``None`` when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


@dataclass
class BrokerBudget:
    """Reads the broker's memory every ``interval_s``; warns once past ``WARN_SHARE`` of the
    budget and raises ``BrokerError`` past ``STOP_SHARE``. Time and readings are injected."""

    pid: int
    budget: int
    interval_s: float = 2.0
    read_rss: Callable[[int], int | None] = broker_rss
    clock: Callable[[], float] = time.monotonic
    rss: int | None = None  # the last reading
    _last: float = float("-inf")
    _warned: bool = False

    def check(self) -> list[str]:
        """One look (at most every ``interval_s``): the lines to tell the user."""
        now = self.clock()
        if now - self._last < self.interval_s:
            return []
        self._last = now
        self.rss = self.read_rss(self.pid)
        if self.rss is None:
            return []
        if self.rss > STOP_SHARE * self.budget:
            raise BrokerError(
                f"The embedded broker holds {format_size(self.rss)}, {self.rss / self.budget:.0%} "
                f"of its budget of {format_size(self.budget)} (--broker-memory), so the fleet "
                "stops here rather "
                "than fill the machine; every record it produced is accounted for below. The "
                "embedded broker keeps every record in memory and cannot drop old ones while "
                "the fleet produces (no retention, no DeleteRecords). For a longer run raise "
                "--broker-memory, lower --scale or --speed, or run against a real cluster "
                "(--bootstrap-servers), whose retention bounds it."
            )
        if self.rss > WARN_SHARE * self.budget and not self._warned:
            self._warned = True
            return [
                f"embedded broker at {format_size(self.rss)}, {self.rss / self.budget:.0%} of "
                f"its {format_size(self.budget)} budget (--broker-memory); the fleet stops "
                f"at {STOP_SHARE:.0%}"
            ]
        return []


def broker_memory(bootstrap: str) -> dict[str, int | None] | None:
    """The embedded broker's memory and budget, when a fleet runs on one recorded on this
    machine at ``bootstrap`` (its listener is loopback, so whoever reaches it is here)."""
    info = recorded_broker(bootstrap)
    held = broker_rss(info.pid) if info is not None else None
    if info is None or held is None:
        return None
    return {"memory_bytes": held, "budget_bytes": info.memory_budget}
