"""Numeric laws shared by entity pools and field generation (one vectorised draw each)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from simfleet.domain.spec import FieldSpec

__all__ = ["bounded_pareto", "draw_law"]


def draw_law(f: FieldSpec, rng: np.random.Generator, n: int) -> npt.NDArray[np.float64] | None:
    """``n`` draws of the random law ``f`` declares (uniform, normal, lognormal, poisson,
    integers, pareto), before its factors, bounds and rounding; None if it declares none."""
    out: npt.NDArray[np.float64] | None = None
    if f.uniform is not None:
        out = rng.uniform(f.uniform[0], f.uniform[1], n)
    elif f.normal is not None:
        out = rng.normal(f.normal[0], f.normal[1], n)
    elif f.lognormal is not None:
        out = rng.lognormal(f.lognormal[0], f.lognormal[1], n)
    elif f.poisson is not None:
        out = rng.poisson(f.poisson, n).astype(np.float64)
    elif f.integers is not None:
        out = rng.integers(f.integers[0], f.integers[1] + 1, n).astype(np.float64)
    elif f.pareto is not None:
        out = bounded_pareto(rng, f.pareto.alpha, f.pareto.min, f.pareto.max, n)
    return out


def bounded_pareto(
    rng: np.random.Generator, alpha: float, lo: float, hi: float, n: int
) -> npt.NDArray[np.float64]:
    """``n`` draws of a Pareto law of index ``alpha`` truncated to ``[lo, hi]``, by inverting
    its CDF ``(1 - (lo/x)^alpha) / (1 - (lo/hi)^alpha)``."""
    u = rng.random(n)
    tail = 1.0 - (lo / hi) ** alpha
    out: npt.NDArray[np.float64] = lo * (1.0 - u * tail) ** (-1.0 / alpha)
    return np.minimum(out, hi)
