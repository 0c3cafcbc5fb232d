"""Entity lifecycle: which entities events may name.

Draws see active entities only. A stream that ``retires`` a field takes the entity out at once
(retiring streams are drawn first in a tick, so no later event of the tick names it); a stream
that ``activates`` one makes it drawable from the next tick, so no event names an entity before
the event that activated it.

``pool_of_table`` maps ``id(pool.ids)`` to the pool: an entity column is a ``TableStrings`` over
its pool's id table.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from simfleet.columns import Column, TableStrings
from simfleet.errors import DomainError
from simfleet.producers.engine.fields import StreamRuntime
from simfleet.producers.pools import EntityPool

__all__ = ["Activations", "activate", "entity_col", "entity_idx", "entity_pool", "lifecycle"]

# events whose `activates` entities join at the end of the tick: (stream name, columns)
Activations = list[tuple[str, dict[str, Column]]]


def entity_col(
    pool_of_table: Mapping[int, EntityPool], name: str, field_name: str, cols: Mapping[str, Column]
) -> TableStrings:
    """Column ``field_name`` of events of stream ``name``, checked to hold entity ids."""
    col = cols[field_name]
    if not isinstance(col, TableStrings) or id(col.table) not in pool_of_table:
        raise DomainError(f"stream {name}: `{field_name}` does not hold entity ids")
    return col


def entity_pool(
    pool_of_table: Mapping[int, EntityPool], rt: StreamRuntime, cols: Mapping[str, Column]
) -> EntityPool:
    """The pool of the entities the events of ``rt`` activate."""
    fname = rt.spec.activates or ""
    return pool_of_table[id(entity_col(pool_of_table, rt.name, fname, cols).table)]


def entity_idx(
    pool_of_table: Mapping[int, EntityPool], rt: StreamRuntime, cols: Mapping[str, Column]
) -> npt.NDArray[np.int64]:
    """The pool indices of the entities the events of ``rt`` activate."""
    fname = rt.spec.activates or ""
    return entity_col(pool_of_table, rt.name, fname, cols).idx


def lifecycle(
    pool_of_table: Mapping[int, EntityPool],
    rt: StreamRuntime,
    cols: dict[str, Column],
    activations: Activations,
) -> None:
    """Retire the entities these events retire now; note those they activate for later."""
    if rt.spec.retires is not None:
        col = entity_col(pool_of_table, rt.name, rt.spec.retires, cols)
        pool_of_table[id(col.table)].retire(col.idx)
    if rt.spec.activates is not None:
        activations.append((rt.name, cols))


def activate(
    pool_of_table: Mapping[int, EntityPool],
    streams: Mapping[str, StreamRuntime],
    activations: Activations,
) -> None:
    """Make the entities noted in ``activations`` drawable, from their events' times on."""
    for name, cols in activations:
        joined_at = cols["occurred_at"]
        assert isinstance(joined_at, np.ndarray)
        rt = streams[name]
        entity_pool(pool_of_table, rt, cols).activate(
            entity_idx(pool_of_table, rt, cols), joined_at
        )
