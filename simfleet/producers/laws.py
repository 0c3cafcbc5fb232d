"""Numeric laws shared by entity pools and field generation (one vectorised draw each); the
laws themselves are the registry's field generators with ``numeric_law``."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from simfleet.domain.mechanisms.fields.pareto import bounded_pareto
from simfleet.domain.spec import FieldSpec

__all__ = ["bounded_pareto", "draw_law"]


def draw_law(f: FieldSpec, rng: np.random.Generator, n: int) -> npt.NDArray[np.float64] | None:
    """``n`` draws of the random law ``f`` declares, before its factors, bounds and rounding;
    None if its generator is no numeric law."""
    return f.draw_law(rng, n) if f.numeric_law else None
