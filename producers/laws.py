"""Numeric laws shared by entity pools and field generation (one vectorised draw each)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["bounded_pareto"]


def bounded_pareto(
    rng: np.random.Generator, alpha: float, lo: float, hi: float, n: int
) -> npt.NDArray[np.float64]:
    """``n`` draws of a Pareto law of index ``alpha`` truncated to ``[lo, hi]``, by inverting
    its CDF ``(1 - (lo/x)^alpha) / (1 - (lo/hi)^alpha)``."""
    u = rng.random(n)
    tail = 1.0 - (lo / hi) ** alpha
    out: npt.NDArray[np.float64] = lo * (1.0 - u * tail) ** (-1.0 / alpha)
    return np.minimum(out, hi)
