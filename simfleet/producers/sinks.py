"""File sinks for ``simctl generate``: one file per topic, JSON lines or Avro container files.

Avro files are written by the pipeline's vectorised encoder, one block per batch, with a datum
index beside each (``<topic>.avro.index``: each record's length, key and timestamp, see
``simfleet.avrofile``) so that ``simctl replay`` sends the datums without decoding them. A topic
whose key field is not known gets no index (and is decoded on replay).

Files are written as ``<name>.partial`` and renamed when the run completes, so an interrupted
run leaves no half-written file under a final name; an aborted run removes its partial files,
and a new run removes any an earlier, killed one left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
from fastavro.write import Writer

from simfleet.avrofile import IndexWriter, index_path, write_block
from simfleet.codec import Decoder, RecordEncoder, SchemaSet, records_to_columns
from simfleet.columns import Batch, Column
from simfleet.errors import SchemaError
from simfleet.producers.chaos import Encoded, plain

__all__ = ["FileSink"]

Format = Literal["jsonl", "avro"]
# the field every generated record's Kafka timestamp comes from
TIMESTAMP_FIELD = "occurred_at"


class FileSink:
    """Writes batches to ``<out>/<topic>.jsonl`` or ``<out>/<topic>.avro``."""

    def __init__(
        self,
        out: Path,
        fmt: Format,
        schemas: SchemaSet,
        seed: int,
        key_fields: Mapping[str, str] | None = None,
    ) -> None:
        self.out = out
        self.fmt = fmt
        self.schemas = schemas
        self.seed = seed
        # the field each topic's Kafka key comes from (``topology.key_fields``): the index keys
        self.key_fields = dict(key_fields or {})
        self.counts: dict[str, int] = {}
        self.discarded_bytes = 0  # what an incomplete run had written before removing it
        self._files: dict[str, IO[Any]] = {}
        self._syncs: dict[str, bytes] = {}
        self._encoders: dict[str, RecordEncoder] = {}
        self._indexes: dict[str, IndexWriter | None] = {}
        self._index_files: dict[str, IO[bytes]] = {}
        self._corrupt: dict[str, IO[str]] = {}
        self._decoder = Decoder(schemas)
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob("*.partial"):
            stale.unlink()

    def _final(self, topic: str) -> Path:
        return self.out / f"{topic}.{self.fmt}"

    def _open(self, topic: str) -> IO[Any]:
        fh = self._files.get(topic)
        if fh is None:
            partial = self._final(topic).with_suffix(f".{self.fmt}.partial")
            if self.fmt == "jsonl":
                fh = partial.open("w", encoding="utf-8")
            else:
                entry = self.schemas.for_topic(topic)
                fh = partial.open("wb")
                # a sync marker from (seed, topic) keeps container files byte-identical
                marker = zlib.crc32(f"{self.seed}:{topic}".encode()).to_bytes(4, "little") * 4
                Writer(fh, entry.parsed, codec="null", sync_marker=marker)  # the header only
                self._syncs[topic] = marker
                self._encoders[topic] = RecordEncoder(entry.parsed)
                key_field = self.key_fields.get(topic)
                index = None
                if key_field is not None and TIMESTAMP_FIELD in entry.fields:
                    ifh = self._index_partial(topic).open("wb")
                    self._index_files[topic] = ifh
                    index = IndexWriter(ifh, marker, key_field, TIMESTAMP_FIELD)
                self._indexes[topic] = index
            self._files[topic] = fh
        return fh

    def _index_partial(self, topic: str) -> Path:
        return index_path(self._final(topic)).with_suffix(".index.partial")

    def write(self, batches: list[Batch]) -> None:
        """Append batches: Avro encoded from the columns, JSON lines through dicts."""
        for b in batches:
            if self.fmt == "jsonl":
                self.write_records(b.topic, b.to_records())
            elif b.n:
                self._write_columns(b.topic, b.columns, b.n, functools.partial(_batch_keys, b))

    def _write_columns(
        self,
        topic: str,
        columns: Mapping[str, Column],
        n: int,
        keys_of: Callable[[str], list[bytes | None]],
    ) -> None:
        """One Avro block of ``n`` records, and its index entry (``keys_of(field)``: keys)."""
        fh = self._open(topic)
        datums, offsets = self._encoders[topic].encode(columns, n)
        write_block(fh, datums, n, self._syncs[topic])
        index = self._indexes[topic]
        if index is not None:
            ts = columns[TIMESTAMP_FIELD]
            index.add(np.diff(offsets), np.asarray(ts), keys_of(self.key_fields[topic]))
        self.counts[topic] = self.counts.get(topic, 0) + n

    def write_encoded(self, encoded: list[Encoded]) -> None:
        """Append framed records (chaos output): decoded back to records; those that do not
        decode (corrupted) go to ``<topic>.corrupt.jsonl`` as hex, with their key and time."""
        for e in encoded:
            good: list[dict[str, Any]] = []
            bad: list[dict[str, Any]] = []
            for value, key, ts in zip(e.values, e.keys, e.timestamps, strict=True):
                try:
                    good.append(plain(self._decoder.decode(value)))
                except SchemaError as exc:
                    bad.append(
                        {
                            "key": None if key is None else key.decode(),
                            "timestamp": ts,
                            "value_hex": value.hex(),
                            "error": str(exc),
                        }
                    )
            self.write_records(e.topic, good)
            if bad:
                fh = self._corrupt.get(e.topic)
                if fh is None:
                    fh = self._corrupt[e.topic] = self._corrupt_path(e.topic, True).open(
                        "w", encoding="utf-8"
                    )
                fh.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in bad)
                name = f"{e.topic}.corrupt"
                self.counts[name] = self.counts.get(name, 0) + len(bad)

    def _corrupt_path(self, topic: str, partial: bool) -> Path:
        return self.out / f"{topic}.corrupt.jsonl{'.partial' if partial else ''}"

    def write_records(self, topic: str, records: list[dict[str, Any]]) -> None:
        """Append records of one topic (external events, ground truth)."""
        if not records:
            return
        if self.fmt == "avro":
            schema = self.schemas.for_topic(topic).parsed
            self._write_columns(
                topic,
                records_to_columns(schema, records),
                len(records),
                lambda kf: [None if r.get(kf) is None else str(r[kf]).encode() for r in records],
            )
            return
        fh = self._open(topic)
        fh.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        self.counts[topic] = self.counts.get(topic, 0) + len(records)

    def close(self, complete: bool = True) -> list[Path]:
        """Flush and close; rename to final names only when ``complete``. An incomplete run
        (an error, a full disk, Ctrl-C) removes every partial file, even when closing one
        fails, and leaves their size in ``discarded_bytes``."""
        done = []
        for topic, fh in self._files.items():
            partial = self._final(topic).with_suffix(f".{self.fmt}.partial")
            ifh = self._index_files.get(topic)
            if complete:
                fh.close()
                if ifh is not None:
                    ifh.close()
                partial.replace(self._final(topic))
                done.append(self._final(topic))
                # the index last: an index beside a file always describes all of it
                if ifh is not None:
                    self._index_partial(topic).replace(index_path(self._final(topic)))
            else:
                self._discard(fh, partial)
                if ifh is not None:
                    self._discard(ifh, self._index_partial(topic))
        for topic, fh in self._corrupt.items():
            if complete:
                fh.close()
                self._corrupt_path(topic, True).replace(self._corrupt_path(topic, False))
                done.append(self._corrupt_path(topic, False))
            else:
                self._discard(fh, self._corrupt_path(topic, True))
        return done

    def _discard(self, fh: IO[Any], path: Path) -> None:
        # closing flushes, and on a full disk the flush fails too: the file goes all the same
        with contextlib.suppress(OSError):
            fh.close()
        with contextlib.suppress(OSError):
            self.discarded_bytes += path.stat().st_size
        path.unlink(missing_ok=True)


def _batch_keys(batch: Batch, key_field: str) -> list[bytes | None]:
    """A batch's Kafka keys from ``key_field`` (the batch's own key field, as a rule); a
    field the batch lacks gives no keys, as the record read back would."""
    if key_field == batch.key_field:
        return batch.keys()
    if key_field not in batch.columns:
        return [None] * batch.n
    return dataclasses.replace(batch, key_field=key_field).keys()
