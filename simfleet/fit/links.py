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
from scipy import optimize, stats

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
    delays: npt.NDArray[np.float64], censor: npt.NDArray[np.float64]
) -> tuple[float, dict[str, Any], dict[str, Any]]:
    """Probability and delay law from the seen delays (ms) and the windows (ms) of causes
    whose follow-up was not seen: a censored lognormal mixture ``p x LogNormal(mu, s)``."""
    n_seen, n_cens = len(delays), len(censor)
    total = n_seen + n_cens
    if n_seen == 0:
        return 0.0, {"uniform": ["0s", "0s"]}, {"law": "none seen"}
    if float(np.median(delays)) <= 0:
        hi = float(np.quantile(delays, 0.95))
        return n_seen / total, {"uniform": ["0s", _ms(hi)]}, {"law": "uniform", "seen": n_seen}
    d = np.log(np.maximum(delays, 1.0))
    c = np.log(np.maximum(censor, 1.0))

    def nll(theta: npt.NDArray[np.float64]) -> float:
        p = 1 / (1 + math.exp(-theta[0]))
        mu, s = theta[1], math.exp(theta[2])
        seen = n_seen * math.log(p) + float(stats.norm.logpdf(d, mu, s).sum())
        not_yet = np.log1p(-p * stats.norm.cdf(c, mu, s) + 1e-300).sum()
        return -(seen + float(not_yet))

    p0 = min(max(n_seen / total, 0.01), 0.99)
    x0 = np.array([math.log(p0 / (1 - p0)), float(d.mean()), math.log(float(d.std()) or 0.1)])
    res = optimize.minimize(
        nll, x0, method="Nelder-Mead", options={"xatol": 1e-5, "fatol": 1e-6, "maxiter": 4000}
    )
    p = 1 / (1 + math.exp(-res.x[0]))
    mu, s = float(res.x[1]), math.exp(float(res.x[2]))
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
        p, law, rep = fit_delay(seen, cens)
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
    end: int,
) -> tuple[float, float]:
    """A chain's censoring-aware probability and median delay (ms) between two topics."""
    m: dict[Any, int] = {}
    for v, t in zip(parent_ids, parent_times.tolist(), strict=True):
        if v is not None and v not in m:
            m[v] = t
    after: dict[Any, int] = {}
    for v, t in zip(child_ids, child_times.tolist(), strict=True):
        if v in m and t >= m[v] and v not in after:
            after[v] = t
    seen = np.array([after[v] - t for v, t in m.items() if v in after], dtype=np.float64)
    cens = np.array([end - t for v, t in m.items() if v not in after], dtype=np.float64)
    p, _, rep = fit_delay(seen, cens)
    med = float(rep.get("median_delay_ms", np.median(seen) if len(seen) else 0.0))
    return p, med
