"""Follow-up chains between streams: a stream whose id field names an event of an earlier
stream (one id per event there) follows it. Its probability and lognormal delay are fitted
together by maximum likelihood with censoring: a cause near the recording's end whose
follow-up has not come yet counts as "not yet", not as "never"."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from simfleet.fit.numeric import expit, ks_one, minimize, norm_cdf

__all__ = ["Link", "find_links", "fit_delay"]

_MIN_MATCHED = 0.5  # the share of the child's events whose id an earlier parent event holds
_MIN_ORDERED = 0.95  # of those, the share that comes after the parent event


@dataclass
class Link:
    """``child`` follows ``parent`` through ``via``: probability, delay law, report."""

    parent: str
    child: str
    via: str
    probability: float
    delay: dict[str, Any]
    residual: int  # child events with no parent: they keep a rate of their own
    report: dict[str, Any] = field(default_factory=dict)


def _ms(v: float) -> str:
    return f"{max(0, round(v))}ms"


def fit_delay(
    delays: npt.NDArray[np.float64],
    censor: npt.NDArray[np.float64],
    watched: npt.NDArray[np.float64] | None = None,
) -> tuple[float, dict[str, Any], dict[str, Any]]:
    """Probability and delay law from the seen delays (ms) and the windows (ms) of causes
    whose follow-up was not seen: a censored lognormal mixture ``p x LogNormal(mu, s)``.
    ``watched``: the windows of the causes whose follow-up was seen (same order as
    ``delays``), which lets nearly uncensored chains be judged on long-watched causes only."""
    n_seen, n_cens = len(delays), len(censor)
    total = n_seen + n_cens
    if n_seen == 0:
        return 0.0, {"uniform": ["0s", "0s"]}, {"law": "none seen"}
    if float(np.median(delays)) <= 0:
        hi = float(np.quantile(delays, 0.95))
        return n_seen / total, {"uniform": ["0s", _ms(hi)]}, {"law": "uniform", "seen": n_seen}
    far = float(np.quantile(delays, 0.995))
    short = int((censor < far).sum())
    if short <= 0.05 * total and watched is not None:
        long_seen = int((watched >= far).sum())
        return _uncensored(delays, long_seen, long_seen + n_cens - short)
    d = np.log(np.maximum(delays, 1.0))
    c = np.log(np.maximum(censor, 1.0))

    def nll(theta: npt.NDArray[np.float64]) -> float:
        # bounded: the search may wander to p -> 0 or 1 and sigma -> 0 without overflowing
        p = expit(float(theta[0]))
        mu, s = float(theta[1]), math.exp(float(np.clip(theta[2], -7, 5)))
        z = (d - mu) / s
        seen = n_seen * math.log(max(p, 1e-300)) - float(0.5 * (z * z).sum())
        seen -= n_seen * (math.log(s) + 0.5 * math.log(2 * math.pi))
        not_yet = np.log(np.maximum(1 - p * norm_cdf((c - mu) / s), 1e-300)).sum()
        return -(seen + float(not_yet))

    p0 = min(max(n_seen / total, 0.01), 0.99)
    x0 = np.array([math.log(p0 / (1 - p0)), float(d.mean()), math.log(max(float(d.std()), 0.05))])
    best = minimize(nll, x0)
    p = expit(float(best[0]))
    mu, s = float(best[1]), math.exp(float(np.clip(best[2], -7, 5)))
    law = {"lognormal": [_ms(math.exp(mu)), round(s, 4)]}
    rep = {
        "law": "lognormal, censoring-aware",
        "seen": n_seen,
        "not_yet_seen": n_cens,
        "naive_probability": round(n_seen / total, 4),
        "median_delay_ms": round(math.exp(mu)),
        "sigma": round(s, 4),
    }
    return min(p, 1.0), law, rep


def _uncensored(
    delays: npt.NDArray[np.float64], n_seen: int, followable: int
) -> tuple[float, dict[str, Any], dict[str, Any]]:
    """Nearly every cause was watched long enough: the probability is the share followed
    (of causes watched past the longest delays), and the delay law the closest of lognormal,
    uniform and exponential to the delays seen (Kolmogorov-Smirnov)."""
    x = np.maximum(delays, 1.0)
    lx = np.log(x)
    mu, s = float(lx.mean()), float(lx.std()) or 1e-3
    lo, hi = (float(v) for v in np.quantile(x, [0.005, 0.995]))
    mean = float(x.mean())
    ks = {
        "lognormal": ks_one(lx, lambda v: norm_cdf((v - mu) / s)),
        "uniform": ks_one(x, lambda v: np.clip((v - lo) / max(hi - lo, 1.0), 0.0, 1.0)),
        "exponential": ks_one(x, lambda v: -np.expm1(-v / mean)),
    }
    best = min(ks, key=lambda k: ks[k])
    laws: dict[str, dict[str, Any]] = {
        "lognormal": {"lognormal": [_ms(math.exp(mu)), round(s, 4)]},
        "uniform": {"uniform": [_ms(lo), _ms(hi)]},
        "exponential": {"exponential": _ms(mean)},
    }
    law = laws[best]
    rep = {
        "law": f"{best} (closest of three; follow-ups not yet due are few)",
        "ks": {k: round(v, 4) for k, v in ks.items()},
        "seen": len(x),
        "median_delay_ms": round(float(np.median(x))),
        "sigma": round(s, 4),
    }
    return min(1.0, n_seen / max(followable, 1)), law, rep


def find_links(
    times: Mapping[str, npt.NDArray[np.int64]],
    ids: Mapping[str, Mapping[str, Sequence[Any]]],
    unique: Mapping[str, set[str]],
    end: int,
) -> list[Link]:
    """Chains from ``ids[stream][field]`` (values per event); ``unique[stream]``: the id
    fields that hold one id per event there (what a follow-up can point back to)."""
    firsts: dict[tuple[str, str], dict[Any, int]] = {}
    for s, fs in unique.items():
        for f in fs:
            m: dict[Any, int] = {}
            for v, t in zip(ids[s][f], times[s].tolist(), strict=True):
                if v is not None and v not in m:
                    m[v] = t
            firsts[(s, f)] = m
    chosen: dict[str, tuple[float, str, str]] = {}
    for child, fields in ids.items():
        tc = times[child].tolist()
        for f, vals in fields.items():
            for parent in unique:
                if parent == child or f not in unique[parent]:
                    continue
                m = firsts[(parent, f)]
                delays = [t - m[v] for v, t in zip(vals, tc, strict=True) if v in m]
                if len(delays) < _MIN_MATCHED * len(vals) or not delays:
                    continue
                arr = np.asarray(delays)
                if (arr >= 0).mean() < _MIN_ORDERED:
                    continue
                med = float(np.median(arr))
                best = chosen.get(child)
                if best is None or med < best[0]:
                    chosen[child] = (med, parent, f)
    _break_cycles(chosen)
    links: list[Link] = []
    for child, (_, parent, f) in sorted(chosen.items()):
        m = firsts[(parent, f)]
        after: dict[Any, int] = {}
        for v, t in zip(ids[child][f], times[child].tolist(), strict=True):
            if v in m and t >= m[v] and v not in after:
                after[v] = t
        residual = sum(1 for v in ids[child][f] if v not in m)
        seen = np.array([after[v] - t for v, t in m.items() if v in after], dtype=np.float64)
        cens = np.array([end - t for v, t in m.items() if v not in after], dtype=np.float64)
        watched = np.array([end - t for v, t in m.items() if v in after], dtype=np.float64)
        p, law, rep = fit_delay(seen, cens, watched)
        rep.update(via=f, parent_events=len(m), residual_child_events=residual)
        links.append(Link(parent, child, f, p, law, residual, rep))
    return links


def _break_cycles(chosen: dict[str, tuple[float, str, str]]) -> None:
    """Drop the weakest link of any cycle of parents (a chain loop would never settle)."""
    while True:
        cycle = None
        for start in chosen:
            seen, node = [start], chosen[start][1]
            while node in chosen and node not in seen:
                seen.append(node)
                node = chosen[node][1]
            if node == start:
                cycle = seen
                break
        if cycle is None:
            return
        del chosen[max(cycle, key=lambda s: chosen[s][0])]


def link_stats(
    parent_times: npt.NDArray[np.int64],
    parent_ids: Sequence[Any],
    child_times: npt.NDArray[np.int64],
    child_ids: Sequence[Any],
) -> tuple[float, float, int, int]:
    """What a window shows of a chain: the share of parent events followed within it, the
    median delay of those seen (ms), how many parents and how many were followed."""
    m: dict[Any, int] = {}
    for v, t in zip(parent_ids, parent_times.tolist(), strict=True):
        if v is not None and v not in m:
            m[v] = t
    after: dict[Any, int] = {}
    for v, t in zip(child_ids, child_times.tolist(), strict=True):
        if v in m and t >= m[v] and v not in after:
            after[v] = t
    seen = [after[v] - m[v] for v in after]
    share = len(seen) / len(m) if m else 0.0
    return share, float(np.median(seen)) if seen else 0.0, len(m), len(seen)


def prefer_shape(
    parent_times: npt.NDArray[np.int64],
    link: Link,
    child_times: npt.NDArray[np.int64],
    start: int,
    end: int,
) -> tuple[list[float], list[float], float] | None:
    """The profile a chain's delay should prefer so that its follow-ups keep the child's own
    hour-of-week shape (sessions held when students like, whenever they booked): the
    child's diurnal and weekly over those the parent's times plus the delay law alone give.
    None when the delay is short (the parent's shape carries over) or the shapes agree."""
    from simfleet.fit.rates import fit_rate, hour_of_week, how_counts  # noqa: PLC0415

    med = float(link.report.get("median_delay_ms", 0))
    if med < 3_600_000 or len(child_times) < 500 or "lognormal" not in link.delay:
        return None
    rng = np.random.default_rng(0)
    sigma = float(link.report["sigma"])
    reps = max(1, 20_000 // max(len(parent_times), 1))
    base = np.repeat(parent_times, reps)
    alone = base + rng.lognormal(math.log(med), sigma, len(base)).astype(np.int64)
    alone = alone[(alone >= start) & (alone < end)]
    if len(alone) < 500:
        return None
    ca, ea = how_counts(alone, start, end)
    cc, _ = how_counts(child_times, start, end)
    cover = ea > 0
    if np.corrcoef(ca[cover], cc[cover])[0, 1] >= 0.95:
        return None
    fa, fc = fit_rate(alone, start, end), fit_rate(child_times, start, end)
    d = np.asarray(fc.diurnal) / np.maximum(np.asarray(fa.diurnal), 1e-3)
    w = np.asarray(fc.weekly) / np.maximum(np.asarray(fa.weekly), 1e-3)
    if (end - start) < 14 * 86_400_000:
        w = np.ones(7)  # a weekday seen once or twice: its factor is noise
    d, w = d / d.mean(), w / w.mean()
    # the engine picks among 16 candidate delays by the profile: it moves follow-ups in time,
    # so the probability is recalibrated to give as many within the window as the source
    k = 16
    cand = base[:, None] + rng.lognormal(math.log(med), sigma, (len(base), k)).astype(np.int64)
    how = hour_of_week(cand)
    wt = d[how % 24] * w[how // 24]
    cum = np.cumsum(wt, axis=1)
    u = rng.random(len(base)) * cum[:, -1]
    pick = np.minimum((cum < u[:, None]).sum(axis=1), k - 1)
    due = cand[np.arange(len(base)), pick]
    inside = int(((due >= start) & (due < end)).sum())
    factor = len(alone) / max(inside, 1)
    rounded = ([round(float(x), 4) for x in d], [round(float(x), 4) for x in w])
    return rounded[0], rounded[1], factor
