"""AI usage failures that look like failures, retries and overdispersion, on `simctl generate`
output read back with fastavro (seeds 23 and 41, not the domain tests' 5): a timeout's latency
sits at the client timeout, a rate-limited call returns nothing and bills nothing and is
retried after a backoff, an error returns part of an answer, and a customer's daily calls are
overdispersed (var/mean >= 2).

`python -m tests.packs.test_ai_usage_stylized` prints the figures
(simfleet/producers/ai_usage/README.md)."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from fastavro import reader

from simfleet.cli.generate import generate

DAY = 86_400_000
START = "2026-03-02T00:00:00Z"  # a Monday
DAYS = 14
SEEDS = (23, 41)
Cols = dict[str, npt.NDArray[np.generic]]


def run(out: Path, seed: int) -> Cols:
    """Two weeks of ai_usage at scale 0.05 (about 250 customers); the api.call records."""
    generate(
        start=START,
        duration=DAYS * DAY,
        out=out,
        domain=["ai_usage"],
        seed=seed,
        scale=0.05,
        shards=2,
        fmt="avro",
    )
    with (out / "ai_usage.api.call.avro").open("rb") as fh:
        rows = list(reader(fh))
    cols: Cols = {}
    for k in rows[0]:
        values = [r[k] for r in rows]
        if isinstance(values[0], datetime):
            values = [round(v.timestamp() * 1000) for v in values]
        cols[k] = np.asarray(values, dtype=object if k == "retry_of" else None)
    return cols


@pytest.fixture(scope="module", params=SEEDS, ids=lambda s: f"seed{s}")
def calls(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Cols:
    """The calls of one seed's run."""
    seed: int = request.param
    return run(tmp_path_factory.mktemp(f"ai-stylized-{seed}"), seed)


def latency_ratio(c: Cols) -> float:
    """Median latency of timeouts over that of successes."""
    lat, st = c["latency_ms"].astype(np.float64), c["status"]
    return float(np.median(lat[st == "timeout"]) / np.median(lat[st == "success"]))


def free_limited(c: Cols) -> float:
    """Share of rate-limited calls with no completion tokens and no cost."""
    rl = c["status"] == "rate_limited"
    return float(np.mean((c["completion_tokens"][rl] == 0) & (c["cost_usd"][rl] == 0)))


def retried(c: Cols) -> tuple[float, npt.NDArray[np.int64]]:
    """(share of rate-limited calls retried, each retry's wait after the call it retries)."""
    by_id = {cid: k for k, cid in enumerate(c["call_id"].tolist())}
    retries = [k for k, r in enumerate(c["retry_of"].tolist()) if r is not None]
    first = [by_id[c["retry_of"][k]] for k in retries]
    t = c["occurred_at"].astype(np.int64)
    waits = t[retries] - t[first]
    rl = np.flatnonzero(c["status"] == "rate_limited")
    share = len(set(first) & set(rl.tolist())) / len(rl)
    return share, waits


def dispersion(c: Cols) -> float:
    """Median over customers calling on the first and last day of var/mean of their daily
    calls (whole days, zeros included)."""
    day = (c["occurred_at"].astype(np.int64) // DAY).astype(np.int64)
    who = np.unique(c["customer_id"].astype(str), return_inverse=True)[1]
    tab = np.zeros((who.max() + 1, DAYS))
    np.add.at(tab, (who, day - day.min()), 1)
    full = tab[(tab[:, 0] > 0) & (tab[:, -1] > 0)]
    return float(np.median(full.var(axis=1, ddof=1) / full.mean(axis=1)))


def test_a_timeouts_latency_is_the_client_timeout(calls: Cols) -> None:
    """Timeouts wait ~30 s, over 5x (here ~70x) a success's median; 429s are faster still
    than successes."""
    assert latency_ratio(calls) >= 5
    lat, st = calls["latency_ms"], calls["status"]
    assert np.median(lat[st == "timeout"]) == pytest.approx(30_000, rel=0.02)
    assert np.median(lat[st == "rate_limited"]) < np.median(lat[st == "success"]) / 5


def test_rate_limited_calls_and_timeouts_return_and_bill_nothing(calls: Cols) -> None:
    """>= 90 % (here all) of rate-limited calls have no completion tokens and no cost; so do
    timeouts; an error returns part of an answer (a smaller median than a success's)."""
    assert free_limited(calls) >= 0.9
    st, tok = calls["status"], calls["completion_tokens"]
    assert np.all(tok[st == "timeout"] == 0) and np.all(calls["cost_usd"][st == "timeout"] == 0)
    err = tok[(st == "error") & (calls["endpoint"] != "embedding")]
    ok = tok[(st == "success") & (calls["endpoint"] != "embedding")]
    assert np.mean(err > 0) > 0.9 and np.median(err) < np.median(ok) / 2


def test_429s_are_followed_by_retries_after_a_backoff(calls: Cols) -> None:
    """About 90 % of rate-limited calls are retried (the same customer, endpoint, model and
    prompt) 0.2-60 s later, median ~2 s; a retry names the call it retries."""
    share, waits = retried(calls)
    assert share == pytest.approx(0.9, abs=0.05)
    assert waits.min() >= 200 and waits.max() <= 60_000
    assert np.median(waits) == pytest.approx(2_000, rel=0.25)
    by_id = {cid: k for k, cid in enumerate(calls["call_id"].tolist())}
    for k, r in enumerate(calls["retry_of"].tolist()):
        if r is None:
            continue
        j = by_id[r]
        assert calls["status"][j] == "rate_limited"
        for f in ("customer_id", "endpoint", "model", "prompt_tokens"):
            assert calls[f][k] == calls[f][j], f


def test_daily_calls_per_customer_are_overdispersed(calls: Cols) -> None:
    """A customer's daily calls vary more than Poisson: median var/mean >= 2 (here ~3-4)."""
    assert dispersion(calls) >= 2


def report() -> None:
    """Print the figures these tests check, per seed."""
    for seed in SEEDS:
        with tempfile.TemporaryDirectory() as tmp:
            c = run(Path(tmp), seed)
        share, waits = retried(c)
        rows = [
            ("timeout / success median latency", latency_ratio(c)),
            ("rate-limited with no tokens and no cost", free_limited(c)),
            ("rate-limited calls retried", share),
            ("median backoff before a retry (s)", float(np.median(waits)) / 1000),
            ("median customer var/mean of daily calls", dispersion(c)),
        ]
        for label, value in rows:
            print(f"seed {seed}: {label:42s} {value:8.3f}")


if __name__ == "__main__":
    report()
