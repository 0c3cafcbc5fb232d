"""Wheel build hook: every domain pack folder goes under the one installed data root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class PackDataHook(BuildHookInterface):  # type: ignore[misc]
    """Map ``simfleet/producers/<domain>/*.yaml`` to ``simfleet/_data/producers/<domain>/``."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        packs = Path(self.root) / "simfleet" / "producers"
        for spec in sorted(packs.glob("*/streams.yaml")):
            for item in sorted(spec.parent.iterdir()):
                if item.suffix in {".yaml", ".md"}:
                    target = f"simfleet/_data/producers/{spec.parent.name}/{item.name}"
                    build_data["force_include"][str(item)] = target
