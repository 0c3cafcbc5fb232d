"""`simctl diff` on `simctl generate` folders: a scenario is flagged, the same seed passes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from simfleet.cli.main import app
from simfleet.domain.pack import Project
from simfleet.errors import ConfigError
from simfleet.orchestrator.catalog import get_scenario

START = "2026-03-02T00:00:00Z"


def _generate(out: Path, *extra: str) -> None:
    res = CliRunner().invoke(
        app,
        [
            "generate", "--domain", "marketplace", "--start", START, "--duration", "1d",
            "--out", str(out), "--shards", "2", "--scale", "0.5", "--seed", "11", *extra,
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two plain runs with one seed, and one with supply-crisis from 02:00."""
    tmp = tmp_path_factory.mktemp("diff")
    out = {"base": tmp / "base", "again": tmp / "again", "crisis": tmp / "crisis"}
    _generate(out["base"])
    _generate(out["again"])
    _generate(out["crisis"], "--scenario", "supply-crisis", "--scenario-at", "2026-03-02T02:00:00Z")
    return out


def _diff(a: Path, b: Path, *extra: str) -> tuple[Result, dict[str, Any]]:
    res = CliRunner().invoke(app, ["diff", str(a), str(b), "--json", *extra])
    return res, json.loads(res.stdout)


def test_same_seed_runs_are_identical(runs: dict[str, Path]) -> None:
    """Two generate runs with the same seed: identical, exit 0."""
    res, doc = _diff(runs["base"], runs["again"])
    assert res.exit_code == 0
    assert doc["identical"] and doc["passed"]


def test_supply_crisis_is_flagged_on_the_streams_it_declares(runs: dict[str, Path]) -> None:
    """Exit 1, and every stream of the scenario's expected effects has a problem."""
    res, doc = _diff(runs["base"], runs["crisis"])
    assert res.exit_code == 1
    declared = {e.stream for e in get_scenario("supply-crisis", Project()).expected_effects}
    assert declared
    flagged = {t for t, v in doc["topics"].items() if v["problems"]}
    assert declared <= flagged, {t: doc["topics"][t]["problems"] for t in declared}
    # the scenario moves tutor supply only: the sign-up stream is not flagged
    assert not doc["topics"]["marketplace.customer.signup"]["problems"]


def test_table_output_and_a_loose_tolerance(runs: dict[str, Path], tmp_path: Path) -> None:
    """The table names each topic; a tolerance file wide enough lets the crisis pass."""
    tol = tmp_path / "tol.yaml"
    tol.write_text("count: 1.0\nks: 1.0\ntv: 1.0\ninterarrival_ks: 1.0\n")
    res = CliRunner().invoke(
        app, ["diff", str(runs["base"]), str(runs["crisis"]), "--tolerance", str(tol)]
    )
    assert res.exit_code == 0, res.stdout
    assert "marketplace.booking.confirmed" in res.stdout and "within tolerance" in res.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("ks: high\n")
    res = CliRunner().invoke(
        app, ["diff", str(runs["base"]), str(runs["again"]), "--tolerance", str(bad)]
    )
    assert isinstance(res.exception, ConfigError) and "bad.yaml: ks" in str(res.exception)
