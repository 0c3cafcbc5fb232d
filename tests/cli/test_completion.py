"""Shell completion (`simctl --install-completion`) offers scenario ids, topics and domains,
read from the project on this machine."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from simfleet.cli.main import app


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("simctl scenario start fraud", {"fraud-attack"}),
        (
            "simctl tail ticketing.payment.a",
            {"ticketing.payment.attempted", "ticketing.payment.authorized"},
        ),
        ("simctl up --domain tick", {"ticketing"}),
        ("simctl generate --scenario supply", {"supply-crisis"}),
    ],
)
def test_completion_offers_the_projects_names(words: str, expected: set[str]) -> None:
    env = {
        "_SIMCTL_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1),
    }
    out = CliRunner().invoke(app, [], env=env, prog_name="simctl")
    assert set(out.output.split()) == expected, out.output
