"""Value formats besides Avro: Protobuf and JSON Schema in the Confluent wire format, and plain
JSON, each derived from the pack's Avro schema at load (the Avro schema stays the one source).

``--value-format`` picks one for a fleet:

- ``avro`` (the default): vectorised Avro, framed as single-object encoding, or the Confluent
  wire format with a registry (``encoder.py``);
- ``protobuf``: a proto3 message per record schema, registered under ``<topic>-value`` as
  PROTOBUF; framed as Confluent's ``ProtobufSerializer`` frames it (magic byte, schema id,
  message indexes). Needs a registry;
- ``json-schema``: a draft-07 JSON Schema per record schema, registered as JSON; framed as
  ``JSONSerializer`` frames it (magic byte, schema id, compact UTF-8 JSON). Needs a registry;
- ``json``: compact UTF-8 JSON and no framing at all, which every Kafka tool shows as text.

How Avro maps (the same table for both derived schemas): ``long`` -> int64 / integer, ``int`` ->
int32 / integer, ``double``/``float`` -> double/float / number, ``boolean`` -> bool / boolean,
``string`` (``uuid`` too) -> string, ``enum`` -> string (Protobuf: proto3 enum values are
scoped to their package, so two enums with a common symbol could not share a file; JSON
Schema: ``enum`` of the symbols), a ``["null", T]`` union -> a proto3 ``optional`` field /
``[T, "null"]``. Timestamps stay epoch milliseconds (int64 / integer), as in the Avro schema.

Protobuf values are the library's own: ``ProtobufSerializer`` is called per record (building
the message costs as much as the call; ``bench/formats.py`` measured 1.1x for writing the
framing here instead, not worth a second implementation). JSON Schema values are written here:
``JSONSerializer`` validates every record against the schema, which made it 10x slower than
``json.dumps`` with the serializer's separators (``bench/formats.py``); the values are the
same bytes, pinned record by record against the serializer in ``tests/codec/test_formats.py``,
which also decodes both formats back with confluent-kafka's deserializers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from simfleet.codec.catalog import SchemaEntry
from simfleet.columns import Column, column_to_list
from simfleet.errors import ConfigError, SchemaError

__all__ = [
    "VALUE_FORMATS",
    "JsonBody",
    "ProtobufBody",
    "ValueFormat",
    "json_schema_of",
    "proto_file_of",
    "proto_source_of",
]

ValueFormat = Literal["avro", "protobuf", "json-schema", "json"]
VALUE_FORMATS: tuple[str, ...] = get_args(ValueFormat)

I64 = npt.NDArray[np.int64]

# Avro primitive -> (proto3 scalar, FieldDescriptorProto type name, JSON Schema type)
_SCALARS = {
    "long": ("int64", "TYPE_INT64", "integer"),
    "int": ("int32", "TYPE_INT32", "integer"),
    "double": ("double", "TYPE_DOUBLE", "number"),
    "float": ("float", "TYPE_FLOAT", "number"),
    "boolean": ("bool", "TYPE_BOOL", "boolean"),
    "string": ("string", "TYPE_STRING", "string"),
    "enum": ("string", "TYPE_STRING", "string"),
}


def check_format(fmt: str, registry_url: str | None, where: str = "--value-format") -> ValueFormat:
    """The format, or a ConfigError: unknown, or one of the registry's formats without one."""
    if fmt not in VALUE_FORMATS:
        raise ConfigError(
            f"{where} {fmt!r} is not a value format; use one of {', '.join(VALUE_FORMATS)}."
        )
    if fmt in ("protobuf", "json-schema") and not registry_url:
        raise ConfigError(
            f"{where} {fmt} is the Confluent wire format, which names a schema registered in a "
            "Schema Registry: pass --schema-registry-url (mock://any for an in-process one), "
            "or use --value-format json for unframed JSON that needs no registry."
        )
    return fmt  # type: ignore[return-value]


def _fields(entry: SchemaEntry) -> list[tuple[str, str, bool, Any]]:
    """(name, Avro base type, nullable, the resolved type) of each field, in schema order."""
    named = entry.parsed.get("__named_schemas", {})
    out: list[tuple[str, str, bool, Any]] = []
    for fld in entry.parsed["fields"]:
        ftype = fld["type"]
        nullable = False
        if isinstance(ftype, list):
            branches = [b for b in ftype if b != "null"]
            nullable = len(branches) < len(ftype)
            ftype = branches[0]
        if isinstance(ftype, str) and ftype in named:
            ftype = named[ftype]
        base = ftype.get("type") if isinstance(ftype, dict) else ftype
        if base not in _SCALARS:
            raise SchemaError(
                f"{entry.path}: field {fld['name']!r} is of Avro type {base!r}, which has no "
                "Protobuf or JSON Schema mapping here; use a primitive, an enum or a null union."
            )
        out.append((fld["name"], str(base), nullable, ftype))
    return out


def _ident(text: str) -> str:
    return re.sub(r"\W", "_", text)


def _package(entry: SchemaEntry) -> str:
    ns = str(entry.parsed["name"]).rpartition(".")[0]
    return ".".join(_ident(p) for p in ns.split(".") if p)


def _message_name(entry: SchemaEntry) -> str:
    return _ident(str(entry.parsed["name"]).rpartition(".")[2])


def proto_file_of(entry: SchemaEntry) -> Any:
    """The ``FileDescriptorProto`` of a record schema: ``<topic>.proto``, one proto3 message."""
    from google.protobuf import descriptor_pb2  # noqa: PLC0415 - only the protobuf format

    fdp = descriptor_pb2.FileDescriptorProto(
        name=f"{entry.topic}.proto", package=_package(entry), syntax="proto3"
    )
    msg = fdp.message_type.add(name=_message_name(entry))
    label = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    for number, (name, base, nullable, _) in enumerate(_fields(entry), start=1):
        kind = getattr(descriptor_pb2.FieldDescriptorProto, _SCALARS[base][1])
        fld = msg.field.add(name=name, number=number, label=label, type=kind)
        if nullable:
            # a proto3 `optional` field is a synthetic one-field oneof, which gives it presence
            fld.proto3_optional = True
            fld.oneof_index = len(msg.oneof_decl)
            msg.oneof_decl.add(name=f"_{name}")
    return fdp


def proto_message_name(entry: SchemaEntry) -> str:
    """The full name of the message derived from a record schema (``package.Message``)."""
    pkg = _package(entry)
    return f"{pkg}.{_message_name(entry)}" if pkg else _message_name(entry)


def registered_message_name(schema_str: str) -> str:
    """The full name of the first message of a registered Protobuf schema: the base64
    descriptor confluent-kafka registers, or the ``.proto`` text a registry returns."""
    import base64  # noqa: PLC0415
    import binascii  # noqa: PLC0415

    from google.protobuf import descriptor_pb2  # noqa: PLC0415
    from google.protobuf.message import DecodeError  # noqa: PLC0415

    try:
        fdp = descriptor_pb2.FileDescriptorProto.FromString(
            base64.b64decode(schema_str, validate=True)
        )
        if fdp.message_type:
            name = fdp.message_type[0].name
            return f"{fdp.package}.{name}" if fdp.package else name
    except (binascii.Error, ValueError, DecodeError):
        pass  # not a base64 descriptor: the `.proto` text a registry returns, read below
    pkg = re.search(r"^\s*package\s+([\w.]+)\s*;", schema_str, re.M)
    msg = re.search(r"^\s*message\s+(\w+)", schema_str, re.M)
    if msg is None:
        raise SchemaError("a registered Protobuf schema has no message")
    return f"{pkg.group(1)}.{msg.group(1)}" if pkg else msg.group(1)


def proto_source_of(entry: SchemaEntry) -> str:
    """The ``.proto`` text of a record schema (what ``simctl schema proto`` prints)."""
    lines = ['syntax = "proto3";', ""]
    if _package(entry):
        lines += [f"package {_package(entry)};", ""]
    lines.append(f"// derived from {entry.path.name} (topic {entry.topic})")
    lines.append(f"message {_message_name(entry)} {{")
    for number, (name, base, nullable, _) in enumerate(_fields(entry), start=1):
        opt = "optional " if nullable else ""
        lines.append(f"  {opt}{_SCALARS[base][0]} {name} = {number};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def json_schema_of(entry: SchemaEntry) -> dict[str, Any]:
    """The draft-07 JSON Schema of a record schema."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for name, base, nullable, resolved in _fields(entry):
        prop: dict[str, Any] = {"type": _SCALARS[base][2]}
        if base == "enum":
            prop["enum"] = list(resolved["symbols"])
        logical = resolved.get("logicalType") if isinstance(resolved, dict) else None
        if logical:
            prop["description"] = f"Avro {base} with logicalType {logical}"
        if nullable:
            prop["type"] = [prop["type"], "null"]
            if "enum" in prop:
                prop["enum"] = [*prop["enum"], None]
        else:
            required.append(name)
        props[name] = prop
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": str(entry.parsed["name"]),
        "description": f"derived from {entry.path.name} (topic {entry.topic})",
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


def _rows(columns: Mapping[str, Column], names: list[str], n: int) -> list[list[Any]]:
    for name in names:
        col = columns.get(name)
        if col is None:
            raise SchemaError(f"a record needs a column {name!r}; the batch has {sorted(columns)}")
        if len(col) != n:
            raise SchemaError(f"column {name!r} has {len(col)} rows, expected {n}")
    lists = [column_to_list(columns[name]) for name in names]
    return [list(r) for r in zip(*lists, strict=True)] if names else [[] for _ in range(n)]


def _concat(parts: list[bytes], prefix: bytes) -> tuple[bytes, I64]:
    offsets = np.zeros(len(parts) + 1, np.int64)
    if parts:
        np.cumsum([len(prefix) + len(p) for p in parts], out=offsets[1:])
    return b"".join(prefix + p for p in parts), offsets


def _context(topic: str) -> Any:
    from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: PLC0415

    return SerializationContext(topic, MessageField.VALUE)


def _registration_error(entry: SchemaEntry, fmt: str, exc: Exception) -> SchemaError:
    return SchemaError(
        f"the schema registry refused the {fmt} schema derived from {entry.path} under subject "
        f"{entry.subject!r}: {exc}. A subject holds one format: delete its earlier versions, "
        "or keep the format it was first registered with."
    )


class ProtobufBody:
    """Records of one topic as Confluent-framed proto3 messages."""

    fmt: ValueFormat = "protobuf"

    def __init__(self, entry: SchemaEntry, client: Any) -> None:
        from confluent_kafka.schema_registry.protobuf import ProtobufSerializer  # noqa: PLC0415
        from google.protobuf import descriptor_pool, message_factory  # noqa: PLC0415

        self.entry = entry
        fields = _fields(entry)
        self.field_names = [f[0] for f in fields]
        self._nullable = [f[2] for f in fields]
        pool = descriptor_pool.DescriptorPool()
        fdp = proto_file_of(entry)
        pool.Add(fdp)
        desc = pool.FindMessageTypeByName(proto_message_name(entry))
        self.message_class: Any = message_factory.GetMessageClass(desc)
        self.serializer = ProtobufSerializer(
            self.message_class, client, {"use.deprecated.format": False}
        )
        try:
            # an empty message's bytes are the framing alone: registers the schema, too
            self._ctx = _context(entry.topic)
            self.prefix: bytes = self.serializer(self.message_class(), self._ctx)
        except Exception as exc:
            raise _registration_error(entry, "Protobuf", exc) from exc
        self.schema_id = int.from_bytes(self.prefix[1:5], "big")

    def message(self, row: list[Any]) -> Any:
        """The message of one row (``None`` leaves an optional field unset)."""
        kw = {k: v for k, v in zip(self.field_names, row, strict=True) if v is not None}
        return self.message_class(**kw)

    def encode(self, columns: Mapping[str, Column], n: int) -> tuple[bytes, I64]:
        """Framed messages of ``n`` rows, as one buffer and n + 1 offsets."""
        rows = _rows(columns, self.field_names, n)
        ser, ctx = self.serializer, self._ctx
        parts = [ser(self.message(r), ctx) for r in rows]
        offsets = np.zeros(n + 1, np.int64)
        if parts:
            np.cumsum([len(p) for p in parts], out=offsets[1:])
        return b"".join(parts), offsets

    def decode(self, value: bytes) -> dict[str, Any]:
        """One framed value back as a dict (unset optional fields as None)."""
        if not value.startswith(self.prefix):
            raise SchemaError(f"a {self.entry.topic} value does not start with its framing")
        msg = self.message_class.FromString(value[len(self.prefix) :])
        return {
            k: (getattr(msg, k) if not opt or msg.HasField(k) else None)
            for k, opt in zip(self.field_names, self._nullable, strict=True)
        }


def _dumps(obj: Any) -> bytes:
    # the serializer's own JSON (compact, UTF-8); pinned against it in tests/codec
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class JsonBody:
    """Records of one topic as compact JSON: Confluent-framed (json-schema) or bare (json)."""

    def __init__(self, entry: SchemaEntry, client: Any | None) -> None:
        self.entry = entry
        self.field_names = [f[0] for f in _fields(entry)]
        self.schema = json_schema_of(entry)
        self.fmt: ValueFormat = "json" if client is None else "json-schema"
        self.prefix = b""
        self.schema_id: int | None = None
        if client is not None:
            from confluent_kafka.schema_registry import Schema  # noqa: PLC0415

            # the string JSONSerializer registers for this schema, so its id is the same
            try:
                sid = client.register_schema(entry.subject, Schema(json.dumps(self.schema), "JSON"))
            except Exception as exc:
                raise _registration_error(entry, "JSON", exc) from exc
            self.prefix = b"\x00" + int(sid).to_bytes(4, "big")
            self.schema_id = int(sid)

    def encode(self, columns: Mapping[str, Column], n: int) -> tuple[bytes, I64]:
        """JSON of ``n`` rows, as one buffer and n + 1 offsets."""
        names = self.field_names
        rows = _rows(columns, names, n)
        return _concat([_dumps(dict(zip(names, r, strict=True))) for r in rows], self.prefix)

    def decode(self, value: bytes) -> dict[str, Any]:
        """One value back as a dict."""
        if not value.startswith(self.prefix):
            raise SchemaError(f"a {self.entry.topic} value does not start with its framing")
        out: dict[str, Any] = json.loads(value[len(self.prefix) :])
        return out
