"""Rate profiles: diurnal x weekly x calendar x growth, evaluated at sim instants (UTC).

A profile may also carry variance spikes: a deterministic multiplier per (seed, stream,
interval) hashed without the shard, so every shard of the fleet spikes together; cycles
(sines of a period, e.g. 30 days); and a ``strength`` parameter, the power the diurnal x weekly
x calendar shape is raised to (0 flat, 1 as declared). Both read parameter values, so
``factor`` takes them; ``factors`` (delay preferences) uses the shape as declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from simfleet.domain.spec import ProfileSpec
from simfleet.producers.pools import stable_hash
from simfleet.timeutil import parse_instant_ms

__all__ = ["RateProfile"]

_MONTH_MS = 30.436875 * 86_400_000


class RateProfile:
    """A profile compiled for fast evaluation; diurnal and weekly are normalised to mean 1."""

    def __init__(self, spec: ProfileSpec, growth_reference: str, domain: str = "") -> None:
        d = np.asarray(spec.diurnal, dtype=np.float64)
        w = np.asarray(spec.weekly, dtype=np.float64)
        self._diurnal = d / d.mean()
        self._weekly = w / w.mean()
        self._calendar = spec.calendar
        self._growth = spec.growth_per_month
        self._ref = parse_instant_ms(growth_reference)
        self._day_cache: dict[int, float] = {}
        self._spikes = spec.spikes
        self._cycles = spec.cycles
        self._strength = f"{domain}.{spec.strength}" if spec.strength else None
        self._domain = domain

    def _day_factor(self, day: int) -> float:
        hit = self._day_cache.get(day)
        if hit is not None:
            return hit
        dt = datetime.fromtimestamp(day * 86_400, tz=UTC)
        f = float(self._weekly[dt.weekday()])
        md = f"{dt.month:02d}-{dt.day:02d}"
        for rule in self._calendar:
            if rule.months is not None and dt.month in rule.months:
                f *= rule.factor
            elif rule.start is not None and rule.end is not None:
                inside = (
                    (rule.start <= md <= rule.end)
                    if rule.start <= rule.end
                    else (md >= rule.start or md <= rule.end)
                )
                if inside:
                    f *= rule.factor
        if len(self._day_cache) > 4096:
            self._day_cache.clear()
        self._day_cache[day] = f
        return f

    def factor(
        self, t_ms: int, params: Mapping[str, float] | None = None, offset_ms: int = 0
    ) -> float:
        """The profile's multiplier at sim instant ``t_ms`` (``params``: the parameter values
        its strength and cycles read; without them, strength 1 and numeric cycles only);
        ``offset_ms``: the local time's offset from UTC, which hours and days are read in."""
        day, ms_of_day = divmod(t_ms + offset_ms, 86_400_000)
        hour_f = ms_of_day / 3_600_000
        h = int(hour_f)
        frac = hour_f - h
        # interpolate between hourly values so rates have no steps at the hour
        diurnal = self._diurnal[h] * (1 - frac) + self._diurnal[(h + 1) % 24] * frac
        f = float(diurnal) * self._day_factor(day)
        if self._strength is not None and params is not None:
            f **= params[self._strength]
        for c in self._cycles:
            amp = c.amplitude
            if isinstance(amp, str):
                if params is None:
                    continue
                amp = params[f"{self._domain}.{amp}"]
            f *= 1.0 + amp * float(np.sin(2 * np.pi * (t_ms - self._ref - c.phase) / c.period))
        if self._growth:
            f *= (1.0 + self._growth) ** ((t_ms - self._ref) / _MONTH_MS)
        return f

    def factors(self, t_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """The multiplier at many instants at once (spikes excluded)."""
        day, ms_of_day = np.divmod(t_ms, 86_400_000)
        hour_f = ms_of_day / 3_600_000
        h = hour_f.astype(np.int64)
        frac = hour_f - h
        f = self._diurnal[h] * (1 - frac) + self._diurnal[(h + 1) % 24] * frac
        days, inverse = np.unique(day, return_inverse=True)
        f = f * np.asarray([self._day_factor(int(d)) for d in days])[inverse.reshape(-1)]
        if self._growth:
            f = f * (1.0 + self._growth) ** ((t_ms - self._ref) / _MONTH_MS)
        return np.asarray(f, dtype=np.float64)

    def spike(self, seed: int, stream: str, t_ms: int) -> float:
        """The spike multiplier of ``stream`` in the interval holding ``t_ms`` (1 if none)."""
        sp = self._spikes
        if sp is None or sp.share <= 0:
            return 1.0
        interval = t_ms // sp.interval
        if stable_hash("spike", seed, stream, interval) / 2**32 >= sp.share:
            return 1.0
        h = stable_hash("spike-size", seed, stream, interval)
        lo, hi = sp.magnitude
        size = lo + (hi - lo) * ((h & 0xFFFF) / 0xFFFF)
        return 1.0 + size if (h >> 16) & 1 else 1.0 - size
