"""The stylized facts of a process (``clustering``, ``jumps``): what turns a step's normal
shock ``z`` into a fat-tailed, clustered one, per entity and grid step.

A step's shock is ``sqrt(1 - w) * exp(X - s^2) * z + sqrt(w / p) * J``: ``X`` is the entity's
log-volatility, an Ornstein-Uhlenbeck process with standard deviation ``s`` drawn exactly on
the grid (``X(k+1) = phi X(k) + s sqrt(1 - phi^2) eta``), so ``exp(2X - 2s^2)`` has mean 1;
``J`` is the sum of the step's Poisson(``p``) jumps (normal sizes, ``p`` = step / every), and
the jumps carry the share ``w`` of the variance. The shock has mean 0 and variance 1, so the
process's volatility parameter stays the long-run volatility, and a scenario's change of it
scales the spells and the jumps alike. Every draw is time-major from random streams of its
own (seed, shard, domain, process): a path is the same however the window is cut into ticks.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from simfleet.domain.spec import ProcessSpec
from simfleet.producers.pools import stable_hash

__all__ = ["Volatility"]

F64 = npt.NDArray[np.float64]

_BLOCK_GROWTH = 30.0  # phi^-k grows to e^30 at most inside one block of the OU's cumsum
_MAX_JUMPS = 4  # jumps counted per step: P(more) < p^5 / 120, nil on any sane grid


class Volatility:
    """The log-volatility of every entity of one process of one shard, and its jumps."""

    def __init__(
        self,
        spec: ProcessSpec,
        size: int,
        start: npt.NDArray[np.float64],
        seed: int,
        shard: int,
        domain: str,
        name: str,
    ) -> None:
        self.size = size
        c, j = spec.clustering, spec.jumps
        self.s = c.spread if c is not None else 0.0
        self._a = math.log(2) * spec.step / c.half_life if c is not None else 0.0
        self.x: F64 = self.s * start  # log-volatility at the last grid point drawn
        self.w = j.share if j is not None else 0.0
        p = spec.step / j.every if j is not None else 0.0
        self._jump_sd = math.sqrt(self.w / p) if p else 0.0
        # Poisson(p) counted from one uniform per step: N = #{k : u > CDF(k)}
        pmf = [math.exp(-p) * p**k / math.factorial(k) for k in range(_MAX_JUMPS)]
        self._cdf = np.cumsum(pmf)
        self._eta = np.random.default_rng([seed, shard, stable_hash("process-vol", domain, name)])
        self._u = np.random.default_rng([seed, shard, stable_hash("process-jump", domain, name)])
        self._size = np.random.default_rng(
            [seed, shard, stable_hash("process-jump-size", domain, name)]
        )
        self._grown: F64 | None = None

    def _grow(self, n: int) -> F64:
        """phi^-k for k = 1..n, a column (cached: ticks are mostly of one length)."""
        if self._grown is None or len(self._grown) < n:
            k = np.arange(1, n + 1, dtype=np.float64)
            self._grown = np.exp(self._a * k)[:, None]
        return self._grown[:n]

    def _ou(self, m: int) -> F64:
        """The log-volatility at the next ``m`` grid points, time-major (m, entities)."""
        phi = math.exp(-self._a)
        scale = self.s * math.sqrt(1 - phi * phi)
        out = self._eta.standard_normal((m, self.size))
        block = max(1, int(_BLOCK_GROWTH / self._a))
        x = self.x
        for b0 in range(0, m, block):
            part = out[b0 : b0 + block]  # a view: the block is solved in place
            grow = self._grow(len(part))
            part *= grow * scale
            np.cumsum(part, axis=0, out=part)
            part += x
            part /= grow
            x = part[-1]
        return out

    def shocks(self, z: F64) -> tuple[F64, F64]:
        """The steps' shocks for normals ``z`` (entities, m), and the log-volatility at the
        grid points they lead to (entities, m)."""
        zt = z.T  # time-major, as drawn
        m = zt.shape[0]
        x_next = self._ou(m) if self.s else np.zeros((m, self.size), dtype=np.float64)
        out = zt
        if self.s:
            out = np.empty_like(x_next)
            out[0] = self.x
            out[1:] = x_next[:-1]
            out -= self.s * self.s
            np.exp(out, out=out)
            out *= zt
        if self.w:
            out = out * math.sqrt(1.0 - self.w)
            u = self._u.random((m, self.size))
            # time-major: the sizes are taken in the order of the jumps, whatever the tick
            t, e = np.nonzero(u > self._cdf[0])
            hit = u[t, e]
            count = 1 + sum((hit > c).astype(np.int64) for c in self._cdf[1:])
            sizes = self._size.standard_normal(len(t)) * np.sqrt(count)
            out[t, e] += self._jump_sd * sizes
        self.x = x_next[-1].copy()
        return out.T, x_next.T
