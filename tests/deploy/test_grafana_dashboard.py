"""deploy/grafana/simfleet.json: a dashboard Grafana's own schema types load without losing a
key, laid out on Grafana's 24-column grid, querying only metrics simfleet exports (the live
check that each has samples is tests/integration/test_observability_live.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from simfleet.control import Heartbeat, StreamCounters
from simfleet.telemetry import Snapshot, registry_for
from tests.deploy.grafana import load, metric_names


def _lost(a: Any, b: Any, path: str = "") -> list[str]:
    """Keys of ``a`` missing from ``b``, anywhere below."""
    if isinstance(a, dict):
        return [
            q
            for k, v in a.items()
            for q in ([f"{path}/{k}"] if k not in b else _lost(v, b[k], f"{path}/{k}"))
        ]
    if isinstance(a, list):
        return [
            q
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for q in _lost(x, y, f"{path}[{i}]")
        ]
    return []


def test_grafanas_schema_types_load_the_dashboard_without_losing_a_key() -> None:
    sdk = pytest.importorskip("grafana_foundation_sdk.models.dashboard")
    encoder = pytest.importorskip("grafana_foundation_sdk.cog.encoder")
    dash = load()
    back = json.loads(json.dumps(sdk.Dashboard.from_json(dash), cls=encoder.JSONEncoder))
    assert _lost(dash, back) == []


def test_the_panels_tile_the_grid_and_use_the_datasource_variable() -> None:
    dash = load()
    panels = dash["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for p in panels:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
            assert p["targets"] and all(t["expr"] and t["refId"] for t in p["targets"])
    names = [v["name"] for v in dash["templating"]["list"]]
    assert names == ["datasource", "domain"]


@pytest.mark.parametrize(
    "needle",
    [
        "simfleet_records_delivered_total",  # rates per domain and stream
        "simfleet_records_failed_total",  # delivery failures
        "simfleet_tick_lag_seconds",  # lag
        "simfleet_heartbeat_age_seconds",
        "simfleet_scenario_active",  # scenario timeline
        "simfleet_broker_memory_bytes",  # broker memory
        "simfleet_build_info",
    ],
)
def test_the_dashboard_shows_what_the_issue_asks(needle: str) -> None:
    assert needle in metric_names(load())


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    """With a heartbeat, a control state and a broker reading, the collector yields a sample
    for each name; the live test checks the same on a running fleet's /metrics."""
    from tests.admin.test_app import app_with_state

    admin, _ = app_with_state()
    snap = Snapshot(admin.view.state, admin.view.workers, 100 * 2**20, 2**30)
    text = generate_latest(registry_for(lambda: snap)).decode()
    samples = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert metric_names(load()) - samples == set()


def test_build_info_and_heartbeat_age() -> None:
    hb = Heartbeat(
        worker_id="w1",
        host="h",
        pid=1,
        wall_ms=1_000_000,
        sim_ms=0,
        shards=(0,),
        control_version=1,
        topics={"t.a.b": StreamCounters(produced=3, delivered=3)},
    )
    from simfleet.telemetry import FleetCollector

    fams = {
        f.name: f
        for f in FleetCollector(lambda: Snapshot(workers={"w1": hb}), lambda: 1_004_500).collect()
    }
    (age,) = fams["simfleet_heartbeat_age_seconds"].samples
    assert (age.labels, age.value) == ({"worker": "w1"}, 4.5)
    (build,) = fams["simfleet_build_info"].samples
    assert build.value == 1 and build.labels["version"]
    assert "simfleet_broker_memory_bytes" not in fams  # no broker reading, no family
