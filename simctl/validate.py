"""`simctl validate`: placeholder until the validator lands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def validate(paths: Annotated[list[Path] | None, typer.Argument()] = None) -> None:
    """Check packs, schemas and scenarios."""
