"""The Python API: `Simulation` (generate in memory, to files, or to a cluster) and the pytest
plugin (`simfleet.api.pytest_plugin`: the `simfleet_broker` and `simfleet_fleet` fixtures).

`from simfleet import Simulation` reaches it too.
"""

from __future__ import annotations

from simfleet.api.simulation import RecordBatch, Simulation

__all__ = ["RecordBatch", "Simulation"]
