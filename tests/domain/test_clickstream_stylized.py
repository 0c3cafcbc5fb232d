"""Stylized facts of web sessions on `simctl generate --domain clickstream` output, read back
with fastavro into numpy columns, on seeds other than the pack tests' and three sim days:
bounces are a declared share, dwell and session length have long tails (no wall at a bound),
a user's sessions do not overlap, each country peaks in its own evening, and the funnel
figures still hold."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from fastavro import reader
from typer.testing import CliRunner

from simfleet.cli.main import app

START = "2026-03-02T00:00:00Z"
# each country's most populous zone: where an outside reader reads its local hours
MAIN_ZONE = {
    "US": "America/New_York",
    "GB": "Europe/London",
    "DE": "Europe/Berlin",
    "FR": "Europe/Paris",
    "IN": "Asia/Kolkata",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "AU": "Australia/Sydney",
}


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Cols = dict[str, np.ndarray]


def _read(folder: Path, stream: str) -> Cols:
    """One topic's records as columns (timestamps as epoch ms)."""
    with (folder / f"clickstream.{stream}.avro").open("rb") as fh:
        rows: list[dict[str, Any]] = list(reader(fh))

    def plain(v: object) -> object:
        return (v - EPOCH) // timedelta(milliseconds=1) if isinstance(v, datetime) else v

    return {k: np.asarray([plain(r[k]) for r in rows]) for k in rows[0]}


@pytest.fixture(scope="module", params=[23, 77])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Three sim days at scale 0.05 (about 11,000 sessions) of one seed; per session (ended
    in the window) its user, start, end, length and pages."""
    out = tmp_path_factory.mktemp(f"cs{request.param}")
    args = ["generate", "--domain", "clickstream", "--start", START, "--duration", "3d"]
    args += ["--out", str(out), "--seed", str(request.param), "--scale", "0.05"]
    args += ["--format", "avro", "--no-external-events"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    names = ("session.started", "session.ended", "page.viewed", "page.closed")
    data: dict[str, Any] = {
        n: _read(out, n) for n in (*names, "cart.item_added", "checkout.completed")
    }
    st, en = data["session.started"], data["session.ended"]
    end = dict(zip(en["session_id"], en["occurred_at"], strict=True))
    length = dict(zip(en["session_id"], en["duration_ms"], strict=True))
    pages = Counter(data["page.viewed"]["session_id"].tolist())
    done = np.asarray([s in end for s in st["session_id"]])
    ids = st["session_id"][done]
    data["sessions"] = {
        "user": st["user_id"][done],
        "start": st["occurred_at"][done],
        "end": np.asarray([end[s] for s in ids]),
        "length_ms": np.asarray([length[s] for s in ids]),
        "pages": np.asarray([pages[s] for s in ids]),
    }
    return data


def test_bounces_are_a_declared_share(run: dict) -> None:
    """One-page sessions are 20-60 % (the pack declares 40 %)."""
    bounce = (run["sessions"]["pages"] == 1).mean()
    assert 0.2 <= bounce <= 0.6, bounce
    assert 0.35 <= bounce <= 0.45, bounce  # the middle of the band, as declared


def test_dwell_has_both_tails(run: dict) -> None:
    """A page's dwell reaches below 5 s and above 300 s (no 10 s floor, no 120 s wall)."""
    dwell = run["page.closed"]["duration_ms"] / 1000
    assert (dwell < 5).mean() > 0.01, (dwell < 5).mean()
    assert (dwell > 300).mean() > 0.005, (dwell > 300).mean()


def test_some_sessions_last_over_half_an_hour(run: dict) -> None:
    """More than 1 % of sessions run over 30 minutes from first to last activity."""
    minutes = run["sessions"]["length_ms"] / 60_000
    assert (minutes > 30).mean() > 0.01, (minutes > 30).mean()


def test_a_users_sessions_do_not_overlap(run: dict) -> None:
    """At most 0.5 % of a user's sessions start before that user's previous one ended."""
    s = run["sessions"]
    order = np.lexsort((s["start"], s["user"]))
    user, start, end = s["user"][order], s["start"][order], s["end"][order]
    later = user[1:] == user[:-1]  # a session with an earlier one of the same user
    overlap = (start[1:][later] < end[:-1][later]).mean()
    assert later.sum() > 3000
    assert overlap <= 0.005, overlap


def test_each_country_peaks_in_its_evening(run: dict) -> None:
    """Each country's busiest local hour of session starts is in 17:00-23:00 local (read in
    its most populous zone)."""
    st = run["session.started"]
    for country in np.unique(st["country"]).tolist():
        zone = ZoneInfo(MAIN_ZONE[country])
        hours = Counter(
            datetime.fromtimestamp(t / 1000, tz=zone).hour
            for t in st["occurred_at"][st["country"] == country].tolist()
        )
        peak = hours.most_common(1)[0][0]
        assert 17 <= peak <= 23, (country, peak, sorted(hours.items()))


def test_funnel_figures_hold(run: dict) -> None:
    """About 7 % of sessions add to cart (5.5-8.5 %), 1.5-3 % convert, 62-78 % of carts are
    abandoned (producers/clickstream/README.md)."""
    n = len(run["session.started"]["session_id"])
    added = set(run["cart.item_added"]["session_id"])
    bought = set(run["checkout.completed"]["session_id"])
    assert 0.055 <= len(added) / n <= 0.085, len(added) / n
    assert 0.015 <= len(bought) / n <= 0.03, len(bought) / n
    assert 0.62 <= 1 - len(bought) / len(added) <= 0.78
