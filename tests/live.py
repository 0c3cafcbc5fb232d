"""Helpers of the live tiers: wait for what a fleet has produced, not for the wall clock."""

from __future__ import annotations

import time

from simfleet.control_io import FleetWatcher
from simfleet.settings import KafkaSettings


def wait_generated(bootstrap: str, sim: int, workers: int = 1, timeout: float = 180.0) -> None:
    """Until ``workers`` workers each say every shard they hold has generated up to ``sim``.

    A fleet on a busy machine can trail its clock: a test that stopped when the clock passed an
    instant could find less data than it asked for. Heartbeats say how far generation got."""
    watcher = FleetWatcher(KafkaSettings(bootstrap_servers=bootstrap))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            watcher.poll(0.5)
            reached = [
                hb.reached_ms
                for hb in watcher.workers.values()
                if hb.shards and not hb.stopping and hb.reached_ms is not None
            ]
            if len(reached) >= workers and min(reached) >= sim:
                return
    finally:
        watcher.close()
    raise AssertionError(f"the fleet did not generate up to sim {sim} within {timeout:g} s")
