"""The admin app without a fleet: binding rules, bearer tokens, CORS, problem details, 503 when
no broker answers, no secret in any response, and the Prometheus families of a snapshot."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.websockets import WebSocketDisconnect

from simfleet.admin.app import AdminApp, create_app
from simfleet.admin.security import TOKEN_ENV, authorized, check_bind
from simfleet.broker import free_port
from simfleet.clock import wall_ms
from simfleet.control import Heartbeat, StreamCounters
from simfleet.control_io import LagTracker
from simfleet.domain.pack import Project
from simfleet.errors import ConfigError
from simfleet.orchestrator.catalog import get_scenario
from simfleet.orchestrator.transitions import initial_state
from simfleet.settings import KafkaSettings
from simfleet.telemetry import FleetCollector, Snapshot

SECRET = "s3cret-pa55word-value"


def dead_kafka(**props: str) -> KafkaSettings:
    """Settings of a broker nobody runs (a port free a moment ago)."""
    return KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{free_port()}",
        properties={"socket.connection.setup.timeout.ms": "1000", **props},
    )


def app_with_state(token: str | None = None, **props: str) -> tuple[AdminApp, TestClient]:
    """An app whose view holds a control state (its Kafka thread is not started)."""
    project = Project()
    admin = AdminApp(dead_kafka(**props), project, token=token, command_timeout=1.0)
    now = wall_ms()
    normal = get_scenario("normal-operations", project)
    admin.view.state = initial_state(now, now, 60.0, 42, 1.0, 2, ("marketplace",), project, normal)
    admin.view.workers = {
        "w1": Heartbeat(
            worker_id="w1",
            host="h",
            pid=1,
            wall_ms=now,
            sim_ms=now,
            shards=(0, 1),
            control_version=1,
            topics={"marketplace.customer.search": StreamCounters(produced=5, delivered=4)},
            queued=1,
            tick_lag_ms=250,
        )
    }
    # not entered: no Kafka thread; reached by a name the server answers to (its Host check
    # refuses TestClient's default "testserver")
    return admin, TestClient(create_app(admin), base_url="http://127.0.0.1:8321")


def test_loopback_binds_without_a_token_and_anything_else_needs_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert check_bind("127.0.0.1") is None
    assert check_bind("localhost") is None
    assert check_bind("::1") is None
    with pytest.raises(ConfigError) as err:
        check_bind("0.0.0.0")
    msg = str(err.value)
    assert "--admin-host 0.0.0.0" in msg and TOKEN_ENV in msg and "127.0.0.1" in msg
    monkeypatch.setenv(TOKEN_ENV, "tok")
    assert check_bind("0.0.0.0") == "tok"


@pytest.mark.parametrize("command", [["admin", "run"], ["up", "--duration", "1s"]])
def test_the_cli_refuses_to_bind_everywhere_without_a_token(command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    env["SIMCTL_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "simfleet.cli.main", *command, "--admin-host", "0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "error: --admin-host 0.0.0.0" in done.stderr
    assert TOKEN_ENV in done.stderr
    assert "Traceback" not in done.stderr


def test_bearer_tokens() -> None:
    assert authorized(None, None, None)
    assert authorized("t0k", "Bearer t0k", None)
    assert authorized("t0k", None, "t0k")
    assert not authorized("t0k", None, None)
    assert not authorized("t0k", "Bearer nope", None)
    assert not authorized("t0k", "Basic t0k", None)


def test_requests_without_the_token_get_401_and_with_it_pass() -> None:
    _, client = app_with_state(token="t0k")
    for path in ("/api/state", "/api/scenarios", "/metrics", "/", "/docs", "/openapi.json"):
        r = client.get(path)
        assert r.status_code == 401, path
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"] == "Bearer"
    assert client.post("/api/stop").status_code == 401
    assert client.get("/api/state", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/api/state", headers={"Authorization": "Bearer t0k"})
    assert ok.status_code == 200
    assert client.get("/?access_token=t0k").status_code == 200
    assert client.get("/static/app.js").status_code == 200  # assets hold no data


def test_cors_is_closed() -> None:
    _, client = app_with_state()
    pre = client.options(
        "/api/scenario",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert "access-control-allow-origin" not in pre.headers
    got = client.get("/api/state", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in got.headers
    with (
        pytest.raises(WebSocketDisconnect) as err,
        client.websocket_connect("/ws", headers={"Origin": "https://evil.example"}) as ws,
    ):
        ws.receive_text()
    assert err.value.code == 1008


def test_no_secret_in_any_response() -> None:
    _, client = app_with_state(**{"sasl.password": SECRET, "sasl.username": "fleet"})
    bodies = [client.get(p).text for p in ("/api/state", "/api/scenarios", "/metrics", "/")]
    bodies.append(client.get("/openapi.json").text)
    assert all(SECRET not in b for b in bodies)
    state = client.get("/api/state").json()
    assert state["kafka"]["sasl.password"] != SECRET
    assert state["kafka"]["sasl.username"] == "fleet"  # plain values are shown


def test_a_broker_that_does_not_answer_is_503() -> None:
    admin, client = app_with_state()
    r = client.post("/api/stop")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == 503 and body["title"] == "Broker unavailable"
    assert admin.kafka.bootstrap_servers in body["detail"]
    admin.view.state = None  # nothing read from sim.control yet
    r = client.get("/api/state")
    assert r.status_code == 503
    assert r.json()["instance"] == "/api/state"


def test_bad_bodies_are_422_problem_details() -> None:
    _, client = app_with_state()
    for path, body in (
        ("/api/scenario", {"scenario": "supply-crisis"}),
        ("/api/scenario", {"scenario_id": "supply-crisis", "at": "tuesday"}),
        ("/api/speed", {"speed": 0}),
        ("/api/inject", {"params": {"magnitude": "high"}}),
    ):
        r = client.post(path, json=body)
        assert r.status_code == 422, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert set(problem) == {"type", "title", "status", "detail", "instance"}
        assert problem["detail"]
    r = client.post(
        "/api/scenario", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422


def test_unknown_scenarios_and_templates_are_404() -> None:
    _, client = app_with_state()
    for r in (
        client.get("/api/scenarios/no-such-thing"),
        client.post("/api/scenario", json={"scenario_id": "no-such-thing"}),
        client.post("/api/inject", json={"template": "no-such-template"}),
    ):
        assert r.status_code == 404
        assert r.json()["status"] == 404
    assert "supply-crisis" in client.get("/api/scenarios/no-such-thing").json()["detail"]


def test_the_collector_speaks_prometheus() -> None:
    admin, _ = app_with_state()
    collector = FleetCollector(lambda: Snapshot(admin.view.state, admin.view.workers))
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    text = generate_latest(reg).decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    delivered = fams["simfleet_records_delivered"]
    assert delivered.type == "counter"
    assert [(s.name, s.labels, s.value) for s in delivered.samples] == [
        ("simfleet_records_delivered_total", {"topic": "marketplace.customer.search"}, 4.0)
    ]
    assert fams["simfleet_producer_queue_records"].samples[0].value == 1
    assert fams["simfleet_tick_lag_seconds"].samples[0].value == 0.25
    assert fams["simfleet_control_version"].samples[0].value == 1
    active = fams["simfleet_scenario_active"].samples
    assert [(s.labels, s.value) for s in active] == [
        ({"scenario": "normal-operations", "state": "active"}, 1.0)
    ]
    assert fams["simfleet_sim_time_seconds"].samples[0].value > 1.7e9
    failed = fams["simfleet_records_failed"].samples
    assert [(s.name, s.value) for s in failed] == [("simfleet_records_failed_total", 0.0)]


def test_the_state_says_when_the_fleet_falls_behind() -> None:
    """Falling behind showed only on /metrics; the page's state says it, with since when."""
    admin, client = app_with_state()
    assert client.get("/api/state").json()["behind"] is None
    hb = admin.view.workers["w1"]
    now = wall_ms()
    lagging = hb.model_copy(update={"wall_ms": now, "tick_lag_ms": 35_000})
    admin.view.workers = {"w1": lagging}
    tracker = LagTracker()
    tracker.see(lagging)
    admin.view.behind = tracker.behind(admin.view.workers, now)
    body = client.get("/api/state").json()
    assert body["behind"]["lag_s"] == 35.0 and body["behind"]["workers"] == ["w1"]
    assert body["behind"]["text"].startswith("35 s behind the sim clock since")
    assert body["broker"] is None  # no embedded broker recorded here
