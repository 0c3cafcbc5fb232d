"""`seq`: a new id per event, `<prefix>-<shard>-<n>`."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from simfleet.columns import Column, FixedStrings
from simfleet.domain.mechanisms.base import DrawContext, FieldSpec, Fills

__all__ = ["SeqField", "seq_column"]


def seq_column(prefix: str, shard: int, start: int, n: int) -> FixedStrings:
    """``<prefix>-<shard:03>-<seq:010>`` ids for sequence numbers start .. start+n-1."""
    head = np.frombuffer(f"{prefix}-{shard:03d}-".encode(), dtype=np.uint8)
    values = np.arange(start, start + n, dtype=np.int64)
    pow10 = 10 ** np.arange(9, -1, -1, dtype=np.int64)
    digits = ((values[:, None] // pow10) % 10 + 48).astype(np.uint8)
    return FixedStrings(np.hstack([np.broadcast_to(head, (n, len(head))), digits]))


class SeqField(FieldSpec):
    """A new id: `{seq: ord}` gives `ord-007-0000000042`."""

    key: ClassVar[str] = "seq"
    fills: ClassVar[Fills] = "text"
    why: ClassVar[str] = (
        "Ids of things made by the event itself (an order, a booking), unique across the "
        "fleet and readable (shard and sequence), which follow-ups carry along; a uuid "
        "per event (event_id) is not an id the domain can refer back to."
    )

    seq: str = Field(description="a new id `<seq>-<shard>-<n>`")

    def draw(self, ctx: DrawContext) -> Column:
        """The next ``n`` ids of the prefix on this shard."""
        start = ctx.engine.next_seq(self.seq, ctx.n)
        return seq_column(self.seq, ctx.engine.shard, start, ctx.n)
