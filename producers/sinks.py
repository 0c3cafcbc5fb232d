"""File sinks for ``simctl generate``: one file per topic, JSON lines or Avro container files.

Files are written as ``<name>.partial`` and renamed when the run completes, so an interrupted
run leaves no half-written file under a final name; an aborted run removes its partial files,
and a new run removes any an earlier, killed one left.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import IO, Any, Literal

from fastavro.write import Writer

from producers.chaos import Encoded, plain
from simfleet.codec import Decoder, SchemaSet
from simfleet.columns import Batch
from simfleet.errors import SchemaError

__all__ = ["FileSink"]

Format = Literal["jsonl", "avro"]


class FileSink:
    """Writes batches to ``<out>/<topic>.jsonl`` or ``<out>/<topic>.avro``."""

    def __init__(self, out: Path, fmt: Format, schemas: SchemaSet, seed: int) -> None:
        self.out = out
        self.fmt = fmt
        self.schemas = schemas
        self.seed = seed
        self.counts: dict[str, int] = {}
        self._files: dict[str, IO[Any]] = {}
        self._writers: dict[str, Writer] = {}
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
                fh = partial.open("wb")
                # a sync marker from (seed, topic) keeps container files byte-identical
                marker = zlib.crc32(f"{self.seed}:{topic}".encode()).to_bytes(4, "little") * 4
                self._writers[topic] = Writer(
                    fh, self.schemas.for_topic(topic).parsed, codec="null", sync_marker=marker
                )
            self._files[topic] = fh
        return fh

    def write(self, batches: list[Batch]) -> None:
        """Append batches (records converted to dicts: files are an edge, not the hot path)."""
        for b in batches:
            self.write_records(b.topic, b.to_records())

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
        fh = self._open(topic)
        if self.fmt == "jsonl":
            fh.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        else:
            w = self._writers[topic]
            for r in records:
                w.write(r)
        self.counts[topic] = self.counts.get(topic, 0) + len(records)

    def close(self, complete: bool = True) -> list[Path]:
        """Flush and close; rename to final names only when ``complete``."""
        done = []
        for topic, fh in self._files.items():
            if topic in self._writers:
                self._writers[topic].flush()
            fh.close()
            partial = self._final(topic).with_suffix(f".{self.fmt}.partial")
            if complete:
                partial.replace(self._final(topic))
                done.append(self._final(topic))
            else:
                partial.unlink(missing_ok=True)
        for topic, fh in self._corrupt.items():
            fh.close()
            if complete:
                self._corrupt_path(topic, True).replace(self._corrupt_path(topic, False))
                done.append(self._corrupt_path(topic, False))
        return done
