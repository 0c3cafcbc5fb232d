"""Long-tailed laws for the quantities of an episode (a page's dwell, a session's page count):
a lognormal, a Pareto, or a mixture of them, shifted, with ``min``/``max`` as rare clips
rather than a range. Each number is a number or a parameter path, so scenarios move them.

``truncated_share`` is the law's mass outside its clips (exact, from the CDFs), which
``simctl validate`` reports when a clip cuts more than ``CLIP_WARN`` of the law.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from simfleet.domain.mechanisms.numbers import Spec
from simfleet.problems import Problem

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec

__all__ = [
    "CLIP_WARN",
    "LawPart",
    "TailLaw",
    "clip_problem",
    "clip_warning",
    "draw_tail",
    "resolver",
    "truncated_share",
]

CLIP_WARN = 0.01  # a clip that cuts more of its law than this is a range, not a rare clip

Num = float | str
Resolve = Callable[[Num], float]


class LawPart(Spec):
    """One law of a mixture: ``lognormal: [mu, sigma]`` (of the logarithm) or ``pareto:
    [alpha, min]`` (density ~ x^-(alpha+1) from ``min`` on, no upper bound)."""

    weight: Num = Field(1.0, description="its share of the mixture (normalised)")
    lognormal: tuple[Num, Num] | None = Field(None, description="[mu, sigma] of the logarithm")
    pareto: tuple[Num, Num] | None = Field(None, description="[alpha, min]: a power-law tail")

    @model_validator(mode="after")
    def _one(self) -> LawPart:
        if (self.lognormal is None) == (self.pareto is None):
            raise ValueError("a law part takes exactly one of `lognormal` and `pareto`")
        return self

    def numbers(self) -> list[tuple[str, Num]]:
        """(where, value) of every number it names."""
        out: list[tuple[str, Num]] = [("weight", self.weight)]
        if self.lognormal is not None:
            out += [("lognormal.0", self.lognormal[0]), ("lognormal.1", self.lognormal[1])]
        if self.pareto is not None:
            out += [("pareto.0", self.pareto[0]), ("pareto.1", self.pareto[1])]
        return out


class TailLaw(Spec):
    """A long-tailed law: ``{lognormal: [3.2, 1.1], min: 1, max: 1500}``, ``{pareto: [1.5,
    60]}``, or ``{mixture: [{weight: 0.8, lognormal: [...]}, {weight: 0.2, pareto: [...]}]}``;
    ``shift`` is added to every draw, then ``min``/``max`` clip (meant to cut little:
    ``simctl validate`` warns past 1 % of the law)."""

    lognormal: tuple[Num, Num] | None = Field(None, description="[mu, sigma] of the logarithm")
    pareto: tuple[Num, Num] | None = Field(None, description="[alpha, min]: a power-law tail")
    mixture: tuple[LawPart, ...] = Field((), description="laws drawn by weight")
    shift: Num = Field(0.0, description="added to every draw (a floor the law sits on)")
    min: Num | None = Field(None, description="a rare clip below")
    max: Num | None = Field(None, description="a rare clip above")

    @model_validator(mode="after")
    def _one(self) -> TailLaw:
        given = [self.lognormal is not None, self.pareto is not None, bool(self.mixture)]
        if sum(given) != 1:
            raise ValueError("a tail law takes exactly one of `lognormal`, `pareto`, `mixture`")
        return self

    def parts(self) -> list[LawPart]:
        """The mixture's laws (one for a single law)."""
        if self.mixture:
            return list(self.mixture)
        return [LawPart(lognormal=self.lognormal, pareto=self.pareto)]

    def numbers(self) -> list[tuple[str, Num]]:
        """(where, value) of every number it names."""
        out: list[tuple[str, Num]] = [("shift", self.shift)]
        out += [(k, v) for k, v in (("min", self.min), ("max", self.max)) if v is not None]
        if self.mixture:
            for i, p in enumerate(self.mixture):
                out += [(f"mixture.{i}.{k}", v) for k, v in p.numbers()]
        else:
            out += [(k, v) for k, v in self.parts()[0].numbers() if k != "weight"]
        return out


def draw_tail(
    law: TailLaw, rng: np.random.Generator, shape: int | tuple[int, ...], num: Resolve
) -> npt.NDArray[np.float64]:
    """Draws of ``law`` (numbers resolved by ``num``): shifted, then clipped."""
    parts = law.parts()
    size = int(np.prod(shape))
    if len(parts) == 1:
        pick = np.zeros(size, dtype=np.int64)
    else:
        w = np.asarray([max(num(p.weight), 0.0) for p in parts], dtype=np.float64)
        pick = np.searchsorted(np.cumsum(w / w.sum()), rng.random(size), side="right")
        pick = np.minimum(pick, len(parts) - 1)
    out = np.empty(size, dtype=np.float64)
    for k, p in enumerate(parts):
        sel = pick == k
        m = int(sel.sum()) if len(parts) > 1 else size
        if p.lognormal is not None:
            x = rng.lognormal(num(p.lognormal[0]), max(num(p.lognormal[1]), 0.0), m)
        else:
            assert p.pareto is not None
            alpha, lo = max(num(p.pareto[0]), 1e-3), num(p.pareto[1])
            x = lo * (1.0 - rng.random(m)) ** (-1.0 / alpha)
        out[sel] = x
    out += num(law.shift)
    lo_c = num(law.min) if law.min is not None else None
    hi_c = num(law.max) if law.max is not None else None
    if lo_c is not None or hi_c is not None:
        out = np.clip(out, lo_c, hi_c)
    return out.reshape(shape)


def _cdf(p: LawPart, x: float, num: Resolve) -> float:
    """P(X <= x) of one law (before the shift)."""
    if x <= 0:
        return 0.0
    if p.lognormal is not None:
        mu, sigma = num(p.lognormal[0]), num(p.lognormal[1])
        if sigma <= 0:
            return 1.0 if math.log(x) >= mu else 0.0
        return 0.5 * (1.0 + math.erf((math.log(x) - mu) / (sigma * math.sqrt(2.0))))
    assert p.pareto is not None
    alpha, lo = num(p.pareto[0]), num(p.pareto[1])
    return 0.0 if x <= lo else 1.0 - (lo / x) ** alpha


def truncated_share(law: TailLaw, num: Resolve) -> tuple[float, float]:
    """The law's mass below ``min`` and above ``max`` (0 for a clip not declared)."""
    parts = law.parts()
    w = np.asarray([max(num(p.weight), 0.0) for p in parts], dtype=np.float64)
    w = w / w.sum() if w.sum() > 0 else np.full(len(parts), 1.0 / len(parts))
    shift = num(law.shift)
    below = above = 0.0
    for wk, p in zip(w.tolist(), parts, strict=True):
        if law.min is not None:
            below += wk * _cdf(p, num(law.min) - shift, num)
        if law.max is not None:
            above += wk * (1.0 - _cdf(p, num(law.max) - shift, num))
    return below, above


def clip_warning(
    spec: DomainSpec, law: TailLaw, where: str, file: Path, subject: str
) -> Problem | None:
    """A warning when the law's clips cut more than ``CLIP_WARN`` of it at the pack's
    parameter values (``subject``: what it draws, for the message)."""

    def num(v: Num) -> float:
        return float(spec.parameters.get(v, 0.0)) if isinstance(v, str) else float(v)

    below, above = truncated_share(law, num)
    return clip_problem(file, where, subject, below, above)


def clip_problem(
    file: Path, where: str, subject: str, below: float, above: float
) -> Problem | None:
    """The warning for a law whose clips cut ``below`` + ``above`` of it (None under 1 %)."""
    if below + above <= CLIP_WARN:
        return None
    return Problem(
        file,
        where,
        f"the clips of {subject} cut {100 * (below + above):.1f} % of its law "
        f"({100 * below:.1f} % below `min`, {100 * above:.1f} % above `max`): a range, not "
        "a rare clip",
        "widen `min`/`max` or move the law inside them (a clip should cut at most 1 %)",
    )


def resolver(domain: str, params: Mapping[str, float]) -> Resolve:
    """Numbers of a pack's law at run time: a parameter path reads its current value."""

    def num(v: Num) -> float:
        return params[f"{domain}.{v}"] if isinstance(v, str) else float(v)

    return num
