"""`burst`: when a campaign's bursts come (the model is ``simfleet.scenarios.Burst``; its
draw is here, the engine's use in simfleet.producers.engine.campaigns).

A burst on the clock (`process: clock`, the default) starts every ``every`` after the
campaign's start, so an outside reader who folds the events on that cycle finds the phase: an
attack that runs on a timer. `jittered` and `hawkes` are point processes begun at a random
instant, so ``every`` and ``length`` are means and no minute of any cycle is favoured:

- jittered: a renewal process, gaps gamma-distributed (shape 4: a coefficient of variation of
  one half), the first burst uniform in the first gap;
- hawkes: a self-exciting process by its cluster form. Bursts of their own come as a Poisson
  process of rate ``(1 - excitation) / every``; each burst sets off a Poisson(``excitation``)
  number of later ones, exponentially delayed (mean ``every / 4``), which set off their own.
  The mean gap is ``every``; bursts cluster (a ring that found an open door comes back soon).
  The process runs from four mean gaps before the window, so it is stationary at its start.

Burst lengths are gamma (shape 4) around ``length`` in both. Every shard draws the same
schedule (the random stream is keyed by seed, campaign and stream, not by shard): a ring's
burst hits the whole fleet at once, as the clocked bursts did.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from simfleet.scenarios import Burst

__all__ = ["burst_schedule"]

Ints = npt.NDArray[np.int64]
GAMMA_SHAPE = 4.0
KERNEL_SHARE = 0.25  # the mean delay of a burst set off by another, as a share of `every`
WARMUP_GAPS = 4  # mean gaps a Hawkes process runs before the window, to forget its start
MAX_GENERATIONS = 64


def burst_schedule(b: Burst, start: int, end: int, rng: np.random.Generator) -> tuple[Ints, Ints]:
    """The bursts of ``[start, end)`` as (starts, ends), sorted by start; a burst may overlap
    the next (their events add up)."""
    if b.process == "clock":
        starts = np.arange(start, end, b.every, dtype=np.int64)
        return starts, starts + b.length
    if b.process == "jittered":
        starts = _renewal(b, start, end, rng)
    else:
        starts = _hawkes(b, start, end, rng)
    lengths = rng.gamma(GAMMA_SHAPE, b.length / GAMMA_SHAPE, len(starts))
    ends = starts + np.maximum(1, lengths).astype(np.int64)
    return starts, ends


def _renewal(b: Burst, start: int, end: int, rng: np.random.Generator) -> Ints:
    """Onsets of a gamma renewal process: the first uniform within a mean gap."""
    n = int((end - start) / b.every * 2) + 8
    gaps = rng.gamma(GAMMA_SHAPE, b.every / GAMMA_SHAPE, n)
    at = start + rng.uniform(0, b.every) + np.r_[0.0, np.cumsum(gaps[:-1])]
    out: Ints = at[at < end].astype(np.int64)
    return out


def _hawkes(b: Burst, start: int, end: int, rng: np.random.Generator) -> Ints:
    """Onsets of a Hawkes process with an exponential kernel, by generations of clusters."""
    eta = b.excitation
    lo = start - WARMUP_GAPS * b.every
    n = int(rng.poisson((1 - eta) * (end - lo) / b.every))
    gen = rng.uniform(lo, end, n)
    found = [gen]
    for _ in range(MAX_GENERATIONS):
        kids = rng.poisson(eta, len(gen))
        if not kids.any():
            break
        parents = np.repeat(gen, kids)
        gen = parents + rng.exponential(b.every * KERNEL_SHARE, len(parents))
        gen = gen[gen < end]
        found.append(gen)
    at = np.sort(np.concatenate(found))
    out: Ints = at[(at >= start) & (at < end)].astype(np.int64)
    return out
