"""Chaos in `simctl generate`: each action's effect on the files at its declared rate, a
ground-truth record per application, and the same files for the same seed."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from simfleet.cli.main import app
from tests.chaos.effects import (
    CHECKS,
    CORRUPT,
    DELAY,
    DROP,
    DUPLICATE,
    INJECT,
    MODIFY,
    POISON,
    REORDER,
    SCENARIO,
    H,
    Observed,
)

START = "2026-03-02T00:00:00Z"


def _generate(out: Path, scenario: Path = SCENARIO) -> None:
    args = ["generate", "--domain", "marketplace", "--start", START, "--duration", "12h"]
    args += ["--out", str(out), "--seed", "7", "--shards", "2", "--no-external-events"]
    args += ["--scenario", str(scenario), "--scenario-at", START]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def observe(folder: Path) -> Observed:
    """The records of a generate folder as a consumer of the files sees them."""
    seqs = {
        p.name.removesuffix(".jsonl"): [_jsonl(p)]
        for p in folder.glob("*.jsonl")
        if not p.name.endswith(".corrupt.jsonl")
    }
    corrupt = {
        p.name.removesuffix(".corrupt.jsonl"): len(_jsonl(p))
        for p in folder.glob("*.corrupt.jsonl")
    }
    truth = seqs.pop("marketplace.ground_truth")[0]
    groups = Counter((r["occurred_at"] // H, r["student_id"]) for r in seqs[REORDER][0])
    return Observed(seqs, corrupt, truth, sum(n > 1 for n in groups.values()))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chaos-gen")
    _generate(out)
    return out


@pytest.fixture(scope="module")
def observed(generated: Path) -> Observed:
    return observe(generated)


@pytest.mark.parametrize("action", sorted(CHECKS))
def test_each_action_in_files(observed: Observed, action: str) -> None:
    check: Callable[[Observed], None] = CHECKS[action]
    check(observed)


def test_only_declared_streams_are_touched(observed: Observed) -> None:
    """Every chaos truth record names a stream of the scenario (inject: its emit topic)."""
    declared = {DROP, DUPLICATE, DELAY, REORDER, CORRUPT, POISON, MODIFY, INJECT}
    assert {t["topic"] for t in observed.truth if t["kind"] == "chaos"} == declared
    assert set(observed.corrupt) == {CORRUPT}


def test_same_seed_same_chaos(generated: Path, tmp_path: Path) -> None:
    """Chaos is drawn from the seed: a second run writes the same bytes."""
    _generate(tmp_path)
    for p in sorted(generated.iterdir()):
        assert (tmp_path / p.name).read_bytes() == p.read_bytes(), p.name


def test_phase_chaos_only_in_its_phase(tmp_path: Path) -> None:
    """A phase's chaos acts during that phase only."""
    scenario = tmp_path / "phase.yaml"
    scenario.write_text(
        "id: phase-drop\nname: p\ndescription: d\ndomain: marketplace\nphases:\n"
        "  - {name: calm, duration: 6h}\n"
        "  - name: stormy\n    duration: 6h\n    chaos:\n"
        "      - {action: drop, streams: marketplace.customer.*, probability: 0.5}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    _generate(out, scenario)
    truth = [t for t in _jsonl(out / "marketplace.ground_truth.jsonl") if t["kind"] == "chaos"]
    start = min(r["occurred_at"] for r in _jsonl(out / "marketplace.customer.search.jsonl"))
    start -= start % (6 * H)
    assert len(truth) > 100
    assert all(t["occurred_at"] >= start + 6 * H for t in truth)
    assert {t["topic"].rsplit(".", 1)[0] for t in truth} == {"marketplace.customer"}


def test_a_rate_hits_that_many_records_per_sim_second(tmp_path: Path) -> None:
    """`rate: 0.05` drops about 0.05 records a sim-second of the stream (12 h: 2,160, Poisson
    sd 46), whatever the stream's own volume; a probability would follow the volume."""
    scenario = tmp_path / "rate.yaml"
    scenario.write_text(
        "id: rate-drop\nname: r\ndescription: d\ndomain: marketplace\n"
        "phases: [{name: steady, duration: 12h}]\n"
        "chaos: [{action: drop, streams: marketplace.customer.search, rate: 0.05}]\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    _generate(out, scenario)
    truth = [t for t in _jsonl(out / "marketplace.ground_truth.jsonl") if t["kind"] == "chaos"]
    searches = len(_jsonl(out / "marketplace.customer.search.jsonl"))
    assert {t["action"] for t in truth} == {"drop"}
    assert 0.9 * 2160 <= len(truth) <= 1.1 * 2160, len(truth)
    assert searches > 3 * len(truth)  # the rate, not the volume, set the count
