"""Label noise in the engine: friendly and unreported fraud moved between a stream's dispute
and close follow-ups (the model: simfleet.domain.mechanisms.label_noise).

The chains decide, per event of the noisy stream, which follow-ups fire; this module then moves
a share of those bound for the close to the dispute (friendly) and of those bound for the
dispute to the close (unreported), from its own random stream keyed by (seed, shard, domain,
stream), so every other draw of the shard is as it was. The moved events carry the declared
tags, and each move is a ground-truth record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from simfleet.codec.catalog import FieldType
from simfleet.columns import (
    Column,
    FixedStrings,
    StrTable,
    TableStrings,
    concat_columns,
    take_column,
)
from simfleet.domain.mechanisms.label_noise import TRUTH_KIND, LabelNoiseSpec
from simfleet.domain.spec import DomainSpec
from simfleet.producers.engine.fields import as_table_strings, uuid_column, weight
from simfleet.producers.pools import stable_hash

__all__ = ["LabelNoise", "joined_truth", "truth_record"]

Mask = npt.NDArray[np.bool_]


def truth_record(
    given: Mapping[str, Column], types: Mapping[str, FieldType], consts: Mapping[str, str]
) -> dict[str, Column]:
    """Ground-truth columns in the schema's order: ``given``, then ``consts``, then blanks."""
    n = len(given["occurred_at"])
    zeros = np.zeros(n, dtype=np.int64)
    out: dict[str, Column] = {}
    for f, t in types.items():
        if f in given:
            out[f] = given[f]
        elif t.kind == "str":
            out[f] = TableStrings(StrTable((consts.get(f, ""),)), zeros)
        else:
            out[f] = zeros.copy()
    return out


def joined_truth(parts: list[dict[str, Column]]) -> dict[str, Column] | None:
    """Truth records' parts as one, by time; strings other than the event id stay table
    strings, so the tick's truth batches of every source merge (a gathered fixed-width column
    beside table strings of another width cannot)."""
    if not parts:
        return None
    cols = {k: concat_columns([p[k] for p in parts]) for k in parts[0]}
    times = cols["occurred_at"]
    assert isinstance(times, np.ndarray)
    order = np.argsort(times, kind="stable")
    return {
        k: take_column(
            c if k == "event_id" or not isinstance(c, FixedStrings) else as_table_strings(c), order
        )
        for k, c in cols.items()
    }


class LabelNoise:
    """The label noise of one shard: its random stream and the truth records not yet taken."""

    def __init__(
        self,
        spec: LabelNoiseSpec,
        domain: DomainSpec,
        seed: int,
        shard: int,
        truth_types: Mapping[str, FieldType] | None,
    ) -> None:
        self.spec = spec
        self.domain = domain
        self.rng = np.random.default_rng(
            [seed, shard, stable_hash("label_noise", domain.domain, spec.stream)]
        )
        self.truth_types = truth_types
        self._truth: list[dict[str, Column]] = []

    def move(
        self,
        cols: dict[str, Column],
        masks: dict[str, Mask],
        params: Mapping[str, float],
    ) -> dict[str, Column]:
        """Move rows between the masks of the dispute and close targets (in place), and return
        the columns with the moved rows' tags set."""
        s = self.spec
        close, dispute = masks.get(s.close), masks.get(s.dispute)
        if close is None or dispute is None:
            return cols
        n = len(close)
        u = self.rng.random(n)
        moved: dict[str, Mask] = {}
        kinds = s.kinds()
        if "friendly" in kinds:
            moved["friendly"] = close & (u < weight(self.domain, kinds["friendly"].share, params))
        if "unreported" in kinds:
            p = weight(self.domain, kinds["unreported"].share, params)
            moved["unreported"] = dispute & (u < p)
        friendly = moved.get("friendly", np.zeros(n, np.bool_))
        unreported = moved.get("unreported", np.zeros(n, np.bool_))
        if not friendly.any() and not unreported.any():
            return cols
        before = {t: as_table_strings(cols[t]) for t in self.domain.tags if t in cols}
        masks[s.close] = (close & ~friendly) | unreported
        masks[s.dispute] = (dispute & ~unreported) | friendly
        cols = dict(cols)
        for kind, rows in moved.items():
            if not rows.any():
                continue
            for tag, value in kinds[kind].set.items():
                text = str(value).lower() if isinstance(value, bool) else str(value)
                old = as_table_strings(cols[tag]) if tag in cols else None
                values = old.table.values if old is not None else ()
                idx = old.idx.copy() if old is not None else np.full(n, -1, np.int64)
                table = StrTable((*values, text))
                idx[rows] = len(values)
                cols[tag] = TableStrings(table, idx)
            self._record(kind, rows, cols, before)
        return cols

    def _record(
        self, kind: str, rows: Mask, cols: Mapping[str, Column], before: Mapping[str, TableStrings]
    ) -> None:
        """One ground-truth record per moved row: what was moved, and the tags it had."""
        if self.truth_types is None:
            return
        m = int(rows.sum())
        times = cols["occurred_at"]
        assert isinstance(times, np.ndarray)
        texts = {t: col.table.texts(col.idx[rows]) for t, col in before.items()}
        had = [
            json.dumps({t: v[i] for t, v in texts.items() if v[i]}, sort_keys=True)
            for i in range(m)
        ]
        table = StrTable(tuple(sorted(set(had))))
        given: dict[str, Column] = {
            "event_id": uuid_column(self.rng, m),
            "occurred_at": times[rows],
            "subject_id": as_table_strings(take_column(cols[self.spec.subject], rows)),
            "label": TableStrings(StrTable((kind,)), np.zeros(m, np.int64)),
            "window_start": times[rows],
            "window_end": times[rows],
            "detail": TableStrings(table, np.asarray([table.lookup[h] for h in had], np.int64)),
        }
        consts = {
            "domain": self.domain.domain,
            "kind": TRUTH_KIND,
            "topic": self.domain.topic(self.spec.stream),
        }
        self._truth.append(truth_record(given, self.truth_types, consts))

    def take_truth(self) -> dict[str, Column] | None:
        """The ground-truth records of the moves since the last call, by time."""
        parts, self._truth = self._truth, []
        return joined_truth(parts)
