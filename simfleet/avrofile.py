"""Avro object container files written from encoded buffers, and the datum index beside them.

``simctl generate --format avro`` writes each topic's file with the pipeline's vectorised
encoder: one block per batch (record count, byte size, the datums as the encoder laid them out,
the sync marker), and beside it ``<topic>.avro.index``, which holds for each block the length,
Kafka key and timestamp of every datum. With the index a replay sends a file's datums as they
are, framed, without decoding them; a file without one (an older folder, another writer) is
decoded and encoded again.

The index (little-endian, written as the blocks are, byte-identical for the same records)::

    magic  b"SFAVIDX1"
    sync   the container file's 16-byte sync marker (ties the index to its file)
    meta   int32 length + UTF-8 JSON: {"version": 1, "key_field": ..., "timestamp_field": ...}
    then per block, in file order:
      n (int64), key bytes in all (int64),
      n datum lengths (int64), n timestamps (int64), n key lengths (int64, -1: no key),
      the keys' bytes one after the other

Reading checks the index against the container (sync marker, each block's count and size),
so an index that does not belong to its file is refused, never trusted.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from simfleet.errors import ConfigError

__all__ = [
    "INDEX_SUFFIX",
    "Block",
    "ContainerHeader",
    "DatumIndex",
    "IndexBlock",
    "IndexWriter",
    "count_records",
    "index_path",
    "read_blocks",
    "read_header",
    "write_block",
]

INDEX_SUFFIX = ".index"
_MAGIC = b"SFAVIDX1"
_CONTAINER_MAGIC = b"Obj\x01"
_SYNC = 16
_VERSION = 1
_I64 = np.dtype("<i8")


def index_path(container: Path) -> Path:
    """Where the index of a container file lives: ``<topic>.avro.index``."""
    return container.with_name(container.name + INDEX_SUFFIX)


def _long(value: int) -> bytes:
    """An Avro long: zig-zag, then a base-128 varint."""
    z = (value << 1) ^ (value >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def write_block(fh: IO[bytes], datums: bytes, count: int, sync: bytes) -> None:
    """Append one uncompressed block of ``count`` datums (codec ``null``) to a container."""
    fh.write(_long(count))
    fh.write(_long(len(datums)))
    fh.write(datums)
    fh.write(sync)


class IndexWriter:
    """Appends one entry per container block to ``<topic>.avro.index``."""

    def __init__(self, fh: IO[bytes], sync: bytes, key_field: str, timestamp_field: str) -> None:
        meta = json.dumps(
            {"version": _VERSION, "key_field": key_field, "timestamp_field": timestamp_field},
            sort_keys=True,
        ).encode()
        fh.write(_MAGIC + sync + struct.pack("<i", len(meta)) + meta)
        self._fh = fh

    def add(
        self,
        lengths: npt.NDArray[np.int64],
        timestamps: npt.NDArray[np.int64] | Sequence[int],
        keys: Sequence[bytes | None],
    ) -> None:
        """The entry of the block just written: its datums' lengths, timestamps and keys."""
        n = len(keys)
        key_lens = np.fromiter((-1 if k is None else len(k) for k in keys), _I64, n)
        blob = b"".join(k for k in keys if k is not None)
        self._fh.write(struct.pack("<qq", n, len(blob)))
        self._fh.write(np.asarray(lengths, _I64).tobytes())
        self._fh.write(np.asarray(timestamps, _I64).tobytes())
        self._fh.write(key_lens.tobytes())
        self._fh.write(blob)


@dataclass(frozen=True)
class ContainerHeader:
    """What a container file's header says, and where its first block starts."""

    schema: dict[str, Any]
    codec: str
    sync: bytes
    data_start: int


class _Reader:
    """Varints and bytes off a buffer, with the file named in every error."""

    def __init__(self, data: bytes | mmap.mmap, path: Path, pos: int = 0) -> None:
        self.data = data
        self.path = path
        self.pos = pos

    def fail(self, what: str) -> ConfigError:
        return ConfigError(
            f"{self.path}: {what} at byte {self.pos}; the file is truncated or not written by "
            "`simctl generate`. Regenerate the folder."
        )

    def long(self) -> int:
        shift = z = 0
        while True:
            if self.pos >= len(self.data):
                raise self.fail("unexpected end")
            b = self.data[self.pos]
            self.pos += 1
            z |= (b & 0x7F) << shift
            if b < 0x80:
                return (z >> 1) ^ -(z & 1)
            shift += 7
            if shift > 63:
                raise self.fail("a malformed varint")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail("unexpected end")
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out


def read_header(fh: IO[bytes], path: Path) -> ContainerHeader:
    """The header of an Avro object container file (magic, metadata map, sync marker)."""
    head = fh.read(1 << 16)
    try:
        return _parse_header(head, path)
    except ConfigError:
        if len(head) < 1 << 16:
            raise
    # the header is the schema and a little more: a schema this large is read in full
    return _parse_header(head + fh.read(), path)


def _parse_header(head: bytes, path: Path) -> ContainerHeader:
    r = _Reader(head, path)
    if r.take(4) != _CONTAINER_MAGIC:
        raise ConfigError(f"{path}: not an Avro object container file (no Obj\\x01 magic).")
    meta: dict[str, bytes] = {}
    while True:
        count = r.long()
        if count == 0:
            break
        if count < 0:  # a negative count is followed by the block's byte size
            count = -count
            r.long()
        for _ in range(count):
            key = r.take(r.long()).decode("utf-8", "replace")
            meta[key] = r.take(r.long())
    sync = r.take(_SYNC)
    try:
        schema = json.loads(meta["avro.schema"])
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"{path}: the header holds no readable avro.schema ({exc}).") from exc
    codec = meta.get("avro.codec", b"null").decode("utf-8", "replace")
    return ContainerHeader(schema, codec, sync, r.pos)


@dataclass(frozen=True)
class Block:
    """One block of a container file: its record count and its datums' bytes."""

    count: int
    data: bytes


def read_blocks(path: Path, header: ContainerHeader) -> Iterator[Block]:
    """The blocks of a container file, each checked to end with the file's sync marker."""
    with path.open("rb") as fh:
        size_all = os.fstat(fh.fileno()).st_size
        if size_all <= header.data_start:
            return
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            r = _Reader(mm, path, header.data_start)
            while r.pos < size_all:
                count = r.long()
                size = r.long()
                data = r.take(size)
                if r.take(_SYNC) != header.sync:
                    raise ConfigError(
                        f"{path}: a block does not end with the file's sync marker; the file "
                        "is corrupt. Regenerate the folder."
                    )
                yield Block(count, data)


def count_records(path: Path) -> int:
    """How many records a container file holds, from its block headers alone."""
    with path.open("rb") as fh:
        header = read_header(fh, path)
        size_all = os.fstat(fh.fileno()).st_size
        if size_all <= header.data_start:
            return 0
        total = 0
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            r = _Reader(mm, path, header.data_start)
            while r.pos < size_all:
                total += r.long()
                size = r.long()  # read before pos is: the varint moves it
                r.pos += size + _SYNC
        return total


@dataclass(frozen=True)
class IndexBlock:
    """The index entry of one block: each datum's length, timestamp and key."""

    lengths: npt.NDArray[np.int64]
    timestamps: npt.NDArray[np.int64]
    key_lengths: npt.NDArray[np.int64]
    key_bytes: bytes

    def kafka_keys(self) -> list[bytes | None]:
        """The Kafka keys, None where a record has none."""
        lens = self.key_lengths
        blob = self.key_bytes
        out: list[bytes | None] = []
        start = 0
        for end in np.cumsum(np.maximum(lens, 0)).tolist():
            out.append(blob[start:end])
            start = end
        if (lens < 0).any():
            for i in np.flatnonzero(lens < 0).tolist():
                out[i] = None
        return out


class DatumIndex:
    """An open index file: whom it belongs to, and its entries read one block at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as fh:
            head = fh.read(28)
            if head[:8] != _MAGIC or len(head) < 28:
                raise self._bad()
            self.sync = head[8:24]
            (meta_len,) = struct.unpack("<i", head[24:28])
            try:
                meta = json.loads(fh.read(meta_len))
            except ValueError as exc:
                raise self._bad() from exc
        if not isinstance(meta, dict) or meta.get("version") != _VERSION:
            raise self._bad()
        self.key_field = str(meta.get("key_field"))
        self.timestamp_field = str(meta.get("timestamp_field"))
        self._start = 28 + meta_len

    def _bad(self) -> ConfigError:
        return ConfigError(
            f"{self.path}: not a datum index of `simctl generate`, or truncated. Delete it to "
            "replay the folder by decoding it, or regenerate the folder."
        )

    def blocks(self) -> Iterator[IndexBlock]:
        """The entries, one per container block, in file order."""
        with self.path.open("rb") as fh:
            end = os.fstat(fh.fileno()).st_size
            if end <= self._start:
                return
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                pos = self._start
                while pos < end:
                    if pos + 16 > end:
                        raise self._bad()
                    n, nkey = struct.unpack_from("<qq", mm, pos)
                    pos += 16
                    if n < 0 or nkey < 0 or pos + 24 * n + nkey > end:
                        raise self._bad()
                    body = mm[pos : pos + 24 * n + nkey]
                    pos += 24 * n + nkey
                    arrays = np.frombuffer(body, _I64, 3 * n).reshape(3, n)
                    yield IndexBlock(arrays[0], arrays[1], arrays[2], body[24 * n :])
