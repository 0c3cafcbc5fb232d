"""simfleet: a Kafka event-stream producer fleet with realistic, steerable, correlated traffic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["RecordBatch", "Simulation", "__version__"]

if TYPE_CHECKING:
    from simfleet.api import RecordBatch, Simulation


def __getattr__(name: str) -> Any:
    # lazy: `import simfleet` (every process of a fleet does) stays free of the API's imports
    if name in ("RecordBatch", "Simulation"):
        from simfleet import api  # noqa: PLC0415

        return getattr(api, name)
    raise AttributeError(f"module 'simfleet' has no attribute {name!r}")
