"""The admin server against a live fleet: `simctl up` on its own embedded broker serves it, and
a second server (`simctl admin run`, behind a bearer token) watches the same fleet.

One fleet for the module (at 3600x: a sim hour per wall second); the tests run in file order
and the last one stops the fleet to compare /metrics with the fleet's own final counts.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from simfleet.broker import EmbeddedBroker, free_port
from simfleet.control_io import FleetWatcher
from simfleet.domain.pack import Project
from simfleet.orchestrator.catalog import list_scenarios
from simfleet.settings import KafkaSettings
from tests.live import wait_value

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "live-test-token-0123456789"


@dataclass
class Fleet:
    bootstrap: str
    env: dict[str, str]
    up: subprocess.Popen[str]
    url: str  # the server `simctl up` started
    guarded: str  # `simctl admin run` with a token
    standalone: subprocess.Popen[bytes]
    state_dir: Path
    admin_port: int

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, **kw)

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.post(self.url + path, json=body, timeout=30)

    def state(self) -> dict[str, Any]:
        r = self.get("/api/state")
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def simctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "simfleet.cli.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def _answers(url: str, headers: dict[str, str] | None = None) -> bool:
    try:
        return httpx.get(url + "/api/state", headers=headers, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("admin-live")
    env = {**os.environ, "SIMCTL_STATE_DIR": str(tmp / "state")}
    env.pop("SIMCTL_ADMIN_TOKEN", None)
    baseline = tmp / "baseline.json"
    # made while the fleet starts; the token-guarded server normalises /api/history with it
    making = subprocess.Popen(
        [sys.executable, "-m", "simfleet.cli.main", "baseline", "--domain", "marketplace",
         "--days", "1", "--start", "2026-03-09T00:00:00Z", "--scale", "0.1", "--shards", "2",
         "--seed", "3", "--out",
         str(baseline)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    broker = EmbeddedBroker()
    bootstrap = broker.start(log_path=tmp / "broker.log")
    env["SIMCTL_BOOTSTRAP_SERVERS"] = bootstrap
    port, guarded_port = free_port(), free_port()
    up = subprocess.Popen(
        [sys.executable, "-m", "simfleet.cli.main", "up", "--speed", "3600", "--scale", "0.3",
         "--shards", "2", "--workers", "2", "--start", "2026-03-10T00:00:00Z", "--no-stats",
         "--duration", "10m", "--admin-port", str(port), "--domain", "marketplace",
         "--scenario", "normal-operations"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert making.wait(timeout=120) == 0, "simctl baseline failed"
    standalone = subprocess.Popen(
        [sys.executable, "-m", "simfleet.cli.main", "admin", "run",
         "--admin-port", str(guarded_port), "--baseline", str(baseline)],
        env={**env, "SIMCTL_ADMIN_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    fleet = Fleet(
        bootstrap,
        env,
        up,
        f"http://127.0.0.1:{port}",
        f"http://127.0.0.1:{guarded_port}",
        standalone,
        tmp / "state",
        port,
    )
    try:
        wait_value("the admin server of simctl up", lambda: _answers(fleet.url), 90)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        wait_value("simctl admin run", lambda: _answers(fleet.guarded, auth), 30)
        wait_value("both workers", lambda: len(fleet.state()["workers"]) == 2, 60)
        yield fleet
    finally:
        for p in (up, standalone):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=90)
                except subprocess.TimeoutExpired:
                    p.kill()
        if up.stdout is not None:
            up.stdout.close()
        if up.stderr is not None:
            up.stderr.close()
        broker.stop()


# -- HTTP API ------------------------------------------------------------------------------
def test_the_catalog_lists_every_scenario_with_its_shape(fleet: Fleet) -> None:
    scenarios = fleet.get("/api/scenarios").json()["scenarios"]
    by_id = {s["id"]: s for s in scenarios}
    # the catalog is the project's: every domain's scenarios, running or not
    assert len(by_id) == len(list_scenarios(Project())) and "supply-crisis" in by_id
    one = fleet.get("/api/scenarios/supply-crisis").json()
    assert one == by_id["supply-crisis"]
    assert one["name"] == "Tutor supply crisis" and one["domain"] == "marketplace"
    assert one["duration"] == "40h" and one["duration_ms"] == 40 * 3_600_000
    assert [p["name"] for p in one["phases"]] == ["onset", "peak"]
    assert by_id["normal-operations"]["duration"] == "until stopped"
    missing = fleet.get("/api/scenarios/supply-crysis")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert fleet.get("/docs").status_code == 200
    assert "/api/history" in fleet.get("/openapi.json").json()["paths"]


def test_the_state_shows_the_clock_the_baseline_and_the_workers(fleet: Fleet) -> None:
    state = fleet.state()
    assert state["status"] == "Baseline" and state["speed"] == 3600
    assert state["domains"] == ["marketplace"]
    assert [r["id"] for r in state["scenarios"]] == ["normal-operations"]
    assert state["sim_time"] >= "2026-03-10T"
    workers = wait_value(
        "delivered records",
        lambda: [w for w in fleet.state()["workers"] if w["delivered"] > 0],
    )
    assert {w["worker"] for w in fleet.state()["workers"]} == {"worker-0", "worker-1"}
    w = workers[0]
    assert w["produced"] >= w["delivered"] and w["failed"] == 0
    assert w["topics"]["marketplace.customer.search"]["delivered"] > 0


# -- WebSocket -----------------------------------------------------------------------------
async def frames_until(
    ws: ClientConnection, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 20
) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not done(got):
        left = deadline - time.monotonic()
        assert left > 0, f"timed out; frames so far: {[f['type'] for f in got][:20]}"
        frame = json.loads(await asyncio.wait_for(ws.recv(), left))
        if frame["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
        got.append(frame)
    return got


def events_of(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for f in frames if f["type"] in ("events", "catchup") for e in f["events"]]


def ws_url(fleet: Fleet) -> str:
    return fleet.url.replace("http://", "ws://") + "/ws"


def test_a_glob_subscriber_sees_only_its_streams(fleet: Fleet) -> None:
    async def run() -> None:
        async with connect(ws_url(fleet)) as glob, connect(ws_url(fleet)) as group:
            await glob.send(json.dumps({"type": "subscribe", "streams": ["marketplace.booking.*"]}))
            await group.send(json.dumps({"type": "subscribe", "streams": ["low-frequency"]}))

            def enough(fs: list[dict[str, Any]]) -> bool:
                return sum(f["type"] == "events" for f in fs) >= 10

            got = await frames_until(glob, enough)
            low = await frames_until(group, lambda fs: sum(f["type"] == "events" for f in fs) > 2)
        streams = {e["stream"] for e in events_of(got)}
        assert streams and all(s.startswith("marketplace.booking.") for s in streams), streams
        assert "marketplace.booking.requested" in streams
        matched = got[0]["matched"]
        assert got[0]["type"] == "subscribed" and "marketplace.customer.search" not in matched
        assert all(set(f["counts"]) <= set(matched) for f in got if f["type"] == "events")
        assert {e["stream"] for e in events_of(low)} <= set(low[0]["matched"])
        assert "marketplace.customer.search" not in low[0]["matched"]  # a high-frequency one
        event = events_of(got)[-1]
        assert event["data"]["booking_id"]  # a decoded record, not bytes

    asyncio.run(run())


def test_a_reconnect_with_last_timestamp_catches_up_without_gap_or_duplicate(
    fleet: Fleet,
) -> None:
    sub = {"type": "subscribe", "streams": ["marketplace.booking.requested"]}

    def live(frames: list[dict[str, Any]]) -> list[int]:
        return [e["cursor"] for f in frames if f["type"] == "events" for e in f["events"]]

    async def run() -> None:
        # the reference client stays connected throughout
        async with connect(ws_url(fleet), max_queue=100_000) as ref:
            await ref.send(json.dumps(sub))
            await frames_until(ref, lambda fs: any(f["type"] == "catchup" for f in fs))
            async with connect(ws_url(fleet)) as first:
                await first.send(json.dumps(sub))
                before = live(await frames_until(first, lambda fs: len(live(fs)) >= 20))
            # away while the fleet produces: the reference sees more than a snapshot's worth
            seen = await frames_until(
                ref, lambda fs: len([c for c in live(fs) if c > before[-1]]) > 10
            )
            async with connect(ws_url(fleet)) as again:
                await again.send(json.dumps(sub | {"lastTimestamp": before[-1]}))
                after = await frames_until(again, lambda fs: len(live(fs)) >= 20)
            top = max(e["cursor"] for e in events_of(after))
            seen += await frames_until(ref, lambda fs: any(c >= top for c in live(seen + fs)))
        resumed = next(f for f in after if f["type"] == "catchup")
        assert resumed["complete"] is True
        assert len(resumed["events"]) > 10, "more than a snapshot was missed"
        got = before + [e["cursor"] for e in events_of(after)]
        assert len(got) == len(set(got)), "duplicates across the reconnect"
        expected = [c for c in live(seen) if before[0] <= c <= top]
        assert got == expected, "a gap across the reconnect"

    asyncio.run(run())


def test_a_client_over_its_rate_gets_a_drop_notice_and_the_others_do_not(fleet: Fleet) -> None:
    async def run() -> None:
        async with connect(ws_url(fleet)) as capped, connect(ws_url(fleet)) as free:
            await capped.send(json.dumps({"type": "subscribe", "streams": ["*"], "maxRate": 5}))
            await free.send(
                json.dumps({"type": "subscribe", "streams": ["marketplace.booking.requested"]})
            )
            got = await frames_until(capped, lambda fs: any(f["type"] == "dropped" for f in fs))
            other = await frames_until(free, lambda fs: sum(f["type"] == "events" for f in fs) > 5)
        notice = next(f for f in got if f["type"] == "dropped")
        assert notice["count"] > 0 and notice["total"] >= notice["count"]
        assert all(f["type"] != "dropped" for f in other)
        # every event the server decoded reached it (counts also include events beyond the
        # server's per-stream decoding budget, which nobody receives)
        counted = sum(sum(f["counts"].values()) for f in other if f["type"] == "events")
        assert 0 < len(events_of([f for f in other if f["type"] == "events"])) <= counted

    asyncio.run(run())


# -- the web page, in a real browser ---------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Debian's chromium and chromium-driver (`apt-get install chromium "
    "chromium-driver`; .ci/run installs them)",
)
def test_the_page_activates_supply_crisis_shows_live_rates_and_stops(
    fleet: Fleet, tmp_path: Path
) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert CHROMIUM is not None and DRIVER is not None
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1700",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(options=opts, service=Service(DRIVER))
    wait = WebDriverWait(driver, 30, poll_frequency=0.2)

    def status() -> str:
        return str(driver.find_element(By.ID, "status").text)

    try:
        driver.get(fleet.url + "/")
        wait.until(lambda d: status() == "Baseline")
        # every scenario that steers has a card (the baseline scenario has none)
        # a card per scenario that changes something, of every domain of the project
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".card")) >= 8)
        card = driver.find_element(By.ID, "card-supply-crisis")
        assert "Tutor supply crisis" in card.text and "40h" in card.text
        button = card.find_element(By.CSS_SELECTOR, "button.activate")
        assert button.is_enabled()
        button.click()
        wait.until(lambda d: status() == "Running")
        assert "supply-crisis" in str(fleet.state()["scenarios"])
        wait.until(lambda d: not d.find_element(By.CSS_SELECTOR, "#card-payment-outage button")
                   .is_enabled())  # fmt: skip
        assert "active" in card.get_attribute("class")
        # the charts receive data over the WebSocket
        wait.until(lambda d: int(d.find_element(By.ID, "received").get_attribute("data-count"))
                   > 0)  # fmt: skip
        wait.until(lambda d: int(d.find_element(By.ID, "rates").get_attribute("data-points")
                                 or 0) > 0)  # fmt: skip
        assert driver.find_elements(By.CSS_SELECTOR, "#rates canvas")
        assert driver.find_elements(By.CSS_SELECTOR, "#timeline .tick")
        driver.save_screenshot(str(tmp_path / "running.png"))
        driver.find_element(By.ID, "stop").click()
        wait.until(lambda d: status() == "Settling")
        wait.until(lambda d: "settling" in d.find_element(By.ID, "eta").text)
        assert button.is_enabled()  # settling: a new scenario may start
        driver.save_screenshot(str(tmp_path / "settling.png"))
        # Reset asks first, saying what it clears
        driver.find_element(By.ID, "reset").click()
        dialog = driver.find_element(By.ID, "reset-dialog")
        wait.until(lambda d: dialog.is_displayed())
        assert "supply-crisis (settling)" in dialog.text
        driver.find_element(By.ID, "reset-confirm").click()
        wait.until(lambda d: status() == "Baseline")
        logs = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert logs == [], logs
    finally:
        driver.quit()


# -- the control plane, shared with the CLI ---------------------------------------------------
def test_a_scenario_started_over_http_is_what_the_cli_sees(fleet: Fleet) -> None:
    started = fleet.post("/api/scenario", {"scenario_id": "supply-crisis"})
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["instance"]["id"] == "supply-crisis"
    assert body["instance"]["state"] in ("pending", "active")
    assert [e["template"] for e in body["events"]] == ["competitor-funding"]
    assert body["estimated_duration"] == "40h + 8h settling"
    assert body["estimated_duration_ms"] == 48 * 3_600_000
    cli = fleet.simctl("scenario", "status", "--json")
    assert cli.returncode == 0, cli.stderr
    rows = {r["id"]: r for r in json.loads(cli.stdout)["scenarios"]}
    assert rows["supply-crisis"]["state"] in ("pending", "active")
    again = fleet.post("/api/scenario", {"scenario_id": "payment-outage"})
    assert again.status_code == 409
    assert "supply-crisis is active" in again.json()["detail"]
    stopped = fleet.post("/api/stop")
    assert stopped.status_code == 200, stopped.text
    stop = stopped.json()
    assert stop["stopped"] == ["supply-crisis"]
    assert stop["settling_until"] > stop["effective_at"]
    assert 8 <= stop["settling_wall_s"] <= 10  # 8 sim hours at 3600x, from 1.5 s ahead
    # the stop applies 1.5 s ahead (every producer reads it first)
    state = wait_value("settling", lambda: (s := fleet.state())["status"] == "Settling" and s)
    row = next(r for r in state["scenarios"] if r["id"] == "supply-crisis")
    assert row["state"] == "settling" and row["remaining_ms"] > 0
    nothing = fleet.post("/api/stop")
    assert nothing.status_code == 409
    assert "nothing to stop" in nothing.json()["detail"]


def test_a_scenario_started_by_the_cli_is_in_the_state_and_reset_clears_it(
    fleet: Fleet,
) -> None:
    cli = fleet.simctl("scenario", "start", "payment-outage")
    assert cli.returncode == 0, cli.stderr
    row = wait_value(
        "payment-outage in /api/state",
        lambda: next((r for r in fleet.state()["scenarios"] if r["id"] == "payment-outage"), None),
    )
    assert row["state"] in ("pending", "active")
    reset = fleet.post("/api/reset")
    assert reset.status_code == 200, reset.text
    assert "payment-outage" in reset.json()["cleared"]["scenarios"]
    state = wait_value("the reset state", lambda: (s := fleet.state())["scenarios"] == [] and s)
    assert state["status"] == "Baseline"
    assert "reset to baseline" in state["history"][-1]


def test_inject_and_speed_go_through_the_control_plane(fleet: Fleet) -> None:
    r = fleet.post("/api/inject", {"template": "cloud-outage", "params": {"magnitude": "high"}})
    assert r.status_code == 200, r.text
    event = r.json()["event"]
    assert event["template"] == "cloud-outage" and event["causal"] is True

    def listed() -> bool:
        # the server's view follows sim.control on its own thread: it may be a version behind
        s = fleet.state()
        return event["id"] in [e["id"] for e in s["upcoming_events"] + s["external_events"]]

    wait_value("the injected event in the state", listed)
    assert fleet.post("/api/inject", {"template": "cloud-outtage"}).status_code == 404
    assert fleet.post("/api/inject", {"at": "now"}).status_code == 422
    sped = fleet.post("/api/speed", {"speed": 3600})
    assert sped.status_code == 200 and sped.json()["speed"] == 3600
    assert fleet.post("/api/speed", {"speed": -1}).status_code == 422


def test_history_counts_each_stream_per_interval_against_the_baseline(fleet: Fleet) -> None:
    topic = "marketplace.customer.search"
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def get(params: dict[str, str]) -> httpx.Response:
        return httpx.get(fleet.guarded + "/api/history", params=params, headers=auth, timeout=30)

    def complete() -> list[dict[str, Any]]:
        q = {"start": "2026-03-10T00:00:00Z", "streams": f"{topic},marketplace.booking.requested"}
        body = get(q).json()
        return [p for p in body["streams"][topic] if p["complete"]]

    points = wait_value("complete history intervals", complete)
    body = get({"start": "2026-03-10T00:00:00Z", "end": "2026-03-20T00:00:00Z"}).json()
    assert body["interval_ms"] == 3_600_000
    assert body["timeRange"] == {
        "start": "2026-03-10T00:00:00.000Z",
        "end": "2026-03-20T00:00:00.000Z",
    }
    assert topic in body["streams"] and "marketplace.booking.requested" in body["streams"]
    assert all(p["value"] > 0 for p in points)
    assert all(0 <= p["normalized"] <= 100 for p in points)
    # a normal hour scores near the baseline's 50 (the scenarios moved supply, not searches)
    assert 20 < sorted(p["normalized"] for p in points)[len(points) // 2] < 80
    assert any(e["title"] for e in body["events"])
    assert {"id", "timestamp", "title"} <= set(body["events"][0])
    assert get({"start": "2026-03-10T00:00:00Z", "end": "2026-03-01"}).status_code == 422
    assert get({"start": "yesterday"}).status_code == 422
    assert get({}).status_code == 422
    # without a baseline the counts come alone
    plain = fleet.get("/api/history", params={"start": "2026-03-10T00:00:00Z", "streams": topic})
    assert all(p["normalized"] is None for p in plain.json()["streams"][topic])
    assert sum(p["value"] for p in plain.json()["streams"][topic]) > 0


# -- security and Prometheus ------------------------------------------------------------------
def test_the_token_guarded_server_answers_only_with_its_token(fleet: Fleet) -> None:
    assert httpx.get(fleet.guarded + "/api/state", timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.get(fleet.guarded + "/api/state", headers=wrong, timeout=10).status_code == 401
    assert httpx.post(fleet.guarded + "/api/stop", timeout=10).status_code == 401
    ok = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(fleet.guarded + "/api/state", headers=ok, timeout=10).status_code == 200

    async def ws() -> None:
        url = fleet.guarded.replace("http://", "ws://") + "/ws"
        with pytest.raises(InvalidStatus, match="403"):  # refused before the handshake
            async with connect(url) as c:
                await c.recv()
        async with connect(url + "?access_token=" + urllib.parse.quote(TOKEN)) as c:
            await c.send(json.dumps({"type": "subscribe", "streams": ["*"]}))
            assert json.loads(await c.recv())["type"] == "subscribed"

    asyncio.run(ws())


NAMES = {
    "simfleet_records_produced",
    "simfleet_records_delivered",
    "simfleet_records_failed",
    "simfleet_producer_queue_records",
    "simfleet_tick_lag_seconds",
    "simfleet_sim_time_seconds",
    "simfleet_control_version",
    "simfleet_scenario_active",
}


def parse(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_metrics_parse_with_prometheus_client(fleet: Fleet) -> None:
    before = fleet.state()["control_version"]
    fams = parse(fleet.get("/metrics").text)
    after = fleet.state()["control_version"]
    assert set(fams) >= NAMES
    delivered = {s.labels["topic"]: s.value for s in fams["simfleet_records_delivered"].samples}
    assert delivered["marketplace.customer.search"] > 0
    assert before <= fams["simfleet_control_version"].samples[0].value <= after
    assert {s.labels["worker"] for s in fams["simfleet_tick_lag_seconds"].samples} == {
        "worker-0",
        "worker-1",
    }


def test_a_worker_serves_its_own_metrics(fleet: Fleet) -> None:
    port = free_port()
    worker = subprocess.Popen(
        [sys.executable, "-m", "simfleet.cli.main", "worker", "run", "--worker-id", "extra",
         "--metrics-port", str(port)],
        env=fleet.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def scrape() -> dict[str, Any] | None:
        try:
            fams = parse(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
        except httpx.HTTPError:
            return None
        lag = fams.get("simfleet_tick_lag_seconds")
        return fams if lag is not None and lag.samples else None

    try:
        fams = wait_value("the worker's /metrics", scrape, 60)
        assert [s.labels for s in fams["simfleet_tick_lag_seconds"].samples] == [
            {"worker": "extra"}
        ]
        assert {"simfleet_records_delivered", "simfleet_producer_queue_records"} <= set(fams)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)


def _admin_child(fleet: Fleet) -> int:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"admin" in cmd and str(fleet.admin_port).encode() in cmd and b"run" in cmd:
            return int(proc.name)
    raise AssertionError("no admin child of simctl up")


def test_generation_goes_on_when_the_admin_server_fails(fleet: Fleet) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def delivered() -> int:
        state = httpx.get(fleet.guarded + "/api/state", headers=auth, timeout=10).json()
        return sum(w["delivered"] for w in state["workers"] if w["worker"].startswith("worker-"))

    os.kill(_admin_child(fleet), signal.SIGKILL)
    wait_value("the page to go away", lambda: not _answers(fleet.url))
    before = delivered()
    wait_value("more deliveries", lambda: delivered() > before)
    assert fleet.up.poll() is None, "simctl up stopped with its admin server"


def test_delivered_per_topic_equals_the_fleets_own_counts_after_the_run(fleet: Fleet) -> None:
    fleet.up.send_signal(signal.SIGTERM)
    _, err = fleet.up.communicate(timeout=120)
    assert fleet.up.returncode == 0, err
    summary = re.search(r"delivered ([\d,]+)", err)
    assert summary is not None, err
    watcher = FleetWatcher(KafkaSettings(bootstrap_servers=fleet.bootstrap))

    def finals() -> dict[str, Any] | None:
        watcher.poll(0.5)
        last = watcher.workers
        done = all(last.get(w) is not None and last[w].stopping for w in ("worker-0", "worker-1"))
        return dict(last) if done else None

    try:
        heartbeats = wait_value("the workers' final heartbeats", finals)
    finally:
        watcher.close()
    assert all(hb.stopping for hb in heartbeats.values())  # the extra worker stopped too
    own: dict[str, float] = {}
    for hb in heartbeats.values():
        for topic, c in hb.topics.items():
            own[topic] = own.get(topic, 0) + c.delivered
    up_workers = [heartbeats[w] for w in ("worker-0", "worker-1")]
    assert sum(c.delivered for hb in up_workers for c in hb.topics.values()) == int(
        summary.group(1).replace(",", "")
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def scraped() -> dict[str, float] | None:
        fams = parse(httpx.get(fleet.guarded + "/metrics", headers=auth, timeout=10).text)
        got = {s.labels["topic"]: s.value for s in fams["simfleet_records_delivered"].samples}
        return got if got == own else None

    per_topic = wait_value("/metrics to show the final counts", scraped)
    assert len(per_topic) > 20 and sum(per_topic.values()) > 10_000
