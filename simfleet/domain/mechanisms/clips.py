"""Clips that cut more than 1 % of their law, which `simctl validate` reports as warnings (the
pack still loads): a journey's tail laws, measured exactly, and the numeric fields of streams
with `min`/`max`, measured by a seeded sample."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from simfleet.domain.mechanisms import journeys
from simfleet.domain.mechanisms.tails import clip_problem
from simfleet.problems import Problem

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec

__all__ = ["pack_warnings"]


SAMPLE = 200_000  # draws of a field's law when its clips are measured by a seeded sample


def pack_warnings(spec: DomainSpec, file: Path) -> list[Problem]:
    """Clips that cut more than 1 % of their law, in a pack at its parameter values: the
    journeys' tail laws (exactly) and the numeric fields of streams with `min`/`max` (by a
    seeded sample of the law; a field multiplied by a `by` table is measured before it)."""
    out: list[Problem] = []
    for name, j in spec.journeys.items():
        out += journeys.warnings(spec, j, f"journeys.{name}", file)
    rng = np.random.default_rng(0)
    for sname, s in spec.streams.items():
        for fname, f in s.fields.items():
            if not f.numeric_law or (f.min is None and f.max is None):
                continue
            v = f.draw_law(rng, SAMPLE)
            below, above = _field_clips(spec, f, v)
            where = f"streams.{sname}.fields.{fname}"
            w = clip_problem(file, where, f"stream {sname} field {fname}", below, above)
            if w is not None:
                out.append(w)
    return out


def _field_clips(spec: DomainSpec, f: Any, v: npt.NDArray[np.float64]) -> tuple[float, float]:
    """The share of draws ``v`` (times the field's factors) below its `min` and above its
    `max`: numbers and parameters multiply; over a `by` table of listed values, the mean of
    the shares under each of its numbers (its entities' mix is not known at load)."""

    def num(x: object) -> float | None:
        if isinstance(x, int | float):
            return float(x)
        if isinstance(x, str) and x in spec.parameters:
            return float(spec.parameters[x])
        return None

    scales = [1.0]
    for x in f.factors():
        if num(x) is not None:
            scales = [k * (num(x) or 0.0) for k in scales]
        elif getattr(x, "values", None) and len(scales) == 1:
            listed = [num(y) for y in [*x.values.values(), x.default] if y is not None]
            scales = [scales[0] * y for y in listed if y is not None] or scales
    below = above = 0.0
    for k in scales:
        if f.min is not None:
            below += float((v * k < f.min).mean()) / len(scales)
        if f.max is not None:
            above += float((v * k > f.max).mean()) / len(scales)
    return below, above
