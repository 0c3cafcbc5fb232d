"""Wheel build hook: the repository's data folders go under the one installed data root.

``simfleet/_data`` then has the layout of the repository's top level: ``producers/<domain>/``
(each pack's YAML and page), ``schemas/`` and ``scenarios/``. Every pack folder is found by
its ``streams.yaml``, so a new domain is data. An editable install reads the checkout itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

DATA = "simfleet/_data"


class PackDataHook(BuildHookInterface):  # type: ignore[misc]
    """Add the data folders to a standard wheel under ``simfleet/_data``."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        root = Path(self.root)
        include = build_data["force_include"]
        for folder in ("schemas", "scenarios"):
            include[str(root / folder)] = f"{DATA}/{folder}"
        # the packs' JSON Schema, which each streams.yaml names as ../pack.schema.json
        schema = root / "simfleet" / "producers" / "pack.schema.json"
        include[str(schema)] = f"{DATA}/producers/{schema.name}"
        for spec in sorted((root / "simfleet" / "producers").glob("*/streams.yaml")):
            for item in sorted(spec.parent.iterdir()):
                if item.suffix in {".yaml", ".md", ".json"}:
                    include[str(item)] = f"{DATA}/producers/{spec.parent.name}/{item.name}"
