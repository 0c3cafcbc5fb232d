"""`simctl run PLAN.yaml`: a plan that starts supply-crisis on a fleet of its own, waits for
its truth record and 6 sim hours, asserts and stops passes (exit 0); the same plan with an
assertion that must fail exits 1. Both write JUnit XML, read back with a parser."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLANS = Path(__file__).parent / "plans"


def _run(plan: str, xml: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "simfleet.cli.main",
            "run",
            str(PLANS / plan),
            "--junit-xml",
            str(xml),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _cases(xml: Path) -> dict[str, ET.Element]:
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite is not None
    return {c.get("name", ""): c for c in suite.iter("testcase")}


def test_supply_crisis_plan_passes(tmp_path: Path) -> None:
    xml = tmp_path / "plan.xml"
    done = _run("supply-crisis.yaml", xml)
    assert done.returncode == 0, done.stdout + done.stderr
    cases = _cases(xml)
    steps = [n for n in cases if n[:2].isdigit()]
    assert steps == [
        "01 start supply-crisis",
        "02 wait for marketplace.ground_truth",
        "03 wait 30h sim",
        "04 assert",
        "05 stop",
    ]
    assert len(cases) == 8  # five steps and three assertions
    assert all(c.find("failure") is None for c in cases.values())


def test_a_failing_assertion_fails_the_plan(tmp_path: Path) -> None:
    xml = tmp_path / "plan.xml"
    done = _run("must-fail.yaml", xml)
    assert done.returncode == 1, done.stdout + done.stderr
    cases = _cases(xml)
    failed = sorted(n for n, c in cases.items() if c.find("failure") is not None)
    assert failed == ["04 assert", "absence marketplace.booking.requested"]
    assert "05 stop" not in cases  # the plan stops at the first failed step
