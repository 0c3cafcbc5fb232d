"""`chaos:` and `assertions:` are checked at load with every problem at once: unknown actions,
probabilities out of [0, 1], stream globs and topics that match nothing, fields a topic lacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from simfleet.domain.pack import Project
from simfleet.errors import ScenarioError
from simfleet.orchestrator.catalog import load_scenario_file
from simfleet.orchestrator.transitions import check_scenario
from simfleet.orchestrator.validate import validate_paths
from tests.chaos.effects import SCENARIO

BAD = """\
id: bad-chaos
name: Bad chaos
description: every kind of mistake in chaos and assertions
domain: marketplace
phases:
  - name: p
    duration: 1h
    chaos:
      - {action: drop, streams: marketplace.custmer.*, probability: 0.1}
chaos:
  - {action: explode, streams: marketplace.customer.search, probability: 0.1}
  - {action: drop, streams: marketplace.customer.search, probability: 1.5}
  - {action: modify, streams: marketplace.customer.search, probability: 0.1, set: {qery: x}}
  - {action: inject, streams: marketplace.customer.search, probability: 0.1, emit: marketplace.nope}
assertions:
  - {kind: count, topic: marketplace.booking.requsted, min: 1}
  - {kind: ratio, topic: marketplace.booking.confirmed}
"""


def test_every_problem_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad-chaos.yaml"
    path.write_text(BAD, encoding="utf-8")
    problems = {p.path: p for p in validate_paths([path], Project())}
    assert "chaos.0.action" in problems
    assert "chaos.1.probability" in problems
    assert "did you mean" in problems["phases.0.chaos.0.streams"].message
    assert "marketplace.customer" in problems["phases.0.chaos.0.streams"].message
    assert "chaos.2.set.qery" in problems
    assert "chaos.3.emit" in problems
    assert "booking.requested" in problems["assertions.0.topic"].message
    assert any(p.startswith("assertions.1") for p in problems)
    assert all(p.file == path for p in problems.values())


def test_the_test_scenario_is_clean() -> None:
    assert validate_paths([SCENARIO], Project()) == []


def test_loading_refuses_unknown_names(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "id: s\nname: s\ndescription: s\ndomain: marketplace\nphases: [{name: p}]\n"
        "chaos:\n  - {action: drop, streams: marketplace.nothing, probability: 0.1}\n",
        encoding="utf-8",
    )
    spec = load_scenario_file(path)
    with pytest.raises(ScenarioError, match=r"chaos\.0\.streams.*matches no topic"):
        check_scenario(spec, Project())
