"""Decoding values to dicts, for the edges (``simctl tail``, record, score, tests): Avro
single-object, the Confluent wire format of any of its three schema types (Avro, Protobuf,
JSON Schema; the registry says which an id is), and bare JSON."""

from __future__ import annotations

import base64
import io
import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import fastavro
from confluent_kafka.serialization import SerializationError

from simfleet.codec.catalog import SchemaSet
from simfleet.codec.encoder import CONFLUENT_MAGIC, SINGLE_OBJECT_MAGIC, registry_client
from simfleet.errors import SchemaError

__all__ = ["Decoder", "json_default"]


def json_default(value: Any) -> Any:
    """JSON for the values fastavro decodes that json does not know."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


# --------------------------------------------------------------------------- decoder


class Decoder:
    """Decode single-object or Confluent-framed Avro values to dicts (edges only)."""

    def __init__(
        self, schemas: SchemaSet, registry_url: str | None = None, *, client: Any | None = None
    ) -> None:
        self._schemas = schemas
        self._registry_url = registry_url
        self._client = client
        self._confluent: Any | None = None
        self._kinds: dict[int, tuple[str, Any]] = {}
        self._protobuf: dict[int, Any] = {}

    def _registry(self) -> Any:
        if self._client is None:
            if self._registry_url is None:
                raise SchemaError(
                    "value is in the Confluent wire format (magic byte 0) but no schema "
                    "registry is configured; pass --schema-registry-url."
                )
            self._client = registry_client(self._registry_url)
        return self._client

    def _deserializer(self) -> Any:
        if self._confluent is None:
            # deferred, as in registry_client
            from confluent_kafka.schema_registry.avro import AvroDeserializer  # noqa: PLC0415

            self._confluent = AvroDeserializer(self._registry())
        return self._confluent

    def _derived(self, value: bytes) -> dict[str, Any] | None:
        """A Protobuf or JSON Schema value decoded with the schema derived from the local Avro
        one; None for an Avro id."""
        sid = int.from_bytes(value[1:5], "big")
        kind = self._kinds.get(sid)
        if kind is None:
            try:
                registered = self._registry().get_schema(sid)
            except Exception as exc:  # the registry's own words are the reason
                raise SchemaError(f"cannot decode a Confluent-framed value: {exc}") from exc
            kind = self._kinds[sid] = (registered.schema_type or "AVRO").upper(), registered
        stype, registered = kind
        if stype == "AVRO":
            return None
        if stype == "JSON":
            try:
                out: dict[str, Any] = json.loads(value[5:])
            except ValueError as exc:
                raise SchemaError(f"cannot decode a JSON Schema value: {exc}") from exc
            return out
        body = self._protobuf.get(sid)
        if body is None:
            from simfleet.codec.formats import (  # noqa: PLC0415
                ProtobufBody,
                proto_message_name,
                registered_message_name,
            )

            name = registered_message_name(registered.schema_str)
            entry = next((e for e in self._schemas if proto_message_name(e) == name), None)
            if entry is None:
                raise SchemaError(
                    f"schema id {sid} is the Protobuf message {name!r}, which no schema of the "
                    "local schemas folder derives; pass the packs that wrote it (--pack-dir)."
                )
            body = self._protobuf[sid] = ProtobufBody(entry, self._registry())
        try:
            return body.decode(value)
        except Exception as exc:
            raise SchemaError(f"cannot decode a Protobuf value: {exc}") from exc

    def decode(self, value: bytes) -> dict[str, Any]:
        """One framed record as a dict."""
        if value[:2] == SINGLE_OBJECT_MAGIC:
            if len(value) < 10:
                raise SchemaError(f"single-object value of {len(value)} bytes is truncated")
            fp = value[2:10]
            entry = self._schemas.by_fingerprint(fp)
            if entry is None:
                raise SchemaError(
                    f"no known schema has the fingerprint {fp.hex()}; the value was written "
                    "with a schema missing from (or different to) the local schemas folder."
                )
            bio = io.BytesIO(value)
            bio.seek(10)
            try:
                rec: Any = fastavro.schemaless_reader(bio, entry.parsed)
            except Exception as exc:
                raise SchemaError(f"cannot decode a {entry.name} value: {exc}") from exc
            if bio.tell() != len(value):
                raise SchemaError(
                    f"{len(value) - bio.tell()} trailing bytes after a {entry.name} record"
                )
            return dict(rec)
        if value[:1] == CONFLUENT_MAGIC:
            derived = self._derived(value) if len(value) >= 5 else None
            if derived is not None:
                return derived
            try:
                rec = self._deserializer()(value, None)
            except SerializationError as exc:
                raise SchemaError(f"cannot decode a Confluent-framed value: {exc}") from exc
            except SchemaError:
                raise
            except Exception as exc:
                raise SchemaError(f"cannot decode a Confluent-framed value: {exc}") from exc
            return dict(rec)
        if value[:1] == b"{":
            try:
                out: dict[str, Any] = json.loads(value)
            except ValueError:
                pass  # not JSON either: the error below
            else:
                return out
        raise SchemaError(
            f"value starts with {value[:2].hex() or 'nothing'}: neither Avro single-object "
            "encoding (c301) nor the Confluent wire format (00); it was not written by simfleet."
        )
