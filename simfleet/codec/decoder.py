"""Decoding framed Avro values (single-object or Confluent wire format) to dicts, for the edges:
``simctl tail``, tests, outside readers."""

from __future__ import annotations

import base64
import io
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

    def _deserializer(self) -> Any:
        if self._confluent is None:
            if self._client is None:
                if self._registry_url is None:
                    raise SchemaError(
                        "value is in the Confluent wire format (magic byte 0) but no schema "
                        "registry is configured; pass --schema-registry-url."
                    )
                self._client = registry_client(self._registry_url)
            # deferred, as in registry_client
            from confluent_kafka.schema_registry.avro import AvroDeserializer  # noqa: PLC0415

            self._confluent = AvroDeserializer(self._client)
        return self._confluent

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
            try:
                rec = self._deserializer()(value, None)
            except SerializationError as exc:
                raise SchemaError(f"cannot decode a Confluent-framed value: {exc}") from exc
            except SchemaError:
                raise
            except Exception as exc:
                raise SchemaError(f"cannot decode a Confluent-framed value: {exc}") from exc
            return dict(rec)
        raise SchemaError(
            f"value starts with {value[:2].hex() or 'nothing'}: neither Avro single-object "
            "encoding (c301) nor the Confluent wire format (00); it was not written by simfleet."
        )
