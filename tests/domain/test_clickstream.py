"""The clickstream pack on `simctl generate` output, read back from its Avro files with
fastavro: session shapes (pages, clicks, dwell, durations) from the pack's laws, journey shares
as seed 001 says,
the event shares that result, pages in their journey's order, no page closed before it was
viewed, every session ended (explicitly or after 30 min without activity), the commerce
figures, the journey only on ground truth, and what each of the four scenarios moves."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastavro import reader
from typer.testing import CliRunner

from simfleet.cli.main import app
from simfleet.domain.pack import Project
from simfleet.orchestrator.catalog import get_scenario

MIN = 60_000
H = 60 * MIN
T0 = 1_772_409_600_000  # 2026-03-02T00:00:00Z
START = "2026-03-02T00:00:00Z"
SEED = 5
SCALE = 0.05
STREAMS = (
    "session.started",
    "page.viewed",
    "page.closed",
    "button.clicked",
    "link.clicked",
    "cart.item_added",
    "checkout.completed",
    "session.ended",
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Data = dict[str, dict[str, np.ndarray]]


def generate(out: Path, start: str, duration: str, scenario: str, at: str) -> Data:
    """`simctl generate --format avro` of the clickstream domain, read back with fastavro."""
    args = ["generate", "--domain", "clickstream", "--start", start, "--duration", duration]
    args += ["--out", str(out), "--seed", str(SEED), "--scale", str(SCALE), "--shards", "4"]
    args += ["--format", "avro", "--scenario", scenario, "--scenario-at", at]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    data: Data = {}
    for path in sorted(out.glob("clickstream.*.avro")):
        with path.open("rb") as fh:
            rows: list[dict[str, Any]] = list(reader(fh))
        name = path.name.removeprefix("clickstream.").removesuffix(".avro")
        data[name] = {k: np.asarray([_plain(r[k]) for r in rows]) for k in rows[0]}
    return data


def _plain(v: object) -> object:
    """fastavro reads timestamp-millis as datetimes: back to epoch ms."""
    if isinstance(v, datetime):
        return (v - EPOCH) // timedelta(milliseconds=1)
    return v


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Data:
    """One day of the `normal-traffic` scenario (about 3,300 sessions)."""
    return generate(tmp_path_factory.mktemp("cs"), START, "1d", "normal-traffic", START)


class Sessions:
    """Per session, the events of a run: views, closes, clicks and the rest, by time."""

    def __init__(self, data: Data, until: int) -> None:
        st = data["session.started"]
        self.start = dict(zip(st["session_id"], st["occurred_at"], strict=True))
        en = data["session.ended"]
        self.ended = set(en["session_id"])
        # complete sessions: started and ended inside the window
        self.complete = [s for s, t in self.start.items() if s in self.ended and t < until]
        self.pages: dict[str, list[tuple[int, str]]] = defaultdict(list)
        pv = data["page.viewed"]
        for s, t, p in zip(pv["session_id"], pv["occurred_at"], pv["page"], strict=True):
            self.pages[s].append((int(t), str(p)))
        truth = data["ground_truth"]
        journey = truth["kind"] == "journey"
        self.journey = dict(zip(truth["subject_id"][journey], truth["label"][journey], strict=True))

    def page_counts(self) -> np.ndarray:
        """Pages viewed per complete session."""
        return np.asarray([len(self.pages[s]) for s in self.complete])


def ends(data: Data) -> dict[str, dict[str, Any]]:
    """The session.ended record of each session."""
    en = data["session.ended"]
    keys = ("occurred_at", "duration_ms", "end_reason")
    return {
        s: dict(zip(keys, vals, strict=True))
        for s, *vals in zip(en["session_id"], *(en[k] for k in keys), strict=True)
    }


@pytest.fixture(scope="module")
def sessions(day: Data) -> Sessions:
    """The day's sessions (complete: ended within the day)."""
    return Sessions(day, T0 + 23 * H)


# -- the seed's session shape --------------------------------------------------------------


def test_every_stream_has_events_keyed_by_user(day: Data) -> None:
    """Each of the eight streams has events; every record has an event id, a time and a user."""
    spec = Project().spec("clickstream")
    assert set(spec.streams) == set(STREAMS)
    for name in STREAMS:
        cols = day[name]
        assert len(cols["event_id"]) > 0, name
        assert np.all(np.char.startswith(cols["user_id"].astype(str), "usr-")), name
        assert np.all(cols["occurred_at"] >= T0), name
    ids = np.concatenate([day[n]["event_id"] for n in STREAMS])
    assert len(np.unique(ids)) == len(ids)


def test_pages_clicks_dwell_and_durations_match_the_pack(day: Data, sessions: Sessions) -> None:
    """Pages, dwell and session length from the pack's long-tailed laws (bounces 40 %, the
    others 2 + lognormal pages; a lognormal dwell, median 25 s; clips only rare), 0-8 clicks a
    page (mean 4): right-skewed everywhere, no wall at the old 3-15 pages, 10-120 s, 10 min."""
    pages = sessions.page_counts()
    assert len(pages) > 2500
    assert pages.min() == 1 and 0.35 <= (pages == 1).mean() <= 0.45
    assert 4.5 <= pages.mean() <= 5.8, pages.mean()
    assert (pages > 15).mean() > 0.03  # a tail, not a range
    clicks = len(day["button.clicked"]["event_id"]) + len(day["link.clicked"]["event_id"])
    clicks -= len(day["cart.item_added"]["event_id"]) + len(day["checkout.completed"]["event_id"])
    per_page = clicks / len(day["page.viewed"]["event_id"])
    assert 3.8 <= per_page <= 4.2, per_page
    dwell = day["page.closed"]["duration_ms"] / 1000
    assert 22 <= np.median(dwell) <= 28, np.median(dwell)
    assert dwell.mean() / np.median(dwell) > 1.8  # lognormal, sigma 1.3: about 2.3
    assert (dwell < 5).mean() > 0.05 and (dwell > 300).mean() > 0.01
    assert (dwell >= 1499.5).mean() < 0.005  # the clip at 1,500 s is rare
    e = ends(day)
    minutes = np.asarray([e[s]["duration_ms"] for s in sessions.complete]) / MIN
    assert minutes.max() > 30
    assert 4.0 <= minutes.mean() <= 6.0, minutes.mean()


def test_journey_shares_match_the_seed(sessions: Sessions) -> None:
    """Shopping 30 %, content 20 %, sign-up 25 %, contact 15 %, random browsing 10 % (+-3)."""
    labels = np.asarray(list(sessions.journey.values()))
    assert len(labels) == len(sessions.start)
    want = {"shopping": 0.3, "content": 0.2, "sign_up": 0.25, "contact_us": 0.15}
    want["random_browsing"] = 0.1
    for name, share in want.items():
        assert abs((labels == name).mean() - share) < 0.03, name


def test_event_shares_as_documented(day: Data) -> None:
    """The shares that the pack's per-session laws give (producers/clickstream/README.md):
    clicks about 63 %, views and closes about 16 % each, session starts and ends about 3 %
    each."""
    counts = {n: len(day[n]["event_id"]) for n in STREAMS}
    total = sum(counts.values())
    share = {n: c / total for n, c in counts.items()}
    documented = {
        "button.clicked": 0.556,
        "link.clicked": 0.070,
        "page.viewed": 0.156,
        "page.closed": 0.156,
        "session.started": 0.030,
        "session.ended": 0.030,
    }
    for name, want in documented.items():
        assert abs(share[name] - want) < max(0.1 * want, 0.004), (name, share[name])
    assert share["cart.item_added"] + share["checkout.completed"] < 0.005


# -- order and completeness ----------------------------------------------------------------


def test_page_order_valid_for_its_journey(day: Data, sessions: Sessions) -> None:
    """Forward journeys start at home and never go back a step; random browsing stays within
    its pages; the cart page is only reached after an item was added."""
    spec = Project().spec("clickstream").journeys["session"]
    added = dict(
        zip(
            day["cart.item_added"]["session_id"], day["cart.item_added"]["occurred_at"], strict=True
        )
    )
    checked = 0
    for s, views in sessions.pages.items():
        path = spec.paths[sessions.journey[s]]
        order = list(path.states)
        seq = [p for _, p in sorted(views)]
        assert set(seq) <= set(order), (s, seq)
        if path.order == "forward":
            steps = [order.index(p) for p in seq]
            if s in sessions.complete:
                assert steps[0] == 0, (s, seq)
            assert all(b >= a for a, b in itertools.pairwise(steps)), (s, seq)
        cart = [t for t, p in views if p == "cart"]
        if cart:
            assert s in added and added[s] < min(cart), s
        checked += 1
    assert checked > 3000


def test_no_page_closed_before_it_was_viewed(day: Data) -> None:
    """Each session's k-th close follows its k-th view by duration_ms, of the same page, before
    the next view; every click falls while its page is open."""
    opened: dict[str, list[tuple[int, str]]] = defaultdict(list)
    closed: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
    pv, pc = day["page.viewed"], day["page.closed"]
    for s, t, p in zip(pv["session_id"], pv["occurred_at"], pv["page"], strict=True):
        opened[s].append((int(t), str(p)))
    keys = ("session_id", "occurred_at", "page", "duration_ms")
    for s, t, p, d in zip(*(pc[k] for k in keys), strict=True):
        closed[s].append((int(t), str(p), int(d)))
    for s, unsorted in closed.items():
        views, cl = sorted(opened[s]), sorted(unsorted)
        assert len(cl) <= len(views) <= len(cl) + 1, s
        for k, (t, p, d) in enumerate(cl):
            assert views[k][1] == p and t - views[k][0] == d > 0, s
            if k + 1 < len(views):
                assert t < views[k + 1][0], s
    windows = {s: sorted(v) for s, v in opened.items()}
    bc = day["button.clicked"]
    for s, t, p in zip(bc["session_id"], bc["occurred_at"], bc["page"], strict=True):
        i = np.searchsorted([v[0] for v in windows[s]], t) - 1
        assert i >= 0 and windows[s][i][1] == p, s


def test_every_session_ended_after_its_last_activity(day: Data) -> None:
    """Exactly one end per session started (every one whose ground-truth window ends inside
    the run), closed 0.5-4 s after the last page or exactly 30 min later."""
    e = ends(day)
    started = dict(
        zip(
            day["session.started"]["session_id"], day["session.started"]["occurred_at"], strict=True
        )
    )
    assert len(e) == len(day["session.ended"]["session_id"])  # one end each
    assert set(e) <= set(started)
    truth = day["ground_truth"]
    journey = truth["kind"] == "journey"
    window = dict(zip(truth["subject_id"][journey], truth["window_end"][journey], strict=True))
    due = [s for s in started if window[s] < T0 + 24 * H]
    assert len(due) > 0.95 * len(started)
    assert all(s in e for s in due)
    last: dict[str, int] = {}
    for name in STREAMS[1:-1]:
        cols = day[name]
        for s, t in zip(cols["session_id"], cols["occurred_at"], strict=True):
            last[s] = max(last.get(s, 0), int(t))
    reasons = {"closed": 0, "timeout": 0}
    for s, rec in e.items():
        gap = rec["occurred_at"] - last[s]
        assert rec["duration_ms"] == last[s] - started[s], s
        if rec["end_reason"] == "timeout":
            assert gap == 30 * MIN, s
        else:
            assert 500 <= gap <= 4000, s
        reasons[rec["end_reason"]] += 1
    assert 0.27 <= reasons["closed"] / len(e) <= 0.33


def test_commerce_figures(day: Data, sessions: Sessions) -> None:
    """About 7 % of sessions add to cart, 1.5-3 % convert, about 70 % of carts are abandoned;
    each add and checkout comes with its button click on its page."""
    n = len(sessions.start)
    added = set(day["cart.item_added"]["session_id"])
    bought = set(day["checkout.completed"]["session_id"])
    assert bought <= added
    assert 0.055 <= len(added) / n <= 0.085, len(added) / n
    assert 0.015 <= len(bought) / n <= 0.03, len(bought) / n
    assert 0.62 <= 1 - len(bought) / len(added) <= 0.78
    bc = day["button.clicked"]
    for stream, button, page in (
        ("cart.item_added", "add_to_cart", "product_detail"),
        ("checkout.completed", "checkout_btn", "cart"),
    ):
        clicks = set(
            zip(
                bc["session_id"][bc["button"] == button],
                bc["occurred_at"][bc["button"] == button],
                strict=True,
            )
        )
        cols = day[stream]
        assert set(cols["page"]) == {page}
        assert all(
            (s, t - 1) in clicks
            for s, t in zip(cols["session_id"], cols["occurred_at"], strict=True)
        )


def test_journey_name_is_only_on_ground_truth(day: Data) -> None:
    """No feature field holds a journey's name; ground truth has one record per session."""
    names = set(Project().spec("clickstream").journeys["session"].paths)
    for stream in STREAMS:
        for field, col in day[stream].items():
            if col.dtype.kind in "OU":
                assert not names & set(col.tolist()), (stream, field)
    truth = day["ground_truth"]
    journey = truth["kind"] == "journey"
    assert set(truth["label"][journey]) == names
    assert len(set(truth["subject_id"][journey])) == journey.sum()


# -- scenarios -----------------------------------------------------------------------------

AT = "2026-03-02T08:00:00Z"
T_AT = T0 + 8 * H


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Data]:
    """Each moving scenario from 08:00 in a window 06:00-16:00."""
    start = "2026-03-02T06:00:00Z"
    return {
        sid: generate(tmp_path_factory.mktemp(sid), start, "10h", sid, AT)
        for sid in ("high-traffic-spike", "browsing-behavior", "quick-visitors")
    }


def _in(data: Data, stream: str, lo: int, hi: int) -> np.ndarray:
    t = data[stream]["occurred_at"]
    return (t >= lo) & (t < hi)


# the countries of one zone, and its offset from UTC in early March (no summer time)
ONE_ZONE = {"GB": 0.0, "DE": 1.0, "FR": 1.0, "IN": 5.5}


def test_normal_traffic_moves_nothing(day: Data) -> None:
    """`normal-traffic` is on ground truth and leaves the hourly session starts on the curve,
    read in the users' local time: the evening peak (20:00-22:00 local) about four times the
    03:00-05:00 low (users of the countries with a single zone)."""
    truth = day["ground_truth"]
    assert "normal-traffic" in set(truth["subject_id"][truth["kind"] == "scenario"])
    st = day["session.started"]
    offset = np.asarray([ONE_ZONE.get(str(c), np.nan) for c in st["country"]])
    mine = ~np.isnan(offset)
    local = ((st["occurred_at"][mine] - T0) / H + offset[mine]) % 24
    peak = ((local >= 20) & (local < 22)).sum()
    low = ((local >= 3) & (local < 5)).sum()
    assert 3.0 <= peak / max(low, 1) <= 16.0


def test_high_traffic_spike_brings_ten_times_the_sessions(day: Data, runs: dict[str, Data]) -> None:
    """Sessions started 10x (+-25 %) in the spike's full hour, back near normal after the
    settle; sessions keep their shape."""
    spike = runs["high-traffic-spike"]
    lo, hi = T_AT + 5 * MIN, T_AT + H
    ratio = _in(spike, "session.started", lo, hi).sum() / _in(day, "session.started", lo, hi).sum()
    assert 7.5 <= ratio <= 12.5, ratio
    after = T_AT + H + 60 * MIN
    later = _in(spike, "session.started", after, after + 4 * H).sum()
    base = _in(day, "session.started", after, after + 4 * H).sum()
    assert 0.8 <= later / base <= 1.25
    pages = Sessions(spike, T0 + 15 * H).page_counts()
    assert 4.5 <= pages.mean() <= 5.8


def _started_in(data: Data, lo: int, hi: int) -> set[str]:
    st = data["session.started"]
    return set(st["session_id"][(st["occurred_at"] >= lo) & (st["occurred_at"] < hi)])


def test_browsing_behavior_reads_more(day: Data, runs: dict[str, Data]) -> None:
    """Fewer bounces, more pages (clipped at 30), longer pages (clipped at 180 s) and 15 clicks
    a page: pages per session and clicks per page rise well above normal, within the new
    bounds; sessions started stay the same."""
    run = runs["browsing-behavior"]
    # after the ramp's tick (generate holds parameters for an hour, and the pack's own clip,
    # 1,500 s, is above 180 s); ended inside the window
    lo, hi = T_AT + H, T_AT + 4 * H
    chosen = _started_in(run, lo, hi)
    sess = Sessions(run, hi)
    pages = np.asarray([len(sess.pages[s]) for s in chosen if s in sess.ended])
    assert pages.max() <= 30 and pages.max() > 15
    assert pages.mean() > 9.0, pages.mean()
    pc = run["page.closed"]
    mine = np.isin(pc["session_id"], list(chosen))
    dwell = pc["duration_ms"][mine] / 1000
    assert dwell.max() <= 180 and (dwell > 120).mean() > 0.03
    views = np.isin(run["page.viewed"]["session_id"], list(chosen)).sum()
    clicks = np.isin(run["button.clicked"]["session_id"], list(chosen)).sum()
    clicks += np.isin(run["link.clicked"]["session_id"], list(chosen)).sum()
    assert 6.8 <= clicks / views <= 7.8, clicks / views  # 0-15 uniform: 7.5 (less the adds)
    ratio = len(chosen) / len(_started_in(day, lo, hi))
    assert 0.85 <= ratio <= 1.15


def test_quick_visitors_bounce(day: Data, runs: dict[str, Data]) -> None:
    """At most 2 min, 5 pages and 2 clicks a page; most sessions bounce."""
    run = runs["quick-visitors"]
    lo, hi = T_AT + 10 * MIN, T_AT + 6 * H
    chosen = _started_in(run, lo, hi)
    sess = Sessions(run, hi)
    pages = np.asarray([len(sess.pages[s]) for s in chosen])
    assert pages.min() >= 1 and pages.max() <= 5
    assert (pages == 1).mean() > 0.1
    e = ends(run)
    minutes = np.asarray([e[s]["duration_ms"] for s in chosen]) / MIN
    assert minutes.max() <= 2.0
    per_session: dict[str, int] = defaultdict(int)
    for stream in ("button.clicked", "link.clicked"):
        cols = run[stream]
        plain = ~np.isin(cols.get("button", np.asarray([""])), ["add_to_cart", "checkout_btn"])
        for s in cols["session_id"][plain if stream == "button.clicked" else slice(None)]:
            if s in chosen:
                per_session[s] += 1
    assert all(per_session[s] <= 2 * len(sess.pages[s]) for s in chosen)
    views = sum(len(sess.pages[s]) for s in chosen)
    assert 0.85 <= sum(per_session.values()) / views <= 1.15  # 0-2 uniform: 1
    normal = Sessions(day, hi).page_counts().mean()
    assert pages.mean() < 0.6 * normal


@pytest.mark.parametrize("sid", ["high-traffic-spike", "browsing-behavior", "quick-visitors"])
def test_expected_effects_of_the_file_hold(sid: str, day: Data, runs: dict[str, Data]) -> None:
    """Each declared expected effect, on the counts of the scenario's full phase against the
    same hours without it: the declared direction, by at least the declared magnitude."""
    spec = get_scenario(sid, Project())
    phase = spec.phases[0]
    lo, hi = T_AT + phase.ramp, T_AT + (phase.duration or 0)
    for effect in spec.expected_effects:
        name = effect.stream.removeprefix("clickstream.")
        change = _in(runs[sid], name, lo, hi).sum() / _in(day, name, lo, hi).sum() - 1
        moved = change if effect.direction == "increase" else -change
        assert moved >= effect.magnitude, (name, change)
