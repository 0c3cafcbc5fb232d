"""What `simctl fit` reads: per topic, its records, event times and keys.

Three kinds of SOURCE, told apart by what the folder holds:

- a `simctl record` folder (``manifest.json``): Kafka timestamps and keys, recorded schemas;
- a `simctl generate` folder or any folder of ``<topic>.jsonl`` / ``<topic>.avro`` files: the
  event time is ``--time-field`` or a field plainly named like one (``occurred_at``, ``ts``...).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import numpy.typing as npt

from simfleet.errors import ConfigError
from simfleet.recording import MANIFEST, open_source
from simfleet.timeutil import parse_instant_ms

__all__ = ["MIN_MS", "SHARED_STREAMS", "TIME_NAMES", "Topic", "as_ms", "read_source"]

# Names an event time plainly goes by, in the order they are tried.
TIME_NAMES = ("occurred_at", "event_time", "timestamp", "ts", "time", "created_at", "eventTime")
# Topics every simfleet domain has (its schemas/_shared): not the domain's own streams.
SHARED_STREAMS = ("ground_truth", "external_events", "metrics")
MIN_MS = 946_684_800_000  # 2000-01-01: a number below it is not an epoch-ms instant


@dataclass
class Topic:
    """One topic of the source: records (dicts), their instants (ms) and keys."""

    name: str
    records: list[dict[str, Any]]
    times: npt.NDArray[np.int64]
    keys: list[str | None] | None = None
    schema: dict[str, Any] | None = None
    time_field: str | None = None
    notes: list[str] = field(default_factory=list)


def as_ms(v: Any) -> int | None:  # noqa: PLR0911 - one return per kind of value
    """An instant as epoch ms: ms or s numbers, ISO-8601 text, datetimes; None otherwise."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, datetime):
        return round(v.timestamp() * 1000)
    if isinstance(v, int | float):
        if v >= MIN_MS:
            return int(v)
        if v >= MIN_MS / 1000:
            return int(v * 1000)
        return None
    if isinstance(v, str) and len(v) >= 10 and v[:4].isdigit() and v[4:5] == "-":
        try:
            return parse_instant_ms(v)
        except ValueError:
            return None
    return None


def _plain(rec: Any) -> dict[str, Any]:
    out = dict(rec)
    for k, v in out.items():
        if isinstance(v, datetime):
            out[k] = round(v.timestamp() * 1000)
        elif isinstance(v, uuid.UUID):
            out[k] = str(v)
    return out


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{path} line {n}: not JSON ({exc.msg}). Each line must hold one JSON "
                    "object (an event); fix or remove the line."
                ) from exc
            if not isinstance(rec, dict):
                raise ConfigError(
                    f"{path} line {n}: a JSON {type(rec).__name__}, not an object. Each line "
                    "must hold one event as a JSON object."
                )
            yield rec


def _time_field(name: str, records: list[dict[str, Any]], given: str | None) -> str:
    """The field holding the event time: ``given``, or a plainly named one."""
    sample = records[:200]
    if given is not None:
        bad = [r.get(given) for r in sample if as_ms(r.get(given)) is None]
        if bad:
            raise ConfigError(
                f"topic {name}: --time-field {given} holds {bad[0]!r}, not an instant. Give "
                "the field with the event time (epoch ms or s, or ISO-8601 text)."
            )
        return given
    for cand in TIME_NAMES:
        if all(as_ms(r.get(cand)) is not None for r in sample):
            return cand
    fields = sorted({k for r in sample for k in r})
    raise ConfigError(
        f"topic {name}: no field is plainly the event time (tried {', '.join(TIME_NAMES)}); "
        f"its fields are {', '.join(fields[:20])}. Pass --time-field FIELD."
    )


def _folder(path: Path, time_field: str | None) -> list[Topic]:
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".jsonl", ".avro"))
    files += sorted(p for p in path.iterdir() if p.is_file() and p.suffix == ".json")
    if not files:
        raise ConfigError(
            f"{path} holds no <topic>.jsonl, <topic>.json or <topic>.avro file and no "
            f"{MANIFEST}. Give a `simctl record` folder, a `simctl generate` folder or a "
            "folder of JSON lines files, one per topic (the topic is the file's stem)."
        )
    out: list[Topic] = []
    for p in files:
        schema: dict[str, Any] | None = None
        if p.suffix == ".avro":
            with p.open("rb") as fh:
                reader = fastavro.reader(fh)
                ws: Any = reader.writer_schema
                schema = ws if isinstance(ws, dict) else None
                records = [_plain(r) for r in reader]
        else:
            records = list(_jsonl(p))
        if not records:
            continue
        tf = _time_field(p.stem, records, time_field)
        times = np.array([as_ms(r.get(tf)) for r in records], dtype=np.int64)
        out.append(Topic(p.stem, records, times, None, schema, tf))
    return out


def _recording(path: Path, time_field: str | None) -> list[Topic]:
    src = open_source(path)
    out: list[Topic] = []
    for topic in src.topics:
        records: list[dict[str, Any]] = []
        times: list[int] = []
        keys: list[str | None] = []
        schema: dict[str, Any] | None = None
        for m in src.messages(topic):
            rec = None if m.value is None else src.decode(m.value)
            if rec is None:
                continue
            if schema is None:
                entry = next((e for e in src.book.entries.values() if topic in e["topics"]), None)
                if entry and entry.get("schema"):
                    schema = json.loads(entry["schema"])
            records.append(_plain(rec))
            times.append(m.timestamp)
            keys.append(None if m.key is None else m.key.decode("utf-8", "replace"))
        if not records:
            continue
        tf = None
        arr = np.array(times, dtype=np.int64)
        if time_field is not None:
            tf = _time_field(topic, records, time_field)
            arr = np.array([as_ms(r.get(tf)) for r in records], dtype=np.int64)
        out.append(Topic(topic, records, arr, keys, schema, tf))
    return out


def read_source(path: Path, time_field: str | None = None) -> list[Topic]:
    """Every topic of SOURCE with records, in time order; a ConfigError for a bad folder."""
    if not path.is_dir():
        raise ConfigError(
            f"SOURCE {path} is not a folder. Give a `simctl record` folder, a `simctl generate` "
            "folder or a folder of JSON lines files (one <topic>.jsonl per topic)."
        )
    topics = (
        _recording(path, time_field) if (path / MANIFEST).is_file() else _folder(path, time_field)
    )
    if not topics:
        raise ConfigError(f"SOURCE {path}: every topic is empty; there is nothing to fit.")
    for t in topics:
        order = np.argsort(t.times, kind="stable")
        t.times = t.times[order]
        t.records = [t.records[i] for i in order]
        if t.keys is not None:
            t.keys = [t.keys[i] for i in order]
    return topics
