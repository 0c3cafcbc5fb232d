"""Scenario models and their lifecycle, shared by the orchestrator (which publishes them) and
the producers (which apply them).

A scenario never touches code: its phases hold modifiers on parameter paths (globs allowed),
and the lifecycle turns (scenario, sim instant) into an intensity in [0, 1] that scales each
modifier. The lifecycle is a pure function of the control state and sim time, so every
process, and a restarted orchestrator, computes the same state and settle progress.

    pending -> active (phase by phase) -> settling (settle curve) -> settled
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from simfleet.timeutil import parse_duration_ms

__all__ = [
    "CHAOS_ACTIONS",
    "Assertion",
    "Burst",
    "Campaign",
    "CampaignActors",
    "CampaignStream",
    "CampaignWindow",
    "ChaosAction",
    "DriftSpec",
    "ExpectedEffect",
    "Lifecycle",
    "Modifier",
    "Phase",
    "ScenarioInstance",
    "ScenarioSpec",
    "Settle",
    "campaign_windows",
    "lifecycle_at",
]


def _duration(v: object) -> object:
    # strings such as `6h` are parsed; bare numbers are milliseconds (as model_dump writes them)
    return parse_duration_ms(v) if isinstance(v, str) else v


DurationMs = Annotated[int, BeforeValidator(_duration), Field(ge=0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Modifier(_Frozen):
    """One change to the parameters matching ``target`` (a path or a glob)."""

    target: str = Field(description="parameter path or glob, e.g. marketplace.tutor.supply")
    op: Literal["multiply", "add", "set", "shift"]
    value: float
    precedence: int = Field(0, description="with op=set: the highest precedence wins")


CHAOS_ACTIONS = ("drop", "duplicate", "delay", "reorder", "corrupt", "poison", "modify", "inject")
CorruptMode = Literal["append", "truncate", "magic", "schema_id"]
PoisonKind = Literal["negative", "epoch", "empty_id", "huge_string"]
CORRUPT_MODES: tuple[CorruptMode, ...] = ("append", "truncate", "magic", "schema_id")
POISON_KINDS: tuple[PoisonKind, ...] = ("negative", "epoch", "empty_id", "huge_string")

Scalar = str | int | float | bool | None


class ChaosAction(_Frozen):
    """One kind of damage done to the records of the streams matching ``streams`` on their way
    out (to Kafka or to files): each record hit with ``probability``, or ``rate`` records hit
    per sim-second of each matching stream, fleet-wide (a Poisson count per tick, spread over
    the shards, drawn among the tick's records)."""

    action: Literal[
        "drop", "duplicate", "delay", "reorder", "corrupt", "poison", "modify", "inject"
    ]
    streams: str = Field(description="topic glob, e.g. marketplace.customer.*")
    probability: float | None = Field(
        None, ge=0.0, le=1.0, description="per record (reorder: per key)"
    )
    rate: float | None = Field(
        None,
        ge=0.0,
        description="records (reorder: keys) hit per sim-second per matching stream, fleet-wide",
    )
    copies: int = Field(2, ge=2, le=10, description="duplicate: how many times in all")
    delay: DurationMs = Field(0, description="delay: the mean delay; duplicate: copies' delay")
    law: Literal["fixed", "exponential", "uniform"] = Field(
        "fixed", description="delay law: fixed, exponential of mean delay, uniform on 0..2xdelay"
    )
    modes: tuple[CorruptMode, ...] = Field(
        CORRUPT_MODES, min_length=1, description="corrupt: the damages drawn from"
    )
    kinds: tuple[PoisonKind, ...] = Field(
        POISON_KINDS, min_length=1, description="poison: the rule breaks drawn from"
    )
    set: dict[str, Scalar] = Field(
        default_factory=dict, description="modify: field -> value; inject: fields of the event"
    )
    emit: str | None = Field(None, description="inject: the topic of the failure event")

    @model_validator(mode="after")
    def _parameters(self) -> ChaosAction:
        if (self.probability is None) == (self.rate is None):
            raise ValueError(
                "give a chaos action either `probability` (per record, 0-1) or `rate` (records "
                "per sim-second), e.g. probability: 0.05 or rate: 2"
            )
        if self.action == "delay" and self.delay <= 0:
            raise ValueError("a delay action needs `delay` above 0, e.g. delay: 10m")
        if self.action == "modify" and not self.set:
            raise ValueError("a modify action needs `set`, e.g. set: {amount: 0}")
        if self.action == "inject" and not self.emit:
            raise ValueError(
                "an inject action needs `emit`: the topic of the failure event, e.g. "
                "emit: marketplace.payment.failed"
            )
        return self


class Window(_Frozen):
    """A span of sim time, as offsets from the start of what is checked (the scenario's start)."""

    start: DurationMs = 0
    end: DurationMs | None = Field(None, description="none: until the end of the data")


class Assertion(_Frozen):
    """A checkable claim about the records of a run (``simctl check``, ``simctl run``)."""

    kind: Literal["count", "sequence", "absence", "ratio", "latency", "custom"]
    name: str | None = None
    topic: str | None = Field(None, description="count, absence, ratio (numerator)")
    window: Window = Window()
    exact: int | None = Field(None, ge=0)
    min: float | None = None
    max: float | None = None
    topics: tuple[str, ...] = Field((), description="sequence: the topics in order")
    key: str | None = Field(
        None,
        description="sequence/latency: the field joining the events; ratio: count the "
        "denominator's records whose key appears on topic (a conversion)",
    )
    gaps: bool = Field(True, description="sequence: other topics may come in between")
    denominator: str | None = Field(None, description="ratio: the topic counted below the line")
    cause: str | None = Field(None, description="latency: the cause's topic")
    effect: str | None = Field(None, description="latency: the follow-up's topic")
    within: DurationMs | None = Field(None, description="latency: the largest delay")
    share: float = Field(1.0, ge=0.0, le=1.0, description="latency: of causes followed in time")
    check: str | None = Field(None, description="custom: module:function")

    @model_validator(mode="after")
    def _needs(self) -> Assertion:
        need: dict[str, tuple[str, ...]] = {
            "count": ("topic",),
            "absence": ("topic",),
            "ratio": ("topic", "denominator"),
            "sequence": ("topics", "key"),
            "latency": ("cause", "effect", "key", "within"),
            "custom": ("check",),
        }
        missing = [f for f in need[self.kind] if not getattr(self, f)]
        if missing:
            raise ValueError(f"a {self.kind} assertion needs {', '.join(missing)}")
        if self.kind == "count" and self.exact is None and self.min is None and self.max is None:
            raise ValueError("a count assertion needs exact, min or max")
        if self.kind == "ratio" and self.min is None and self.max is None:
            raise ValueError("a ratio assertion needs min or max")
        if self.kind == "custom" and ":" not in (self.check or ""):
            raise ValueError("check must be module:function, e.g. mychecks:no_orphans")
        return self

    @property
    def label(self) -> str:
        """The assertion's name, or one made from its kind and topics."""
        if self.name:
            return self.name
        subject = self.topic or "/".join(self.topics) or self.cause or self.check or ""
        return f"{self.kind} {subject}".strip()


class Phase(_Frozen):
    """A stretch of a scenario with its own modifiers; the last one may be open-ended."""

    name: str
    duration: DurationMs | None = Field(None, description="none: until stopped")
    ramp: DurationMs = Field(0, description="linear ramp-in at the phase start")
    modifiers: tuple[Modifier, ...] = ()
    chaos: tuple[ChaosAction, ...] = Field((), description="chaos during this phase only")


class Backlog(_Frozen):
    """A spike after the scenario ends (e.g. retries after an outage), decaying linearly."""

    duration: DurationMs
    modifiers: tuple[Modifier, ...]


class Settle(_Frozen):
    """How the world returns to baseline after the scenario ends."""

    curve: Literal["linear", "exponential", "immediate"] = "linear"
    duration: DurationMs = 0
    backlog: Backlog | None = None


class ExpectedEffect(_Frozen):
    """A checkable claim: during the scenario, ``stream`` moves ``direction`` by ``magnitude``."""

    stream: str
    direction: Literal["increase", "decrease"]
    magnitude: float = Field(gt=0, description="relative change, 0.2 = 20 %")


class ScenarioEvent(_Frozen):
    """An external event the scenario publishes as context (its effect is the scenario's)."""

    template: str = Field(description="a template id of domains/<domain>.external.yaml")
    offset: DurationMs = Field(0, description="after the scenario starts")


class CampaignActors(_Frozen):
    """The entities of one kind a campaign uses: its accounts, cards, devices."""

    count: int = Field(gt=0, description="fleet-wide at scale 1 (at least one per shard)")
    new: bool = Field(
        False,
        description="entities not active before (fresh accounts, new devices), activated at the "
        "campaign's start; otherwise drawn among the active (victims' accounts)",
    )
    attributes: dict[str, str] = Field(
        default_factory=dict,
        description="drawn attributes given to new actors (persona: fraudster); new only",
    )
    where: dict[str, str] = Field(
        default_factory=dict,
        description="drawn attributes the actors are chosen by (cap: small); not for new ones. "
        "A shard with no such entity has no actors, and the campaign acts elsewhere only",
    )

    @model_validator(mode="after")
    def _new_only(self) -> CampaignActors:
        if self.attributes and not self.new:
            raise ValueError("`attributes` are given to `new: true` actors only")
        if self.where and self.new:
            raise ValueError("`where` chooses among active entities; new actors take `attributes`")
        return self


class Burst(_Frozen):
    """Velocity bursts: the campaign's events of a stream come in bursts (same mean rate,
    packed: one actor's burst of events). ``process: clock`` puts them in the first ``length``
    of every ``every`` after the campaign's start; ``jittered`` and ``hawkes`` draw the bursts
    from a point process begun at a random instant, ``every`` and ``length`` being means
    (simfleet.domain.mechanisms.bursts)."""

    every: DurationMs = Field(gt=0)
    length: DurationMs = Field(gt=0)
    process: Literal["clock", "jittered", "hawkes"] = Field(
        "clock",
        description="clock: a burst at every `every` from the start (a phase an outside reader "
        "finds); jittered: gamma gaps of mean `every`; hawkes: self-exciting bursts (a burst "
        "makes the next likelier soon), mean gap `every`. Burst lengths vary around `length` "
        "in the last two",
    )
    excitation: float = Field(
        0.5,
        ge=0,
        lt=1,
        description="hawkes: the share of bursts set off by an earlier burst (branching ratio)",
    )

    @model_validator(mode="after")
    def _fits(self) -> Burst:
        if self.length > self.every:
            raise ValueError("a burst's `length` must not exceed `every`")
        return self


class CampaignStream(_Frozen):
    """The campaign's events of one stream: their rate and the fields they draw otherwise."""

    rate: float = Field(gt=0, description="mean events per sim-second fleet-wide at scale 1")
    fields: dict[str, dict[str, object]] = Field(
        default_factory=dict,
        description="field generators that replace the stream's own (checked against the pack "
        "at load); a domain tag not in the stream's schema is carried to the follow-ups",
    )
    burst: Burst | None = None


class Campaign(_Frozen):
    """A group of actors with their own behaviour for a window, flowing through the same
    streams (an attack): every entity field of an actor kind draws among the actors."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    pattern: str = Field(description="what it is, on ground truth and in `set` tags")
    offset: DurationMs = Field(0, description="after the scenario starts")
    duration: DurationMs = Field(gt=0)
    actors: dict[str, CampaignActors] = Field(default_factory=dict)
    streams: dict[str, CampaignStream] = Field(min_length=1)
    set: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="domain tags given to its events (is_fraud, pattern), carried to every "
        "follow-up: labels replace their drawn values with them",
    )
    processes: dict[str, dict[str, float | str]] = Field(
        default_factory=dict,
        description="per process of the pack, the numbers (drift, decline, volatility, spread: "
        "a number or a parameter path of the pack) its actors' paths take during the window",
    )


class DriftSpec(_Frozen):
    """A drift the scenario causes, for the manifest: where, how wide, what type, which
    features (topic.field)."""

    onset: DurationMs = Field(0, description="after the scenario starts")
    width: DurationMs = Field(0, description="how long the change takes (0: sudden)")
    type: Literal["sudden", "gradual", "incremental", "recurring"]
    features: tuple[str, ...] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class CampaignWindow:
    """A campaign of a scenario instance placed on the timeline."""

    key: str  # <scenario id>@<started_at>/<campaign name>: the campaign's random streams
    campaign: Campaign
    start: int
    end: int


class ScenarioSpec(_Frozen):
    """A scenario file: what changes, for how long, and how it settles."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    name: str
    description: str
    domain: str
    phases: tuple[Phase, ...] = Field(min_length=1)
    settle: Settle = Settle()
    expected_effects: tuple[ExpectedEffect, ...] = ()
    external_events: tuple[ScenarioEvent, ...] = ()
    chaos: tuple[ChaosAction, ...] = Field((), description="chaos while the scenario is active")
    assertions: tuple[Assertion, ...] = ()
    campaigns: tuple[Campaign, ...] = ()
    drift: tuple[DriftSpec, ...] = ()

    @model_validator(mode="after")
    def _only_last_open(self) -> ScenarioSpec:
        for p in self.phases[:-1]:
            if p.duration is None:
                raise ValueError(
                    f"phase {p.name!r} has no duration but is not the last phase; only the "
                    "last phase may run until stopped"
                )
        names = [c.name for c in self.campaigns]
        if len(set(names)) != len(names):
            raise ValueError(f"campaign names must be unique in a scenario: {names}")
        return self

    @property
    def steers(self) -> bool:
        """It changes the traffic: parameters, chaos, a campaign or a drift (the baseline
        scenario changes none). One such scenario runs at a time unless stacked."""
        return bool(
            self.chaos
            or self.campaigns
            or self.drift
            or any(p.modifiers or p.chaos for p in self.phases)
        )

    @property
    def natural_length_ms(self) -> int | None:
        """Length of all phases, or None when the last one runs until stopped."""
        if self.phases[-1].duration is None:
            return None
        return sum(p.duration or 0 for p in self.phases)


class ScenarioInstance(_Frozen):
    """A scenario placed on the sim timeline by the orchestrator."""

    spec: ScenarioSpec
    started_at: int = Field(description="sim epoch ms")
    stop_at: int | None = Field(None, description="sim epoch ms of an explicit stop")

    @property
    def end_ms(self) -> int | None:
        """When the scenario stops acting: explicit stop or end of its phases."""
        natural = self.spec.natural_length_ms
        ends = [x for x in (self.stop_at, None if natural is None else self.started_at + natural)]
        known = [e for e in ends if e is not None]
        return min(known) if known else None


class Lifecycle(StrEnum):
    """Where a scenario instance is at a sim instant."""

    PENDING = "pending"
    ACTIVE = "active"
    SETTLING = "settling"
    SETTLED = "settled"


@dataclass(frozen=True, slots=True)
class LifecycleAt:
    """A scenario's state at one sim instant and the modifiers in force, each with its weight."""

    state: Lifecycle
    phase: str | None
    progress: float  # within the phase (active) or the settle (settling), 0..1
    weighted: tuple[tuple[Modifier, float], ...]


def _settle_weight(settle: Settle, tau: int) -> float:
    if settle.curve == "immediate" or settle.duration <= 0:
        return 0.0
    x = min(1.0, tau / settle.duration)
    if settle.curve == "linear":
        return 1.0 - x
    # exponential: 5 % left at the end of the settle duration, then cut to zero
    return 0.0 if x >= 1.0 else math.exp(-3.0 * x)


def lifecycle_at(inst: ScenarioInstance, t: int) -> LifecycleAt:
    """The lifecycle state and weighted modifiers of ``inst`` at sim instant ``t``."""
    spec = inst.spec
    if t < inst.started_at:
        return LifecycleAt(Lifecycle.PENDING, None, 0.0, ())
    end = inst.end_ms
    if end is None or t < end:
        offset = t - inst.started_at
        for phase in spec.phases:
            length = phase.duration
            if length is None or offset < length:
                w = 1.0 if phase.ramp <= 0 else min(1.0, offset / phase.ramp)
                progress = 0.0 if not length else offset / length
                return LifecycleAt(
                    Lifecycle.ACTIVE,
                    phase.name,
                    progress,
                    tuple((m, w) for m in phase.modifiers),
                )
            offset -= length
    # ended: find the phase in force at the end, then settle from it
    assert end is not None
    offset = end - inst.started_at
    last = spec.phases[-1]
    for phase in spec.phases:
        if phase.duration is None or offset <= phase.duration:
            last = phase
            break
        offset -= phase.duration
    # a stop during a ramp settles from the weight reached, not from full strength
    ramp_w = 1.0 if last.ramp <= 0 else min(1.0, offset / last.ramp)
    tau = t - end
    settle = spec.settle
    span = max(settle.duration, settle.backlog.duration if settle.backlog else 0)
    if tau >= span:
        return LifecycleAt(Lifecycle.SETTLED, None, 1.0, ())
    w = ramp_w * _settle_weight(settle, tau)
    weighted: list[tuple[Modifier, float]] = [(m, w) for m in last.modifiers if w > 0]
    if settle.backlog is not None and tau < settle.backlog.duration:
        bw = 1.0 - tau / settle.backlog.duration
        weighted.extend((m, bw) for m in settle.backlog.modifiers)
    return LifecycleAt(Lifecycle.SETTLING, last.name, min(1.0, tau / span), tuple(weighted))


def campaign_windows(inst: ScenarioInstance) -> list[CampaignWindow]:
    """The campaigns of a scenario instance on the timeline; a stop cuts them short."""
    out = []
    for c in inst.spec.campaigns:
        start = inst.started_at + c.offset
        end = start + c.duration
        if inst.stop_at is not None:
            end = min(end, inst.stop_at)
        if end > start:
            key = f"{inst.spec.id}@{inst.started_at}/{c.name}"
            out.append(CampaignWindow(key, c, start, end))
    return out
