"""Avro encoding of columnar batches, vectorised with numpy, and the two framings.

Schemas live in ``<schemas root>/<domain>/*.avsc``, one top-level record per file. Each file
names the topic it serves with a top-level property ``"simfleet.topic": "<topic>"`` (Avro
ignores unknown properties, and the Parsing Canonical Form strips them, so the property changes
neither the bytes nor the fingerprint). A file is self-contained: named types it uses are
defined inside it.

Encoding never builds per-record dicts. ``RecordEncoder`` compiles a record schema once into
one small encoder per field; ``encode`` turns each column into a ``(n, width)`` uint8 block
plus per-row lengths, lays the blocks side by side in one ``(n, W)`` matrix and takes
``matrix[mask]`` (row-major), which is every record's bytes one after the other. Offsets
come from the cumulative sum of the row lengths. The bytes equal ``fastavro.schemaless_writer``
output for the same records (pinned by ``tests/codec``).

Two framings are supported:

- Avro single-object encoding: ``C3 01`` + the 8-byte little-endian CRC-64-AVRO fingerprint of
  the schema's Parsing Canonical Form + body (used when no schema registry is given);
- the Confluent wire format: ``00`` + the 4-byte big-endian schema id + body, the id coming
  from registering the schema under ``<topic>-value`` (TopicNameStrategy).

Supported field types: ``long``, ``int``, ``double``, ``float``, ``boolean``, ``string``,
``enum``, the logical types ``timestamp-millis``/``timestamp-micros`` and their ``local-``
variants on long, ``date``/``time-millis`` on int, ``uuid`` on string, and two-branch unions
of ``"null"`` with any of these (either order). Anything else is a ``SchemaError`` when the
encoder is compiled.
"""

from __future__ import annotations

import io
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol, TypeAlias

import fastavro
import numpy as np
import numpy.typing as npt

from simfleet.codec.catalog import SchemaEntry, SchemaSet, schema_fingerprint
from simfleet.columns import (
    Column,
    EntityIds,
    FixedStrings,
    MaskedNumbers,
    StrTable,
    TableStrings,
)
from simfleet.errors import BrokerError, SchemaError

__all__ = [
    "CONFLUENT_MAGIC",
    "SINGLE_OBJECT_MAGIC",
    "RecordEncoder",
    "TopicEncoder",
    "confluent_prefix",
    "encoders_for",
    "records_to_columns",
    "registry_client",
    "single_object_prefix",
]

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"

U8: TypeAlias = npt.NDArray[np.uint8]
I64: TypeAlias = npt.NDArray[np.int64]
U64: TypeAlias = npt.NDArray[np.uint64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]

# Logical types whose encoding is that of the underlying primitive, given as plain numbers.
_PASSTHROUGH_LOGICAL = {
    "long": {
        "timestamp-millis",
        "timestamp-micros",
        "local-timestamp-millis",
        "local-timestamp-micros",
    },
    "int": {"date", "time-millis"},
    "string": {"uuid"},
}
_PRIMITIVES = {"long", "int", "double", "float", "boolean", "string"}


# --------------------------------------------------------------------------- framing


def single_object_prefix(schema: SchemaEntry | Any) -> bytes:
    """``C3 01`` + the little-endian CRC-64-AVRO fingerprint of the schema's canonical form."""
    if isinstance(schema, SchemaEntry):
        return SINGLE_OBJECT_MAGIC + schema.fingerprint
    return SINGLE_OBJECT_MAGIC + schema_fingerprint(schema)


def confluent_prefix(schema_id: int) -> bytes:
    """The Confluent wire-format header: magic byte 0 + 4-byte big-endian schema id."""
    return CONFLUENT_MAGIC + schema_id.to_bytes(4, "big")


def registry_client(url: str) -> Any:
    """A schema registry client for ``url``; ``mock://...`` gives an in-memory mock."""
    # deferred: the registry client pulls in an HTTP and JOSE stack (0.2 s at every process
    # start) that runs without a registry never use
    from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: PLC0415

    return SchemaRegistryClient.new_client({"url": url})


def _register(client: Any, entry: SchemaEntry) -> int:
    from confluent_kafka.schema_registry import Schema  # noqa: PLC0415 - see registry_client
    from confluent_kafka.schema_registry.error import SchemaRegistryError  # noqa: PLC0415

    try:
        return int(client.register_schema(entry.subject, Schema(entry.raw, "AVRO")))
    except SchemaRegistryError as exc:
        raise SchemaError(
            f"schema registry refused {entry.path} under subject {entry.subject!r}: {exc}. "
            "Make the schema compatible with the subject's earlier versions or delete them."
        ) from exc
    except Exception as exc:
        raise BrokerError(
            f"cannot reach the schema registry to register {entry.subject!r}: {exc}"
        ) from exc


# --------------------------------------------------------------------------- vectorised parts


class _Part(NamedTuple):
    """One field's bytes for n rows: a block and its row lengths (None: all full width)."""

    block: U8
    lens: I64 | None


def _zigzag(v: I64) -> U64:
    # Shifts wrap silently on int64, which is exactly zigzag's two's-complement arithmetic.
    return ((v << 1) ^ (v >> 63)).view(np.uint64)


# values below 2**(7k) take k bytes: the k-th threshold is 2**(7k)
_VARINT_LIMITS = np.array([1 << (7 * k) for k in range(1, 10)], np.uint64)
_VARINT_SHIFTS = np.arange(0, 70, 7, dtype=np.uint64)
_VARINT_COLUMNS = np.arange(10, dtype=np.int64)
_VARINT_SMALL = 256  # rows up to which one 2-d pass beats a pass per byte


def _varint(z: U64, lead: int | None = None) -> tuple[U8, I64]:
    """Unsigned LEB128 of each value as an (n, width) block; ``lead`` is a first byte to add."""
    n = z.shape[0]
    lens = np.searchsorted(_VARINT_LIMITS, z, side="right").astype(np.int64) + 1
    width = int(lens.max()) if n else 1
    off = 0 if lead is None else 1
    block = np.empty((n, width + off), np.uint8)
    if lead is not None:
        block[:, 0] = lead
    if n <= _VARINT_SMALL:
        # every group of every row in one pass: fewer calls (a live worker's batches are small)
        groups = ((z[:, None] >> _VARINT_SHIFTS[:width]) & np.uint64(0x7F)).astype(np.uint8)
        # a continuation bit on every group but a value's last
        groups |= (_VARINT_COLUMNS[:width] < (lens[:, None] - 1)).astype(np.uint8) << 7
        block[:, off:] = groups
        return block, lens + off
    for k in range(width):  # column by column: numpy's broadcast shift is slow on many rows
        group = ((z >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        if k < width - 1:
            group |= (lens > k + 1).astype(np.uint8) << 7
        block[:, off + k] = group
    return block, lens + off


def _varint_bytes(value: int) -> bytes:
    """Zigzag varint of one Python int (table rows, constant headers)."""
    z = (value << 1) ^ (value >> 63)
    out = bytearray()
    while True:
        byte = z & 0x7F
        z >>= 7
        if z:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _rows_matrix(rows: list[bytes]) -> tuple[U8, I64]:
    """Byte strings as a zero-padded (len(rows), width) matrix and their lengths."""
    lens = np.fromiter((len(r) for r in rows), np.int64, count=len(rows))
    width = max(int(lens.max()) if len(rows) else 0, 1)
    mat = np.zeros((len(rows), width), np.uint8)
    mat[np.arange(width) < lens[:, None]] = np.frombuffer(b"".join(rows), np.uint8)
    return mat, lens


@dataclass(frozen=True)
class _Ctx:
    """What an encoder needs to name a field in its errors."""

    schema: str
    field: str
    avro: str
    nullable: bool

    def fail(self, msg: str) -> SchemaError:
        return SchemaError(f"field {self.field!r} ({self.avro}) of schema {self.schema}: {msg}")


_FieldEncoder: TypeAlias = Callable[[Column, int], _Part]


def _null_parts(ctx: _Ctx, col: Column) -> tuple[Column, BoolArray | None]:
    """Split a numeric column into values and a null mask, checking nulls are allowed."""
    null: BoolArray | None = None
    values: Column = col
    if isinstance(col, MaskedNumbers):
        values, null = col.values, col.null
        if not null.any():
            null = None
    if null is not None and not ctx.nullable:
        raise ctx.fail('has nulls but the field is not nullable; make its type ["null", ...]')
    return values, null


def _numeric(
    ctx: _Ctx, col: Column, kinds: str, what: str
) -> tuple[npt.NDArray[Any], BoolArray | None]:
    values, null = _null_parts(ctx, col)
    if not isinstance(values, np.ndarray) or values.dtype.kind not in kinds:
        got = type(values).__name__ if not isinstance(values, np.ndarray) else values.dtype
        raise ctx.fail(f"needs {what} (or MaskedNumbers of it), got {got}")
    return values, null


def _with_branch(
    ctx: _Ctx, block: U8, lens: I64 | None, null: BoolArray | None, branches: tuple[int, int]
) -> _Part:
    """Prefix a value block with the union branch byte; null rows keep only their branch."""
    if not ctx.nullable:
        return _Part(block, lens)
    null_b, val_b = branches
    n, w = block.shape
    out = np.empty((n, w + 1), np.uint8)
    out[:, 1:] = block
    full = np.full(n, w, np.int64) if lens is None else lens
    if null is None:
        out[:, 0] = val_b
        return _Part(out, full + 1)
    out[:, 0] = np.where(null, null_b, val_b)
    return _Part(out, np.where(null, 1, full + 1))


def _compile_varint(ctx: _Ctx, branches: tuple[int, int], bits: int) -> _FieldEncoder:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def encode(col: Column, n: int) -> _Part:
        values, null = _numeric(ctx, col, "iu", "an integer numpy array")
        if values.dtype.kind == "u" and n and int(values.max()) > hi:
            raise ctx.fail(f"value {int(values.max())} does not fit a {bits}-bit {ctx.avro}")
        v = values.astype(np.int64, copy=False)
        if bits < 64 and n:
            check = v if null is None else v[~null]
            if check.size and (int(check.min()) < lo or int(check.max()) > hi):
                raise ctx.fail(f"values must lie in [{lo}, {hi}]")
        if null is not None:
            v = np.where(null, 0, v)
        if ctx.nullable:
            null_b, val_b = branches
            if null is None:
                block, lens = _varint(_zigzag(v), lead=val_b)
                return _Part(block, lens)
            block, lens = _varint(_zigzag(v), lead=0)
            block[:, 0] = np.where(null, null_b, val_b)
            return _Part(block, np.where(null, 1, lens))
        block, lens = _varint(_zigzag(v))
        return _Part(block, lens)

    return encode


def _compile_fixed_width(
    ctx: _Ctx, branches: tuple[int, int], dtype: str, kinds: str
) -> _FieldEncoder:
    size = np.dtype(dtype).itemsize

    def encode(col: Column, n: int) -> _Part:
        values, null = _numeric(ctx, col, kinds, "a numeric numpy array")
        raw = np.ascontiguousarray(values.astype(dtype, copy=False))
        block = raw.view(np.uint8).reshape(n, size)
        return _with_branch(ctx, block, None, null, branches)

    return encode


# Encoded rows per table, shared by every field encoder that encodes the table the same way:
# an entity pool's ids appear in dozens of streams' schemas and are encoded once, not per field.
_SHARED_ROWS: weakref.WeakKeyDictionary[StrTable, dict[tuple[Any, ...], tuple[U8, I64]]] = (
    weakref.WeakKeyDictionary()
)


class _TableRows:
    """Per-StrTable encoded rows, built once per (table, encoding) and gathered per batch."""

    def __init__(self, build: Callable[[StrTable], list[bytes]], key: tuple[Any, ...]) -> None:
        self._build = build
        self._key = key

    def get(self, table: StrTable) -> tuple[U8, I64]:
        per_table = _SHARED_ROWS.get(table)
        if per_table is None:
            per_table = _SHARED_ROWS[table] = {}
        hit = per_table.get(self._key)
        if hit is None:
            hit = per_table[self._key] = _rows_matrix(self._build(table))
        return hit


def _compile_table_gather(
    ctx: _Ctx,
    branches: tuple[int, int],
    value_rows: Callable[[StrTable], list[bytes]],
    encoding: tuple[Any, ...],
) -> _TableRows:
    null_b, val_b = branches

    def build(table: StrTable) -> list[bytes]:
        rows = value_rows(table)
        if ctx.nullable:
            # Index -1 gathers the last row: the null branch.
            return [bytes([val_b]) + r for r in rows] + [bytes([null_b])]
        return [*rows, b""]

    return _TableRows(build, (*encoding, ctx.nullable, branches))


def _gather(ctx: _Ctx, rows: _TableRows, col: TableStrings) -> _Part:
    mat, lens = rows.get(col.table)
    _check_indices(ctx, col)
    return _Part(mat[col.idx], lens[col.idx])


def _check_indices(ctx: _Ctx, col: TableStrings) -> None:
    idx = col.idx
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if hi >= len(col.table) or lo < -1:
            raise ctx.fail(f"table indices must lie in [-1, {len(col.table) - 1}]")
        if lo < 0 and not ctx.nullable:
            raise ctx.fail("has nulls (index -1) but the field is not nullable")


def _rendered(ctx: _Ctx, branches: tuple[int, int], col: TableStrings, ids: EntityIds) -> _Part:
    """Entity ids rendered from their indices: the length's varint, then the id's bytes."""
    _check_indices(ctx, col)
    null = col.idx < 0
    chars, lens = ids.render(np.maximum(col.idx, 0))
    head, head_lens = _varint(_zigzag(lens))
    n, hw, cw = len(lens), head.shape[1], chars.shape[1]
    block = np.zeros((n, hw + cw), np.uint8)
    block[:, :hw] = head
    if n and int(head_lens.min()) == hw:
        block[:, hw:] = chars
    else:  # lengths whose varints differ in width: each id starts right after its own
        at = np.arange(cw)
        keep = at < lens[:, None]
        block[np.nonzero(keep)[0], (head_lens[:, None] + at)[keep]] = chars[keep]
    return _with_branch(ctx, block, head_lens + lens, null if null.any() else None, branches)


def _compile_string(ctx: _Ctx, branches: tuple[int, int]) -> _FieldEncoder:
    rows = _compile_table_gather(
        ctx, branches, lambda t: [_varint_bytes(len(b)) + b for b in t.utf8], ("string",)
    )

    def encode(col: Column, n: int) -> _Part:
        if isinstance(col, TableStrings) and isinstance(col.table, EntityIds):
            return _rendered(ctx, branches, col, col.table)
        if isinstance(col, TableStrings):
            return _gather(ctx, rows, col)
        if isinstance(col, FixedStrings):
            null = col.null if col.null is not None and col.null.any() else None
            if null is not None and not ctx.nullable:
                raise ctx.fail("has nulls but the field is not nullable")
            header = np.frombuffer(_varint_bytes(col.width), np.uint8)
            block = np.empty((n, header.size + col.width), np.uint8)
            block[:, : header.size] = header
            block[:, header.size :] = col.chars
            return _with_branch(ctx, block, None, null, branches)
        raise ctx.fail(f"needs TableStrings or FixedStrings, got {type(col).__name__}")

    return encode


def _compile_enum(ctx: _Ctx, branches: tuple[int, int], symbols: list[str]) -> _FieldEncoder:
    lookup = {s: i for i, s in enumerate(symbols)}

    def symbol_rows(table: StrTable) -> list[bytes]:
        bad = [v for v in table.values if v not in lookup]
        if bad:
            raise ctx.fail(f"table values {bad[:5]} are not symbols of the enum {symbols}")
        return [_varint_bytes(lookup[v]) for v in table.values]

    rows = _compile_table_gather(ctx, branches, symbol_rows, ("enum", tuple(symbols)))
    as_int = _compile_varint(ctx, branches, 64)

    def encode(col: Column, n: int) -> _Part:
        if isinstance(col, TableStrings):
            return _gather(ctx, rows, col)
        if isinstance(col, np.ndarray | MaskedNumbers):
            values, null = _numeric(ctx, col, "iu", "symbol indices as an integer array")
            check = values if null is None else values[~null]
            if check.size and (int(check.min()) < 0 or int(check.max()) >= len(symbols)):
                raise ctx.fail(f"symbol indices must lie in [0, {len(symbols) - 1}]")
            return as_int(col, n)
        raise ctx.fail(f"needs TableStrings of symbols or int64 indices, got {type(col).__name__}")

    return encode


def _resolve(t: Any, named: Mapping[str, Any]) -> Any:
    if isinstance(t, str) and t not in _PRIMITIVES and t in named:
        return named[t]
    return t


def _type_name(t: Any) -> str:
    if isinstance(t, dict):
        return str(t.get("logicalType") or t.get("type"))
    return str(t)


def _compile_field(
    schema_name: str, fld: Mapping[str, Any], named: Mapping[str, Any]
) -> _FieldEncoder:
    name = fld["name"]
    ftype = _resolve(fld["type"], named)
    nullable = False
    branches = (0, 2)  # zigzag varints of union indexes 0 and 1
    if isinstance(ftype, list):
        others = [b for b in ftype if b != "null"]
        if len(ftype) != 2 or len(others) != 1:
            raise SchemaError(
                f'field {name!r} of schema {schema_name}: only two-branch unions with "null" '
                f"are supported, got {ftype!r}. Simplify the field's type."
            )
        nullable = True
        branches = (0, 2) if ftype[0] == "null" else (2, 0)
        ftype = _resolve(others[0], named)
    base = ftype
    if isinstance(ftype, dict):
        base = ftype.get("type")
        logical = ftype.get("logicalType")
        if logical is not None and logical not in _PASSTHROUGH_LOGICAL.get(str(base), set()):
            raise SchemaError(
                f"field {name!r} of schema {schema_name}: logical type {logical!r} on {base!r} "
                "is not supported by the vectorised encoder. Use long timestamp-millis, "
                "int date, string uuid or a plain primitive."
            )
    ctx = _Ctx(schema_name, name, _type_name(ftype), nullable)
    if base == "enum" and isinstance(ftype, dict):
        return _compile_enum(ctx, branches, list(ftype["symbols"]))
    factory = _FACTORIES.get(str(base))
    if factory is None:
        raise SchemaError(
            f"field {name!r} of schema {schema_name}: type {_type_name(ftype)!r} is not supported "
            "by the vectorised encoder (long, int, double, float, boolean, string, enum and "
            '["null", T] of those are). Flatten the field into supported types.'
        )
    return factory(ctx, branches)


_FACTORIES: dict[str, Callable[[_Ctx, tuple[int, int]], _FieldEncoder]] = {
    "long": lambda ctx, br: _compile_varint(ctx, br, 64),
    "int": lambda ctx, br: _compile_varint(ctx, br, 32),
    "double": lambda ctx, br: _compile_fixed_width(ctx, br, "<f8", "fiu"),
    "float": lambda ctx, br: _compile_fixed_width(ctx, br, "<f4", "fiu"),
    "boolean": lambda ctx, br: _compile_fixed_width(ctx, br, "u1", "b"),
    "string": _compile_string,
}


# --------------------------------------------------------------------------- encoder


class RecordEncoder:
    """A record schema compiled once into per-field vectorised encoders."""

    def __init__(self, parsed_schema: Any, prefix: bytes = b"") -> None:
        if not isinstance(parsed_schema, dict) or parsed_schema.get("type") != "record":
            raise SchemaError("RecordEncoder needs a parsed Avro record schema")
        self.schema_name: str = parsed_schema["name"]
        self.prefix = bytes(prefix)
        named = parsed_schema.get("__named_schemas", {})
        self._fields: list[tuple[str, _FieldEncoder]] = [
            (f["name"], _compile_field(self.schema_name, f, named)) for f in parsed_schema["fields"]
        ]
        self._prefix_arr = np.frombuffer(self.prefix, np.uint8)

    @property
    def field_names(self) -> list[str]:
        """Fields in schema order: the columns ``encode`` needs."""
        return [name for name, _ in self._fields]

    def encode(self, columns: Mapping[str, Column], n: int) -> tuple[bytes, I64]:
        """Encode ``n`` rows: record i is ``buf[off[i]:off[i + 1]]`` (prefix + Avro body)."""
        parts: list[_Part] = []
        for name, enc in self._fields:
            col = columns.get(name)
            if col is None:
                raise SchemaError(
                    f"schema {self.schema_name} needs a column {name!r}; the batch has "
                    f"{sorted(columns)}"
                )
            if len(col) != n:
                raise SchemaError(
                    f"column {name!r} of schema {self.schema_name} has {len(col)} rows, "
                    f"expected {n}"
                )
            parts.append(enc(col, n))
        offsets = np.zeros(n + 1, np.int64)
        if n == 0:
            return b"", offsets
        p = self._prefix_arr.size
        width = p + sum(part.block.shape[1] for part in parts)
        matrix = np.empty((n, width), np.uint8)
        mask = np.empty((n, width), np.bool_)
        total = np.full(n, p, np.int64)
        matrix[:, :p] = self._prefix_arr
        mask[:, :p] = True
        ramp = np.arange(width, dtype=np.int64)
        c = p
        for block, lens in parts:
            w = block.shape[1]
            matrix[:, c : c + w] = block
            if lens is None:
                mask[:, c : c + w] = True
                total += w
            else:
                np.less(ramp[:w], lens[:, None], out=mask[:, c : c + w])
                total += lens
            c += w
        np.cumsum(total, out=offsets[1:])
        return matrix[mask].tobytes(), offsets


class BodyEncoder(Protocol):
    """What a topic's records are written with: Avro (``RecordEncoder``) or a derived format
    (``formats.ProtobufBody``, ``formats.JsonBody``)."""

    prefix: bytes

    @property
    def field_names(self) -> list[str]:
        """Fields in schema order: the columns ``encode`` needs."""
        ...

    def encode(self, columns: Mapping[str, Column], n: int) -> tuple[bytes, I64]:
        """Framed records of ``n`` rows, as one buffer and n + 1 offsets."""
        ...


@dataclass(frozen=True)
class TopicEncoder:
    """The encoder of one topic: its schema, framing prefix and compiled record encoder."""

    topic: str
    schema: SchemaEntry
    encoder: BodyEncoder
    schema_id: int | None = None
    fmt: str = "avro"

    @property
    def prefix(self) -> bytes:
        """The framing header every record starts with."""
        return self.encoder.prefix

    def encode(self, columns: Mapping[str, Column], n: int) -> tuple[bytes, I64]:
        """Framed records of one batch, as one buffer and n + 1 offsets."""
        return self.encoder.encode(columns, n)

    def decode(self, value: bytes) -> dict[str, Any]:
        """One value this encoder wrote, back as a dict (timestamps as epoch ms)."""
        if self.fmt != "avro":
            return self.encoder.decode(value)  # type: ignore[attr-defined,no-any-return]
        bio = io.BytesIO(value)
        bio.seek(len(self.prefix))
        rec = fastavro.schemaless_reader(bio, self.schema.parsed)
        return {
            k: int(v.timestamp() * 1000) if isinstance(v, datetime) else v
            for k, v in dict(rec).items()  # type: ignore[arg-type]
        }


def encoders_for(
    schemas: SchemaSet,
    registry_url: str | None,
    *,
    client: Any | None = None,
    fmt: str = "avro",
) -> dict[str, TopicEncoder]:
    """Per-topic encoders: Confluent framing if a registry is given, else single-object (Avro)
    or bare JSON; ``fmt`` picks Avro, Protobuf, JSON Schema or JSON (``formats.py``).

    ``client`` overrides ``registry_url`` with a ready client (tests share one ``mock://``
    client between encoder and deserializer, since each mock client has its own store).
    """
    from simfleet.codec.formats import JsonBody, ProtobufBody, check_format  # noqa: PLC0415

    check_format(fmt, registry_url or ("client" if client is not None else None))
    if client is None and registry_url is not None:
        client = registry_client(registry_url)
    out: dict[str, TopicEncoder] = {}
    for entry in schemas:
        if fmt == "protobuf":
            body = ProtobufBody(entry, client)
            out[entry.topic] = TopicEncoder(entry.topic, entry, body, body.schema_id, fmt)
        elif fmt in ("json", "json-schema"):
            jbody = JsonBody(entry, client if fmt == "json-schema" else None)
            out[entry.topic] = TopicEncoder(entry.topic, entry, jbody, jbody.schema_id, fmt)
        elif client is None:
            out[entry.topic] = TopicEncoder(
                entry.topic, entry, RecordEncoder(entry.parsed, single_object_prefix(entry))
            )
        else:
            sid = _register(client, entry)
            out[entry.topic] = TopicEncoder(
                entry.topic, entry, RecordEncoder(entry.parsed, confluent_prefix(sid)), sid
            )
    return out


# --------------------------------------------------------------------------- edges


def records_to_columns(schema: Any, records: list[dict[str, Any]]) -> dict[str, Column]:
    """Columns of a parsed record schema from dicts: for tests and the edges, not the hot path.
    A record without a field takes the field's schema default (as an Avro reader would)."""
    named = schema.get("__named_schemas", {})
    out: dict[str, Column] = {}
    for fld in schema["fields"]:
        name = fld["name"]
        ftype = _resolve(fld["type"], named)
        if isinstance(ftype, list):
            ftype = _resolve(next(b for b in ftype if b != "null"), named)
        base = ftype.get("type") if isinstance(ftype, dict) else ftype
        default = fld.get("default")
        vals = [r.get(name, default) for r in records]
        null = np.array([v is None for v in vals], np.bool_)
        if base in ("string", "enum"):
            table = StrTable(tuple(dict.fromkeys(v for v in vals if v is not None)))
            idx = np.array([-1 if v is None else table.lookup[v] for v in vals], np.int64)
            out[name] = TableStrings(table, idx)
            continue
        dtype = {"long": np.int64, "int": np.int64, "boolean": np.bool_}.get(str(base), np.float64)
        arr: npt.NDArray[Any] = np.array([0 if v is None else v for v in vals], dtype)
        out[name] = MaskedNumbers(arr, null) if null.any() else arr
    return out
