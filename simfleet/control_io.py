"""Reading and writing the control topics.

- ``read_latest_state``: the newest ``ControlState`` on ``sim.control`` (read to the end of
  the partition as the consumer's fetches see it, read_committed), or None.
- ``ControlFollower``: a worker's view, fed by polling; it keeps the versions it has seen and
  answers which one applies at a sim instant (``effective_at``).
- ``send_command`` / ``wait_for_request``: what ``simctl scenario start`` and friends do.
- ``FleetWatcher``: the newest heartbeat of every worker on ``sim.fleet``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from pydantic import ValidationError

from simfleet.control import (
    COMMANDS_TOPIC,
    CONTROL_TOPIC,
    FLEET_TOPIC,
    Command,
    ControlState,
    Heartbeat,
)
from simfleet.errors import BrokerError
from simfleet.logs import librdkafka_logger
from simfleet.settings import KafkaSettings
from simfleet.timeutil import format_ms

__all__ = [
    "BEHIND_MS",
    "Behind",
    "ControlFollower",
    "FleetWatcher",
    "LagTracker",
    "read_latest_state",
    "send_command",
    "wait_for_request",
]


def _consumer(settings: KafkaSettings, **extra: Any) -> Consumer:
    conf = {
        **settings.client_config("consumer"),
        "group.id": f"simctl-reader-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "logger": librdkafka_logger(),  # a broker that is away: a line every few s, no flood
        **extra,
    }
    return Consumer(conf)


def _parse_state(value: bytes | None) -> ControlState | None:
    if not value:
        return None
    try:
        return ControlState.model_validate_json(value)
    except ValidationError:
        return None  # a state written by an incompatible version: skipped, not fatal


def read_latest_state(settings: KafkaSettings, timeout: float = 10.0) -> ControlState | None:
    """The newest control state, or None when the topic is empty or absent."""
    # the end is the first empty fetch: don't let the broker hold it for the default 500 ms
    c = _consumer(settings, **{"fetch.wait.max.ms": 10})
    try:
        try:
            low, high = c.get_watermark_offsets(TopicPartition(CONTROL_TOPIC, 0), timeout=timeout)
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() in (
                KafkaError.UNKNOWN_TOPIC_OR_PART,
                KafkaError._UNKNOWN_PARTITION,
                KafkaError._UNKNOWN_TOPIC,
            ):
                return None
            raise BrokerError(
                f"Cannot read {CONTROL_TOPIC} at {settings.bootstrap_servers}: {err.str()}. "
                "Is the broker up? Start it with `simctl up` or pass --bootstrap-servers."
            ) from exc
        # the listed watermark may stop short of the last batch (Tansu 0.6.0, pinned in
        # tests/broker): it only says where to start; the end is the consumer's own EOF
        c.assign([TopicPartition(CONTROL_TOPIC, 0, max(low, high - 50))])
        latest: ControlState | None = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = c.poll(0.2)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    break
                continue
            state = _parse_state(msg.value())
            if state is not None and (latest is None or state.version >= latest.version):
                latest = state
        return latest
    finally:
        c.close()


class ControlFollower:
    """Follows ``sim.control`` from the beginning; answers which version applies when."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._c = _consumer(settings, **{"enable.partition.eof": False})
        self._c.assign([TopicPartition(CONTROL_TOPIC, 0, OFFSET_BEGINNING)])
        self.versions: list[ControlState] = []

    def poll(self, timeout: float = 0.0, max_messages: int = 100) -> bool:
        """Read what has arrived; True if a new version came."""
        got = False
        msgs = self._c.consume(max_messages, timeout)
        for msg in msgs:
            if msg.error():
                continue
            state = _parse_state(msg.value())
            if state is None:
                continue
            if not self.versions or state.version > self.versions[-1].version:
                self.versions.append(state)
                got = True
        if len(self.versions) > 32:
            # keep the newest few; anything older is superseded for every instant from now on
            self.versions = self.versions[-32:]
        return got

    def wait_first(self, timeout: float) -> ControlState:
        """Block until a state exists; the fleet does nothing without one."""
        deadline = time.monotonic() + timeout
        while not self.versions:
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"No control state on {CONTROL_TOPIC} after {timeout:.0f} s: start the "
                    "orchestrator (`simctl up` does) before the workers."
                )
            self.poll(0.5)
        return self.versions[-1]

    @property
    def latest(self) -> ControlState:
        """The newest version received (its clock is the fleet's clock)."""
        return self.versions[-1]

    def at(self, t: int) -> ControlState:
        """The version in force at sim instant ``t``: the newest with ``effective_at <= t``."""
        for state in reversed(self.versions):
            if state.effective_at <= t:
                return state
        return self.versions[0]

    def close(self) -> None:
        """Leave the topic."""
        self._c.close()


def send_command(settings: KafkaSettings, command: Command, timeout: float = 10.0) -> None:
    """Append a command to ``sim.commands`` and wait for its delivery report."""
    p = Producer({**settings.client_config("producer"), "acks": "all", "enable.idempotence": True})
    errors: list[str] = []
    p.produce(
        COMMANDS_TOPIC,
        command.model_dump_json().encode(),
        command.request_id.encode(),
        on_delivery=lambda err, _m: errors.append(err.str()) if err else None,
    )
    remaining = p.flush(timeout)
    if remaining or errors:
        raise BrokerError(
            f"Could not deliver the command to {COMMANDS_TOPIC} at {settings.bootstrap_servers} "
            f"within {timeout:.0f} s ({errors[0] if errors else 'no answer'}). Is the broker up?"
        )


def wait_for_request(
    settings: KafkaSettings,
    request_id: str,
    timeout: float = 10.0,
    read: Callable[[KafkaSettings, float], ControlState | None] = read_latest_state,
) -> ControlState:
    """Poll ``sim.control`` until a state answers ``request_id`` (applied or rejected)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read(settings, 5.0)
        if state is not None and (
            state.last_request_id == request_id
            or (state.rejected is not None and state.rejected.request_id == request_id)
        ):
            return state
        time.sleep(0.2)  # polling a condition with a deadline
    raise BrokerError(
        f"No orchestrator answered request {request_id} within {timeout:.0f} s. Is one running? "
        "`simctl up` starts one; `simctl status` shows the fleet."
    )


# a worker further behind the sim clock than this is falling behind (a tick's own pacing and
# a checkpoint stay well under it)
BEHIND_MS = 5_000


@dataclass(frozen=True, slots=True)
class Behind:
    """The fleet is falling behind: its generation trails the sim clock."""

    lag_ms: int
    since_wall_ms: int
    workers: tuple[str, ...]

    def text(self) -> str:
        """``35 s behind the sim clock since 18:01:02Z (worker-0, worker-1)``."""
        return (
            f"{self.lag_ms / 1000:,.0f} s behind the sim clock since "
            f"{format_ms(self.since_wall_ms)[11:19]}Z ({', '.join(self.workers)})"
        )


class LagTracker:
    """Since when each worker has trailed the sim clock by more than ``BEHIND_MS``, from its
    heartbeats in the order they were written."""

    def __init__(self) -> None:
        # worker -> wall ms of the first beat of its current stretch behind the sim clock
        self.since: dict[str, int] = {}

    def see(self, hb: Heartbeat) -> None:
        """Take one heartbeat into account."""
        if hb.tick_lag_ms > BEHIND_MS and not hb.stopping:
            self.since.setdefault(hb.worker_id, hb.wall_ms)
        else:
            self.since.pop(hb.worker_id, None)

    def behind(self, workers: dict[str, Heartbeat], now_wall: int) -> Behind | None:
        """How far the live workers trail the sim clock, and since when; ``None`` while they
        keep up."""
        live = {
            w: hb
            for w, hb in workers.items()
            if w in self.since and hb.liveness(now_wall) == "live"
        }
        if not live:
            return None
        return Behind(
            lag_ms=max(hb.tick_lag_ms for hb in live.values()),
            since_wall_ms=min(self.since[w] for w in live),
            workers=tuple(sorted(live)),
        )


class FleetWatcher:
    """The newest heartbeat of every worker, read from ``sim.fleet``."""

    def __init__(self, settings: KafkaSettings, history: int = 500) -> None:
        self._c = _consumer(settings, **{"enable.partition.eof": False})
        start = OFFSET_BEGINNING
        try:
            low, high = self._c.get_watermark_offsets(TopicPartition(FLEET_TOPIC, 0), timeout=5)
            start = max(low, high - history)
        except KafkaException:
            start = OFFSET_END
        self._c.assign([TopicPartition(FLEET_TOPIC, 0, start)])
        self.workers: dict[str, Heartbeat] = {}
        # every process's newest beat: a restarted worker keeps its id, not its counters
        self.processes: dict[tuple[str, str, int], Heartbeat] = {}
        self.lag = LagTracker()

    def poll(self, timeout: float = 0.0) -> int:
        """Read what has arrived; returns how many heartbeats."""
        n = 0
        for msg in self._c.consume(1000, timeout):
            value = msg.value()
            if msg.error() or not value:
                continue
            try:
                hb = Heartbeat.model_validate_json(value)
            except ValidationError:
                continue
            self.workers[hb.worker_id] = hb
            self.processes[(hb.worker_id, hb.host, hb.pid)] = hb
            self.lag.see(hb)
            n += 1
        return n

    def behind(self, now_wall: int) -> Behind | None:
        """How far the live workers trail the sim clock, and since when (``LagTracker``)."""
        return self.lag.behind(self.workers, now_wall)

    def read_to_end(self, timeout: float) -> None:
        """Poll until the topic's end as it was when called (or ``timeout``)."""
        tp = TopicPartition(FLEET_TOPIC, 0)
        try:
            low, high = self._c.get_watermark_offsets(tp, timeout=5)
        except KafkaException:
            return  # no fleet topic yet
        deadline = time.monotonic() + timeout
        while high > low and time.monotonic() < deadline:
            self.poll(0.2)
            if self._c.position([tp])[0].offset >= high:
                return

    def close(self) -> None:
        """Leave the topic."""
        self._c.close()
