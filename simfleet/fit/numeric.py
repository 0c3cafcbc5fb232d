"""The few statistics `simctl fit` needs, in numpy (no scipy among the dependencies): the
normal CDF and its inverse, the one-sample Kolmogorov-Smirnov distance and a Nelder-Mead
minimiser for the censored likelihood of a chain's delay."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = ["expit", "ks_one", "minimize", "norm_cdf", "norm_ppf"]

Floats = npt.NDArray[np.float64]


def norm_cdf(x: Floats | float) -> Floats:
    """The standard normal CDF (Abramowitz-Stegun 7.1.26 for erf, error below 1.5e-7)."""
    z = np.asarray(x, dtype=np.float64) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * np.abs(z))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                + t * 1.061405429))))  # fmt: skip
    erf = 1.0 - poly * np.exp(-z * z)
    out: Floats = 0.5 * (1.0 + np.sign(z) * erf)
    return out


def norm_ppf(p: Floats) -> Floats:
    """The standard normal quantiles of ``p`` (0 < p < 1), by bisection on ``norm_cdf``."""
    p = np.asarray(p, dtype=np.float64)
    lo, hi = np.full(p.shape, -9.0), np.full(p.shape, 9.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        below = norm_cdf(mid) < p
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    out: Floats = (lo + hi) / 2
    return out


def expit(x: float) -> float:
    """1 / (1 + e^-x), bounded so that no search overflows."""
    return float(1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0))))


def ks_one(x: Floats, cdf: Callable[[Floats], Floats]) -> float:
    """The largest gap between the sample's ECDF and ``cdf``."""
    xs = np.sort(np.asarray(x, dtype=np.float64))
    n = len(xs)
    if n == 0:
        return 1.0
    f = cdf(xs)
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - f), np.max(f - (i - 1) / n)))


def minimize(f: Callable[[Floats], float], x0: Floats, iters: int = 2000) -> Floats:
    """Nelder-Mead: the point of a small simplex around ``x0`` that ``f`` leads to."""
    n = len(x0)
    pts = [np.asarray(x0, dtype=np.float64)]
    for i in range(n):
        step = np.zeros(n)
        step[i] = 0.25 * max(abs(float(x0[i])), 1.0)
        pts.append(pts[0] + step)
    vals = [f(p) for p in pts]
    for _ in range(iters):
        order = np.argsort(vals)
        pts, vals = [pts[i] for i in order], [vals[i] for i in order]
        if abs(vals[-1] - vals[0]) < 1e-9 * (1 + abs(vals[0])):
            break
        centre = np.mean(pts[:-1], axis=0)
        refl = centre + (centre - pts[-1])
        fr = f(refl)
        if fr < vals[0]:
            exp = centre + 2 * (centre - pts[-1])
            fe = f(exp)
            pts[-1], vals[-1] = (exp, fe) if fe < fr else (refl, fr)
        elif fr < vals[-2]:
            pts[-1], vals[-1] = refl, fr
        else:
            con = centre + 0.5 * (pts[-1] - centre)
            fc = f(con)
            if fc < vals[-1]:
                pts[-1], vals[-1] = con, fc
            else:
                pts = [pts[0] + 0.5 * (p - pts[0]) for p in pts]
                vals = [vals[0], *(f(p) for p in pts[1:])]
    out: Floats = pts[int(np.argmin(vals))]
    return out
