"""Baseline statistics and the 0-100 normalisation, through `simctl baseline` and
`simctl generate --baseline` as a user runs them.

A 30-day baseline of normal operation, then a later week of normal operation normalised against
it: at least 80 % of the metric intervals score 30-70. That alone a normaliser with a huge sigma
would pass, so the same week with a supply crisis must push its key stream out of that band.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from simfleet.cli.main import app
from simfleet.orchestrator.baseline import normalize
from simfleet.timeutil import format_ms, parse_instant_ms

pytestmark = pytest.mark.slow  # minutes of generation: started first under xdist

H = 3_600_000
D = 24 * H
BASE_START = "2026-03-02T00:00:00Z"  # a Monday in an ordinary month (no exam season, no summer)
EVAL_START = parse_instant_ms(BASE_START) + 30 * D
SEED, SCALE, SHARDS = 5, 0.25, 4
STAT_FIELDS = {
    "mean", "median", "std", "min", "max", "p25", "p50", "p75", "p90", "p95",
    "weekday_mean", "weekend_mean", "trend_per_day",
}  # fmt: skip


def _run(*args: str) -> None:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output


@cache
def baseline_file(tmp: Path) -> Path:
    out = tmp / "baseline.json"
    _run(
        "baseline", "--domain", "marketplace", "--days", "30", "--start", BASE_START,
        "--seed", str(SEED), "--scale", str(SCALE), "--shards", str(SHARDS), "--out", str(out),
    )  # fmt: skip
    return out


@cache
def metrics(tmp: Path, scenario: str | None) -> list[dict[str, Any]]:
    out = tmp / (scenario or "normal")
    at = format_ms(EVAL_START + 2 * D)
    extra = ["--scenario", scenario, "--scenario-at", at] if scenario else []
    _run(
        "generate", "--domain", "marketplace", "--start", format_ms(EVAL_START),
        "--duration", "7d", "--warmup", "7d", "--seed", str(SEED), "--scale", str(SCALE),
        "--shards", str(SHARDS), "--baseline", str(baseline_file(tmp)), "--out", str(out),
        "--format", "jsonl", *extra,
    )  # fmt: skip
    lines = (out / "marketplace.metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("baseline")


@pytest.mark.parametrize(
    ("z", "score", "level"),
    [
        (0.0, 50.0, "normal"),
        (0.5, 60.0, "normal"),
        (-1.0, 30.0, "warning"),
        (1.0, 70.0, "warning"),
        (2.0, 85.0, "warning"),
        (-3.0, 0.0, "critical"),
        (3.0, 100.0, "critical"),
        (7.0, 100.0, "critical"),
        (-9.0, 0.0, "critical"),
    ],
)
def test_normalize_maps_sigmas_to_the_0_100_scale(z: float, score: float, level: str) -> None:
    """50 = expected, 30/70 = -/+1 sigma, 0/100 = -/+3 sigma, clamped beyond."""
    assert normalize(200 + z * 40, 200, 40) == pytest.approx((score, level))


def test_a_stream_without_spread_scores_50() -> None:
    assert normalize(3.0, 3.0, 0.0) == (50.0, "normal")


def test_baseline_has_every_statistic_for_every_stream(tmp: Path) -> None:
    raw = json.loads(baseline_file(tmp).read_text(encoding="utf-8"))
    assert raw["interval_ms"] == H
    streams = raw["streams"]
    assert len(streams) >= 50
    for topic, s in streams.items():
        assert s.keys() >= STAT_FIELDS, topic
        assert s["min"] <= s["p25"] <= s["p50"] <= s["p75"] <= s["p90"] <= s["p95"] <= s["max"]
        assert s["p50"] == s["median"]
    # the demand curve: weekends above weekdays, as the domain declares
    search = streams["marketplace.customer.search"]
    assert search["weekend_mean"] > 1.2 * search["weekday_mean"]


def test_normal_operations_score_30_to_70_in_80_percent_of_intervals(tmp: Path) -> None:
    """A later normal week against the 30-day baseline: 80 % or more of intervals in 30-70."""
    rows = metrics(tmp, None)
    streams = {r["stream"] for r in rows}
    assert len(streams) >= 50
    assert len(rows) == len(streams) * 7 * 24
    scores = np.array([r["normalized"] for r in rows])
    share = float(((scores >= 30) & (scores <= 70)).mean())
    assert share >= 0.80, share
    assert 45 <= float(np.median(scores)) <= 55  # centred on the expectation, not just wide
    for r in rows:
        score, level = r["normalized"], r["anomaly"]  # (rounded: 0.5 of slack at the edges)
        assert (r["count"] - r["baseline_mean"]) * (score - 50) >= 0 or r["baseline_std"] == 0
        if 30.5 < score < 69.5:
            assert level == "normal"
        elif not 29.5 < score < 70.5:
            assert level != "normal"
        assert score in (0.0, 100.0) if level == "critical" else 0 < score < 100


def test_a_supply_crisis_scores_outside_the_normal_band(tmp: Path) -> None:
    """The same week with a supply crisis: its key stream leaves 30-70 during the crisis."""
    normal = metrics(tmp, None)
    crisis = metrics(tmp, "supply-crisis")
    lo, hi = EVAL_START + 2 * D, EVAL_START + 4 * D

    def day_scores(rows: list[dict[str, Any]], stream: str) -> list[float]:
        return [
            r["normalized"]
            for r in rows
            if r["stream"] == stream
            and lo <= r["interval_start"] < hi
            and 8 <= (r["interval_start"] % D) // H < 22
        ]

    declined = day_scores(crisis, "marketplace.booking.declined")
    assert float(np.median(declined)) > 70, declined
    assert float(np.median(day_scores(normal, "marketplace.booking.declined"))) < 65
