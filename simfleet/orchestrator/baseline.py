"""Baseline statistics and normalisation.

``count_intervals`` turns a backfill into events per stream per interval (one hour by default).
``BaselineStats`` summarises 30 normal days per stream: the figures people read (mean, median,
std, min, max, percentiles, weekday and weekend means, trend) and, for normalising, the mean
of each *slot* (interval of the day x weekday/weekend). ``normalize`` maps a count
to 0-100: 50 is the slot's expected value, 30 and 70 are -/+1 sigma, 0 and 100 are -/+3
sigma (clamped); ``anomaly`` is normal inside 1 sigma, warning inside 3, critical beyond.
Sigma is the stream's baseline standard deviation over all intervals: how much the stream
normally varies. Centring on the slot removes the part of that variation the time of day and
week explain, so a normal interval scores near 50 and a scenario's move stands out. The trend
is reported, not extrapolated: fitted on 30 days it is dominated by the month's external
events (a month's real growth, 2-5 %, is well inside one sigma).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from simfleet.columns import Batch
from simfleet.errors import ConfigError

__all__ = ["BaselineStats", "IntervalCounts", "count_intervals", "normalize"]

DAY_MS = 86_400_000


@dataclass
class IntervalCounts:
    """Events per topic per interval, from ``start`` in steps of ``interval`` ms."""

    start: int
    interval: int
    n: int
    counts: dict[str, npt.NDArray[np.int64]]

    def add(self, batch: Batch) -> None:
        """Count one batch (vectorised: one bincount); ground truth is not a stream."""
        if batch.is_truth:
            return
        idx = (batch.occurred_at - self.start) // self.interval
        idx = idx[(idx >= 0) & (idx < self.n)]
        c = self.counts.get(batch.topic)
        if c is None:
            c = self.counts[batch.topic] = np.zeros(self.n, dtype=np.int64)
        c += np.bincount(idx, minlength=self.n)

    def starts(self) -> npt.NDArray[np.int64]:
        """Start instant of each interval."""
        return self.start + np.arange(self.n, dtype=np.int64) * self.interval


def count_intervals(
    batches: Iterable[list[Batch]], start: int, end: int, interval: int
) -> IntervalCounts:
    """Count a backfill's events per topic and interval."""
    out = IntervalCounts(start, interval, (end - start) // interval, {})
    for group in batches:
        for b in group:
            out.add(b)
    return out


def _slot(start: int, interval: int) -> str:
    day = datetime.fromtimestamp(start / 1000, tz=UTC)
    of_day = (start % DAY_MS) // interval
    return f"{'weekend' if day.weekday() >= 5 else 'weekday'}-{of_day}"


def normalize(value: float, mean: float, std: float) -> tuple[float, str]:
    """0-100 score and anomaly level of ``value`` against a mean and sigma."""
    z = 0.0 if std <= 0 else (value - mean) / std
    a = abs(z)
    score = 50 + 20 * z if a <= 1 else float(np.sign(z)) * (20 + 15 * (min(a, 3) - 1)) + 50
    level = "normal" if a < 1 else "warning" if a < 3 else "critical"
    return max(0.0, min(100.0, score)), level


@dataclass
class BaselineStats:
    """Per-stream statistics of a baseline run, and the slot expectations used to normalise."""

    start: int
    interval: int
    streams: dict[str, dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)  # how the baseline was made: seed, scale

    @classmethod
    def from_counts(cls, counts: IntervalCounts, **meta: Any) -> BaselineStats:
        """Statistics of each topic's interval counts."""
        starts = counts.starts()
        slots = [_slot(int(s), counts.interval) for s in starts]
        weekend = np.array([s.startswith("weekend") for s in slots])
        days = (starts - counts.start) / DAY_MS
        out: dict[str, dict[str, Any]] = {}
        for topic, c in sorted(counts.counts.items()):
            x = c.astype(np.float64)
            # trend: relative growth per day, from a least-squares line on the log counts
            slope = float(np.polyfit(days, np.log(x + 1.0), 1)[0]) if len(x) > 2 else 0.0
            slot_stats = {}
            for key in sorted(set(slots)):
                sel = np.array([s == key for s in slots])
                v = x[sel]
                slot_stats[key] = {
                    "mean": float(v.mean()),
                    "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                }
            p = np.percentile(x, [25, 50, 75, 90, 95])
            spread = float(x.std(ddof=1)) if len(x) > 1 else 0.0
            out[topic] = {
                "mean": float(x.mean()),
                "median": float(np.median(x)),
                "std": float(x.std()),
                "min": float(x.min()),
                "max": float(x.max()),
                "p25": float(p[0]),
                "p50": float(p[1]),
                "p75": float(p[2]),
                "p90": float(p[3]),
                "p95": float(p[4]),
                "weekday_mean": float(x[~weekend].mean()) if (~weekend).any() else 0.0,
                "weekend_mean": float(x[weekend].mean()) if weekend.any() else 0.0,
                "trend_per_day": slope,
                "sigma": spread,
                "slots": slot_stats,
            }
        return cls(counts.start, counts.interval, out, dict(meta))

    def expected(self, topic: str, start: int, factor: float = 1.0) -> tuple[float, float]:
        """Expected count and sigma of ``topic`` for the interval starting at ``start``;
        ``factor`` rescales both (a fleet at twice the baseline's scale expects twice the
        events)."""
        s = self.streams[topic]
        slot = s["slots"].get(_slot(start, self.interval), {"mean": s["mean"]})
        return float(slot["mean"]) * factor, float(s["sigma"]) * factor

    def record(self, topic: str, start: int, count: int, factor: float = 1.0) -> dict[str, Any]:
        """One ``<domain>.metrics`` record: ``count`` events of ``topic`` in the interval."""
        mean, std = self.expected(topic, start, factor)
        score, level = normalize(float(count), mean, std)
        return {
            "event_id": f"metric-{topic}-{start}",
            "occurred_at": start + self.interval - 1,
            "domain": topic.split(".", 1)[0],
            "stream": topic,
            "interval_start": start,
            "interval_ms": self.interval,
            "count": int(count),
            "baseline_mean": round(mean, 3),
            "baseline_std": round(std, 3),
            "normalized": round(score, 2),
            "anomaly": level,
        }

    def domains(self) -> tuple[str, ...]:
        """The domains whose streams this baseline has statistics of."""
        return tuple(sorted({t.split(".", 1)[0] for t in self.streams}))

    def factor_for(self, scale: float) -> float:
        """How many times the baseline's events a run at ``scale`` expects."""
        return scale / float(self.meta.get("scale", scale))

    def metrics(self, counts: IntervalCounts, factor: float = 1.0) -> list[dict[str, Any]]:
        """``<domain>.metrics`` records: one per topic per interval, normalised."""
        if counts.interval != self.interval:
            raise ConfigError(
                f"Counts per {counts.interval} ms cannot be normalised against a baseline per "
                f"{self.interval} ms."
            )
        return [
            self.record(topic, start, int(c[i]), factor)
            for i, start in enumerate(counts.starts().tolist())
            for topic, c in sorted(counts.counts.items())
            if topic in self.streams
        ]

    def to_json(self, path: Path) -> None:
        """Write the statistics as JSON."""
        path.write_text(
            json.dumps(
                {
                    "start": self.start,
                    "interval_ms": self.interval,
                    "meta": self.meta,
                    "streams": self.streams,
                },
                indent=1,
                sort_keys=True,
            ),
            encoding="utf-8",
        )

    @classmethod
    def from_json(cls, path: Path) -> BaselineStats:
        """Read statistics written by ``simctl baseline``."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                int(raw["start"]),
                int(raw["interval_ms"]),
                dict(raw["streams"]),
                dict(raw.get("meta", {})),
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(
                f"{path} is not a baseline file written by `simctl baseline` ({exc}). "
                "Create one with `simctl baseline --days 30 --out FILE`."
            ) from exc
