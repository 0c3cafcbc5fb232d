"""The admin page in a real browser (Debian's headless chromium), against a live fleet of two
domains (`simctl up --domain marketplace --domain ticketing`, its own embedded broker):

- the first screen at 1400x900 shows the chart (with data, over sim time) and the state;
- nothing is wider than the window (no horizontal scroll bar), at 1400 and 1024 px;
- `fraud-attack` (a campaign) starts from the page, and only ticketing's cards wait for it;
- the chart's stream picker lists every stream with its domain, and picks what it charts;
- external-event labels never overlap, even for events at one instant;
- a settled scenario leaves the state panel.

At 600x: a sim hour is 6 wall seconds, so the fraud attack (6 sim hours) lasts 36 s.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from simfleet.broker import free_port
from tests.live import wait_value

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or DRIVER is None,
        reason="needs Debian's chromium and chromium-driver (`apt-get install chromium "
        "chromium-driver`; .ci/run installs them)",
    ),
]


@dataclass
class Fleet:
    url: str
    up: subprocess.Popen[bytes]

    def state(self) -> dict[str, Any]:
        r = httpx.get(self.url + "/api/state", timeout=30)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.post(self.url + path, json=body, timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/api/state", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("admin-page")
    env = {**os.environ, "SIMCTL_STATE_DIR": str(tmp / "state")}
    for name in ("SIMCTL_ADMIN_TOKEN", "SIMCTL_BOOTSTRAP_SERVERS"):
        env.pop(name, None)
    port = free_port()
    with (tmp / "up.log").open("wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "simfleet.cli.main", "up", "--speed", "600", "--scale",
             "0.1", "--shards", "2", "--workers", "1", "--start", "2026-03-10T00:00:00Z",
             "--no-stats", "--admin-port", str(port), "--domain", "marketplace", "--domain",
             "ticketing"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    fleet = Fleet(f"http://127.0.0.1:{port}", up)
    try:
        wait_value("the admin server of simctl up", lambda: _answers(fleet.url), 120)
        wait_value("a worker", lambda: fleet.state()["workers"], 90)
        yield fleet
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)
            try:
                up.wait(timeout=90)
            except subprocess.TimeoutExpired:
                up.kill()


@pytest.fixture(scope="module")
def driver(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM is not None and DRIVER is not None
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("profile")
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
        "--window-size=1400,1100",
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(options=opts, service=Service(DRIVER))
    try:
        viewport(d, 1400, 900)
        d.get(fleet.url + "/")
        yield d
        logs = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
        assert logs == [], logs
    finally:
        d.quit()


def viewport(d: Any, width: int, height: int) -> None:
    """The page's viewport exactly (the window's own size includes the browser's frame)."""
    d.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def js(d: Any, script: str) -> Any:
    return d.execute_script("return " + script)


def until(d: Any, what: str, script: str, timeout: float = 60) -> Any:
    """Poll a JavaScript expression of the page until it is truthy; its value."""
    return wait_value(what, lambda: js(d, script), timeout)


def test_the_first_screen_shows_the_chart_with_data_over_sim_time(
    fleet: Fleet, driver: Any, tmp_path: Path
) -> None:
    until(driver, "the state", "document.getElementById('status').dataset.status === 'Baseline'")
    until(driver, "points on the chart", "+(document.getElementById('rates').dataset.points||0)")
    canvas = js(driver, "document.querySelector('#rates canvas').getBoundingClientRect().toJSON()")
    view = js(driver, "[innerWidth, innerHeight, scrollY]")
    assert view == [1400, 900, 0]
    # the whole plot is on the first screen, and so are the state and the header's gauges
    assert canvas["top"] >= 0 and canvas["bottom"] <= 900, canvas
    assert canvas["width"] > 700 and canvas["height"] >= 200, canvas
    side = js(driver, "document.getElementById('side').getBoundingClientRect().toJSON()")
    assert side["top"] < 300 and side["left"] > canvas["right"], side
    assert js(driver, "document.getElementById('broker').textContent").startswith("broker memory ")
    # the axis is sim time: the fleet started at sim 2026-03-10, wall time is years later
    sim_from = float(js(driver, "document.getElementById('rates').dataset.simFrom"))
    assert 1773100800 <= sim_from <= fleet.state()["sim_time_ms"] / 1000
    # every series is named with its domain, and both domains are charted in auto mode
    streams = until(driver, "streams of both domains", "document.getElementById('rates')"
                    ".dataset.streams.includes('ticketing.') && "
                    "document.getElementById('rates').dataset.streams")  # fmt: skip
    names = streams.split(",")
    assert all(n.split(".", 1)[0] in ("marketplace", "ticketing") for n in names), names
    assert {n.split(".", 1)[0] for n in names} == {"marketplace", "ticketing"}
    legend = js(driver, "[...document.querySelectorAll('#rates .u-legend th')].map(t => "
                "t.textContent)")  # fmt: skip
    assert any(t.startswith("ticketing.") for t in legend), legend
    # the catalog comes after the live part
    cards = js(driver, "document.getElementById('controls').getBoundingClientRect().top")
    assert cards > canvas["bottom"]
    driver.save_screenshot(str(tmp_path / "first-screen.png"))


def overflow(d: Any) -> list[int]:
    return list(
        js(d, "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    )


def test_nothing_is_wider_than_the_window(driver: Any) -> None:
    until(driver, "the catalog", "document.querySelectorAll('.card').length > 20")
    wide, client = overflow(driver)
    assert wide <= client, (wide, client)
    driver.find_element("css selector", "#picker summary").click()
    until(driver, "the picker", "document.querySelectorAll('#picker-groups input').length > 40")
    wide, client = overflow(driver)
    assert wide <= client, ("picker open", wide, client)
    driver.find_element("css selector", "#picker summary").click()
    try:
        viewport(driver, 1024, 768)
        # the chart follows the window's width
        until(driver, "a narrower chart", "document.querySelector('#rates canvas')"
              ".getBoundingClientRect().width < 760")  # fmt: skip
        wide, client = overflow(driver)
        assert wide <= client, ("1024 px", wide, client)
    finally:
        viewport(driver, 1400, 900)


def test_the_picker_lists_every_stream_by_domain_and_charts_what_is_ticked(
    fleet: Fleet, driver: Any
) -> None:
    driver.find_element("css selector", "#picker summary").click()
    try:
        legends = "[...document.querySelectorAll('#picker-groups legend')]"
        groups = until(driver, "picker groups", legends + ".map(l => l.firstChild.data.trim())")
        assert groups == ["marketplace", "ticketing"]
        boxes = js(driver, "[...document.querySelectorAll('#picker-groups input')].map(i => "
                   "i.value)")  # fmt: skip
        assert "marketplace.tutor.payout" in boxes and "ticketing.payment.declined" in boxes
        assert len(boxes) > 58  # all of them, not the top 8
        driver.find_element("css selector", "#pick-none").click()
        until(driver, "an empty pick", "document.getElementById('picker-summary').textContent"
              ".startsWith('Streams: picked, 0 of')")  # fmt: skip
        driver.find_element(
            "css selector", "#picker-groups input[value='ticketing.payment.declined']"
        ).click()
        until(driver, "the picked stream charted", "document.getElementById('rates')"
              ".dataset.streams === 'ticketing.payment.declined'")  # fmt: skip
        driver.find_element("css selector", "#pick-auto").click()
        until(driver, "auto again", "document.getElementById('rates').dataset.streams"
              ".split(',').length >= 8")  # fmt: skip
    finally:
        driver.find_element("css selector", "#picker summary").click()


def test_fraud_attack_starts_from_the_page_and_only_ticketing_waits(
    fleet: Fleet, driver: Any, tmp_path: Path
) -> None:
    # every scenario of the running domains has a card: campaigns and A/B tests included
    for sid in ("fraud-attack", "ab-test", "flash-sale", "supply-crisis"):
        until(driver, f"the {sid} card", f"document.querySelector('#card-{sid} button')")
    group = js(driver, "document.querySelector('#card-fraud-attack').closest('details').id")
    assert group == "domain-ticketing"
    button = driver.find_element("css selector", "#card-fraud-attack button")
    driver.execute_script("arguments[0].scrollIntoView()", button)
    assert button.is_enabled()
    button.click()
    row = wait_value(
        "fraud-attack in /api/state",
        lambda: next((r for r in fleet.state()["scenarios"] if r["id"] == "fraud-attack"), None),
    )
    assert row["domain"] == "ticketing"
    until(driver, "the running row", "document.querySelector("
          "'#active-scenarios [data-id=\"fraud-attack\"]')")  # fmt: skip
    # activation is per domain: ticketing's other cards wait, marketplace's stay open
    until(driver, "ab-test disabled", "document.querySelector('#card-ab-test button').disabled")
    assert js(driver, "document.querySelector('#card-supply-crisis button').disabled") is False
    title = js(driver, "document.querySelector('#card-ab-test button').title")
    assert "Coordinated fraud attack" in title
    # the chart follows the streams the attack moves
    until(driver, "the attack's streams", "document.getElementById('rates').dataset.streams"
          ".includes('ticketing.auth.login')")  # fmt: skip
    driver.save_screenshot(str(tmp_path / "fraud-attack.png"))
    # a scenario that settled leaves the panel (the API keeps it as history)
    assert fleet.post("/api/stop").status_code == 200
    wait_value(
        "fraud-attack settled",
        lambda: any(
            r["id"] == "fraud-attack" and r["state"] == "settled"
            for r in fleet.state()["scenarios"]
        ),
        90,
    )
    until(driver, "the row gone", "!document.querySelector("
          "'#active-scenarios [data-id=\"fraud-attack\"]')")  # fmt: skip
    until(driver, "ab-test enabled", "!document.querySelector('#card-ab-test button').disabled")


def test_external_event_labels_never_overlap(fleet: Fleet, driver: Any, tmp_path: Path) -> None:
    # six events at one instant: their dots coincide, their labels must not
    at = fleet.state()["sim_time_ms"] + 6 * 3_600_000
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at / 1000))
    titles = set()
    for _ in range(6):
        r = fleet.post("/api/inject", {"template": "cloud-outage", "at": when})
        assert r.status_code == 200, r.text
        titles.add(r.json()["event"]["title"])
    (title,) = titles
    until(driver, "the injected dots", "[...document.querySelectorAll('#timeline .tick')]"
          f".filter(t => t.title.startsWith({title!r})).length >= 6")  # fmt: skip
    labels = js(driver, "[...document.querySelectorAll('#timeline .label')].map(l => "
                "l.getBoundingClientRect().toJSON())")  # fmt: skip
    box = js(driver, "document.getElementById('timeline').getBoundingClientRect().toJSON()")
    assert len(labels) >= 2
    for i, a in enumerate(labels):
        assert box["left"] <= a["left"] and a["right"] <= box["right"] + 0.5, (a, box)
        for b in labels[i + 1 :]:
            apart = (
                a["right"] <= b["left"]
                or b["right"] <= a["left"]
                or a["bottom"] <= b["top"]
                or b["bottom"] <= a["top"]
            )
            assert apart, (a, b)
    driver.save_screenshot(str(tmp_path / "timeline.png"))
