"""The stylized facts of the markets pack, read back from `simctl generate` output with fastavro
as an outside reader would: fat-tailed 5-minute returns, volatility clustering, trades on the
side of the quote their side says, a spread that moves with the volatility, prices in whole
cents, volume rising with the move, and the realized volatility of each capitalisation still
its parameter.

Two runs of three sim days from Monday 2026-03-02 (scale 0.25, 4 shards: 20 instruments), at
seeds 23 and 71 (not the other tests' 11). Figures: ``pytest tests/domain/test_markets_stylized.py
-rP`` prints them per seed and cap."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from simfleet.cli.main import app
from simfleet.domain.pack import load_domain
from simfleet.producers.pools import EntityPool
from tests.domain.test_markets import VOL, Run, _columns

M = 60_000
YEAR = 365 * 24 * 60 * M
SEEDS = (23, 71)
SCALE, SHARDS = 0.25, 4
TICK = 0.01


def generate(out: Path, seed: int, duration: str = "3d") -> Run:
    """`simctl generate --domain markets` (Avro), read back."""
    args = ["generate", "--domain", "markets", "--start", "2026-03-02T00:00:00Z"]
    args += ["--duration", duration, "--out", str(out), "--seed", str(seed)]
    args += ["--scale", str(SCALE), "--shards", str(SHARDS), "--format", "avro"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return Run(
        _columns(out / "markets.price.tick.avro"), _columns(out / "markets.trade.executed.avro"), []
    )


def caps_of(seed: int) -> dict[str, str]:
    """Each instrument's capitalisation, from the pools the run made."""
    spec = load_domain("markets")
    out: dict[str, str] = {}
    for shard in range(SHARDS):
        pool = EntityPool(
            "instrument", spec.entities["instrument"], shard, SHARDS, seed, SCALE, "markets"
        )
        table, codes = pool.attributes["cap"]
        out.update({i: table.values[c] for i, c in zip(pool.ids.values, codes, strict=True)})
    return out


@dataclass
class Facts:
    """The figures of one run, per cap where it says so."""

    kurtosis: dict[str, float]  # of pooled 5-minute log returns (3 for a normal law)
    acf: dict[str, np.ndarray]  # of |5-minute return|, lags 1..10
    realized: dict[str, float]  # annualised, 5-minute sampling, pooled over the cap
    buys_at_or_above_mid: float
    sells_at_or_below_mid: float
    spread_cv: dict[str, float]  # per instrument, of (ask - bid) / mid
    off_grid: int  # prices, bids, asks and trade prices not in whole ticks
    volume_spearman: float  # quote volume vs |log return since the instrument's last quote


def _five_minute(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Log returns of the last price at each multiple of five minutes."""
    every = 5 * M
    grid = np.arange(t[0] - t[0] % every + every, t[-1], every)
    at = np.searchsorted(t, grid, side="right") - 1
    return np.diff(np.log(p[at]))


def _ranks(x: np.ndarray) -> np.ndarray:
    out = np.empty(len(x))
    out[np.argsort(x, kind="stable")] = np.arange(len(x))
    return out


def facts(run: Run, caps: dict[str, str]) -> Facts:
    """Measure a run."""
    q, tr = run.ticks, run.trades
    by_cap: dict[str, list[np.ndarray]] = {c: [] for c in VOL}
    spans: dict[str, float] = {c: 0.0 for c in VOL}
    spread_cv: dict[str, float] = {}
    for iid, (t, p) in run.paths().items():
        r = _five_minute(t, p)
        by_cap[caps[iid]].append(r)
        spans[caps[iid]] += len(r) * 5 * M / YEAR
        mine = q["instrument_id"] == iid
        rel = (q["ask"][mine] - q["bid"][mine]) / (0.5 * (q["ask"][mine] + q["bid"][mine]))
        spread_cv[iid] = float(rel.std() / rel.mean())
    kurt, acf, realized = {}, {}, {}
    for cap, rs in by_cap.items():
        pooled = np.concatenate(rs)
        z = pooled - pooled.mean()
        kurt[cap] = float(np.mean(z**4) / np.mean(z**2) ** 2)
        realized[cap] = float(np.sqrt(np.sum(pooled**2) / spans[cap]))
        mean_abs = np.abs(pooled).mean()
        a = [np.abs(r) - mean_abs for r in rs]
        var = sum(float(np.sum(x * x)) for x in a)
        acf[cap] = np.asarray(
            [sum(float(np.sum(x[:-k] * x[k:])) for x in a) / var for k in range(1, 11)]
        )
    # trades against the instrument's last quote at or before them
    order = np.lexsort((q["occurred_at"], q["instrument_id"]))
    qi, qt = q["instrument_id"][order], q["occurred_at"][order]
    mid = 0.5 * (q["bid"][order] + q["ask"][order])
    key = np.char.add(qi.astype(str), np.char.zfill(qt.astype(str), 15))
    tkey = np.char.add(
        tr["instrument_id"].astype(str), np.char.zfill(tr["occurred_at"].astype(str), 15)
    )
    at = np.searchsorted(key, tkey, side="right") - 1
    ok = (at >= 0) & (qi[np.maximum(at, 0)] == tr["instrument_id"])
    m, price, side = mid[at[ok]], tr["price"][ok], tr["side"][ok]
    buys = float(np.mean(price[side == "buy"] >= m[side == "buy"] - 1e-9))
    sells = float(np.mean(price[side == "sell"] <= m[side == "sell"] + 1e-9))
    # whole ticks
    off = 0
    for v in (q["price"], q["bid"], q["ask"], tr["price"]):
        off += int(np.sum(np.abs(v / TICK - np.rint(v / TICK)) > 1e-6))
    # volume against the move since the instrument's previous quote
    moves, volumes = [], []
    vol_sorted = q["volume"][order]
    logp = np.log(q["price"][order])
    same = qi[1:] == qi[:-1]
    moves.append(np.abs(np.diff(logp))[same])
    volumes.append(vol_sorted[1:][same].astype(float))
    mv, vv = np.concatenate(moves), np.concatenate(volumes)
    rho = float(np.corrcoef(_ranks(mv), _ranks(vv))[0, 1])
    return Facts(kurt, acf, realized, buys, sells, spread_cv, off, rho)


@pytest.fixture(scope="module", params=SEEDS)
def measured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Facts:
    """Three days at one seed, measured (and printed)."""
    seed: int = request.param
    out = tmp_path_factory.mktemp(f"mk-stylized-{seed}")
    f = facts(generate(out, seed), caps_of(seed))
    for cap in VOL:
        print(
            f"seed {seed} {cap}: 5-min kurtosis {f.kurtosis[cap]:.1f}, ACF |r| lag 1 "
            f"{f.acf[cap][0]:.3f} lag 10 {f.acf[cap][9]:.3f} (min {f.acf[cap].min():.3f}), "
            f"realized volatility {f.realized[cap]:.3f} (parameter {VOL[cap]})"
        )
    cvs = np.asarray(list(f.spread_cv.values()))
    print(
        f"seed {seed}: buys at or above mid {f.buys_at_or_above_mid:.3f}, sells at or below "
        f"{f.sells_at_or_below_mid:.3f}; spread CV per instrument {cvs.min():.2f}-"
        f"{cvs.max():.2f} (median {np.median(cvs):.2f}); off the tick grid {f.off_grid}; "
        f"Spearman(volume, |move|) {f.volume_spearman:.3f}"
    )
    return f


def test_five_minute_returns_are_fat_tailed(measured: Facts) -> None:
    """The kurtosis of 5-minute log returns is at least 5 for every cap (a normal law: 3)."""
    for cap, k in measured.kurtosis.items():
        assert k >= 5, (cap, k)


def test_volatility_clusters(measured: Facts) -> None:
    """The autocorrelation of |5-minute return| is at least 0.1 at lag 1 and positive at every
    lag up to 10 (50 minutes), for every cap."""
    for cap, acf in measured.acf.items():
        assert acf[0] >= 0.1, (cap, acf)
        assert np.all(acf > 0), (cap, acf)


def test_realized_volatility_per_cap_is_the_parameter(measured: Facts) -> None:
    """Pooled over the cap's instruments and three days, the realized volatility at 5-minute
    sampling is the cap's parameter within 10 %."""
    for cap, rv in measured.realized.items():
        assert abs(rv / VOL[cap] - 1) <= 0.1, (cap, rv)


def test_trades_print_on_their_side_of_the_quote(measured: Facts) -> None:
    """At least 80 % of buys at or above the prevailing quote's mid, and of sells at or below
    it (a side drawn apart from the price: about half)."""
    assert measured.buys_at_or_above_mid >= 0.8
    assert measured.sells_at_or_below_mid >= 0.8


def test_spread_moves_with_the_volatility(measured: Facts) -> None:
    """Every instrument's relative spread varies: CV at least 0.1 (a fixed spread: about 0)."""
    for iid, cv in measured.spread_cv.items():
        assert cv >= 0.1, (iid, cv)


def test_prices_are_in_whole_ticks(measured: Facts) -> None:
    """Every price, bid, ask and trade price is a whole number of cents."""
    assert measured.off_grid == 0


def test_volume_rises_with_the_move(measured: Facts) -> None:
    """A quote's volume rises with the size of the move since the last quote (Spearman > 0)."""
    assert measured.volume_spearman > 0.05
