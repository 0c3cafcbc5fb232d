"""Marketplace consistency on `simctl generate` output read back with fastavro (seeds 7 and 19,
not the domain tests' 11 and 5): a session lasts one of its declared lengths, a refund follows
only a booking whose payment went through, and night sessions are a soft tail, not a wall.

`python -m tests.packs.test_marketplace_consistency` prints the figures
(simfleet/producers/marketplace/README.md)."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from fastavro import reader

from simfleet.cli.generate import generate

H = 3_600_000
DAY = 24 * H
START = "2026-03-03T00:00:00Z"
SEEDS = (7, 19)
STREAMS = (
    "session.completed",
    "session.started",
    "payment.succeeded",
    "payment.retry_succeeded",
    "refund.issued",
)
Data = dict[str, dict[str, npt.NDArray[np.generic]]]

pytestmark = pytest.mark.slow  # tens of seconds of generation per seed


def run(out: Path, seed: int) -> Data:
    """Five days of marketplace at scale 0.2; the streams these tests read."""
    generate(
        start=START,
        duration=5 * DAY,
        out=out,
        domain=["marketplace"],
        seed=seed,
        scale=0.2,
        shards=2,
        fmt="avro",
    )
    data: Data = {}
    for name in STREAMS:
        with (out / f"marketplace.{name}.avro").open("rb") as fh:
            rows = list(reader(fh))
        cols = {}
        for k in rows[0]:
            values = [r[k] for r in rows]
            if isinstance(values[0], datetime):
                values = [round(v.timestamp() * 1000) for v in values]
            cols[k] = np.asarray(values)
        data[name] = cols
    return data


@pytest.fixture(scope="module", params=SEEDS, ids=lambda s: f"seed{s}")
def data(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Data:
    """One seed's run."""
    seed: int = request.param
    return run(tmp_path_factory.mktemp(f"mk-consistency-{seed}"), seed)


def declared_share(d: Data) -> float:
    """Share of completed sessions whose duration is one of the declared 30, 45, 60, 90."""
    return float(np.isin(d["session.completed"]["duration_minutes"], [30, 45, 60, 90]).mean())


def unpaid_refunds(d: Data) -> tuple[int, int]:
    """(refunds of bookings with no succeeded payment, refunds)."""
    paid = set(d["payment.succeeded"]["booking_id"].tolist())
    paid |= set(d["payment.retry_succeeded"]["booking_id"].tolist())
    refunds = d["refund.issued"]["booking_id"].tolist()
    return sum(b not in paid for b in refunds), len(refunds)


def night_share(d: Data) -> float:
    """Share of sessions starting between 22:00 and 08:00 UTC."""
    hours = (d["session.started"]["occurred_at"].astype(np.int64) % DAY) // H
    return float(((hours < 8) | (hours >= 22)).mean())


def test_sessions_last_one_of_their_declared_lengths(data: Data) -> None:
    """>= 99 % (here all) of durations are in {30, 45, 60, 90}, near their declared weights
    (0.15, 0.25, 0.5, 0.1), and each is the time since the session started."""
    assert declared_share(data) >= 0.99
    minutes = data["session.completed"]["duration_minutes"]
    for value, w in ((30, 0.15), (45, 0.25), (60, 0.5), (90, 0.1)):
        assert np.mean(minutes == value) == pytest.approx(w, abs=0.03)
    started = dict(
        zip(
            data["session.started"]["session_id"].tolist(),
            data["session.started"]["occurred_at"].tolist(),
            strict=True,
        )
    )
    done = data["session.completed"]
    for sid, at, m in zip(done["session_id"], done["occurred_at"], minutes, strict=True):
        assert at - started[sid] == m * 60_000


def test_no_refund_of_a_booking_never_paid(data: Data) -> None:
    """Every refund's booking has a succeeded payment (or a successful retry)."""
    unpaid, refunds = unpaid_refunds(data)
    assert refunds > 50
    assert unpaid == 0


def test_night_sessions_are_a_soft_tail(data: Data) -> None:
    """>= 0.5 % (here ~1-1.5 %) of sessions start between 22:00 and 08:00 UTC; most do not."""
    share = night_share(data)
    assert 0.005 <= share <= 0.03


def report() -> None:
    """Print the figures these tests check, per seed."""
    for seed in SEEDS:
        with tempfile.TemporaryDirectory() as tmp:
            d = run(Path(tmp), seed)
        unpaid, refunds = unpaid_refunds(d)
        print(f"seed {seed}: durations in the declared set      {declared_share(d):8.4f}")
        print(f"seed {seed}: refunds of never-paid bookings     {unpaid:4d} of {refunds}")
        print(f"seed {seed}: sessions starting 22:00-08:00 UTC  {night_share(d):8.4f}")


if __name__ == "__main__":
    report()
