"""`simctl report`: one self-contained HTML file (plotly's JavaScript embedded, no CDN) that a
real headless Chromium renders with no JavaScript error and charts holding data: counts per
interval with zeros where none came, one small chart per stream, no NaN axis, the lane's labels
apart, the scenario window shaded; sections with nothing to show are one line saying why. A
screenshot is kept under the test's tmp path."""

from __future__ import annotations

import json
import math
import re
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
    # the events (an overview and one chart per stream), chaos and the scorecard's three
    assert page.count("Plotly.newPlot") == 6
    assert page.count("plotly.js v") == 1  # its JavaScript once
    for hook in ("latency-hook", "confusion-hook", "recall-hook", "assertions", "settings"):
        assert f"id='{hook}'" in page
    # the data is a small part: counts per interval, no x arrays (about 4.8 MB is plotly's)
    assert len(page) < 5_300_000, len(page)


def test_the_span_is_the_runs_and_counts_have_separators(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    # the run started at 00:00 (a quantile of the records used to put it hours later)
    assert "<td>from</td><td>2026-03-02T00:00:00.000Z</td>" in page
    assert re.search(r"<td>until</td><td>2026-03-02T05:59:\d\d\.\d{3}Z</td>", page)
    assert "Sim 2026-03-02T00:00:" in page and "counted per 1 min" in page
    search = re.search(r"<td>marketplace\.customer\.search</td><td>([\d,]+)</td>", page)
    assert search is not None and "," in search.group(1), "a count of thousands without commas"


def test_sections_with_nothing_to_show_are_one_line_saying_why(
    report: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bare.html"
    args = ["report", "--data", str(report.parent / "gen"), "--out", str(out)]
    args += ["--check", str(HERE / "no-assertions.yaml"), "--plotly-js", "directory"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    # plotly.min.js beside it, once, instead of in it
    assert "plotly.js v" not in page and len(page) < 1_000_000, len(page)
    assert 'src="plotly.min.js"' in page and (tmp_path / "plotly.min.js").stat().st_size > 10**6
    # a marketplace run has no labels: no empty fraud sections, one line instead
    assert "<h2>Latency histogram</h2>" not in page and "<h2>Confusion matrix</h2>" not in page
    line = re.search(r"<p class='omitted' id='scorecard'>(.*?)</p>", page)
    assert line is not None and "no labels topic" in line.group(1)
    # a checked scenario without assertions: no empty table
    line = re.search(r"<p class='omitted' id='assertions'>(.*?)</p>", page)
    assert line is not None and "declares none" in line.group(1), page[-3000:]
    assert "<h2>Assertions</h2>" not in page


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
        # every axis of every chart: a range of two finite numbers or valid dates
        axes = driver.execute_script(
            "return Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(d => "
            "Object.keys(d._fullLayout).filter(k => /^[xy]axis\\d*$/.test(k)).map(k => "
            "[d.id, k, d._fullLayout[k].type, d._fullLayout[k].range.map(String)]))"
        )
        traces = driver.execute_script(
            "return document.getElementById('events-chart').data.map(t => [t.name, t.y])"
        )
        shapes = driver.execute_script(
            "return ['overview-chart', 'events-chart'].map(id => "
            "document.getElementById(id)._fullLayout.shapes.map(s => [s.x0, s.x1, s.yref]))"
        )
        # the lane's labels, as drawn
        labels = driver.execute_script(
            "return Array.from(document.querySelectorAll('#overview-chart .textpoint text'))"
            ".map(t => [t.textContent, t.getBoundingClientRect().toJSON()])"
        )
    finally:
        driver.quit()
    assert not [e for e in logs if e["level"] == "SEVERE"], logs
    charts = dict(points)
    assert set(charts) == {"overview-chart", "events-chart", "chaos-chart"} | {
        f"{c}-chart" for c in ("latency", "confusion", "recall")
    }
    assert charts["events-chart"] > 1000 and charts["chaos-chart"] >= 6
    assert charts["latency-chart"] >= 10 and charts["recall-chart"] == 2
    assert rows == 7  # header and six assertions
    # poisoned 1970 timestamps do not stretch the time axis
    assert x_range[0] >= "2026-03-01" and x_range[1] <= "2026-03-04", x_range
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert len(axes) > 40  # one x and one y axis per stream's chart at least
    for chart, name, kind, bounds in axes:
        assert len(bounds) == 2 and "NaN" not in bounds and "Invalid" not in "".join(bounds), (
            chart,
            name,
            bounds,
        )
        if kind == "linear":
            assert all(math.isfinite(float(b)) for b in bounds), (chart, name, bounds)
    # counts per interval over the whole run (6 h per minute), 0 where nothing came: a sparse
    # stream drops to zero between its events instead of a line joining them
    lengths = {len(y) for _, y in traces}
    assert lengths == {360}, lengths
    sparse = [y for _, y in traces if 0 < sum(y) < 60]
    assert sparse and all(0 in y for y in sparse)
    assert any(v > 0 and y[i + 1] == 0 for y in sparse for i, v in enumerate(y[:-1]))
    # the scenario's window (from 01:00) is shaded on the overview and on every stream's chart
    overview, small = shapes
    assert any(x0.startswith("2026-03-02T01:00") for x0, _, _ in overview), overview
    assert len(small) >= len(traces)
    # the lane names the scenario; no two labels overlap
    assert any("scenario" in text for text, _ in labels), labels
    for i, (ta, a) in enumerate(labels):
        for tb, b in labels[i + 1 :]:
            apart = (
                a["right"] <= b["left"] + 0.5
                or b["right"] <= a["left"] + 0.5
                or a["bottom"] <= b["top"] + 0.5
                or b["bottom"] <= a["top"] + 0.5
            )
            assert apart, (ta, a, tb, b)
