"""Bad input gets one clear paragraph naming the file, the field and the fix, and a non-zero exit.

These run the real entry point (`python -m simfleet.cli.main`) so the exit code and stderr are
exactly what a user sees.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from simfleet.broker.embedded import free_port
from tests import live
from tests.live import offline_env, patience


def simctl(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return live.simctl(*args, env=offline_env(tmp / "state"))


def one_paragraph(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one paragraph, got: {text!r}"
    return lines[0]


BAD_OP = """\
id: broken
name: Broken
description: a scenario with a wrong modifier op
domain: marketplace
phases:
  - name: one
    modifiers:
      - {target: marketplace.tutor.supply, op: explode, value: 2}
"""

UNKNOWN_FIELD = BAD_OP.replace("op: explode", "op: multiply, strength: 3")
UNKNOWN_TARGET = BAD_OP.replace("op: explode", "op: multiply").replace(
    "marketplace.tutor.supply", "marketplace.tutor.suply"
)


@pytest.mark.parametrize(
    ("content", "field", "hint"),
    [
        (BAD_OP, "phases.0.modifiers.0.op", "allowed values"),
        (UNKNOWN_FIELD, "phases.0.modifiers.0.strength", "remove it"),
        (UNKNOWN_TARGET, "marketplace.tutor.suply", "producers/marketplace/streams.yaml"),
    ],
)
def test_bad_scenario_file_names_file_field_and_fix(
    tmp_path: Path, content: str, field: str, hint: str
) -> None:
    """`scenario validate` on a wrong file: exit 2, one paragraph with file, field and fix."""
    path = tmp_path / "broken.yaml"
    path.write_text(content)
    out = simctl("scenario", "validate", str(path), tmp=tmp_path)
    assert out.returncode == 2
    msg = one_paragraph(out.stderr)
    assert field in msg and hint in msg
    if "suply" not in field:
        assert str(path) in msg


def test_unknown_scenario_id_lists_known_ones(tmp_path: Path) -> None:
    """`scenario start nope`: exit 2 before touching any broker, naming the known ids."""
    out = simctl("scenario", "start", "no-such-scenario", "-b", "127.0.0.1:1", tmp=tmp_path)
    assert out.returncode == 2
    msg = one_paragraph(out.stderr)
    assert "no-such-scenario" in msg and "supply-crisis" in msg and "simctl scenario list" in msg


@pytest.mark.parametrize("command", [["status"], ["scenario", "stop"], ["up", "--no-stats"]])
def test_unreachable_broker_answers_within_ten_seconds(tmp_path: Path, command: list[str]) -> None:
    """An address where nothing listens: exit 3 with a clear message, in about 10 s at most."""
    port = free_port()
    began = time.monotonic()
    out = simctl(*command, "--bootstrap-servers", f"127.0.0.1:{port}", tmp=tmp_path)
    elapsed = time.monotonic() - began
    assert out.returncode == 3
    msg = one_paragraph(out.stderr)
    assert f"127.0.0.1:{port}" in msg and "--bootstrap-servers" in msg
    assert elapsed < patience(15)  # 10 s budget plus interpreter start-up (a busy machine: more)


def test_no_broker_at_all_says_how_to_start_one(tmp_path: Path) -> None:
    """No flag, no env, no embedded broker running: tell the user what to do."""
    out = simctl("status", tmp=tmp_path)
    assert out.returncode == 3
    assert "simctl up" in one_paragraph(out.stderr)
