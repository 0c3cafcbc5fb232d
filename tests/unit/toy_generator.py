"""A field generator written outside the project, for the registry's acceptance test: one
module (its model, its check, its draw) and one ``register`` line in the test."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from pydantic import Field

from simfleet.columns import Column
from simfleet.domain.mechanisms import DrawContext, FieldSpec
from simfleet.domain.mechanisms.refs import param_problem
from simfleet.problems import Problem

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec


class WaveField(FieldSpec):
    """`{wave: {period_s: 3600, amplitude: level}}`: a sine of the event's instant (a sensor
    that follows the hour), times a parameter."""

    key: ClassVar[str] = "wave"
    why: ClassVar[str] = "A value that follows sim time smoothly (a test generator)."

    wave: dict[str, float | str] = Field(description="period_s (seconds) and amplitude")

    def problems(self, spec: DomainSpec, where: str, file: Path) -> list[Problem]:
        """The amplitude names a parameter of the pack."""
        return param_problem(spec, f"{where}.wave.amplitude", self.wave.get("amplitude"), file)

    def draw(self, ctx: DrawContext) -> Column:
        """sin(2 pi t / period) x amplitude, one vectorised expression per batch."""
        times = np.asarray(ctx.cols["occurred_at"], dtype=np.float64)
        period = float(self.wave["period_s"]) * 1000.0
        amplitude = self.wave["amplitude"]
        scale = ctx.number(amplitude)
        return self.finish(ctx, np.sin(2 * np.pi * times / period) * scale)
