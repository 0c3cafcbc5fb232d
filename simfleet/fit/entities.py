"""An entity pool's size and activity skew from how often each id was seen.

The engine draws an entity in proportion to a lognormal activity (``activity_sigma``) among
``count`` entities. Both are chosen so that a run of the same length gives what the source
shows: as many distinct ids, and the same share of events held by the top 10 % of them
(ids seen rarely are part of the skew; ids never seen are estimated, not ignored)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simfleet.fit.numeric import norm_ppf

__all__ = ["PoolFit", "fit_pool", "top_share"]

_SIGMAS = np.round(np.arange(0.0, 3.01, 0.1), 2)


def top_share(counts: npt.NDArray[np.int64], top: float = 0.1) -> float:
    """The share of events the most active ``top`` of the ids seen hold."""
    c = np.sort(np.asarray(counts))[::-1]
    c = c[c > 0]
    if len(c) == 0:
        return 0.0
    n = max(1, int(np.ceil(top * len(c))))
    return float(c[:n].sum() / c.sum())


@dataclass
class PoolFit:
    """A pool's size and skew, and what the source showed."""

    count: int
    sigma: float
    seen: int
    top10_share: float


def _weights(n: int, sigma: float) -> npt.NDArray[np.float64]:
    z = norm_ppf((np.arange(n) + 0.5) / n)
    w: npt.NDArray[np.float64] = np.exp(sigma * z)
    out: npt.NDArray[np.float64] = w / w.sum()
    return out


def _distinct(n: int, sigma: float, events: int) -> float:
    return float(np.sum(-np.expm1(-events * _weights(n, sigma))))


def _size(seen: int, sigma: float, events: int) -> int:
    """The pool size whose expected distinct ids in ``events`` draws is ``seen``."""
    lo, hi = seen, max(seen * 50, seen + 10)
    if _distinct(hi, sigma, events) < seen:
        return hi
    for _ in range(22):
        mid = (lo + hi) // 2
        if _distinct(mid, sigma, events) < seen:
            lo = mid + 1
        else:
            hi = mid
        if hi - lo <= max(1, seen // 500):
            break
    return hi


def fit_pool(counts: npt.NDArray[np.int64], seed: int = 0) -> PoolFit:
    """Size and sigma matching the distinct ids and top-10 % share of ``counts``."""
    counts = np.asarray(counts)
    events, seen = int(counts.sum()), int((counts > 0).sum())
    want = top_share(counts)
    rng = np.random.default_rng(seed)
    best: tuple[float, int, float] | None = None
    for sigma in _SIGMAS:
        n = _size(seen, float(sigma), events)
        sim = rng.poisson(events * _weights(n, float(sigma)))
        err = abs(top_share(sim) - want)
        if best is None or err < best[0]:
            best = (err, n, float(sigma))
    assert best is not None
    return PoolFit(best[1], best[2], seen, want)
