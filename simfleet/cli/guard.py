"""One fleet per cluster and per state folder: what `simctl up` and `simctl orchestrator run`
check before they start anything."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from simfleet.clock import wall_ms
from simfleet.control import ControlState
from simfleet.control_io import FleetWatcher, read_latest_state
from simfleet.errors import ConfigError
from simfleet.orchestrator.transitions import FIXED, state_conflicts
from simfleet.settings import KafkaSettings, Settings
from simfleet.timeutil import format_ms

__all__ = ["StateLock", "check_cluster", "fixed_flags"]


def fixed_flags(settings: Settings, resolved_domains: tuple[str, ...]) -> dict[str, Any]:
    """The fixed settings the user gave (flag, environment or config file), not defaults."""
    given = {f: getattr(settings, f) for f in FIXED if f in settings.model_fields_set}
    if "domains" in given:
        given["domains"] = resolved_domains
    return given


def check_cluster(
    kafka: KafkaSettings, wanted: dict[str, Any], reset: bool, live_check: bool = True
) -> ControlState | None:
    """Refuse a cluster that has a live fleet, or a state the flags contradict (without
    ``reset``); return the cluster's state, if any."""
    if live_check:
        watcher = FleetWatcher(kafka)
        try:
            watcher.poll(2.0)
        finally:
            watcher.close()
        now = wall_ms()
        live = [hb for hb in watcher.workers.values() if hb.liveness(now) == "live"]
        if live:
            who = ", ".join(f"{hb.worker_id} ({hb.host}, pid {hb.pid})" for hb in live)
            since = format_ms(min(hb.wall_ms for hb in live))[:19]
            raise ConfigError(
                f"A fleet is already running on {kafka.bootstrap_servers}: {len(live)} live "
                f"worker(s), {who}, heard from since {since}Z. One fleet per cluster: add "
                f"workers to it with `simctl worker run -b {kafka.bootstrap_servers}`, steer it "
                "with `simctl scenario start`, or stop it (Ctrl-C in its `simctl up`) first."
            )
    state = read_latest_state(kafka, 5.0)
    if state is not None and not reset:
        conflicts = state_conflicts(state, wanted)
        if conflicts:
            raise ConfigError(
                f"The cluster {kafka.bootstrap_servers} already holds a fleet's state "
                f"(control v{state.version}) that your settings contradict: "
                f"{'; '.join(conflicts)}. Resume it with the same values (or leave those flags "
                "out), or start over with --reset (a new state; the topics' old records stay)."
            )
    return state


class StateLock:
    """``<state dir>/up.json``: the one `simctl up` using this folder (its pid and cluster)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "up.json"

    def acquire(self, bootstrap: str | None) -> None:
        """Refuse when a live `simctl up` holds the folder; else take it."""
        try:
            held = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            held = None
        if held is not None and _alive(int(held.get("pid", 0))):
            raise ConfigError(
                f"Another `simctl up` (pid {held['pid']}, since {held.get('since', '?')}) uses "
                f"the state folder {self.path.parent} for the cluster "
                f"{held.get('bootstrap') or 'it started'}. Stop it (Ctrl-C in its terminal), or "
                "run this one from another folder or with SIMCTL_STATE_DIR set elsewhere."
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(
            json.dumps({"pid": os.getpid(), "bootstrap": bootstrap, "since": format_ms(wall_ms())}),
            encoding="utf-8",
        )

    def release(self) -> None:
        """Give the folder back (only if it is still ours)."""
        try:
            held = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if held.get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
