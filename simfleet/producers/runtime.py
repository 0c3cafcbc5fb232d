"""What a producer needs from the control state at a sim instant: the weighted modifiers."""

from __future__ import annotations

from collections.abc import Sequence

from simfleet.domain.params import ModifiersAt
from simfleet.scenarios import Modifier, ScenarioInstance, lifecycle_at

__all__ = ["modifiers_at"]


def modifiers_at(scenarios: Sequence[ScenarioInstance]) -> ModifiersAt:
    """A function of sim time giving the weighted modifiers of every scenario instance."""
    insts = tuple(scenarios)

    def at(t: int) -> list[tuple[Modifier, float]]:
        out: list[tuple[Modifier, float]] = []
        for inst in insts:
            out.extend(lifecycle_at(inst, t).weighted)
        return out

    return at
