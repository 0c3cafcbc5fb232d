"""Where the data directories (schemas, scenarios, domains) live.

In a source checkout (editable install) they are the top-level folders of the repository; in a
wheel they are packaged under ``simfleet/_data``. ``SIMCTL_HOME`` overrides both.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """The folder holding ``schemas/``, ``scenarios/`` and ``domains/``."""
    override = os.environ.get("SIMCTL_HOME")
    if override:
        return Path(override)
    packaged = _PACKAGE / "_data"
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parents[1]


def schemas_dir() -> Path:
    """Avro schemas, one folder per domain."""
    return data_root() / "schemas"


def scenarios_dir() -> Path:
    """Scenario YAML files."""
    return data_root() / "scenarios"


def domains_dir() -> Path:
    """Domain specifications: streams, parameters, chains and the causal graph."""
    return data_root() / "domains"


def state_dir() -> Path:
    """Run state of this machine (embedded broker pid and log)."""
    override = os.environ.get("SIMCTL_STATE_DIR")
    return Path(override) if override else Path.cwd() / ".simfleet"
