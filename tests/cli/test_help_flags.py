"""`--help` shows a flag without a type: `--from-beginning`, not `--from-beginning <bool>`
(which read as if it took a value, and `--from-beginning true` failed)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from simfleet.cli.main import app


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["tail"], "--from-beginning"),
        (["up"], "--no-admin"),
        (["generate"], "--no-external-events"),
        (["worker", "run"], "--log-json"),
        (["scenario", "start"], "--json"),
        (["orchestrator", "run"], "--reset"),
    ],
)
def test_help_shows_flags_without_a_type(command: list[str], flag: str) -> None:
    out = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"}, terminal_width=200)
    assert out.exit_code == 0, out.output
    assert flag in out.output
    assert "<bool>" not in out.output
    # options that take a value still say which
    assert "<str>" in out.output or "<int" in out.output or "<path>" in out.output
