"""A fleet started with `simctl up --log-json`: every metric the Grafana dashboard queries has
samples on the admin server's /metrics, the fleet's logs are JSON lines, and `simctl status`
answers in under a second."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from simfleet.broker import free_port
from simfleet.cli.main import app
from tests.deploy.grafana import load, metric_names
from tests.live import patience, spawn, state_env, wait_for

pytestmark = pytest.mark.integration


def _json_lines(text: str) -> list[dict[str, object]]:
    """Each non-empty line parsed as a JSON object (a text line fails the test, quoted)."""
    out = []
    for line in text.splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                pytest.fail(f"not a JSON line: {line!r}")
    return out


def test_the_dashboards_metrics_are_served_and_up_logs_json(tmp_path: Path) -> None:
    env = state_env(tmp_path / "state")
    env.pop("SIMCTL_BOOTSTRAP_SERVERS", None)  # up starts its own embedded broker
    port = free_port()
    up = spawn(
        *("up", "--log-json", "--domain", "ticketing", "--scenario", "fraud-attack"),
        *("--scale", "0.05", "--speed", "600", "--workers", "1", "--shards", "2"),
        *("--admin-port", str(port), "--no-stats"),
        env=env,
    )
    wanted = metric_names(load())
    seen: set[str] = set()

    def every_metric_has_samples() -> bool:
        assert up.poll() is None, up.communicate()
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError:
            return False
        fams = text_string_to_metric_families(text)
        seen.update(s.name for f in fams for s in f.samples)
        return wanted <= seen

    try:
        wait_for("every dashboard metric on /metrics", every_metric_has_samples, 120)
        # the command's own time, in this process once its modules are imported (a
        # subprocess would time the interpreter's start, seconds on a loaded machine)
        runner = CliRunner()
        took = []
        for _ in range(3):
            t0 = time.monotonic()
            status = runner.invoke(app, ["status"], env=env)
            took.append(time.monotonic() - t0)
            assert status.exit_code == 0, status.output
        assert min(took[1:]) < patience(1.0), took
        assert "sim time" in status.output and "(wall " in status.output, status.output
    finally:
        up.send_signal(signal.SIGINT)
        _, err = up.communicate(timeout=120)
    assert up.returncode == 0, err
    assert wanted - seen == set()
    said = _json_lines(err)
    assert any("admin page" in str(line["event"]) for line in said), said
    logs = tmp_path / "state" / "logs"
    for name in ("orchestrator", "worker-0", "admin"):
        lines = _json_lines((logs / f"{name}.log").read_text())
        assert all({"event", "level", "timestamp"} <= set(line) for line in lines), name
    assert _json_lines((logs / "orchestrator.log").read_text()), "the orchestrator logged nothing"
