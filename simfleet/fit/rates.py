"""A stream's rate and its time shape: diurnal x weekly (a rank-one fit of the hour-of-week
counts over the hours actually observed), lightly smoothed, growth when the recording spans
four weeks or more, and the overdispersion of hourly counts (reported)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["RateFit", "fit_rate", "hour_of_week", "how_counts"]

HOUR_MS = 3_600_000
WEEK_HOURS = 168
_EPOCH_MONDAY_H = 72  # 1970-01-01 was a Thursday: hour 0 is Thursday 00:00 (3 days after Mon)


def hour_of_week(times: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Monday 00:00 UTC = 0 ... Sunday 23:00 = 167."""
    out: npt.NDArray[np.int64] = (times // HOUR_MS + _EPOCH_MONDAY_H) % WEEK_HOURS
    return out


def how_counts(
    times: npt.NDArray[np.int64], start: int, end: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Events per hour of week, and how many hours of each the span [start, end) covers."""
    counts = np.bincount(hour_of_week(times), minlength=WEEK_HOURS).astype(np.float64)
    h0, h1 = start // HOUR_MS, -(-end // HOUR_MS)
    hours = np.arange(h0, h1, dtype=np.int64)
    exposure = np.zeros(WEEK_HOURS)
    frac = np.ones(len(hours))
    frac[0] -= (start - h0 * HOUR_MS) / HOUR_MS
    frac[-1] -= (h1 * HOUR_MS - end) / HOUR_MS
    np.add.at(exposure, (hours + _EPOCH_MONDAY_H) % WEEK_HOURS, frac)
    return counts, exposure


@dataclass
class RateFit:
    """Mean events per second with the profile at 1, the profile, and what was measured."""

    rate: float
    diurnal: list[float]
    weekly: list[float]
    growth_per_month: float
    report: dict[str, Any]


def _smooth(v: npt.NDArray[np.float64], counts_per_bin: float) -> npt.NDArray[np.float64]:
    """Shrink toward a circular [1, 2, 1] smoothing, the more the fewer events a bin has."""
    s = (np.roll(v, 1) + 2 * v + np.roll(v, -1)) / 4
    lam = min(1.0, 20.0 / max(counts_per_bin, 1e-9))
    out: npt.NDArray[np.float64] = (v + lam * s) / (1 + lam)
    return out


def fit_rate(times: npt.NDArray[np.int64], start: int, end: int) -> RateFit:
    """The rate and shape of events at ``times`` seen over [start, end)."""
    counts, exposure = how_counts(times, start, end)
    m = counts.reshape(7, 24)
    e = exposure.reshape(7, 24)
    d, w = np.ones(24), np.ones(7)
    for _ in range(50):  # alternating least squares of counts ~ rate x d[h] x w[day] x hours
        d = np.where(e.sum(0) > 0, m.sum(0) / np.maximum((w[:, None] * e).sum(0), 1e-12), np.nan)
        d = np.nan_to_num(d / np.nanmean(d), nan=1.0)
        w = np.where(e.sum(1) > 0, m.sum(1) / np.maximum((d[None, :] * e).sum(1), 1e-12), np.nan)
        w = np.nan_to_num(w / np.nanmean(w), nan=1.0)
    n = len(times)
    d = _smooth(d, n / 24)
    d = d / d.mean()
    w = w / w.mean()
    expected = np.outer(w, d) * e
    rate_h = n / max(float(expected.sum()), 1e-12)
    span_s = (end - start) / 1000
    growth = 0.0
    days = span_s / 86_400
    if days >= 28 and n >= 1000:
        # log-linear in days, net of the shape: growth per 30-day month
        day = (times - start) // 86_400_000
        per_day = np.bincount(day, minlength=math.ceil(days)).astype(np.float64)[: int(days)]
        ok = per_day > 0
        if ok.sum() >= 14:
            slope = np.polyfit(np.arange(len(per_day))[ok], np.log(per_day[ok]), 1)[0]
            growth = round(float(math.expm1(slope * 30)), 4)
    hourly = np.bincount((times - start) // 3_600_000)
    fitted = rate_h * np.outer(w, d).ravel()[hour_of_week(start + np.arange(len(hourly)) * HOUR_MS)]
    resid = (hourly - fitted) ** 2 / np.maximum(fitted, 1e-9)
    dispersion = float(resid[1:-1].mean()) if len(resid) > 2 else 1.0
    return RateFit(
        rate=rate_h / 3600.0,
        diurnal=[round(float(x), 4) for x in d],
        weekly=[round(float(x), 4) for x in w],
        growth_per_month=growth,
        report={
            "events": n,
            "span_hours": round(span_s / 3600, 2),
            "rate_per_s": rate_h / 3600.0,
            "weekdays_seen": int((e.sum(1) > 0).sum()),
            "dispersion_index": round(dispersion, 3),
            "growth_per_month": growth,
        },
    )
