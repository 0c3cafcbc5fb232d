"""Chaos on the way out: the one place where encoded records are dropped, duplicated, delayed,
reordered, corrupted, poisoned, modified, or trigger an injected failure event, for Kafka (the
worker) and for files (``simctl generate``) alike.

Every draw comes from a generator keyed by (seed, shard, topic, tick start, action index), so a
run is reproducible; each application yields one ground-truth record (kind ``chaos``) for the
domain's truth topic. A batch whose topic no action in force matches never reaches this module:
the caller keeps its columnar path (``Chaos.actions_for`` is one dict lookup per topic).
"""

from __future__ import annotations

import heapq
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

import numpy as np

from simfleet.codec import TopicEncoder, records_to_columns
from simfleet.columns import Batch, column_to_list
from simfleet.scenarios import ChaosAction

__all__ = ["Chaos", "Encoded", "InForce", "plain"]

InForce = tuple[tuple[str, ChaosAction], ...]  # (scenario id, action), as ``chaos_at`` gives
_NS = uuid.UUID("5e3b0c52-5d0e-4a8e-9d3c-6a1c0f1e7a11")
HUGE_STRING = 100_000


@dataclass(slots=True)
class Encoded:
    """Framed records of one topic, ready to produce or to write."""

    topic: str
    values: list[bytes] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)

    def add(self, value: bytes, key: bytes | None, ts: int) -> None:
        """Append one record."""
        self.values.append(value)
        self.keys.append(key)
        self.timestamps.append(ts)

    def framed(self) -> tuple[bytes, list[int]]:
        """One buffer and n + 1 offsets, as the producer's hot loop takes them."""
        offsets = [0]
        for v in self.values:
            offsets.append(offsets[-1] + len(v))
        return b"".join(self.values), offsets


@dataclass(slots=True)
class _Rec:
    value: bytes
    key: bytes | None
    ts: int  # Kafka timestamp: occurred_at
    event_id: str
    corrupt: bool = False  # later actions that decode leave it alone


class Chaos:
    """The chaos of one shard (or of a whole ``generate`` run): applies actions to batches and
    holds the records produced late (delays, delayed duplicates) until they fall due."""

    def __init__(
        self,
        seed: int,
        shard: int,
        domain: str,
        encoders: Mapping[str, TopicEncoder],
        share: float = 1.0,
    ) -> None:
        self.seed = seed
        self.shard = shard
        self.share = share  # of the fleet's records this instance sees: a rate is split by it
        self._span_s = 0.0  # the tick being applied, in sim seconds (a rate's window)
        self.domain = domain
        self.encoders = encoders
        self.counts: dict[str, int] = {}
        self._pending: list[tuple[int, int, str, bytes, bytes | None, int]] = []
        self._seq = 0
        self._match: dict[tuple[tuple[int, ...], str], InForce] = {}

    def rebind(self) -> None:
        """Forget the cache keyed by object identity (after a checkpoint was loaded)."""
        self._match.clear()

    def actions_for(self, in_force: InForce, topic: str) -> InForce:
        """The actions in force that touch ``topic`` (cached: one lookup per batch)."""
        # actions are not hashable (``set`` is a dict); the specs outlive the cache entries
        key = (tuple(id(a) for _, a in in_force), topic)
        hit = self._match.get(key)
        if hit is None:
            if len(self._match) > 4096:
                self._match.clear()
            hit = self._match[key] = tuple(
                (sid, a)
                for sid, a in in_force
                if fnmatchcase(topic, a.streams) and (a.action != "inject" or a.emit != topic)
            )
        return hit

    def _rng(self, topic: str, t0: int, k: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.shard + 1, zlib.crc32(topic.encode()), t0, k])

    def apply(
        self, batch: Batch, t0: int, actions: InForce, t1: int | None = None
    ) -> tuple[list[Encoded], list[dict[str, Any]]]:
        """The records of ``batch`` (of the tick ``[t0, t1)``) after ``actions`` (those due now;
        late ones are held), and one ground-truth record per application."""
        self._span_s = 0.0 if t1 is None else (t1 - t0) / 1000
        enc = self.encoders[batch.topic]
        buf, offsets = enc.encode(batch.columns, batch.n)
        off = offsets.tolist()
        keys = batch.keys()
        ts = batch.occurred_at.tolist()
        ids_col = batch.columns.get("event_id")
        ids = [str(x) for x in column_to_list(ids_col)] if ids_col is not None else [""] * batch.n
        recs = [_Rec(buf[off[i] : off[i + 1]], keys[i], ts[i], ids[i]) for i in range(batch.n)]
        truth: list[dict[str, Any]] = []
        extra: dict[str, Encoded] = {}
        for k, (sid, a) in enumerate(actions):
            rng = self._rng(batch.topic, t0, k)
            recs = self._one(a, sid, batch.topic, enc, recs, rng, truth, extra)
        out = Encoded(batch.topic)
        for r in recs:
            out.add(r.value, r.key, r.ts)
        return [out, *extra.values()], truth

    def due(self, until: int) -> list[Encoded]:
        """The held records whose produce time is before ``until``, in that order."""
        by_topic: dict[str, Encoded] = {}
        while self._pending and self._pending[0][0] < until:
            _, _, topic, value, key, ts = heapq.heappop(self._pending)
            by_topic.setdefault(topic, Encoded(topic)).add(value, key, ts)
        return list(by_topic.values())

    def drain(self) -> list[Encoded]:
        """Every held record (the run ends: late records are still produced)."""
        return self.due(2**62)

    @property
    def held(self) -> int:
        """Records waiting for their produce time."""
        return len(self._pending)

    # -- the actions

    def _hold(self, at: int, topic: str, r: _Rec) -> None:
        self._seq += 1
        heapq.heappush(self._pending, (at, self._seq, topic, r.value, r.key, r.ts))

    def _truth(
        self, sid: str, a: ChaosAction, topic: str, r: _Rec, n: int, produce_at: int, detail: str
    ) -> dict[str, Any]:
        self.counts[a.action] = self.counts.get(a.action, 0) + 1
        return {
            "event_id": str(uuid.uuid5(_NS, f"{a.action}:{topic}:{r.event_id}:{r.ts}:{n}")),
            "occurred_at": r.ts,
            "domain": self.domain,
            "kind": "chaos",
            "subject_id": r.event_id,
            "label": a.action,
            "moved_parameters": "",
            "moved_streams": topic,
            "window_start": r.ts,
            "window_end": produce_at,
            "action": a.action,
            "topic": topic,
            "detail": f"scenario={sid}" + (f"; {detail}" if detail else ""),
        }

    def _delays(self, a: ChaosAction, rng: np.random.Generator, n: int) -> list[int]:
        if a.law == "exponential":
            return np.maximum(1, rng.exponential(a.delay, n)).astype(np.int64).tolist()  # type: ignore[no-any-return]
        if a.law == "uniform":
            return rng.integers(1, 2 * a.delay + 1, n).tolist()  # type: ignore[no-any-return]
        return [a.delay] * n

    def _hits(self, a: ChaosAction, n: int, rng: np.random.Generator) -> list[bool]:
        """Which of ``n`` candidates an action hits: each with its probability, or a Poisson
        count of its rate over the tick (this instance's share of it), drawn among them."""
        if a.probability is not None:
            return (rng.random(n) < a.probability).tolist()  # type: ignore[no-any-return]
        k = min(n, int(rng.poisson((a.rate or 0.0) * self._span_s * self.share)))
        hit = np.zeros(n, dtype=bool)
        hit[rng.choice(n, k, replace=False)] = True
        return hit.tolist()

    def _one(
        self,
        a: ChaosAction,
        sid: str,
        topic: str,
        enc: TopicEncoder,
        recs: list[_Rec],
        rng: np.random.Generator,
        truth: list[dict[str, Any]],
        extra: dict[str, Encoded],
    ) -> list[_Rec]:
        if a.action == "reorder":
            return self._reorder(a, sid, topic, recs, rng, truth)
        hit = self._hits(a, len(recs), rng)
        picked = [i for i, h in enumerate(hit) if h]
        if a.action in ("drop", "delay", "duplicate", "corrupt"):
            return self._simple(a, sid, topic, enc, recs, hit, rng, truth)
        picked = [i for i in picked if not recs[i].corrupt]
        if picked and a.action in ("poison", "modify"):
            return self._rewrite(a, sid, topic, enc, recs, picked, rng, truth)
        # inject: a failure event on ``emit`` for each picked trigger
        if not picked or a.action != "inject":
            return recs
        return self._inject(a, sid, topic, enc, recs, picked, truth, extra)

    def _simple(
        self,
        a: ChaosAction,
        sid: str,
        topic: str,
        enc: TopicEncoder,
        recs: list[_Rec],
        hit: list[bool],
        rng: np.random.Generator,
        truth: list[dict[str, Any]],
    ) -> list[_Rec]:
        picked = [i for i, h in enumerate(hit) if h]
        if not picked:
            return recs
        if a.action == "drop":
            for i in picked:
                truth.append(self._truth(sid, a, topic, recs[i], 0, -1, "not produced"))
            return [r for r, h in zip(recs, hit, strict=True) if not h]
        if a.action == "delay":
            delays = self._delays(a, rng, len(picked))
            for i, d in zip(picked, delays, strict=True):
                r = recs[i]
                self._hold(r.ts + d, topic, r)
                truth.append(self._truth(sid, a, topic, r, 0, r.ts + d, f"delay_ms={d}"))
            return [r for r, h in zip(recs, hit, strict=True) if not h]
        if a.action == "duplicate":
            out: list[_Rec] = []
            for r, h in zip(recs, hit, strict=True):
                out.append(r)
                if not h:
                    continue
                for c in range(1, a.copies):
                    at = r.ts + a.delay * c
                    if a.delay:
                        self._hold(at, topic, r)
                    else:
                        out.append(r)
                    detail = f"copy={c + 1}/{a.copies}; delay_ms={a.delay * c}"
                    truth.append(self._truth(sid, a, topic, r, c, at, detail))
            return out
        # corrupt
        modes = rng.integers(0, len(a.modes), len(picked)).tolist()
        for i, m in zip(picked, modes, strict=True):
            r = recs[i]
            mode = a.modes[m]
            recs[i] = _Rec(_corrupt(r.value, mode, enc, rng), r.key, r.ts, r.event_id, True)
            truth.append(self._truth(sid, a, topic, r, 0, r.ts, f"mode={mode}"))
        return recs

    def _reorder(
        self,
        a: ChaosAction,
        sid: str,
        topic: str,
        recs: list[_Rec],
        rng: np.random.Generator,
        truth: list[dict[str, Any]],
    ) -> list[_Rec]:
        # a key with two or more records in the batch is picked with the probability; its
        # records keep their slots but fill them in reverse order
        slots: dict[bytes | None, list[int]] = {}
        for i, r in enumerate(recs):
            slots.setdefault(r.key, []).append(i)
        many = [s for s in slots.values() if len(s) > 1]
        if not many:
            return recs
        hit = self._hits(a, len(many), rng)
        out = list(recs)
        for s, h in zip(many, hit, strict=True):
            if not h:
                continue
            for n, (dst, src) in enumerate(zip(s, reversed(s), strict=True)):
                out[dst] = recs[src]
                detail = f"position={n + 1}/{len(s)}"
                truth.append(self._truth(sid, a, topic, recs[src], 0, recs[src].ts, detail))
        return out

    def _rewrite(
        self,
        a: ChaosAction,
        sid: str,
        topic: str,
        enc: TopicEncoder,
        recs: list[_Rec],
        picked: list[int],
        rng: np.random.Generator,
        truth: list[dict[str, Any]],
    ) -> list[_Rec]:
        rows = [_decode(enc, recs[i].value) for i in picked]
        details: list[str] = []
        if a.action == "modify":
            for row in rows:
                row.update(a.set)
                details.append("set " + ", ".join(f"{k}={v}" for k, v in a.set.items()))
        else:
            fields = enc.schema.parsed["fields"]
            numeric = [
                f["name"]
                for f in fields
                if f["type"] in ("double", "float", "long", "int") and f["name"] != "occurred_at"
            ]
            strings = [
                f["name"] for f in fields if f["type"] == "string" and f["name"] != "event_id"
            ]
            kinds = [
                k
                for k in a.kinds
                if (k != "negative" or numeric) and (k != "huge_string" or strings)
            ]
            draws = rng.integers(0, len(kinds), len(rows)).tolist()
            for row, d in zip(rows, draws, strict=True):
                kind = kinds[d]
                if kind == "negative":
                    row[numeric[0]] = -abs(row[numeric[0]] or 1)
                    details.append(f"kind=negative; field={numeric[0]}")
                elif kind == "epoch":
                    row["occurred_at"] = 86_400_000  # 1970-01-02
                    details.append("kind=epoch; field=occurred_at")
                elif kind == "empty_id":
                    row["event_id"] = ""
                    details.append("kind=empty_id; field=event_id")
                else:
                    row[strings[0]] = "x" * HUGE_STRING
                    details.append(f"kind=huge_string; field={strings[0]}")
        buf, offsets = enc.encode(records_to_columns(enc.schema.parsed, rows), len(rows))
        off = offsets.tolist()
        for j, i in enumerate(picked):
            r = recs[i]
            recs[i] = _Rec(buf[off[j] : off[j + 1]], r.key, r.ts, r.event_id)
            truth.append(self._truth(sid, a, topic, r, 0, r.ts, details[j]))
        return recs

    def _inject(
        self,
        a: ChaosAction,
        sid: str,
        topic: str,
        enc: TopicEncoder,
        recs: list[_Rec],
        picked: list[int],
        truth: list[dict[str, Any]],
        extra: dict[str, Encoded],
    ) -> list[_Rec]:
        assert a.emit is not None
        target = self.encoders[a.emit]
        rows = []
        for i in picked:
            src = _decode(enc, recs[i].value)
            row = {
                f["name"]: src.get(f["name"], _zero(f["type"]))
                for f in target.schema.parsed["fields"]
            }
            row.update(a.set)
            row["event_id"] = str(uuid.uuid5(_NS, f"inject:{a.emit}:{recs[i].event_id}"))
            row["occurred_at"] = recs[i].ts
            rows.append(row)
        buf, offsets = target.encode(records_to_columns(target.schema.parsed, rows), len(rows))
        off = offsets.tolist()
        out = extra.setdefault(a.emit, Encoded(a.emit))
        for j, i in enumerate(picked):
            r = recs[i]
            out.add(buf[off[j] : off[j + 1]], r.key, r.ts)
            made = _Rec(b"", r.key, r.ts, rows[j]["event_id"])
            truth.append(self._truth(sid, a, a.emit, made, 0, r.ts, f"trigger={r.event_id}"))
        return recs


def _decode(enc: TopicEncoder, value: bytes) -> dict[str, Any]:
    return enc.decode(value)


def plain(rec: Any) -> dict[str, Any]:
    """A decoded record with its timestamps back as epoch ms, as the engine writes them."""
    return {
        k: int(v.timestamp() * 1000) if isinstance(v, datetime) else v for k, v in dict(rec).items()
    }


def _zero(avro_type: Any) -> Any:
    base = avro_type.get("type") if isinstance(avro_type, dict) else avro_type
    if isinstance(base, list):
        return None
    return {"string": "", "boolean": False, "double": 0.0, "float": 0.0}.get(str(base), 0)


def _corrupt(value: bytes, mode: str, enc: TopicEncoder, rng: np.random.Generator) -> bytes:
    if mode == "append":
        return value + rng.integers(0, 256, int(rng.integers(1, 17)), dtype=np.uint8).tobytes()
    if mode == "truncate":
        return value[: len(enc.prefix) + (len(value) - len(enc.prefix)) // 2]
    if mode == "magic":
        return b"\x7f" + value[1:]
    # schema_id: a fingerprint (single-object) or a registry id (Confluent) nobody knows
    width = len(enc.prefix) - (2 if enc.prefix[:1] == b"\xc3" else 1)
    head = len(enc.prefix) - width
    return value[:head] + b"\xfe" * width + value[len(enc.prefix) :]
