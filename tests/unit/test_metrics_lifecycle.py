"""`simfleet_scenario_active` says 1 only while a scenario acts on the fleet."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from simfleet.clock import wall_ms
from simfleet.domain.pack import Project
from simfleet.orchestrator.catalog import get_scenario
from simfleet.orchestrator.transitions import initial_state
from simfleet.scenarios import ScenarioInstance
from simfleet.telemetry import FleetCollector, Snapshot

HOUR = 3_600_000


def _samples(started_hours_ago: float) -> dict[str, tuple[str, float]]:
    project = Project()
    now = wall_ms()
    base = initial_state(now, now, 1.0, 42, 1.0, 2, ("marketplace",), project, None)
    crisis = get_scenario("supply-crisis", project)
    started = now - int(started_hours_ago * HOUR)
    state = base.model_copy(
        update={"scenarios": (ScenarioInstance(spec=crisis, started_at=started),)}
    )
    reg = CollectorRegistry(auto_describe=False)
    reg.register(FleetCollector(lambda: Snapshot(state, {}), wall=lambda: now))
    fams = {f.name: f for f in text_string_to_metric_families(generate_latest(reg).decode())}
    return {
        s.labels["scenario"]: (s.labels["state"], s.value)
        for s in fams["simfleet_scenario_active"].samples
    }


def test_an_active_scenario_reads_one() -> None:
    assert _samples(0.01) == {"supply-crisis": ("active", 1.0)}


def test_a_settled_scenario_reads_zero() -> None:
    """It was 1 with state="settled": a dashboard summing the gauge saw it as running."""
    assert _samples(24 * 365) == {"supply-crisis": ("settled", 0.0)}
