"""`simctl report`: one self-contained HTML file (plotly's JavaScript embedded, no CDN) that a
real headless Chromium renders with no JavaScript error and charts holding data; a screenshot
is kept under the test's tmp path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simfleet.cli.main import app
from simfleet.scoring import Decision, Label, Subject, scorecard
from tests.chaos.effects import SCENARIO

HERE = Path(__file__).parent
CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    args = ["generate", "--domain", "marketplace", "--start", "2026-03-02T00:00:00Z"]
    args += ["--duration", "6h", "--out", str(tmp / "gen"), "--seed", "5", "--shards", "2"]
    args += ["--no-external-events", "--scenario", str(SCENARIO)]
    args += ["--scenario-at", "2026-03-02T01:00:00Z"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = tmp / "report.html"
    args = ["report", "--data", str(tmp / "gen"), "--out", str(out)]
    args += ["--check", str(HERE / "checked-pass.yaml"), "--score", str(_scorecard(tmp))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def _scorecard(tmp: Path) -> Path:
    """A scorecard file as `simctl score --out` writes it: 40 subjects, 10 of them fraud."""
    subjects = [Subject(f"t{i}", f"e{i}", i, produced_at=1000 * i) for i in range(40)]
    patterns = ("card_testing", "bot_scalping")
    labels = [Label(f"t{i}", i % 4 == 0, patterns[i % 8 // 4] if i % 4 == 0 else "none", 50)
              for i in range(40)]  # fmt: skip
    decisions = [Decision(f"t{i}", None, (i % 4 == 0) * 0.6 + (i % 7) / 20, None,
                          at=1000 * i + 20 + 3 * i) for i in range(40)]  # fmt: skip
    card = scorecard(subjects, labels, decisions)
    path = tmp / "score.json"
    path.write_text(json.dumps({**card.as_dict(), "latencies_ms": card.latencies}))
    return path


def test_the_file_is_self_contained(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert "<script src=" not in page  # no CDN: the bundle itself is in the page
    assert "plotly.js v" in page and len(page) > 3_000_000
    assert page.count("Plotly.newPlot") == 5  # events, chaos and the scorecard's three
    for hook in ("latency-hook", "confusion-hook", "recall-hook", "assertions", "settings"):
        assert f"id='{hook}'" in page


@pytest.mark.skipif(CHROMIUM is None or DRIVER is None, reason="chromium is not installed")
def test_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1800",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=opts)
    try:
        driver.set_page_load_timeout(60)
        driver.get(report.as_uri())
        # plotly draws after the load event on a busy machine: wait for the five charts
        WebDriverWait(driver, 60).until(
            lambda d: (
                d.execute_script("return document.querySelectorAll('.js-plotly-plot').length") >= 5
            )
        )
        points = driver.execute_script(
            "return Array.from(document.querySelectorAll('.js-plotly-plot')).map("
            "d => [d.id, (d.data || []).reduce((n, t) => n + (t.y ? t.y.length : 0), 0)])"
        )
        driver.save_screenshot(str(tmp_path / "report.png"))
        logs = driver.get_log("browser")
        x_range = driver.execute_script(
            "return document.getElementById('events-chart')._fullLayout.xaxis.range"
        )
        rows = driver.execute_script("return document.querySelectorAll('#assertions tr').length")
    finally:
        driver.quit()
    assert not [e for e in logs if e["level"] == "SEVERE"], logs
    charts = dict(points)
    assert set(charts) == {"events-chart", "chaos-chart"} | {
        f"{c}-chart" for c in ("latency", "confusion", "recall")
    }
    assert charts["events-chart"] > 1000 and charts["chaos-chart"] >= 6
    assert charts["latency-chart"] >= 10 and charts["recall-chart"] == 2
    assert rows == 7  # header and six assertions
    # poisoned 1970 timestamps do not stretch the time axis
    assert x_range[0] >= "2026-03-01" and x_range[1] <= "2026-03-04", x_range
    assert (tmp_path / "report.png").stat().st_size > 10_000
