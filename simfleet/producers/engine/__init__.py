"""The per-shard engine: turns (sim window, parameter values) into columnar batches.

``ShardEngine`` (in ``tick``) orchestrates a tick; field generation lives in ``fields``,
chained follow-ups in ``chains``, aggregate streams in ``aggregates`` and the entity lifecycle
in ``lifecycle``.
"""

from __future__ import annotations

from simfleet.producers.engine.fields import seq_column, uuid_column
from simfleet.producers.engine.tick import ShardEngine

__all__ = ["ShardEngine", "seq_column", "uuid_column"]
