"""The ai_usage pack on `simctl generate` output, read back with fastavro: the seed's weekly,
hourly and 30-day shapes under `seasonal-pattern` (and their milder form normally), bursts per
customer-day under `burst-traffic` (share, 5-20x, the quiet days), the weekly decline, churn
rate and the one-call floor under `gradual-decline`, and daily aggregates equal to their sums.

Each run is generated once per module, in-process, by the function `simctl generate` calls."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from fastavro import reader

from simfleet.cli.generate import generate

H = 3_600_000
DAY = 24 * H
START = "2026-03-02T00:00:00Z"  # a Monday
T0 = 1_772_409_600_000
SEED = 5
SHARDS = 2
CYCLE_REF = 1_767_225_600_000  # the pack's growth_reference, 2026-01-01: the cycle's origin
# hours whose diurnal value is 1.0 at both ends (the seed's "other hours")
PLAIN_HOURS = [7, 8, 12, 16, 17, 18, 19, 20]
NIGHT_HOURS = [22, 23, 0, 1, 2, 3, 4, 5]
Cols = dict[str, npt.NDArray[np.generic]]
Data = dict[str, Cols]


def run(out: Path, days: int, scale: float, scenario: str | None = None) -> Data:
    """Generate the ai_usage domain into ``out`` (Avro) and read every file back."""
    generate(
        start=START,
        duration=days * DAY,
        out=out,
        domain=["ai_usage"],
        seed=SEED,
        scale=scale,
        shards=SHARDS,
        scenario=scenario,
        scenario_at=START if scenario else None,
        fmt="avro",
    )
    data: Data = {}
    for path in sorted(out.glob("ai_usage.*.avro")):
        name = path.name.removeprefix("ai_usage.").removesuffix(".avro")
        with path.open("rb") as fh:
            rows = list(reader(fh))
        data[name] = {k: _column([r[k] for r in rows]) for k in (rows[0] if rows else ())}
    return data


def _column(values: list[object]) -> npt.NDArray[np.generic]:
    """One field's values; timestamps (datetimes in Avro readers) as epoch milliseconds, as
    the topics carry them."""
    stamps = [v for v in values if isinstance(v, datetime)]
    if stamps and len(stamps) == len(values):
        return np.asarray([round(v.timestamp() * 1000) for v in stamps], np.int64)
    return np.asarray(values)


@pytest.fixture(scope="module")
def normal(tmp_path_factory: pytest.TempPathFactory) -> Data:
    """Two weeks without a scenario."""
    return run(tmp_path_factory.mktemp("ai-normal"), 14, 0.05)


@pytest.fixture(scope="module")
def seasonal(tmp_path_factory: pytest.TempPathFactory) -> Data:
    """Two weeks under seasonal-pattern."""
    return run(tmp_path_factory.mktemp("ai-seasonal"), 14, 0.05, "seasonal-pattern")


@pytest.fixture(scope="module")
def bursty(tmp_path_factory: pytest.TempPathFactory) -> Data:
    """Two weeks under burst-traffic (same seed, scale and shards as ``normal``)."""
    return run(tmp_path_factory.mktemp("ai-burst"), 14, 0.05, "burst-traffic")


@pytest.fixture(scope="module")
def decline(tmp_path_factory: pytest.TempPathFactory) -> Data:
    """Three weeks under gradual-decline."""
    return run(tmp_path_factory.mktemp("ai-decline"), 21, 0.2, "gradual-decline")


def calls(d: Data) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.str_]]:
    """The calls' times and customers."""
    c = d["api.call"]
    return c["occurred_at"].astype(np.int64), c["customer_id"].astype(str)


def hour_ratio(t: npt.NDArray[np.int64], hours: list[int]) -> float:
    """Calls per hour in ``hours`` over calls per hour in the plain hours."""
    h = (t % DAY) // H
    per = np.bincount(h, minlength=24)
    return float(per[hours].mean() / per[PLAIN_HOURS].mean())


def cycle(t: npt.NDArray[np.int64], amplitude: float) -> npt.NDArray[np.float64]:
    """The declared 30-day sine at ``t``."""
    return 1.0 + amplitude * np.sin(2 * np.pi * (t - CYCLE_REF) / (30 * DAY))


def weekday_ratios(t: npt.NDArray[np.int64], amplitude: float) -> tuple[float, float]:
    """(Mon-Wed, weekend) calls per day over Thu-Fri calls per day, the 30-day sine removed."""
    wd = ((t // DAY) + 3) % 7  # 1970-01-01 was a Thursday: Monday is 0
    w = 1.0 / cycle(t, amplitude)
    per = np.bincount(wd, weights=w, minlength=7)
    thu_fri = per[3:5].mean()
    return float(per[0:3].mean() / thu_fri), float(per[5:7].mean() / thu_fri)


def days_of(t: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Day index since the start."""
    return (t - T0) // DAY


# -- every stream, keys, the aggregate ------------------------------------------------------


def test_every_stream_has_events_in_the_window(normal: Data) -> None:
    """Calls, daily usage, sign-ups and churn all appear, inside the window, keyed by customer;
    successes and errors cost money, rate-limited calls and timeouts nothing."""
    for name in ("api.call", "usage.daily", "customer.signed_up", "customer.churned"):
        t = normal[name]["occurred_at"].astype(np.int64)
        assert len(t) > 0, name
        assert t.min() >= T0 and t.max() < T0 + 14 * DAY, name
        assert all(str(c).startswith("cus-") for c in normal[name]["customer_id"][:1000])
    c = normal["api.call"]
    assert set(c["status"]) == {"success", "error", "rate_limited", "timeout"}
    assert np.mean(c["status"] == "success") == pytest.approx(0.975, abs=0.005)
    emb = c["endpoint"] == "embedding"
    assert set(c["model"][emb]) == {"embed-s"} and not np.any(c["completion_tokens"][emb])
    billed = np.isin(c["status"], ["success", "error"])  # a 429 or a timeout bills nothing
    assert np.all(c["cost_usd"][billed] > 0) and np.all(c["cost_usd"][~billed] == 0)
    assert np.all(c["latency_ms"] >= 20)


def test_daily_aggregates_equal_the_sums_of_their_calls(normal: Data) -> None:
    """Each usage.daily record equals exactly the count and sums of that customer's calls of
    that UTC day, and every customer-day with calls (of a day the window closed) has one."""
    c, agg = normal["api.call"], normal["usage.daily"]
    t, who = calls(normal)
    day = t // DAY
    key = np.char.add(who, np.char.add("@", day.astype(str)))
    uniq, inv = np.unique(key, return_inverse=True)
    sums = {
        f: np.bincount(inv, weights=c[f].astype(np.float64), minlength=len(uniq))
        for f in ("prompt_tokens", "completion_tokens")
    }
    cost = np.zeros(len(uniq), np.int64)
    np.add.at(cost, inv, np.rint(c["cost_usd"].astype(np.float64) * 1e6).astype(np.int64))
    count = np.bincount(inv, minlength=len(uniq))
    pos = {k: i for i, k in enumerate(uniq.tolist())}
    ps = agg["period_start"].astype(np.int64)
    assert np.all(ps % DAY == 0)
    akeys = [f"{w}@{p // DAY}" for w, p in zip(agg["customer_id"], ps, strict=True)]
    assert len(set(akeys)) == len(akeys)
    for i, k in enumerate(akeys):
        j = pos[k]
        assert agg["calls"][i] == count[j], k
        assert agg["prompt_tokens"][i] == sums["prompt_tokens"][j], k
        assert agg["completion_tokens"][i] == sums["completion_tokens"][j], k
        assert round(float(agg["cost_usd"][i]) * 1e6) == cost[j], k
    emitted_days = set((ps // DAY).tolist())
    expected = {k for k in uniq.tolist() if int(k.split("@")[1]) in emitted_days}
    assert expected == set(akeys)
    assert len(emitted_days) == 13  # the 14th day's aggregate falls after the window


# -- seasonality ------------------------------------------------------------------------------


def test_seasonal_pattern_has_the_seeds_hour_and_weekday_ratios(seasonal: Data) -> None:
    """Under seasonal-pattern: 10 am 1.4x, 2 pm 1.3x, night 0.6x of the plain hours; Mon-Wed
    1.3x and the weekend 0.5x of Thu-Fri (the 30-day sine divided out): each within 10 %."""
    t, _ = calls(seasonal)
    assert hour_ratio(t, [10]) == pytest.approx(1.4, rel=0.10)
    assert hour_ratio(t, [14]) == pytest.approx(1.3, rel=0.10)
    assert hour_ratio(t, NIGHT_HOURS) == pytest.approx(0.6, rel=0.10)
    mon_wed, weekend = weekday_ratios(t, 0.2)
    assert mon_wed == pytest.approx(1.3, rel=0.10)
    assert weekend == pytest.approx(0.5, rel=0.10)


def fitted_amplitude(t: npt.NDArray[np.int64], weekly_power: float) -> float:
    """The 30-day sine's amplitude fitted on daily totals with the weekly factor divided out."""
    weekly = np.asarray([1.3, 1.3, 1.3, 1.0, 1.0, 0.5, 0.5]) ** weekly_power
    d = days_of(t)
    per_day = np.bincount(d).astype(np.float64)
    starts = T0 + np.arange(len(per_day)) * DAY
    y = per_day / weekly[((starts // DAY) + 3) % 7]
    s = np.sin(2 * np.pi * (starts + DAY // 2 - CYCLE_REF) / (30 * DAY))
    # y = c (1 + a s): least squares on [1, s]
    coef = np.linalg.lstsq(np.column_stack([np.ones_like(s), s]), y, rcond=None)[0]
    return float(coef[1] / coef[0])


def test_seasonal_pattern_switches_on_the_30_day_sine(seasonal: Data, normal: Data) -> None:
    """Daily totals follow 1 + 0.2 sin(2 pi t / 30 d) under seasonal-pattern; not normally."""
    assert fitted_amplitude(calls(seasonal)[0], 1.0) == pytest.approx(0.2, abs=0.04)
    assert abs(fitted_amplitude(calls(normal)[0], 0.5)) < 0.06


def test_normal_operations_have_the_milder_shape(normal: Data) -> None:
    """Without the scenario each factor is the square root of the seed's (strength 0.5): the
    scenario is what brings the seed's figures."""
    t, _ = calls(normal)
    assert hour_ratio(t, [10]) == pytest.approx(1.4**0.5, rel=0.04)
    assert hour_ratio(t, NIGHT_HOURS) == pytest.approx(0.6**0.5, rel=0.04)
    mon_wed, weekend = weekday_ratios(t, 0.0)
    assert mon_wed == pytest.approx(1.3**0.5, rel=0.05)
    assert weekend == pytest.approx(0.5**0.5, rel=0.05)


# -- bursts -----------------------------------------------------------------------------------


def episodes(d: Data, label: str) -> Cols:
    """The ground-truth episode records of one process."""
    g = d["ground_truth"]
    sel = (g["kind"] == "episode") & (g["label"] == label)
    return {k: v[sel] for k, v in g.items()}


def burst_share(d: Data) -> float:
    """Bursts per customer-day (customers: those seen calling in the window)."""
    _, who = calls(d)
    return len(episodes(d, "burst")["subject_id"]) / (len(np.unique(who)) * 14)


def test_burst_traffic_bursts_15_percent_of_customer_days(bursty: Data) -> None:
    """About 15 % of customer-days have a burst (acceptance: 10-20 %), of 1-3 h at a
    declared 5-20x, each on ground truth with its customer and window."""
    b = episodes(bursty, "burst")
    share = burst_share(bursty)
    assert 0.10 <= share <= 0.20
    assert share == pytest.approx(0.15, abs=0.02)
    length = b["window_end"].astype(np.int64) - b["window_start"].astype(np.int64)
    assert length.min() >= H and length.max() <= 3 * H
    assert np.mean(length) == pytest.approx(2 * H, rel=0.1)
    mult = np.asarray([json.loads(x)["multiplier"] for x in b["detail"]])
    assert mult.min() >= 5 and mult.max() <= 20
    assert np.mean(mult) == pytest.approx(12.5, rel=0.08)
    assert set(b["moved_streams"]) == {"ai_usage.api.call"}


def burst_windows(d: Data) -> Iterator[tuple[str, int, int, float]]:
    """Each burst's customer, window and declared multiplier."""
    b = episodes(d, "burst")
    for who, lo, hi, det in zip(
        b["subject_id"], b["window_start"], b["window_end"], b["detail"], strict=True
    ):
        yield str(who), int(lo), int(hi), float(json.loads(det)["multiplier"])


def burst_multiplier(d: Data) -> tuple[float, float]:
    """(observed / usual, observed / declared) calls inside the burst windows, pooled over
    every burst; the usual rate is the customer's own on the rest of that day."""
    t, who = calls(d)
    order = np.lexsort((t, who))
    t, who = t[order], who[order]
    observed = expected = declared = 0.0
    for c, lo, hi, m in burst_windows(d):
        a, b = np.searchsorted(who, c, "left"), np.searchsorted(who, c, "right")
        mine = t[a:b]
        day0 = lo - lo % DAY
        inside = np.sum((mine >= lo) & (mine < hi))
        rest = np.sum((mine >= day0) & (mine < day0 + DAY)) - inside
        per_ms = rest / (DAY - (hi - lo))
        observed += inside
        expected += per_ms * (hi - lo)
        declared += m * per_ms * (hi - lo)
    return observed / expected, observed / declared


def test_bursts_multiply_their_customers_calls_5_to_20x(bursty: Data) -> None:
    """Inside its window a customer calls its declared multiplier times its rate of the rest of
    that day (pooled over every burst): observed / declared within 15 %, 5-20x overall."""
    usual, declared = burst_multiplier(bursty)
    assert declared == pytest.approx(1.0, rel=0.15)
    assert 5 <= usual <= 20
    assert usual == pytest.approx(12.5, rel=0.2)


def per_customer_day(d: Data) -> dict[tuple[str, int], int]:
    """Calls per (customer, day since the epoch)."""
    t, who = calls(d)
    keys = np.char.add(who, np.char.add("@", (t // DAY).astype(str)))
    u, counts = np.unique(keys, return_counts=True)
    out = {}
    for k, v in zip(u.tolist(), counts.tolist(), strict=True):
        c, day = k.split("@")
        out[(c, int(day))] = v
    return out


def quiet_ratio(bursty: Data, normal: Data) -> float:
    """Calls on customer-days without a burst, over the same customer-days' calls without the
    scenario (same seed, scale and shards: the same customers)."""
    burst_days = {(c, lo // DAY) for c, lo, _, _ in burst_windows(bursty)}
    quiet, usual = per_customer_day(bursty), per_customer_day(normal)
    q = sum(v for k, v in quiet.items() if k not in burst_days)
    u = sum(v for k, v in usual.items() if k not in burst_days)
    return q / u


def test_days_without_a_burst_run_at_20_percent(bursty: Data, normal: Data) -> None:
    """A customer's calls on a day without a burst are 20 % of the usual."""
    assert quiet_ratio(bursty, normal) == pytest.approx(0.2, rel=0.1)


# -- decline ----------------------------------------------------------------------------------


def weekly_drops(d: Data) -> npt.NDArray[np.float64]:
    """1 - each whole week's calls over the week before's."""
    t, _ = calls(d)
    weeks = np.bincount(days_of(t) // 7, minlength=3)[:3].astype(np.float64)
    return np.asarray(1.0 - weeks[1:] / weeks[:-1])


def test_gradual_decline_falls_3_percent_a_week(decline: Data) -> None:
    """Weekly call volume falls 2-4 % from one week to the next (whole weeks: the daily and
    weekly shapes cancel)."""
    drops = weekly_drops(decline)
    assert np.all((drops >= 0.02) & (drops <= 0.04)), drops


def churn_days(d: Data) -> dict[str, int]:
    """Customer -> the day it churned."""
    ch = d["customer.churned"]
    return {
        str(c): int(x)
        for c, x in zip(ch["customer_id"], days_of(ch["occurred_at"].astype(np.int64)), strict=True)
    }


def churn_rate(d: Data) -> float:
    """Of the customers calling on a day and not churned by its end, the share that churns
    the next day (pooled over the days)."""
    t, who = calls(d)
    days = days_of(t)
    churned = churn_days(d)
    at_risk = gone = 0
    for day in range(int(days.max())):
        active = set(who[days == day].tolist()) - {c for c, x in churned.items() if x <= day}
        at_risk += len(active)
        gone += sum(1 for c in active if churned.get(c) == day + 1)
    return gone / at_risk


def test_gradual_decline_churns_2_percent_of_customers_a_day(decline: Data) -> None:
    """Of the customers active at the end of a day, 2 % churn the next day; each churn is an
    episode on ground truth, and no call names a customer after its churn."""
    assert churn_rate(decline) == pytest.approx(0.02, rel=0.15)
    t, who = calls(decline)
    truth = episodes(decline, "churn")
    ch = decline["customer.churned"]
    assert sorted(truth["subject_id"].tolist()) == sorted(ch["customer_id"].tolist())
    assert set(truth["window_start"].tolist()) == set(ch["occurred_at"].tolist())
    when = dict(zip(ch["customer_id"].tolist(), ch["occurred_at"].tolist(), strict=True))
    last = {c: x for c, x in zip(who.tolist(), t.tolist(), strict=True)}  # sorted by time
    assert all(last[c] < w for c, w in when.items() if c in last)


def test_gradual_decline_gives_every_active_customer_a_call_a_day(decline: Data) -> None:
    """The floor: every customer seen before a day and not churned by its end calls that day."""
    t, who = calls(decline)
    d = days_of(t)
    churned = churn_days(decline)
    seen: set[str] = set(who[d == 0].tolist())
    for day in range(1, 21):
        callers = set(who[d == day].tolist())
        due = {c for c in seen if churned.get(c, 99) > day}
        assert due <= callers, (day, len(due - callers))
        seen |= callers


def week_one_ratio(decline: Data, normal: Data) -> float:
    """Week one's calls under gradual-decline over the usual, per unit of scale."""
    t_dec, _ = calls(decline)
    t_norm, _ = calls(normal)
    return float(np.sum(t_dec < T0 + 7 * DAY) / 0.2 / (np.sum(t_norm < T0 + 7 * DAY) / 0.05))


def test_gradual_decline_multiplies_each_customer_by_0_7_to_1(decline: Data, normal: Data) -> None:
    """Week one's volume is 0.97 x 0.85 (the mean of 0.7-1.0) of the usual, per unit of scale,
    plus the floor's few calls."""
    assert week_one_ratio(decline, normal) == pytest.approx(0.97 * 0.85, rel=0.05)


def report() -> None:
    """Print the figures these tests check, from the same runs (producers/ai_usage/README.md)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        normal = run(root / "normal", 14, 0.05)
        seasonal = run(root / "seasonal", 14, 0.05, "seasonal-pattern")
        bursty = run(root / "burst", 14, 0.05, "burst-traffic")
        decline = run(root / "decline", 21, 0.2, "gradual-decline")
    rows = []
    for name, d, amp, power in (("normal", normal, 0.0, 0.5), ("seasonal", seasonal, 0.2, 1.0)):
        t, _ = calls(d)
        mon_wed, weekend = weekday_ratios(t, amp)
        rows += [
            (f"{name}: 10 am / plain hours", hour_ratio(t, [10])),
            (f"{name}: 2 pm / plain hours", hour_ratio(t, [14])),
            (f"{name}: night / plain hours", hour_ratio(t, NIGHT_HOURS)),
            (f"{name}: Mon-Wed / Thu-Fri", mon_wed),
            (f"{name}: weekend / Thu-Fri", weekend),
            (f"{name}: 30-day sine amplitude", fitted_amplitude(t, power)),
        ]
    usual, declared = burst_multiplier(bursty)
    rows += [
        ("burst-traffic: bursts per customer-day", burst_share(bursty)),
        ("burst-traffic: calls in a burst / usual", usual),
        ("burst-traffic: calls in a burst / declared", declared),
        ("burst-traffic: calls on quiet days / usual", quiet_ratio(bursty, normal)),
    ]
    rows += [
        (f"gradual-decline: week {k + 2} vs week {k + 1}", -x)
        for k, x in enumerate(weekly_drops(decline))
    ]
    rows += [
        ("gradual-decline: churn per customer-day", churn_rate(decline)),
        ("gradual-decline: week 1 / usual (per scale)", week_one_ratio(decline, normal)),
    ]
    for label, value in rows:
        print(f"{label:48s} {value:8.4f}")


if __name__ == "__main__":
    report()
