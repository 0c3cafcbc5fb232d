"""The tick loop: what is in force at a sim instant, and shards ticked between two instants.

One component for both ways records are made. A live worker ticks each shard it holds in
fixed sim quanta up to the fleet clock, under the control version in force at each quantum's
start; ``simctl generate`` (``producers.backfill``) ticks every shard in sim hours under the
scenarios given on its command line. Both go through ``Ticker``, so for the same seed and
control history they make the same records in the same order (pinned by
``tests/unit/test_tick_loop.py`` without a broker, and by the live handoff and backfill tests).

    Schedule.at(t) -> Forces          what is in force from t (scenarios, causal external events)
    Forces.spans(domain, t0, t1)       a tick cut where a fast scenario moves
    Forces.params / campaigns / chaos  the parameters, campaigns and chaos of a span
    Grid.ticks(cursor, limit)          where ticks end (quantum, history hours, seam, end)
    Ticker.between / Ticker.ticks      engines ticked span by span, lazily

Time is passed in, never read here: a caller says up to which sim instant to tick (the live
worker from its clock, generate from its arguments). A mechanism that changes what is in
force (a feedback topic of decisions, a retention rule) is one more input of ``Forces``,
built where the schedule builds it; nothing else learns of it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simfleet.columns import Batch
from simfleet.control import ControlState
from simfleet.domain.params import ModifiersAt, ParamGraph
from simfleet.producers.chaos import InForce
from simfleet.producers.engine import ShardEngine
from simfleet.scenarios import (
    CampaignWindow,
    ChaosAction,
    Lifecycle,
    Modifier,
    ScenarioInstance,
    campaign_windows,
    lifecycle_at,
)

__all__ = [
    "HOUR_TICK_MS",
    "ByVersion",
    "Fixed",
    "Forces",
    "Grid",
    "Schedule",
    "Step",
    "Tick",
    "Ticker",
    "campaigns_at",
    "change_instants",
    "chaos_at",
    "modifiers_at",
]

# generate's ticks, and a live fleet's history before its live start: the same hours, so the
# two make the same records
HOUR_TICK_MS = 3_600_000
RAMP_STEPS = 6  # ticks a short ramp or settle curve is cut into
SHORT_MS = 15 * 60_000  # a scenario that moves within less than this gets finer ticks
_PARAMS_KEPT = 4096  # evaluated parameter sets one Forces keeps (a long live run never ends)
_VERSIONS_KEPT = 4  # control versions whose Forces a live schedule keeps (shards straddle one)


# -- what is in force ---------------------------------------------------------------------


def modifiers_at(scenarios: Sequence[ScenarioInstance]) -> ModifiersAt:
    """A function of sim time giving the weighted modifiers of every scenario instance."""
    insts = tuple(scenarios)

    def at(t: int) -> list[tuple[Modifier, float]]:
        out: list[tuple[Modifier, float]] = []
        for inst in insts:
            out.extend(lifecycle_at(inst, t).weighted)
        return out

    return at


def chaos_at(instances: Sequence[ScenarioInstance], t: int) -> InForce:
    """The chaos actions in force at ``t``, each with its scenario's id: a scenario's own while
    it is active, and its current phase's."""
    out: list[tuple[str, ChaosAction]] = []
    for inst in instances:
        spec = inst.spec
        if not spec.chaos and not any(p.chaos for p in spec.phases):
            continue
        lc = lifecycle_at(inst, t)
        if lc.state is not Lifecycle.ACTIVE:
            continue
        out.extend((spec.id, a) for a in spec.chaos)
        for p in spec.phases:
            if p.name == lc.phase:
                out.extend((spec.id, a) for a in p.chaos)
                break
    return tuple(out)


def campaigns_at(
    scenarios: Sequence[ScenarioInstance], domain: str, t0: int, t1: int
) -> list[CampaignWindow]:
    """The campaigns of ``domain`` acting in ``[t0, t1)``."""
    return [
        w
        for inst in scenarios
        if inst.spec.domain == domain
        for w in campaign_windows(inst)
        if w.start < t1 and w.end > t0
    ]


def _spans(inst: ScenarioInstance) -> list[int]:
    spec = inst.spec
    out = [p.ramp for p in spec.phases] + [p.duration or 0 for p in spec.phases]
    out += [spec.settle.duration, spec.settle.backlog.duration if spec.settle.backlog else 0]
    return [x for x in out if x > 0]


def change_instants(scenarios: Sequence[ScenarioInstance], domain: str) -> npt.NDArray[np.int64]:
    """Sorted instants where the parameters of ``domain`` move fast: for each scenario of the
    domain (its own, or moving its parameters) that ramps, lasts or settles within less than
    ``SHORT_MS``, its start, phase boundaries, stop and six steps of each ramp and settle curve.
    Parameters are evaluated once per tick: an hour-long tick would miss a five-minute ramp.
    Other scenarios keep the fixed ticks."""
    out: list[int] = []
    for inst in scenarios:
        targets = {m.target.split(".", 1)[0] for p in inst.spec.phases for m in p.modifiers}
        if inst.spec.domain != domain and domain not in targets and "*" not in targets:
            continue
        if not any(x < SHORT_MS for x in _spans(inst)):
            continue
        t = inst.started_at
        for phase in inst.spec.phases:
            out += [t + phase.ramp * k // RAMP_STEPS for k in range(RAMP_STEPS + 1)]
            if phase.duration is None:
                break
            t += phase.duration
        end = inst.end_ms
        if end is not None:
            out.append(end)
            settle = inst.spec.settle
            spans = [settle.duration, settle.backlog.duration if settle.backlog else 0]
            out += [end + s * k // RAMP_STEPS for s in spans for k in range(1, RAMP_STEPS + 1)]
    return np.unique(np.asarray(out, dtype=np.int64))


class Forces:
    """What is in force over sim time under one set of scenario instances (the scenarios and
    the causal external events of one control version, or of a generate run): the weighted
    modifiers, the campaigns, the chaos, and where a tick must be cut because a scenario
    moves within minutes. Pure functions of the instances, memoised."""

    def __init__(self, instances: Sequence[ScenarioInstance] = ()) -> None:
        self.instances = tuple(instances)
        self.modifiers = modifiers_at(self.instances)
        self._cuts: dict[str, npt.NDArray[np.int64]] = {}
        self._params: dict[tuple[str, int], dict[str, float]] = {}

    def chaos(self, t: int) -> InForce:
        """The chaos actions in force at ``t`` (causal external events carry none)."""
        return chaos_at(self.instances, t)

    def campaigns(self, domain: str, t0: int, t1: int) -> list[CampaignWindow]:
        """The campaigns of ``domain`` acting in ``[t0, t1)``."""
        return campaigns_at(self.instances, domain, t0, t1)

    def spans(self, domain: str, t0: int, t1: int) -> list[tuple[int, int]]:
        """``[t0, t1)`` cut where a scenario moving ``domain``'s parameters moves fast: a live
        quantum is cut where generate cuts its hour, so both tick the same spans."""
        cuts = self._cuts.get(domain)
        if cuts is None:
            cuts = self._cuts[domain] = change_instants(self.instances, domain)
        inner = cuts[(cuts > t0) & (cuts < t1)].tolist()
        return list(zip([t0, *inner], [*inner, t1], strict=True))

    def params(self, domain: str, graph: ParamGraph, t: int) -> dict[str, float]:
        """Every parameter of ``domain`` at ``t`` (shards share their instants: evaluated once)."""
        key = (domain, t)
        got = self._params.get(key)
        if got is None:
            if len(self._params) >= _PARAMS_KEPT:
                self._params.clear()
            got = self._params[key] = graph.evaluate(t, self.modifiers)
        return got


class Schedule(ABC):
    """What is in force from a sim instant on: ``at(t)`` gives the ``Forces`` of ``t``."""

    @abstractmethod
    def at(self, t: int) -> Forces:
        """The forces in force at ``t``."""


class Fixed(Schedule):
    """One set of forces for all time (generate: the scenarios of its command line)."""

    def __init__(self, forces: Forces) -> None:
        self.forces = forces

    def at(self, t: int) -> Forces:
        """The same forces whatever ``t``."""
        return self.forces


class ByVersion(Schedule):
    """A live fleet's control history: the forces of the control version in force at ``t``
    (``ControlFollower.at``: the newest whose ``effective_at`` is at or before it)."""

    def __init__(self, version_at: Callable[[int], ControlState]) -> None:
        self.version_at = version_at
        self._by_version: dict[int, Forces] = {}

    def at(self, t: int) -> Forces:
        """The forces of the version in force at ``t``."""
        version = self.version_at(t)
        got = self._by_version.get(version.version)
        if got is None:
            if len(self._by_version) >= _VERSIONS_KEPT:
                del self._by_version[min(self._by_version)]  # superseded for every shard
            got = self._by_version[version.version] = Forces(version.instances())
        return got


# -- ticks ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grid:
    """Where a shard's ticks end: every ``quantum`` from its cursor, but every ``before`` while
    before ``seam`` (a live fleet's history in hours), and never across ``seam`` (the live
    start; generate's first written instant) nor ``end``. A shard's records depend on the
    ticks it makes, never on when they ran."""

    quantum: int
    seam: int | None = None
    before: int = 0  # 0: ``quantum``
    end: int | None = None

    def tick_end(self, t0: int) -> int:
        """The end of the tick starting at ``t0``."""
        early = self.seam is not None and t0 < self.seam and self.before > 0
        t1 = t0 + (self.before if early else self.quantum)
        for cut in (self.seam, self.end):
            if cut is not None and t0 < cut < t1:
                t1 = cut
        return t1

    @classmethod
    def live(cls, quantum: int, live_from: int | None, end: int | None) -> Grid:
        """A live fleet's grid: its history (before ``live_from``) in hours, as generate
        writes it, then ``quantum`` by ``quantum`` until ``end``."""
        return cls(quantum, seam=live_from, before=HOUR_TICK_MS, end=end)

    def ticks(self, t0: int, limit: int) -> Iterator[tuple[int, int]]:
        """The whole ticks from ``t0`` that end at or before ``limit``."""
        while True:
            t1 = self.tick_end(t0)
            if t1 > limit:
                return
            yield t0, t1
            t0 = t1


@dataclass(frozen=True, slots=True)
class Step:
    """One engine ticked over one span (a tick, or a part of it cut by a fast scenario)."""

    engine: ShardEngine
    t0: int
    t1: int
    batches: list[Batch]


@dataclass(frozen=True, slots=True)
class Tick:
    """One tick of one shard: its span, the chaos in force at its start, and its steps (made
    as they are read: read them all before the next tick)."""

    t0: int
    t1: int
    chaos: InForce
    steps: Iterator[Step]


class Ticker:
    """Ticks shard engines under a schedule: the one loop of live workers and generate."""

    def __init__(self, graphs: Mapping[str, ParamGraph], schedule: Schedule) -> None:
        self.graphs = graphs
        self.schedule = schedule

    def between(self, engines: Sequence[ShardEngine], t0: int, t1: int) -> Iterator[Step]:
        """Each engine ticked over ``[t0, t1)`` under the forces in force at ``t0``: domain by
        domain, span by span, and within a span engine by engine (in the order given)."""
        forces = self.schedule.at(t0)
        by_domain: dict[str, list[ShardEngine]] = {}
        for eng in engines:
            by_domain.setdefault(eng.domain.domain, []).append(eng)
        for d, group in by_domain.items():
            graph = self.graphs[d]
            for a, b in forces.spans(d, t0, t1):
                params = forces.params(d, graph, a)
                acting = forces.campaigns(d, a, b)
                for eng in group:
                    yield Step(eng, a, b, eng.tick(a, b, params, acting))

    def ticks(
        self, engines: Sequence[ShardEngine], grid: Grid, cursor: int, limit: int
    ) -> Iterator[Tick]:
        """A shard's ticks from ``cursor`` while they end at or before ``limit`` (a live
        worker: the fleet clock, or the fleet's end)."""
        for t0, t1 in grid.ticks(cursor, limit):
            yield Tick(t0, t1, self.schedule.at(t0).chaos(t0), self.between(engines, t0, t1))

    def labels(self, engines: Sequence[ShardEngine], t0: int, t1: int) -> list[Batch]:
        """The labels that become known in ``[t0, t1)`` (after a window: no new traffic)."""
        forces = self.schedule.at(t0)
        out: list[Batch] = []
        for eng in engines:
            d = eng.domain.domain
            out.extend(eng.labels(t0, t1, forces.params(d, self.graphs[d], t0)))
        return out
