"""Where the project's data lives: domain packs, schemas and scenarios.

The layout, in a source checkout (the repository's top level) and in ``SIMCTL_HOME``:

    producers/<domain>/streams.yaml     the domain pack: entities, parameters, streams
    producers/<domain>/external.yaml    its external-event library (optional)
    schemas/<domain>/*.avsc             one Avro record per stream
    schemas/_shared/*.avsc              records every domain has (ground truth, ...)
    scenarios/<domain>/*.yaml           scenarios, ids unique across the project

In a wheel the same three folders are packaged under one data root, ``simfleet/_data``; in a
checkout the top-level ``producers`` entry links to ``simfleet/producers``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_root", "packs_dir", "scenarios_dir", "schemas_dir", "state_dir"]

_PACKAGE = Path(__file__).resolve().parent


def data_root() -> Path:
    """The folder holding ``producers/``, ``schemas/`` and ``scenarios/``."""
    override = os.environ.get("SIMCTL_HOME")
    if override:
        return Path(override)
    packaged = _PACKAGE / "_data"
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent


def schemas_dir() -> Path:
    """Avro schemas, one folder per domain."""
    return data_root() / "schemas"


def scenarios_dir() -> Path:
    """Scenario YAML files, one folder per domain."""
    return data_root() / "scenarios"


def packs_dir() -> Path:
    """Domain packs: ``<packs>/<domain>/streams.yaml`` (the ``producers`` folder)."""
    return data_root() / "producers"


def state_dir() -> Path:
    """Run state of this machine (embedded broker pid and log)."""
    override = os.environ.get("SIMCTL_STATE_DIR")
    return Path(override) if override else Path.cwd() / ".simfleet"
