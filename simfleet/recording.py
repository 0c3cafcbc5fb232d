"""Recordings of Kafka topics: Avro container files per topic plus a self-contained manifest.

A recording is a folder::

    manifest.json          topics, partitions, counts, first/last timestamps, every value
                           schema seen (by fingerprint or registry id, with the schema itself),
                           and the SHA-256 of each file
    <topic>.avro           one Avro object container file per topic, records under
                           ``RECORD_SCHEMA`` (topic, partition, offset, timestamp and its type,
                           key, value and headers as bytes)

Files are written as ``<name>.partial`` and renamed once closed, the manifest last: a folder
with a ``manifest.json`` is complete whatever stopped the capture.

Sources (``open_source``) give the same ``Message`` tuples from a recording, from a
``simctl generate`` folder (values encoded with the project's encoders, keyed by each stream's
key field) or from records read off live topics. A generate folder also gives its records as
encoded ``Chunk``s, what ``AccountedProducer.send_framed`` takes: the datums of an Avro file
with its datum index (``simfleet.avrofile``) and the project's schema as they lie, without
decoding, the framing apart; other files (JSON lines, Avro without an index or of another
schema) parsed and encoded again.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NamedTuple

import fastavro
import numpy as np
import numpy.typing as npt
from fastavro.schema import SchemaParseException, UnknownType
from fastavro.write import Writer

from simfleet.avrofile import (
    ContainerHeader,
    DatumIndex,
    IndexBlock,
    index_path,
    read_blocks,
    read_header,
)
from simfleet.codec import (
    CONFLUENT_MAGIC,
    SINGLE_OBJECT_MAGIC,
    SchemaSet,
    TopicEncoder,
    schema_fingerprint,
)
from simfleet.codec import records_to_columns as _to_columns
from simfleet.errors import ConfigError, SchemaError
from simfleet.kafka import PRODUCED_AT_HEADER

__all__ = [
    "CHUNK",
    "FORMAT",
    "MANIFEST",
    "RECORD_SCHEMA",
    "TIMESTAMP_TYPES",
    "WALL_CLOCK_HEADER",
    "Chunk",
    "Message",
    "RecordingWriter",
    "SchemaBook",
    "Source",
    "encode_folder_topic",
    "open_source",
    "schema_key",
]

FORMAT = "simfleet-recording"
MANIFEST = "manifest.json"
# A header carrying the wall clock of a live run: the one difference two identical runs may show.
# the wall-clock header every produced record carries: a diff ignores it
WALL_CLOCK_HEADER = PRODUCED_AT_HEADER
# confluent-kafka's TIMESTAMP_* constants, by index
TIMESTAMP_TYPES = ("NOT_AVAILABLE", "CREATE_TIME", "LOG_APPEND_TIME")

RECORD_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "RecordedMessage",
    "namespace": "simfleet.recording",
    "doc": "One Kafka record as read from its topic: coordinates, timestamp, raw key and value.",
    "fields": [
        {"name": "topic", "type": "string"},
        {"name": "partition", "type": "int"},
        {"name": "offset", "type": "long"},
        {"name": "timestamp", "type": "long"},
        {
            "name": "timestamp_type",
            "type": {"type": "enum", "name": "TimestampType", "symbols": list(TIMESTAMP_TYPES)},
        },
        {"name": "key", "type": ["null", "bytes"]},
        {"name": "value", "type": ["null", "bytes"]},
        {
            "name": "headers",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "Header",
                    "fields": [
                        {"name": "key", "type": "string"},
                        {"name": "value", "type": ["null", "bytes"]},
                    ],
                },
            },
        },
    ],
}
_PARSED = fastavro.parse_schema(RECORD_SCHEMA)


class Chunk(NamedTuple):
    """Encoded records of one topic, as ``AccountedProducer.send_framed`` takes them: record
    i's value is ``prefix + buf[offsets[i]:offsets[i + 1]]`` (the framing apart from the
    datums: an indexed Avro file's datums are sent as they lie), its key ``keys[i]``, its
    timestamp ``timestamps[i]``; ``first`` is the ordinal of its first record in the topic."""

    topic: str
    prefix: bytes
    buf: bytes
    offsets: npt.NDArray[np.int64]
    keys: list[bytes | None]
    timestamps: npt.NDArray[np.int64]
    first: int


class Message(NamedTuple):
    """One record: where it was, when, and its raw bytes."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


def schema_key(value: bytes | None) -> str | None:
    """How a framed Avro value names its schema: ``fp:<hex>`` or ``id:<n>``; None otherwise."""
    if value is None:
        return None
    if value[:2] == SINGLE_OBJECT_MAGIC and len(value) >= 10:
        return "fp:" + value[2:10].hex()
    if value[:1] == CONFLUENT_MAGIC and len(value) >= 5:
        return f"id:{int.from_bytes(value[1:5], 'big')}"
    return None


class SchemaBook:
    """Value schemas by ``schema_key``: what a recording's manifest lists, and decodes with."""

    def __init__(self, entries: Mapping[str, dict[str, Any]] | None = None) -> None:
        self.entries: dict[str, dict[str, Any]] = dict(entries or {})
        self._parsed: dict[str, Any] = {}

    def see(self, key: str, topic: str, schema: str | None, name: str | None) -> None:
        """Note a schema seen on ``topic`` (schema text None: not known to this reader)."""
        entry = self.entries.get(key)
        if entry is None:
            kind, _, ident = key.partition(":")
            entry = self.entries[key] = {
                "fingerprint": ident if kind == "fp" else None,
                "registry_id": int(ident) if kind == "id" else None,
                "name": name,
                "schema": schema,
                "topics": [],
            }
        if topic not in entry["topics"]:
            entry["topics"].append(topic)

    def parsed(self, key: str) -> Any | None:
        """The parsed schema of a key, or None when the recording does not hold it."""
        if key not in self._parsed:
            entry = self.entries.get(key)
            text = None if entry is None else entry.get("schema")
            self._parsed[key] = None if text is None else fastavro.parse_schema(json.loads(text))
        return self._parsed[key]

    def decode(self, value: bytes) -> dict[str, Any] | None:
        """A framed value as a dict, or None when its schema is not in the book."""
        key = schema_key(value)
        schema = None if key is None else self.parsed(key)
        if schema is None:
            return None
        bio = io.BytesIO(value)
        bio.seek(10 if key is not None and key.startswith("fp:") else 5)
        try:
            rec: Any = fastavro.schemaless_reader(bio, schema)
        except (ValueError, IndexError, EOFError, StopIteration) as exc:
            raise SchemaError(f"cannot decode a value of schema {key}: {exc}") from exc
        return dict(rec)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class _TopicStats:
    count: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    partitions: dict[int, list[int]] = field(default_factory=dict)  # p -> [count, first, last]


class RecordingWriter:
    """Appends messages to ``<out>/<topic>.avro.partial``; ``close`` writes the manifest."""

    def __init__(
        self,
        out: Path,
        schemas: SchemaSet | None = None,
        registry_schema: Any | None = None,
    ) -> None:
        self.out = out
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"--out {out}: cannot create the folder ({exc.strerror}). Choose a writable path."
            ) from exc
        if (out / MANIFEST).exists():
            raise ConfigError(
                f"--out {out} already holds a recording ({MANIFEST}). Choose an empty folder or "
                "remove the old recording first."
            )
        self._schemas = schemas
        # fetches a registry schema by id: (id) -> (schema text, name) or None
        self._registry_schema = registry_schema
        self.book = SchemaBook()
        self.stats: dict[str, _TopicStats] = {}
        self.partition_counts: dict[str, int] = {}
        self._files: dict[str, IO[bytes]] = {}
        self._writers: dict[str, Writer] = {}
        self.total = 0

    def _writer(self, topic: str) -> Writer:
        w = self._writers.get(topic)
        if w is None:
            fh = (self.out / f"{topic}.avro.partial").open("wb")
            self._files[topic] = fh
            w = self._writers[topic] = Writer(fh, _PARSED, codec="deflate")
        return w

    def _see(self, topic: str, key: str) -> None:
        if key in self.book.entries:
            if topic not in self.book.entries[key]["topics"]:
                self.book.entries[key]["topics"].append(topic)
            return
        text: str | None = None
        name: str | None = None
        if key.startswith("fp:") and self._schemas is not None:
            entry = self._schemas.by_fingerprint(bytes.fromhex(key[3:]))
            if entry is not None:
                text, name = entry.raw, entry.name
        elif key.startswith("id:") and self._registry_schema is not None:
            found = self._registry_schema(int(key[3:]))
            if found is not None:
                text, name = found
        self.book.see(key, topic, text, name)

    def write(self, msg: Message) -> None:
        """Append one message."""
        self._writer(msg.topic).write(
            {
                "topic": msg.topic,
                "partition": msg.partition,
                "offset": msg.offset,
                "timestamp": msg.timestamp,
                "timestamp_type": TIMESTAMP_TYPES[msg.timestamp_type],
                "key": msg.key,
                "value": msg.value,
                "headers": [{"key": k, "value": v} for k, v in msg.headers],
            }
        )
        key = schema_key(msg.value)
        if key is not None:
            self._see(msg.topic, key)
        st = self.stats.get(msg.topic)
        if st is None:
            st = self.stats[msg.topic] = _TopicStats()
        st.count += 1
        ts = msg.timestamp
        st.first_ts = ts if st.first_ts is None else min(st.first_ts, ts)
        st.last_ts = ts if st.last_ts is None else max(st.last_ts, ts)
        p = st.partitions.get(msg.partition)
        if p is None:
            st.partitions[msg.partition] = [1, msg.offset, msg.offset]
        else:
            p[0] += 1
            p[2] = msg.offset
        self.total += 1

    def close(self, meta: Mapping[str, Any]) -> Path:
        """Close every file, rename it, and write the manifest (with ``meta``) last."""
        topics: dict[str, Any] = {}
        for topic in sorted(set(self.stats) | set(self.partition_counts)):
            st = self.stats.get(topic, _TopicStats())
            final = self.out / f"{topic}.avro"
            if topic in self._writers:
                self._writers[topic].flush()
                self._files[topic].close()
                (self.out / f"{topic}.avro.partial").replace(final)
            else:
                with final.open("wb") as fh:  # an empty topic still gets a valid file
                    Writer(fh, _PARSED, codec="deflate").flush()
            topics[topic] = {
                "file": final.name,
                "sha256": _sha256(final),
                "count": st.count,
                "partition_count": self.partition_counts.get(topic, len(st.partitions)),
                "partitions": {
                    str(p): {"count": c, "first_offset": f, "last_offset": last}
                    for p, (c, f, last) in sorted(st.partitions.items())
                },
                "first_timestamp": st.first_ts,
                "last_timestamp": st.last_ts,
            }
        doc = {
            "format": FORMAT,
            "version": 1,
            **meta,
            "count": self.total,
            "topics": topics,
            "schemas": sorted(self.book.entries.values(), key=lambda e: e["topics"][0]),
        }
        partial = self.out / f"{MANIFEST}.partial"
        partial.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        partial.replace(self.out / MANIFEST)
        return self.out / MANIFEST


# --------------------------------------------------------------------------- sources


@dataclass
class Source:
    """Messages of some topics, each topic's partitions in offset order.

    ``partition_counts``: the topics' partition counts where known (recordings, live topics);
    a ``simctl generate`` folder has none (its records have no partition yet).
    """

    kind: str
    where: str
    topics: list[str]
    partition_counts: dict[str, int]
    counts: dict[str, int]
    book: SchemaBook
    _read: Any
    _chunks: Any = None

    def messages(self, topic: str) -> Iterator[Message]:
        """Every message of a topic, in the order it was read (or written)."""
        it: Iterator[Message] = self._read(topic)
        return it

    @property
    def chunked(self) -> bool:
        """Whether ``chunks`` serves this source (generate folders)."""
        return self._chunks is not None

    def chunks(self, topic: str) -> Iterator[Chunk]:
        """Every record of a topic as encoded chunks, in order (generate folders only)."""
        if self._chunks is None:
            raise ValueError(f"a {self.kind} has no encoded chunks")
        it: Iterator[Chunk] = self._chunks(topic)
        return it

    def decode(self, value: bytes) -> dict[str, Any] | None:
        """A value as a dict, with the schemas the source holds; None when unknown."""
        return self.book.decode(value)


def _read_recording(folder: Path, manifest: Mapping[str, Any], verify: bool) -> Source:
    topics: Mapping[str, Any] = manifest["topics"]

    def read(topic: str) -> Iterator[Message]:
        path = folder / topics[topic]["file"]
        with path.open("rb") as fh:
            for rec in fastavro.reader(fh, _PARSED):
                r: Any = rec
                yield Message(
                    r["topic"],
                    r["partition"],
                    r["offset"],
                    r["timestamp"],
                    TIMESTAMP_TYPES.index(r["timestamp_type"]),
                    r["key"],
                    r["value"],
                    tuple((h["key"], h["value"]) for h in r["headers"]),
                )

    if verify:
        for topic, t in topics.items():
            path = folder / t["file"]
            if not path.is_file():
                raise ConfigError(
                    f"recording {folder}: {MANIFEST} lists {t['file']} for topic {topic}, but "
                    "the file is missing. Copy the whole recording folder."
                )
            if _sha256(path) != t["sha256"]:
                raise ConfigError(
                    f"recording {folder}: {t['file']} does not match the SHA-256 in {MANIFEST}; "
                    "the file was changed or truncated after recording. Record it again."
                )
    book = SchemaBook()
    for e in manifest.get("schemas", []):
        key = f"fp:{e['fingerprint']}" if e.get("fingerprint") else f"id:{e['registry_id']}"
        book.entries[key] = dict(e)
    return Source(
        "recording",
        str(folder),
        sorted(topics),
        {t: int(v["partition_count"]) for t, v in topics.items()},
        {t: int(v["count"]) for t, v in topics.items()},
        book,
        read,
    )


def _plain(rec: Any) -> dict[str, Any]:
    """A record as fastavro reads it, logical types back to what the encoder takes."""
    out = dict(rec)
    for k, v in out.items():
        if isinstance(v, datetime):
            out[k] = round(v.timestamp() * 1000)
        elif isinstance(v, uuid.UUID):
            out[k] = str(v)
    return out


def _folder_records(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ConfigError(
                        f"{path} line {n}: not JSON ({exc.msg}). Regenerate the folder with "
                        "`simctl generate`."
                    ) from exc
    else:
        with path.open("rb") as fh:
            try:
                for rec in fastavro.reader(fh):
                    yield _plain(rec)
            except ValueError as exc:
                raise ConfigError(f"{path}: not an Avro container file ({exc}).") from exc


def encode_folder_topic(
    encoder: TopicEncoder, key_field: str, records: Sequence[dict[str, Any]]
) -> tuple[bytes, list[int], list[bytes | None], list[int]]:
    """One chunk of a generate folder's records: values, offsets, keys and timestamps."""
    buf, offsets = encoder.encode(_to_columns(encoder.schema.parsed, list(records)), len(records))
    keys: list[bytes | None] = [
        None if r.get(key_field) is None else str(r[key_field]).encode() for r in records
    ]
    return buf, offsets.tolist(), keys, [int(r["occurred_at"]) for r in records]


# records per chunk: enough that a chunk's fixed costs (numpy calls, one produce-time
# instant) vanish, few enough that the progress bar moves
CHUNK = 4096


def _encoded_chunks(topic: str, path: Path, enc: TopicEncoder, key_field: str) -> Iterator[Chunk]:
    """A file's records parsed (JSON lines, Avro by fastavro) and encoded again."""
    first = 0
    it = _folder_records(path)
    while True:
        records = list(itertools.islice(it, CHUNK))
        if not records:
            return
        try:
            buf, offsets, keys, ts = encode_folder_topic(enc, key_field, records)
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(
                f"cannot encode records of {topic} from the generate folder: {exc!r}. The "
                "folder was written by another version of the schemas; regenerate it."
            ) from exc
        yield Chunk(
            topic, b"", buf, np.asarray(offsets, np.int64), keys, np.asarray(ts, np.int64), first
        )
        first += len(records)


def _fingerprint(schema: Any) -> bytes | None:
    """The CRC-64-AVRO fingerprint of a file's writer schema; None when it does not parse
    (decoding the file then says what is wrong)."""
    try:
        return schema_fingerprint(schema)
    except (SchemaParseException, UnknownType, KeyError, TypeError, ValueError):
        return None


def _usable_index(path: Path, enc: TopicEncoder, key_field: str) -> DatumIndex | None:
    """The datum index of an Avro file, when its datums can go out as they are: the file is
    uncompressed, of the schema the project encodes the topic with, and indexed by the
    topic's key field; None otherwise (the file is then decoded and encoded again)."""
    ipath = index_path(path)
    if path.suffix != ".avro" or not ipath.is_file():
        return None
    header = read_header_of(path)
    index = DatumIndex(ipath)
    if header.codec != "null" or index.key_field != key_field:
        return None
    if (
        index.timestamp_field != "occurred_at"
        or _fingerprint(header.schema) != enc.schema.fingerprint
    ):
        return None
    if index.sync != header.sync:
        raise ConfigError(
            f"{ipath} belongs to another {path.name} (sync markers differ). Delete it to "
            "replay the folder by decoding it, or regenerate the folder."
        )
    return index


def _indexed_chunks(topic: str, path: Path, index: DatumIndex, prefix: bytes) -> Iterator[Chunk]:
    """An indexed Avro file's datums as they lie, in chunks of about ``CHUNK`` records
    (small blocks gathered); each block checked against its index entry."""
    header = read_header_of(path)
    entries = index.blocks()
    datums: list[bytes] = []
    parts: list[IndexBlock] = []
    held = 0
    first = 0
    for block in itertools.chain(read_blocks(path, header), [None]):
        if block is not None:
            entry = next(entries, None)
            if (
                entry is None
                or len(entry.lengths) != block.count
                or int(entry.lengths.sum()) != len(block.data)
            ):
                raise ConfigError(
                    f"{index.path} does not match {path.name} (a block's records or bytes "
                    "differ). Delete it to replay the folder by decoding it, or regenerate "
                    "the folder."
                )
            if not block.count:
                continue
            datums.append(block.data)
            parts.append(entry)
            held += block.count
            if held < CHUNK:
                continue
        elif not held:
            break
        offsets = np.zeros(held + 1, np.int64)
        np.cumsum(np.concatenate([e.lengths for e in parts]), out=offsets[1:])
        keys = [k for e in parts for k in e.kafka_keys()]
        ts = np.concatenate([e.timestamps for e in parts])
        yield Chunk(topic, prefix, b"".join(datums), offsets, keys, ts, first)
        first += held
        datums, parts, held = [], [], 0
    if next(entries, None) is not None:
        raise ConfigError(
            f"{index.path} lists more blocks than {path.name} holds. Delete it to replay the "
            "folder by decoding it, or regenerate the folder."
        )


def read_header_of(path: Path) -> ContainerHeader:
    """The header of an Avro container file."""
    with path.open("rb") as fh:
        return read_header(fh, path)


def _chunk_messages(chunks: Iterator[Chunk]) -> Iterator[Message]:
    for c in chunks:
        off = c.offsets.tolist()
        ts = c.timestamps.tolist()
        pre, buf = c.prefix, c.buf
        for i, key in enumerate(c.keys):
            yield Message(c.topic, -1, c.first + i, ts[i], 1, key, pre + buf[off[i] : off[i + 1]])


def _read_folder(
    folder: Path,
    files: dict[str, Path],
    encoders: Mapping[str, TopicEncoder],
    key_fields: Mapping[str, str],
) -> Source:
    book = SchemaBook()
    indexes: dict[str, DatumIndex | None] = {}
    for topic, path in files.items():
        enc = encoders[topic]
        if enc.fmt != "avro":  # Protobuf / JSON values: encoded anew, no Avro schema to book
            indexes[topic] = None
            continue
        key = schema_key(enc.prefix + b"\x00" * 8)
        if key is not None:
            book.see(key, topic, enc.schema.raw, enc.schema.name)
        indexes[topic] = _usable_index(path, enc, key_fields[topic])

    def chunks(topic: str) -> Iterator[Chunk]:
        enc, index = encoders[topic], indexes[topic]
        if index is not None:
            return _indexed_chunks(topic, files[topic], index, enc.prefix)
        return _encoded_chunks(topic, files[topic], enc, key_fields[topic])

    def read(topic: str) -> Iterator[Message]:
        return _chunk_messages(chunks(topic))

    return Source("generate folder", str(folder), sorted(files), {}, {}, book, read, chunks)


def open_source(
    path: Path,
    *,
    encoders: Mapping[str, TopicEncoder] | None = None,
    key_fields: Mapping[str, str] | None = None,
    verify: bool = True,
) -> Source:
    """A recording (``manifest.json``) or a ``simctl generate`` folder (``encoders`` and
    ``key_fields`` are then needed: each topic's encoder and the field its key comes from)."""
    if not path.is_dir():
        raise ConfigError(
            f"{path} is not a folder. Give a recording (made by `simctl record`) or a "
            "`simctl generate` output folder."
        )
    manifest_path = path / MANIFEST
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{manifest_path}: unreadable ({exc}). Record it again.") from exc
        if manifest.get("format") != FORMAT:
            raise ConfigError(
                f"{manifest_path} is not a simfleet recording manifest (format "
                f"{manifest.get('format')!r}, expected {FORMAT!r})."
            )
        return _read_recording(path, manifest, verify)
    files: dict[str, Path] = {}
    for p in sorted(path.iterdir()):
        if p.suffix in (".jsonl", ".avro") and p.is_file():
            topic = p.name[: -len(p.suffix)]
            if topic in files:
                raise ConfigError(
                    f"{path} holds both {files[topic].name} and {p.name}; keep one format per "
                    "topic."
                )
            files[topic] = p
    if not files:
        raise ConfigError(
            f"{path} holds neither a {MANIFEST} (a recording) nor <topic>.jsonl / <topic>.avro "
            "files (a `simctl generate` folder)."
        )
    encoders = encoders or {}
    key_fields = key_fields or {}
    unknown = sorted(t for t in files if t not in encoders or t not in key_fields)
    if unknown:
        raise ConfigError(
            f"{path}: no schema and key serve the topic(s) {unknown}. Generate folders are read "
            "with the project's schemas; pass the --pack-dir that produced them."
        )
    return _read_folder(path, files, encoders, key_fields)
