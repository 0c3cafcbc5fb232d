"""Random processes per entity: a value per entity evolving in sim time (a price, a level).

Each process of a pack (``processes:``) keeps, per shard, one path per entity of its kind:
geometric Brownian motion on a grid of ``step`` (``log S(k+1) = log S(k) + (mu - sigma^2/2) dt
+ sigma sqrt(dt) Z``, ``dt = step / per``), exact in the step, so the log returns between any
two grid points have the drift and volatility of the parameters whatever the tick length or
the sampling. At the start of every tick the engine draws the grid points up to the tick's end
(``advance``) with the parameter values of the tick and, for the actors of a campaign that
names the process, the campaign's numbers within its window; events read the path at the grid
point of their instant (``read``), in any order. The normals are drawn time-major from the
process's own random stream (seed, shard, domain, process), so a path does not depend on how
the window is cut into ticks. State is plain numpy: the last grid point's log-levels, its
index, and the last ``window`` of grid points (what a ``move`` reads back).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simfleet.codec.catalog import FieldType
from simfleet.columns import Column, TableStrings
from simfleet.domain.spec import ByAttr, DomainSpec, FieldSpec, ProcessSpec
from simfleet.errors import DomainError
from simfleet.producers.engine.volatility import Volatility
from simfleet.producers.pools import EntityPool, stable_hash

__all__ = ["Override", "Process"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Override:
    """A campaign's numbers for some entities of a process during ``[start, end)``."""

    actors: npt.NDArray[np.int64]
    start: int
    end: int
    numbers: Mapping[str, float | str]


class Process:
    """One process of one shard: a path per entity of its kind."""

    def __init__(
        self,
        name: str,
        spec: ProcessSpec,
        pool: EntityPool,
        domain: DomainSpec,
        seed: int,
        shard: int,
    ) -> None:
        self.name = name
        self.spec = spec
        self.pool = pool
        self._domain = domain.domain
        self._defaults = {domain.param_path(k): v for k, v in domain.parameters.items()}
        self.rng = np.random.default_rng([seed, shard, stable_hash("process", domain.domain, name)])
        start_rng = np.random.default_rng(
            [seed, shard, stable_hash("process-start", domain.domain, name)]
        )
        median = self._per_entity(spec.start, self._defaults)
        spread = spec.start_spread * start_rng.standard_normal(pool.size)
        self.level: F64 = np.log(median) + spread  # log-levels at grid point ``g``
        self.g: int | None = None
        self.path: F64 = self.level[:, None].copy()  # grid points path_g0 .. path_g0 + m - 1
        self.path_g0 = 0
        # the stylized facts, if the pack writes them: the log-volatility starts stationary
        self.vol: Volatility | None = None
        if spec.clustering is not None or spec.jumps is not None:
            x0 = start_rng.standard_normal(pool.size)
            self.vol = Volatility(spec, pool.size, x0, seed, shard, domain.domain, name)
        self.xpath: F64 = self._xnow()[:, None]  # the log-volatility beside ``path``
        self._tick = None if spec.tick is None else self._per_entity(spec.tick, self._defaults)
        self._dt = spec.step / spec.per
        self._lookback = spec.window // spec.step
        # a move is measured in standard deviations of normal times: the default volatility
        sigma0 = self._per_entity(spec.volatility, self._defaults)
        self._move_sd = np.maximum(sigma0 * math.sqrt(spec.window / spec.per), 1e-12)

    def _per_entity(self, x: float | str | ByAttr, params: Mapping[str, float]) -> F64:
        """One number per entity of the pool."""
        n = self.pool.size
        if isinstance(x, ByAttr):
            return self.pool.by_values(x, np.arange(n, dtype=np.int64), params)
        if isinstance(x, str):
            return np.full(n, params[f"{self._domain}.{x}"], dtype=np.float64)
        return np.full(n, float(x), dtype=np.float64)

    def _xnow(self) -> F64:
        """The log-volatility at the last grid point drawn (0 without clustering)."""
        return self.vol.x.copy() if self.vol is not None else np.zeros(self.pool.size)

    def _law(
        self, params: Mapping[str, float], given: Mapping[str, float | str] | None = None
    ) -> tuple[F64, F64]:
        """Per entity, the log-drift per step (mu - sigma^2/2) dt and sigma sqrt(dt)."""
        nums = {**self.spec.numbers(), **(given or {})}
        mu = self._per_entity(nums["drift"], params) - self._per_entity(nums["decline"], params)
        sigma = self._per_entity(nums["volatility"], params)
        return (mu - 0.5 * sigma**2) * self._dt, sigma * math.sqrt(self._dt)

    def advance(
        self, t0: int, t1: int, params: Mapping[str, float], overrides: Sequence[Override] = ()
    ) -> None:
        """Draw the grid points up to ``t1`` (exclusive) with the values of ``params``."""
        step = self.spec.step
        if self.g is None:
            self.g = t0 // step
            self.path = self.level[:, None].copy()
            self.xpath = self._xnow()[:, None]
            self.path_g0 = self.g
        last = (t1 - 1) // step
        m = last - self.g
        if m <= 0:
            return
        drift, scale = self._law(params)
        z = self.rng.standard_normal((m, self.pool.size)).T  # time-major: tick-independent
        x_new: F64 | None = None
        if self.vol is not None:
            z, x_new = self.vol.shocks(z)
        inc = drift[:, None] + scale[:, None] * z
        if overrides:
            at = (self.g + 1 + np.arange(m, dtype=np.int64)) * step
            for o in overrides:
                cols = np.flatnonzero((at >= o.start) & (at < o.end))
                if len(cols) == 0 or len(o.actors) == 0:
                    continue
                d, s = self._law(params, o.numbers)
                rows = o.actors[:, None]
                inc[rows, cols] = d[rows] + s[rows] * z[rows, cols]
        new = self.level[:, None] + np.cumsum(inc, axis=1)
        tail = self.path[:, -(self._lookback + 1) :]
        self.path = np.hstack([tail, new])
        if x_new is not None:
            self.xpath = np.hstack([self.xpath[:, -tail.shape[1] :], x_new])
        self.path_g0 = self.g + 1 - tail.shape[1]
        self.level = new[:, -1].copy()
        self.g = last

    def read(
        self,
        what: str,
        idx: npt.NDArray[np.int64],
        times: npt.NDArray[np.int64],
        params: Mapping[str, float],
    ) -> F64:
        """Per event, ``what`` (level, bid, ask, move) of entity ``idx`` at its instant."""
        col = times // self.spec.step - self.path_g0
        if len(col) and (col.min() < 0 or col.max() >= self.path.shape[1]):
            raise DomainError(
                f"process {self.name}: an event at {int(times.min())}..{int(times.max())} is "
                "outside the ticks drawn; events read a process in the tick they belong to"
            )
        rows = np.maximum(idx, 0)
        log_level = self.path[rows, col]
        if what == "move":
            back = self.path[rows, np.maximum(col - self._lookback, 0)]
            out: F64 = 1.0 + np.abs(log_level - back) / self._move_sd[rows]
            return out
        level = np.exp(log_level)
        if what == "level" and self._tick is None:
            return level
        half = 0.5 * self._per_entity(self.spec.spread, params)[rows]
        if self.spec.spread_follows:
            # the spread widens with the volatility factor; its median stays the parameter
            half = half * np.exp(self.spec.spread_follows * self.xpath[rows, col])
        if self._tick is None:
            return level * (1.0 - half) if what == "bid" else level * (1.0 + half)
        return self._on_grid(what, level, half, self._tick[rows])

    @staticmethod
    def _on_grid(what: str, level: F64, half: F64, tick: F64) -> F64:
        """Level, bid or ask in whole ticks: the level to the nearest (two at least), bid and
        ask to the nearest but at least one tick below and above it."""
        mid = np.maximum(np.rint(level / tick), 2.0)
        if what == "level":
            ticks = mid
        elif what == "bid":
            ticks = np.minimum(np.rint(level * (1.0 - half) / tick), mid - 1.0)
        else:
            ticks = np.maximum(np.rint(level * (1.0 + half) / tick), mid + 1.0)
        out: F64 = ticks * tick
        return out

    def column(
        self,
        f: FieldSpec,
        cols: Mapping[str, Column],
        params: Mapping[str, float],
        ftype: FieldType,
        factor: float | npt.NDArray[np.float64] = 1.0,
    ) -> npt.NDArray[np.float64] | npt.NDArray[np.int64]:
        """A field reading this process for the entities of field ``f.of``, times ``factor``
        (its ``times``, and for a ``move`` the numeric law it multiplies), with ``min``,
        ``max`` and ``round``."""
        src = cols[f.of or ""]
        if not isinstance(src, TableStrings) or src.table is not self.pool.ids:
            raise DomainError(
                f"process {self.name}: field `{f.of}` does not hold {self.pool.kind} ids"
            )
        times = cols["occurred_at"]
        assert isinstance(times, np.ndarray)
        v = self.read(f.read, src.idx, times, params)
        if f.read_by is not None:
            v = self._read_by(f, cols, src.idx, times, params, v)
        v = v * factor
        if f.min is not None or f.max is not None:
            v = np.clip(v, f.min, f.max)
        if ftype.kind == "int":
            return np.rint(v).astype(np.int64)
        return np.round(v, f.round) if f.round is not None else v

    def _read_by(
        self,
        f: FieldSpec,
        cols: Mapping[str, Column],
        idx: npt.NDArray[np.int64],
        times: npt.NDArray[np.int64],
        params: Mapping[str, float],
        v: F64,
    ) -> F64:
        """``v`` with the events whose field ``f.read_by.field`` takes a listed value reading
        what is listed for it (a buy at the ask)."""
        by = f.read_by
        other = cols[by.field]
        if not isinstance(other, TableStrings):
            raise DomainError(
                f"process {self.name}: `read_by` field `{by.field}` holds no text values; "
                "name a `choice` field"
            )
        out = v.copy()
        for value, what in by.values.items():
            code = other.table.lookup.get(value)
            if code is None:
                continue
            mine = other.idx == code
            if mine.any():
                out[mine] = self.read(what, idx[mine], times[mine], params)
        return out
