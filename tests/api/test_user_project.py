"""The Python API and the pytest plugin used as a user's project uses them: `user_project/`
is run by a pytest of its own, in a subprocess, with the simfleet plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tests.live import patience

HERE = Path(__file__).parent / "user_project"


def _plugin_args() -> list[str]:
    """`-p` for the plugin only where no installed simfleet declares the entry point yet (an
    editable install older than the entry point): an installed one loads by itself."""
    names = {ep.value for ep in entry_points(group="pytest11")}
    return [] if "simfleet.api.pytest_plugin" in names else ["-p", "simfleet.api.pytest_plugin"]


@pytest.mark.integration
@pytest.mark.slow
def test_a_user_project_runs_the_api_and_both_fixtures(tmp_path: Path) -> None:
    """Generate in memory and to files, produce to `simfleet_broker`, consume a
    `simfleet_fleet` running fraud-attack: three passing tests in the user's own run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMFLEET_")}
    env["SIMCTL_STATE_DIR"] = str(tmp_path / "state")
    env.pop("SIMCTL_BOOTSTRAP_SERVERS", None)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-c", str(HERE / "pytest.ini"), *_plugin_args()],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=patience(600),
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout, run.stdout
