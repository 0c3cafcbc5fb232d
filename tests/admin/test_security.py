"""The admin server closed to other web pages: CSRF (Origin, body type), DNS rebinding (Host),
the WebSocket's handshake, the body size cap, and a taken admin port under `simctl up`.

Each refused request is checked to have changed nothing: the app's control plane is a fake
orchestrator (the orchestrator's own transition function applied in process) that records
every command it is sent.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from simfleet.admin.app import AdminApp, create_app
from simfleet.admin.security import MAX_BODY, TOKEN_ENV, Access
from simfleet.admin.server import check_port
from simfleet.broker import free_port
from simfleet.clock import wall_ms
from simfleet.control import Command, ControlState
from simfleet.domain.pack import Project
from simfleet.errors import ConfigError
from simfleet.orchestrator.catalog import get_scenario
from simfleet.orchestrator.transitions import apply_command, initial_state
from simfleet.settings import KafkaSettings

HOST = "127.0.0.1:8321"
SERVER = f"http://{HOST}"
EVIL = "http://evil.example"
TEN_MB = os.urandom(10 * 1024 * 1024)

# every state-changing route, with a body it accepts
CHANGES: list[tuple[str, dict[str, Any] | None]] = [
    ("/api/scenario", {"scenario_id": "supply-crisis"}),
    ("/api/stop", None),
    ("/api/reset", None),
    ("/api/inject", {"template": "cloud-outage", "params": {"magnitude": "high"}}),
    ("/api/speed", {"speed": 60}),
]


@functools.cache
def shared_project() -> Project:
    """The shipped project, loaded once for the module (the tests never change it)."""
    return Project()


class FakeOrchestrator(AdminApp):
    """An AdminApp whose commands the orchestrator's transition function answers in
    process; every command sent is recorded."""

    def __init__(self, token: str | None = None) -> None:
        project = shared_project()
        dead = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")
        super().__init__(dead, project, token=token, command_timeout=1.0)
        self.commands: list[Command] = []
        now = wall_ms()
        normal = get_scenario("normal-operations", project)
        self.view.state = initial_state(
            now, now, 60.0, 42, 1.0, 2, ("marketplace",), project, normal
        )

    def exchange(self, cmd: Command) -> ControlState:
        """The state after ``cmd``, as the orchestrator would publish it."""
        self.commands.append(cmd)
        assert self.view.state is not None
        self.view.state = apply_command(
            self.view.state, cmd, len(self.commands), wall_ms(), self.project
        )
        return self.view.state


def client_of(
    access: Access | None = None, token: str | None = None, base_url: str = SERVER
) -> tuple[FakeOrchestrator, TestClient]:
    """A fake-orchestrated app behind ``access`` (not entered: no Kafka thread)."""
    admin = FakeOrchestrator(token)
    return admin, TestClient(create_app(admin, access), base_url=base_url)


def is_problem(r: httpx.Response, status: int) -> bool:
    """An RFC 9457 problem of ``status`` naming the request's path."""
    body = r.json()
    return (
        r.status_code == status
        and r.headers["content-type"] == "application/problem+json"
        and body["status"] == status
        and body["instance"] == r.request.url.path
        and bool(body["detail"])
    )


def send(client: TestClient, path: str, body: dict[str, Any] | None, **headers: str) -> Any:
    """POST ``body`` as JSON (no body at all when None) with ``headers``."""
    if body is None:
        return client.post(path, headers=headers)
    return client.post(path, json=body, headers=headers)


# -- CSRF: Origin and body type ---------------------------------------------------------------
@pytest.mark.parametrize("path,body", CHANGES)
@pytest.mark.parametrize(
    "origin",
    [EVIL, "null", "http://127.0.0.1:8322", "http://localhost:8321", "file://"],
)
def test_a_foreign_origin_cannot_change_the_fleet(
    path: str, body: dict[str, Any] | None, origin: str
) -> None:
    admin, client = client_of()
    r = send(client, path, body, Origin=origin)
    assert is_problem(r, 403), r.text
    assert r.json()["title"] == "Cross-origin request refused"
    assert "CSRF" in r.json()["detail"]
    assert admin.commands == []


@pytest.mark.parametrize("path,body", CHANGES)
@pytest.mark.parametrize(
    "content_type,payload",
    [
        ("text/plain", "ignored"),
        ("text/plain;charset=UTF-8", '{"speed": 60, "scenario_id": "supply-crisis"}'),
        ("application/x-www-form-urlencoded", "speed=60"),
        ("multipart/form-data; boundary=x", "--x\r\n\r\n--x--\r\n"),
        ("text/plain", ""),  # a body-less form still declares its type
    ],
)
@pytest.mark.parametrize("origin", [None, SERVER])
def test_forms_and_text_are_415(
    path: str,
    body: dict[str, Any] | None,
    content_type: str,
    payload: str,
    origin: str | None,
) -> None:
    """What a page of another site can send without a CORS preflight is refused, even when
    the browser leaves Origin out (older browsers on forms)."""
    admin, client = client_of()
    headers = {"Content-Type": content_type} | ({"Origin": origin} if origin else {})
    r = client.post(path, content=payload.encode(), headers=headers)
    assert is_problem(r, 415), r.text
    assert "application/json" in r.json()["detail"]
    assert admin.commands == []


@pytest.mark.parametrize("path,body", CHANGES)
def test_same_origin_json_requests_change_the_fleet(path: str, body: dict[str, Any] | None) -> None:
    """What the admin page sends: its own Origin, `Content-Type: application/json` on every
    POST (with or without a body)."""
    admin, client = client_of()
    headers = {"Origin": SERVER, "Content-Type": "application/json"}
    r = client.post(path, content=b"" if body is None else json.dumps(body), headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True
    assert len(admin.commands) == 1


@pytest.mark.parametrize("path,body", CHANGES)
def test_scripts_without_origin_keep_working(path: str, body: dict[str, Any] | None) -> None:
    """curl and scripts send no Origin; a body-less POST may omit its Content-Type."""
    admin, client = client_of()
    r = send(client, path, body)
    assert r.status_code == 200, r.text
    assert len(admin.commands) == 1


def test_the_token_in_a_header_passes_the_origin_check_and_in_the_query_does_not() -> None:
    admin, client = client_of(Access(token="t0k"), token="t0k")
    evil = {"Origin": EVIL}
    assert client.post("/api/stop", headers=evil | {"Authorization": "Bearer t0k"}).is_success
    r = client.post("/api/reset?access_token=t0k", headers=evil)
    assert is_problem(r, 403)
    assert client.post("/api/reset", headers=evil).status_code == 401
    assert [c.action for c in admin.commands] == ["scenario.stop"]


def test_an_allowed_origin_may_change_the_fleet() -> None:
    access = Access.build(None, "127.0.0.1", origins=["https://Dash.example.org/"])
    admin, client = client_of(access)
    assert client.post("/api/stop", headers={"Origin": "https://dash.example.org"}).is_success
    assert is_problem(client.post("/api/reset", headers={"Origin": "http://dash.example.org"}), 403)
    assert len(admin.commands) == 1


# -- DNS rebinding: Host ----------------------------------------------------------------------
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8321", "127.0.0.1.evil.example"])
def test_a_foreign_host_is_403_on_every_request(host: str) -> None:
    admin, client = client_of()
    for r in (
        client.get("/api/state", headers={"Host": host}),
        client.post("/api/speed", json={"speed": 60}, headers={"Host": host}),
        client.post("/api/stop", headers={"Host": host, "Origin": f"http://{host}"}),
        client.get("/", headers={"Host": host}),
        client.get("/static/app.js", headers={"Host": host}),
        client.get("/metrics", headers={"Host": host}),
    ):
        assert is_problem(r, 403), r.text
        assert r.json()["title"] == "Host not allowed"
        assert "--admin-allowed-host" in r.json()["detail"]
    assert admin.commands == []


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8321", "localhost:8321", "LOCALHOST", "[::1]:8321", "127.0.0.2", "::1"]
)
def test_local_names_are_answered(host: str) -> None:
    _, client = client_of()
    assert client.get("/api/state", headers={"Host": host}).status_code == 200


def test_configured_names_are_answered_and_a_star_answers_any() -> None:
    access = Access.build(None, "127.0.0.1", ["fleet.example.org", "ops.example.org"])
    _, client = client_of(access)
    assert client.get("/api/state", headers={"Host": "fleet.example.org:8321"}).is_success
    assert client.get("/api/state", headers={"Host": "ops.example.org"}).is_success
    assert client.get("/api/state", headers={"Host": "evil.example"}).status_code == 403
    _, anything = client_of(Access.build(None, "127.0.0.1", ["*"]))
    assert anything.get("/api/state", headers={"Host": "evil.example"}).is_success


def test_a_wildcard_bind_answers_any_address_but_only_localhost_and_listed_names() -> None:
    """Bound to every interface the server is reached by this machine's addresses; a
    rebinding page needs a name, and names must be listed."""
    auth = {"Authorization": "Bearer t0k"}
    _, client = client_of(Access.build("t0k", "0.0.0.0"), token="t0k")
    for host in ("192.168.1.20:8321", "[fe80::1]:8321", "localhost:8321"):
        assert client.get("/api/state", headers=auth | {"Host": host}).is_success, host
    assert client.get("/api/state", headers=auth | {"Host": "evil.example"}).status_code == 403


def test_a_specific_bind_answers_its_own_address_only() -> None:
    _, client = client_of(Access.build("t0k", "192.168.1.20"), token="t0k")
    auth = {"Authorization": "Bearer t0k"}
    assert client.get("/api/state", headers=auth | {"Host": "192.168.1.20:8321"}).is_success
    assert client.get("/api/state", headers=auth | {"Host": "192.168.1.21"}).status_code == 403


@pytest.mark.parametrize(
    "hosts,origins,bad",
    [
        (["http://fleet.example.org"], [], "--admin-allowed-host 'http://fleet.example.org'"),
        (["fleet.example.org/admin"], [], "--admin-allowed-host 'fleet.example.org/admin'"),
        (["*.example.org"], [], "--admin-allowed-host '*.example.org'"),
        ([], ["dash.example.org"], "--admin-allowed-origin 'dash.example.org'"),
        ([], ["ftp://dash.example.org"], "--admin-allowed-origin 'ftp://dash.example.org'"),
        ([], ["https://dash.example.org/page"], "--admin-allowed-origin 'https://dash"),
    ],
)
def test_bad_allowed_names_are_refused_naming_them(
    hosts: list[str], origins: list[str], bad: str
) -> None:
    with pytest.raises(ConfigError, match=bad.replace("*", r"\*").replace(".", r"\.")):
        Access.build(None, "127.0.0.1", hosts, origins)


def test_the_environment_gives_several_names_at_once() -> None:
    access = Access.build(None, "127.0.0.1", ["a.example b.example,c.example"])
    assert access.allowed_hosts == ("a.example", "b.example", "c.example")


# -- the WebSocket ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example", "Origin": EVIL},
        {"Host": "evil.example"},
        {"Origin": EVIL},
        {"Origin": "null"},
    ],
)
def test_the_websocket_refuses_a_foreign_host_or_origin(headers: dict[str, str]) -> None:
    _, client = client_of()
    with (
        pytest.raises(WebSocketDisconnect) as err,
        client.websocket_connect("/ws", headers={"Host": HOST} | headers) as ws,
    ):
        ws.receive_text()
    assert err.value.code == 1008


def test_the_websocket_accepts_its_own_page() -> None:
    _, client = client_of()
    with client.websocket_connect("/ws", headers={"Host": HOST, "Origin": SERVER}) as ws:
        ws.send_text(json.dumps({"type": "subscribe", "streams": ["*"]}))
        assert json.loads(ws.receive_text())["type"] == "subscribed"


# -- body size --------------------------------------------------------------------------------
@pytest.mark.parametrize("path,body", CHANGES)
def test_ten_megabytes_are_413(path: str, body: dict[str, Any] | None) -> None:
    admin, client = client_of()
    json_type = {"Content-Type": "application/json"}
    declared = client.post(path, content=TEN_MB, headers=json_type)
    assert is_problem(declared, 413), declared.text
    assert f"{MAX_BODY:,} bytes" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        for i in range(0, len(TEN_MB), 65_536):
            yield TEN_MB[i : i + 65_536]

    chunked = client.post(path, content=chunks(), headers=json_type)
    assert is_problem(chunked, 413), chunked.text
    assert client.post(path, content=TEN_MB).status_code == 413  # no type either
    assert admin.commands == []


def test_a_body_at_the_cap_passes_and_bytes_that_are_not_json_are_422() -> None:
    admin, client = client_of()
    json_type = {"Content-Type": "application/json"}
    garbage = client.post("/api/reset", content=os.urandom(1024), headers=json_type)
    assert is_problem(garbage, 422)
    assert admin.commands == []
    padded = b'{"speed": 60}' + b" " * (MAX_BODY - 13)
    assert len(padded) == MAX_BODY
    assert client.post("/api/speed", content=padded, headers=json_type).status_code == 200
    over = padded + b" "
    assert client.post("/api/speed", content=over, headers=json_type).status_code == 413
    assert len(admin.commands) == 1


# -- the same, through a real server (uvicorn's handshake and chunked reads) ------------------
@pytest.fixture
def served() -> Iterator[tuple[str, FakeOrchestrator]]:
    """The app on uvicorn in a thread (no lifespan: no Kafka thread)."""
    admin = FakeOrchestrator()
    port = free_port()
    access = Access.build(None, "127.0.0.1")
    config = uvicorn.Config(
        create_app(admin, access), host="127.0.0.1", port=port, lifespan="off", log_level="error"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped"
        time.sleep(0.05)  # polling a condition with a deadline
    try:
        yield f"127.0.0.1:{port}", admin
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_a_real_server_refuses_foreign_websockets_at_the_handshake(
    served: tuple[str, FakeOrchestrator],
) -> None:
    where, _ = served

    address, port = where.split(":")

    async def refused(url: str, **kw: Any) -> None:
        with pytest.raises(InvalidStatus, match="403"):
            async with connect(url, open_timeout=30, host=address, port=int(port), **kw) as c:
                await asyncio.wait_for(c.recv(), 5)

    async def run() -> None:
        url = f"ws://{where}/ws"
        # the name in the URL is the Host sent; host= and port= say where to connect
        await refused(f"ws://evil.example:{port}/ws")
        await refused(f"ws://evil.example:{port}/ws", origin=f"http://evil.example:{port}")
        await refused(url, origin=EVIL)
        await refused(url, additional_headers={"Host": "evil.example"})  # a second Host
        async with connect(url, origin=f"http://{where}") as c:
            await c.send(json.dumps({"type": "subscribe", "streams": ["*"]}))
            assert json.loads(await c.recv())["type"] == "subscribed"

    asyncio.run(run())


def test_a_real_server_caps_a_chunked_body_and_answers_a_same_origin_json_post(
    served: tuple[str, FakeOrchestrator],
) -> None:
    where, admin = served

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(TEN_MB), 65_536):
            yield TEN_MB[i : i + 65_536]

    json_type = {"Content-Type": "application/json"}
    with httpx.Client(base_url=f"http://{where}", timeout=30) as http:
        big = http.post("/api/reset", content=chunks(), headers=json_type)
        assert big.status_code == 413
        assert "content-length" not in big.request.headers  # it was sent chunked
        evil = http.post("/api/reset", headers={"Origin": EVIL, "Content-Type": "text/plain"})
        assert evil.status_code == 403
        assert http.get("/api/state", headers={"Host": "evil.example"}).status_code == 403
        assert admin.commands == []
        ok = http.post("/api/reset", headers=json_type | {"Origin": f"http://{where}"})
        assert ok.status_code == 200, ok.text
    assert [c.action for c in admin.commands] == ["reset"]


# -- a taken admin port ------------------------------------------------------------------------
@pytest.fixture
def held_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_check_port_passes_a_free_port_and_refuses_a_taken_one(held_port: int) -> None:
    check_port("127.0.0.1", free_port())
    with pytest.raises(ConfigError) as err:
        check_port("127.0.0.1", held_port)
    msg = str(err.value)
    assert f"--admin-port {held_port}" in msg and "already in use" in msg
    assert "--no-admin" in msg
    with pytest.raises(ConfigError, match=re.escape("--admin-host 192.0.2.1 --admin-port 8321:")):
        check_port("192.0.2.1", 8321)  # TEST-NET-1: an address of no machine here


@pytest.mark.parametrize("command", [["up", "--duration", "30s"], ["admin", "run"]])
def test_the_cli_refuses_a_taken_admin_port_before_starting_anything(
    command: list[str], held_port: int, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    env["SIMCTL_STATE_DIR"] = str(tmp_path / "state")
    done = subprocess.run(
        [sys.executable, "-m", "simfleet.cli.main", *command, "--admin-port", str(held_port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert f"error: --admin-port {held_port}: 127.0.0.1:{held_port} is already in use" in out
    assert "Traceback" not in out
    # nothing started: no broker, no fleet, and no page announced as this fleet's
    assert "embedded broker" not in out and "admin page on" not in out
    assert not (tmp_path / "state" / "logs").exists()


def test_up_takes_a_free_port_when_another_fleet_holds_the_default(tmp_path: Path) -> None:
    """A second `make run` in another folder: its page moves to a free port, announced; it
    never announces the first fleet's page as its own."""
    from simfleet.cli.up import DEFAULT_ADMIN_PORT

    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            held.bind(("127.0.0.1", DEFAULT_ADMIN_PORT))
        except OSError:
            pytest.skip("the default admin port is held by something else here")
        held.listen()
        env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
        env["SIMCTL_STATE_DIR"] = str(tmp_path / "state")
        done = subprocess.run(
            [sys.executable, "-m", "simfleet.cli.main", "up", "--duration", "3s", "--no-stats"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    announced = re.search(r"admin page on http://127\.0\.0\.1:(\d+)/", out)
    assert announced is not None, out
    assert int(announced.group(1)) != DEFAULT_ADMIN_PORT
    assert f"admin port {DEFAULT_ADMIN_PORT} is taken" in out
