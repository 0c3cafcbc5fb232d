"""The control plane's messages: desired state (orchestrator -> fleet) and commands (CLI ->
orchestrator), and the fleet's heartbeats (workers -> anyone).

Topics:
- ``sim.control``: one partition, compacted; the orchestrator is its single (transactional)
  writer; key ``state``; value = the whole ``ControlState`` as JSON. Producers apply each
  version at its ``effective_at`` sim instant.
- ``sim.commands``: one partition; requests from ``simctl``. The state records the offset of
  the last command it has applied, so a restarted orchestrator resumes exactly after it.
- ``sim.fleet``: heartbeats and counters of every worker, keyed by worker id.
- ``sim.shards``: S partitions, one per shard; workers join one consumer group on it and own
  the shards of the partitions Kafka assigns them.
- ``sim.counts``: one partition; per shard, what its worker produced per topic and sim minute
  (``ShardCounts``), the input of the live ``<domain>.metrics``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from simfleet.clock import SimClock
from simfleet.external import Injection
from simfleet.scenarios import ScenarioInstance

__all__ = [
    "COMMANDS_TOPIC",
    "CONTROL_KEY",
    "CONTROL_TOPIC",
    "COUNTS_GRAIN_MS",
    "COUNTS_TOPIC",
    "FLEET_TOPIC",
    "HEARTBEAT_TIMEOUT_MS",
    "SHARDS_TOPIC",
    "SHARD_STATE_TOPIC",
    "ClockState",
    "Command",
    "ControlState",
    "Heartbeat",
    "ShardCounts",
    "StreamCounters",
]

CONTROL_TOPIC = "sim.control"
COMMANDS_TOPIC = "sim.commands"
FLEET_TOPIC = "sim.fleet"
SHARDS_TOPIC = "sim.shards"
COUNTS_TOPIC = "sim.counts"
# compacted, one partition per shard (keyed by shard): each shard's checkpoint, written in the
# transaction of the records it follows
SHARD_STATE_TOPIC = "sim.shard_state"
COUNTS_GRAIN_MS = 60_000  # tallies are per sim minute: any whole-minute interval sums them
CONTROL_KEY = b"state"
# a worker beats every 2 s; one silent for 5 beats is stale (dead, hung or cut off)
HEARTBEAT_TIMEOUT_MS = 10_000


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClockState(_Frozen):
    """sim = sim_anchor + (wall - wall_anchor) x speed."""

    sim_anchor_ms: int
    wall_anchor_ms: int
    speed: float = Field(gt=0)

    def clock(self) -> SimClock:
        """The clock this state describes."""
        return SimClock(self.sim_anchor_ms, self.wall_anchor_ms, self.speed)


class Rejection(_Frozen):
    """A command the orchestrator could not honour."""

    request_id: str
    reason: str


class ControlState(_Frozen):
    """The whole desired state of the fleet, versioned."""

    version: int
    effective_at: int = Field(description="sim epoch ms at which this version applies")
    issued_at_wall: int
    clock: ClockState
    seed: int
    scale: float
    shards: int
    domains: tuple[str, ...]
    scenarios: tuple[ScenarioInstance, ...] = ()
    last_command_offset: int = -1
    last_request_id: str | None = None
    rejected: Rejection | None = None
    history: tuple[str, ...] = Field((), description="recent lifecycle notes, newest last")
    external_events: bool = Field(True, description="schedule 2-5 external events a day")
    injections: tuple[Injection, ...] = ()
    external_scheduled_until: int = Field(0, description="sim ms: days before are scheduled")
    published_until: int = Field(0, description="sim ms: events and truth before are on topics")
    run: str = Field("", description="this run of the fleet (a reset starts another)")
    origin_ms: int | None = Field(None, description="sim ms at which the run began")
    quantum_ms: int = Field(0, description="sim ms per tick of every shard (0: from the speed)")
    live_from_ms: int | None = Field(
        None,
        description="sim ms before which shards tick in hours at full speed (the backfill: "
        "origin_ms to here), and from which in quantum_ms paced by the clock",
    )
    end_ms: int | None = Field(None, description="sim ms at which every shard stops generating")

    def instances(self) -> list[ScenarioInstance]:
        """Everything that applies modifiers: scenarios and causal external events."""
        out = list(self.scenarios)
        out += [i for i in (inj.instance() for inj in self.injections) if i is not None]
        return out


class Command(_Frozen):
    """A request from simctl to the orchestrator."""

    request_id: str
    action: Literal["scenario.start", "scenario.stop", "clock.speed", "reset", "inject"]
    scenario: dict[str, object] | None = Field(None, description="the ScenarioSpec to start")
    at: int | None = Field(None, description="sim epoch ms; default: a moment from now")
    stack: bool = Field(False, description="keep the scenarios that steer the fleet running too")
    replace: bool = Field(False, description="stop the scenarios that steer the fleet first")
    speed: float | None = None
    template: str | None = Field(None, description="external event template, for inject")
    domain: str | None = Field(None, description="the template's domain, when ambiguous")
    expires_at_wall: int | None = Field(
        None,
        description="wall epoch ms after which the orchestrator must not apply it (the CLI "
        "has told its user it was not applied)",
    )
    params: dict[str, str] = Field(default_factory=dict)


class StreamCounters(_Frozen):
    """Delivery accounting of one topic: produced = delivered + failed + in flight."""

    produced: int = 0
    delivered: int = 0
    failed: int = 0


class Heartbeat(_Frozen):
    """What a worker says about itself every couple of seconds."""

    worker_id: str
    host: str
    pid: int
    wall_ms: int
    sim_ms: int
    shards: tuple[int, ...]
    control_version: int
    topics: dict[str, StreamCounters]
    dropped_followups: int = 0
    chaos: dict[str, int] = Field(
        default_factory=dict, description="chaos applications per action, since the start"
    )
    stopping: bool = False
    queued: int = Field(0, description="records in the producer's local queue")
    tick_lag_ms: int = Field(0, description="wall ms the generation trails the sim clock")
    reached_ms: int | None = Field(
        None, description="sim instant every shard of this worker has generated up to"
    )
    control_seen_wall_ms: int | None = Field(
        None, description="wall epoch ms at which this worker first read control_version"
    )
    control_late: int = Field(
        0,
        description="control versions this worker read after one of its shards had generated "
        "past their effective_at (that shard's records between the two follow the old version)",
    )
    counted_until: dict[int, int] = Field(
        default_factory=dict,
        description="per shard, the sim instant its counts on sim.counts reach (a shard's "
        "next owner counts from there, so that live metrics count each record once)",
    )
    resumed_skipped: int = Field(
        0, description="records a resumed shard found already written by its last owner"
    )
    checkpoint_wall_ms: int = Field(
        0,
        description="wall ms spent on shard checkpoints since the start (waiting for "
        "acknowledgements, listing offsets, pickling, producing)",
    )

    def liveness(self, now_wall: int, timeout_ms: int = HEARTBEAT_TIMEOUT_MS) -> str:
        """`stopped` (said goodbye), `stale` (silent past the timeout) or `live`."""
        if self.stopping:
            return "stopped"
        return "stale" if now_wall - self.wall_ms > timeout_ms else "live"


class ShardCounts(_Frozen):
    """What one shard produced in sim time ``[since, until)``: records per topic per sim minute
    (key: the minute's start). A shard's next report starts where this one ends, unless the
    shard moved to another worker or the clock was reset."""

    shard: int
    worker_id: str
    since: int
    until: int
    counts: dict[str, dict[int, int]]
