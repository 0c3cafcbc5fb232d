"""Confluent wire format: our bytes equal AvroSerializer's, and AvroDeserializer reads ours.

Uses a ``mock://`` schema registry; each mock client has its own store, so the encoder, the
serializer and the deserializer share one client.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from simfleet.codec import (
    Decoder,
    SchemaSet,
    confluent_prefix,
    encoders_for,
    records_to_columns,
    registry_client,
)
from simfleet.errors import SchemaError

ENUM = {"type": "enum", "name": "Level", "symbols": ["LOW", "HIGH"]}
SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Reading",
    "namespace": "simfleet.test",
    "simfleet.topic": "sensor-readings",
    "doc": "One sensor reading.",
    "fields": [
        {"name": "sensor_id", "type": "string"},
        {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "value", "type": "double"},
        {"name": "count", "type": "int"},
        {"name": "level", "type": ENUM},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "delta", "type": ["null", "long"], "default": None},
    ],
}
RECORDS: list[dict[str, Any]] = [
    {
        "sensor_id": "s-ü-1",
        "occurred_at": 1_700_000_000_123,
        "value": -1.25,
        "count": 3,
        "level": "HIGH",
        "note": None,
        "delta": -(2**63),
    },
    {
        "sensor_id": "",
        "occurred_at": 0,
        "value": 1e300,
        "count": -65,
        "level": "LOW",
        "note": "日本",
        "delta": None,
    },
]


@pytest.fixture
def schemas(tmp_path: Path) -> SchemaSet:
    (tmp_path / "iot").mkdir()
    (tmp_path / "iot" / "reading.avsc").write_text(json.dumps(SCHEMA), "utf-8")
    return SchemaSet.load(tmp_path)


def test_bytes_equal_avro_serializer_and_deserializer_reads_them(schemas: SchemaSet) -> None:
    """Registered under <topic>-value, framed 00 + id; identical to confluent's serializer."""
    client = registry_client("mock://simfleet-test")
    enc = encoders_for(schemas, "mock://simfleet-test", client=client)["sensor-readings"]
    assert enc.schema_id is not None
    assert enc.prefix == confluent_prefix(enc.schema_id)
    assert client.get_latest_version("sensor-readings-value").schema_id == enc.schema_id

    buf, off = enc.encode(records_to_columns(enc.schema.parsed, RECORDS), len(RECORDS))
    ours = [buf[off[i] : off[i + 1]] for i in range(len(RECORDS))]

    serializer = AvroSerializer(client, enc.schema.raw)
    ctx = SerializationContext("sensor-readings", MessageField.VALUE)
    assert ours == [serializer(r, ctx) for r in RECORDS]

    deserializer = AvroDeserializer(client)
    decoder = Decoder(schemas, client=client)
    for value in ours:
        theirs = deserializer(value, ctx)
        assert decoder.decode(value) == theirs
        assert theirs["sensor_id"] in {"s-ü-1", ""}


def test_decoder_builds_its_client_from_url(schemas: SchemaSet) -> None:
    """A Decoder given only a mock URL decodes Confluent frames of ids its registry knows."""
    decoder = Decoder(schemas, "mock://empty")
    with pytest.raises(SchemaError, match="Confluent-framed"):
        decoder.decode(confluent_prefix(12345) + b"\x00\x00")
