"""Every domain in one live fleet: the project's five and the kiosk test pack, driven through
simctl.

`simctl up --pack-dir tests/packs` runs every domain of the project (no --domain); the test
starts a scenario given as a file path (a copy of kiosk-rush with its own id) and markets'
`flash-crash` beside it, and reads the topics back with a plain consumer: every domain
produces, kiosk and marketplace each have their own ground truth and external events naming
them, each scenario's truth is on its own domain's topic, and no kiosk outcome lacks its
session.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from simfleet.broker.embedded import EmbeddedBroker
from simfleet.codec import Decoder
from simfleet.domain.pack import Project
from simfleet.timeutil import parse_instant_ms
from tests.live import (
    read_until_idle,
    simctl,
    spawn,
    state_env,
    wait_control_state,
    wait_generated,
    wait_sim,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PACKS = Path(__file__).resolve().parents[1] / "packs"
H = 3_600_000
START = "2026-03-03T00:00:00Z"


def read_decoded(bootstrap: str, topics: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Every record of ``topics``, decoded, reading until nothing new came for a while."""
    decoder = Decoder(Project(roots=[PACKS]).schemas())
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in topics}
    for m in read_until_idle(bootstrap, topics):
        out[m.topic()].append(decoder.decode(m.value()))
    return out


def test_every_domain_runs_side_by_side_in_one_live_fleet(tmp_path: Path) -> None:
    broker = EmbeddedBroker()
    bootstrap = broker.start(log_path=tmp_path / "tansu.log")
    env = state_env(tmp_path / "state")
    common = ["-b", bootstrap, "--pack-dir", str(PACKS)]
    mine = tmp_path / "my-rush.yaml"
    mine.write_text(
        (PACKS / "scenarios" / "kiosk" / "rush-hour.yaml")
        .read_text()
        .replace("id: kiosk-rush", "id: my-rush")
    )
    up = spawn(
        *("up", "--no-admin", *common, "--speed", "3600"),
        *("--scale", "0.02", "--shards", "4", "--workers", "2", "--start", START),
        *("--no-stats", "--duration", "5m"),
        env=env,
    )
    try:
        state = wait_control_state(bootstrap, up)
        assert state.domains == tuple(Project(roots=[PACKS]).domains())
        assert {"clickstream", "ai_usage", "markets", "marketplace", "ticketing"} < set(
            state.domains
        )
        clock = state.clock.clock()
        s0 = parse_instant_ms(START)
        wait_sim(clock, s0 + 5 * H, up)
        started = simctl("scenario", "start", str(mine), *common, "--json", env=env)
        assert started.returncode == 0, started.stderr
        assert json.loads(started.stdout)["scenario"] == "my-rush"
        crash = simctl("scenario", "start", "flash-crash", *common, "--json", env=env)
        assert crash.returncode == 0, crash.stderr
        wait_sim(clock, s0 + 14 * H, up)
        wait_generated(bootstrap, s0 + 14 * H, workers=2)
    finally:
        up.send_signal(signal.SIGINT)
        _, err = up.communicate(timeout=120)
    try:
        assert up.returncode == 0, err
        assert "failed 0" in err
        kiosk = ["session.started", "ticket.purchased", "session.abandoned", "kiosk.status"]
        topics = [f"kiosk.{s}" for s in kiosk] + [
            f"{d}.{k}"
            for d in ("kiosk", "marketplace")
            for k in ("ground_truth", "external_events")
        ]
        topics.append("marketplace.booking.requested")
        others = ["clickstream.page.viewed", "ai_usage.api.call", "markets.price.tick"]
        others += ["ticketing.payment.attempted", "markets.ground_truth"]
        got = read_decoded(bootstrap, topics + others)
    finally:
        broker.stop()
    for t in topics + others:
        assert got[t], f"nothing on {t}"
    assert any(
        r["kind"] == "scenario" and r["subject_id"] == "flash-crash"
        for r in got["markets.ground_truth"]
    )
    for d in ("kiosk", "marketplace"):
        for k in ("ground_truth", "external_events"):
            assert {r["domain"] for r in got[f"{d}.{k}"]} == {d}
    truth = got["kiosk.ground_truth"]
    assert any(r["kind"] == "scenario" and r["subject_id"] == "my-rush" for r in truth)
    assert not any(r["subject_id"] == "my-rush" for r in got["marketplace.ground_truth"])
    sessions = {r["session_id"] for r in got["kiosk.session.started"]}
    for t in ("kiosk.ticket.purchased", "kiosk.session.abandoned"):
        assert {r["session_id"] for r in got[t]} <= sessions, f"an outcome without its session: {t}"
