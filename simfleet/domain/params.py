"""Parameters and the causal graph.

Every tunable number has a path (``marketplace.tutor.supply``,
``marketplace.booking.requested.rate``).
Its value at sim instant t is

    base(p, t)  = default(p) with the modifiers in force at t applied (set, multiply, add/shift)
    value(p, t) = base(p, t) x prod over edges e into p of
                  (value(e.from, t - e.lag) / default(e.from)) ^ e.elasticity

so a scenario moves root causes and the graph carries the effect, with lags, to the rest. The
value is a pure function of (control state, t): no hidden state, every process agrees.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog

from simfleet.domain.spec import DomainSpec
from simfleet.errors import DomainError
from simfleet.scenarios import Modifier

__all__ = ["ModifiersAt", "ParamGraph", "apply_modifiers"]

log = structlog.get_logger()

# (modifier, weight in [0, 1]) pairs in force at a sim instant
Weighted = Sequence[tuple[Modifier, float]]
ModifiersAt = Callable[[int], Weighted]


def apply_modifiers(default: float, mods: Weighted) -> float:
    """Apply weighted modifiers to one value: set, then multiply, then add and shift."""
    value = default
    sets = [(m, w) for m, w in mods if m.op == "set"]
    if sets:
        best = max(m.precedence for m, _ in sets)
        winners = [(m, w) for m, w in sets if m.precedence == best]
        if len(winners) > 1:
            log.warning("modifier_conflict", target=winners[0][0].target, kept=winners[-1][0].value)
        m, w = winners[-1]
        value = value + (m.value - value) * w
    for m, w in mods:
        if m.op == "multiply":
            value *= 1.0 + (m.value - 1.0) * w
    shifted = False
    for m, w in mods:
        if m.op in ("add", "shift"):
            value += m.value * w
            shifted = shifted or m.op == "shift"
    if shifted:
        value = min(1.0, value)
    return max(0.0, value)


@dataclass(frozen=True, slots=True)
class _Edge:
    source: str
    elasticity: float
    lag: int


class ParamGraph:
    """The parameters of one domain and the causal edges between them."""

    def __init__(self, defaults: Mapping[str, float], edges: Mapping[str, list[_Edge]]) -> None:
        self.defaults = dict(defaults)
        self._edges = edges
        self._match_cache: dict[str, tuple[str, ...]] = {}
        self._order = self._topological()

    @classmethod
    def from_domain(cls, spec: DomainSpec) -> ParamGraph:
        """Parameters of a domain spec, stream rates included, with full paths."""
        defaults = {spec.param_path(k): v for k, v in spec.parameters.items()}
        for name, s in spec.streams.items():
            defaults[f"{spec.topic(name)}.rate"] = s.rate or 0.0
        edges: dict[str, list[_Edge]] = {}
        for e in spec.causal:
            src, dst = spec.param_path(e.source), spec.param_path(e.target)
            if defaults[src] == 0:
                raise DomainError(
                    f"domain {spec.domain}: causal edge {e.source} -> {e.target} starts at a "
                    "parameter whose default is 0, so its ratio is undefined; give it a "
                    "non-zero default."
                )
            edges.setdefault(dst, []).append(_Edge(src, e.elasticity, e.lag))
        return cls(defaults, edges)

    def _topological(self) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(p: str, path: tuple[str, ...]) -> None:
            if state.get(p) == 2:
                return
            if state.get(p) == 1:
                raise DomainError(f"the causal graph has a cycle: {' -> '.join((*path, p))}")
            state[p] = 1
            for e in self._edges.get(p, []):
                visit(e.source, (*path, p))
            state[p] = 2
            order.append(p)

        for p in self.defaults:
            visit(p, ())
        return order

    @property
    def horizon_ms(self) -> int:
        """The longest sum of lags along a causal path: how long after a modifier stops a
        parameter can still feel it."""
        depth: dict[str, int] = {}
        for p in self._order:  # sources come before their targets
            depth[p] = max((depth[e.source] + e.lag for e in self._edges.get(p, ())), default=0)
        return max(depth.values(), default=0)

    def matching(self, target: str) -> tuple[str, ...]:
        """Parameter paths a modifier target (path or glob) names."""
        hit = self._match_cache.get(target)
        if hit is None:
            hit = tuple(p for p in self.defaults if fnmatch.fnmatchcase(p, target))
            self._match_cache[target] = hit
        return hit

    def unknown_targets(self, targets: Sequence[str]) -> list[str]:
        """Targets that name no parameter of this graph."""
        return [t for t in targets if not self.matching(t)]

    def evaluate(self, t: int, mods_at: ModifiersAt) -> dict[str, float]:
        """Every parameter's value at sim instant ``t``."""
        memo: dict[tuple[str, int], float] = {}
        mods_cache: dict[int, dict[str, list[tuple[Modifier, float]]]] = {}

        def mods_for(p: str, when: int) -> list[tuple[Modifier, float]]:
            by_param = mods_cache.get(when)
            if by_param is None:
                by_param = {}
                for m, w in mods_at(when):
                    for path in self.matching(m.target):
                        by_param.setdefault(path, []).append((m, w))
                mods_cache[when] = by_param
            return by_param.get(p, [])

        def value(p: str, when: int) -> float:
            key = (p, when)
            hit = memo.get(key)
            if hit is not None:
                return hit
            mods = mods_for(p, when)
            v = apply_modifiers(self.defaults[p], mods) if mods else self.defaults[p]
            for e in self._edges.get(p, ()):
                ratio = value(e.source, when - e.lag) / self.defaults[e.source]
                v *= max(ratio, 1e-6) ** e.elasticity
            memo[key] = v
            return v

        return {p: value(p, t) for p in self._order}
