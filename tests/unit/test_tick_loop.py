"""One tick loop (``producers.ticking``): a live worker's way and generate's way through it make
the same records for the same seed and control history, without a broker.

The live way ticks each shard quantum by quantum up to a clock that jumps, shard after shard,
under the control version in force at each quantum's start (a version that starts scenarios
comes mid-run); generate's way (``backfill_ticks``) ticks every shard hour by hour under the
final version's scenarios. A marketplace scenario that ramps within minutes cuts a quantum,
and a ticketing campaign scenario acts in the same ticks."""

from __future__ import annotations

from collections import Counter

import pytest

from simfleet.codec import encoders_for
from simfleet.columns import Batch
from simfleet.control import ControlState
from simfleet.domain.pack import Project
from simfleet.orchestrator.catalog import get_scenario
from simfleet.orchestrator.transitions import initial_state
from simfleet.producers.backfill import backfill_ticks
from simfleet.producers.chaos import InForce
from simfleet.producers.engine import ShardEngine
from simfleet.producers.ticking import (
    HOUR_TICK_MS,
    ByVersion,
    Fixed,
    Forces,
    Grid,
    Ticker,
    change_instants,
)
from simfleet.scenarios import ScenarioInstance, ScenarioSpec
from simfleet.timeutil import parse_instant_ms

H = HOUR_TICK_MS
M = 60_000
START = parse_instant_ms("2026-03-03T00:00:00Z")
END = START + 6 * H
SEED, SCALE, SHARDS = 5, 0.05, 2
DOMAINS = ("marketplace", "ticketing")

# moves within minutes: the quantum it starts in is cut where it ramps and settles
SURGE = ScenarioSpec.model_validate(
    {
        "id": "surge",
        "name": "Surge",
        "description": "A short API surge with a degraded gateway.",
        "domain": "marketplace",
        "phases": [
            {
                "name": "surge",
                "duration": "40m",
                "ramp": "5m",
                "modifiers": [
                    {"target": "marketplace.system.api.request.rate", "op": "multiply", "value": 3},
                    {
                        "target": "marketplace.payment.gateway_health",
                        "op": "multiply",
                        "value": 0.5,
                    },
                ],
                "chaos": [
                    {"action": "drop", "streams": "marketplace.payment.*", "probability": 0.1}
                ],
            }
        ],
        "settle": {"curve": "linear", "duration": "10m"},
    }
)


class _Versions:
    """The control versions a worker has read, answering as ``ControlFollower.at`` does."""

    def __init__(self, versions: list[ControlState]) -> None:
        self.versions = versions

    def at(self, t: int) -> ControlState:
        for state in reversed(self.versions):
            if state.effective_at <= t:
                return state
        return self.versions[0]


def _history(project: Project) -> list[ControlState]:
    """v1 from the run's origin (history until 2 h, quanta of an hour, end at 6 h); v2, in
    force from 2 h, starts the fraud attack and the surge there (chaos from the quantum's start)."""
    v1 = initial_state(0, START, 3600.0, SEED, SCALE, SHARDS, DOMAINS, project, end_ms=END)
    v1 = v1.model_copy(update={"origin_ms": START, "live_from_ms": START + 2 * H, "quantum_ms": H})
    scenarios = (
        ScenarioInstance(spec=get_scenario("fraud-attack", project), started_at=START + 2 * H),
        ScenarioInstance(spec=SURGE, started_at=START + 2 * H),
    )
    v2 = v1.model_copy(update={"version": 2, "effective_at": START + 2 * H, "scenarios": scenarios})
    return [v1, v2]


def _records(project: Project, batches: list[Batch]) -> Counter[tuple[str, bytes]]:
    """Every record, encoded, with its topic (shards interleave differently in the two ways)."""
    encoders = encoders_for(project.schemas(), None)
    out: Counter[tuple[str, bytes]] = Counter()
    for b in batches:
        if b.n == 0:
            continue
        buf, offsets = encoders[b.topic].encode(b.columns, b.n)
        out.update((b.topic, buf[offsets[i] : offsets[i + 1]]) for i in range(b.n))
    return out


@pytest.fixture(scope="module")
def project() -> Project:
    """The repository's packs."""
    return Project()


def test_live_quanta_and_generate_hours_make_the_same_records(project: Project) -> None:
    """Each shard ticked the live worker's way (its own cursor, a clock that jumps, the
    version in force at each quantum's start) makes exactly the records generate's way makes
    over the same range, with a scenario switch mid-run and a quantum cut by a fast ramp."""
    versions = _history(project)
    final = versions[-1]
    # the surge cuts the quantum [2 h, 3 h): the cut the test is about is there
    cuts = change_instants(final.instances(), "marketplace")
    assert ((cuts > START + 2 * H) & (cuts < START + 3 * H)).sum() >= 7

    # generate's way
    generated: list[Batch] = []
    chaos_gen: dict[int, InForce] = {}
    forces = Forces(final.instances())
    for t0, _t1, batches in backfill_ticks(
        [project.spec(d) for d in DOMAINS],
        START,
        END,
        SEED,
        SCALE,
        SHARDS,
        forces,
        merge=False,
        schemas=project.schemas(),
    ):
        generated += batches
        chaos_gen[t0] = forces.chaos(t0)

    # the live worker's way
    follower = _Versions(versions[:1])
    ticker = Ticker({d: project.graph(d) for d in DOMAINS}, ByVersion(follower.at))
    engines = {
        s: [
            ShardEngine(project.spec(d), s, SHARDS, SEED, SCALE, schemas=project.schemas())
            for d in DOMAINS
        ]
        for s in range(SHARDS)
    }
    cursor = dict.fromkeys(engines, START)
    live: list[Batch] = []
    chaos_live: dict[int, InForce] = {}
    spans: list[tuple[int, int]] = []
    for sim in (START + 30 * M, START + 2 * H + 20 * M, START + 3 * H, START + 9 * H):
        if sim >= START + 2 * H:
            follower.versions = versions  # v2 was read before its instant
        state = follower.versions[-1]
        end = state.end_ms
        grid = Grid.live(state.quantum_ms, state.live_from_ms, end)
        limit = sim if end is None else min(sim, end)
        for shard, engs in engines.items():
            for tick in ticker.ticks(engs, grid, cursor[shard], limit):
                for step in tick.steps:
                    live += step.batches
                    if shard == 0 and step.engine.domain.domain == "marketplace":
                        spans.append((step.t0, step.t1))
                chaos_live[tick.t0] = tick.chaos
                cursor[shard] = tick.t1
    assert cursor == dict.fromkeys(engines, END)
    assert any(b - a < H for a, b in spans)  # a quantum was cut
    assert chaos_live == chaos_gen and any(chaos_live.values())

    want, got = _records(project, generated), _records(project, live)
    assert sum(want.values()) > 2_000
    assert {t for t, _ in want} >= {"ticketing.auth.login", "marketplace.system.api.request"}
    assert got == want


def test_a_fixed_schedule_gives_the_same_forces_whatever_the_instant() -> None:
    """Generate's schedule: one set of forces for all time."""
    forces = Forces()
    fixed = Fixed(forces)
    assert fixed.at(0) is forces and fixed.at(END) is forces


@pytest.mark.parametrize(
    ("grid", "t0", "t1"),
    [
        (Grid(H), START, START + H),
        (Grid(H, end=START + 30 * M), START, START + 30 * M),
        (Grid.live(15 * M, START + 2 * H, None), START, START + H),  # history in hours
        (Grid.live(15 * M, START + 90 * M, None), START + H, START + 90 * M),  # to the seam
        (Grid.live(15 * M, START + 2 * H, None), START + 2 * H, START + 2 * H + 15 * M),
        (Grid(H, seam=START + 20 * M), START, START + 20 * M),  # generate's emit_from
    ],
)
def test_a_tick_ends_at_its_quantum_the_seam_or_the_end(grid: Grid, t0: int, t1: int) -> None:
    """Where a tick ends: quantum, history hours before the seam, never across seam or end."""
    assert grid.tick_end(t0) == t1


def test_ticks_stop_before_one_would_end_past_the_limit() -> None:
    """Whole ticks only: the clock at 2.5 quanta gives two."""
    assert list(Grid(H).ticks(START, START + 5 * H // 2)) == [
        (START, START + H),
        (START + H, START + 2 * H),
    ]
