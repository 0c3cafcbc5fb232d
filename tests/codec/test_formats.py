"""Protobuf, JSON Schema and bare JSON values: every record of a small run of every domain is
written by ``encoders_for(fmt=...)``, compared byte for byte with confluent-kafka's own
serializers, and read back with its deserializers (on a ``mock://`` registry) and with
simfleet's ``Decoder``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import json_format
from typer.testing import CliRunner

from simfleet.cli.main import app
from simfleet.codec import encoders_for, records_to_columns
from simfleet.codec.decoder import Decoder
from simfleet.codec.encoder import registry_client
from simfleet.codec.formats import JsonBody, ProtobufBody, json_schema_of, proto_source_of
from simfleet.domain.pack import Project
from simfleet.errors import ConfigError
from tests import live

PER_TOPIC = 60  # records of each topic checked


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Up to PER_TOPIC records of every topic a short run of every domain writes."""
    out = tmp_path_factory.mktemp("formats")
    args = ["generate", "--start", "2026-03-03T08:00:00Z", "--duration", "3h", "--warmup", "0s"]
    args += ["--out", str(out), "--seed", "5", "--shards", "2", "--format", "jsonl"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(out.glob("*.jsonl")):
        lines = path.read_text().splitlines()[:PER_TOPIC]
        if lines:
            found[path.stem] = [json.loads(line) for line in lines]
    assert len(found) >= 40, sorted(found)
    return found


def _ctx(topic: str) -> SerializationContext:
    return SerializationContext(topic, MessageField.VALUE)


def _same(got: dict[str, Any], want: dict[str, Any]) -> bool:
    """Equal, floats within float32 precision (an Avro float is a proto3 float)."""
    if got.keys() != want.keys():
        return False
    return all(
        g == pytest.approx(w, rel=1e-6) if isinstance(w, float) else g == w
        for g, w in ((got[k], want[k]) for k in want)
    )


def _full(record: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """A record as the schema has it: every field, a missing nullable as None."""
    return {k: record.get(k) for k in names}


def test_protobuf_values_are_the_serializers_and_read_back(
    samples: dict[str, list[dict[str, Any]]],
) -> None:
    client = registry_client("mock://formats-protobuf")
    schemas = Project().schemas()
    encoders = encoders_for(schemas, None, client=client, fmt="protobuf")
    checked = 0
    for topic, records in samples.items():
        enc = encoders[topic]
        body = enc.encoder
        assert isinstance(body, ProtobufBody)
        buf, offsets = enc.encode(records_to_columns(enc.schema.parsed, records), len(records))
        ours = [buf[offsets[i] : offsets[i + 1]] for i in range(len(records))]
        ser = ProtobufSerializer(body.message_class, client, {"use.deprecated.format": False})
        de = ProtobufDeserializer(body.message_class, {"use.deprecated.format": False})
        names = body.field_names
        for rec, value in zip(records, ours, strict=True):
            assert value == ser(body.message(list(_full(rec, names).values())), _ctx(topic))
            msg = de(value, _ctx(topic))
            back = json_format.MessageToDict(msg, preserving_proto_field_name=True)
            for k, v in _full(rec, names).items():
                if v is None:
                    assert not msg.HasField(k), (topic, k)
                elif isinstance(v, float):
                    assert getattr(msg, k) == pytest.approx(v, rel=1e-6), (topic, k)
                else:
                    assert getattr(msg, k) == v, (topic, k, back)
            assert _same(enc.decode(value), _full(rec, names))
            checked += 1
    assert checked >= 40 * 10


def test_json_schema_values_are_the_serializers_and_read_back(
    samples: dict[str, list[dict[str, Any]]],
) -> None:
    client = registry_client("mock://formats-json")
    schemas = Project().schemas()
    encoders = encoders_for(schemas, None, client=client, fmt="json-schema")
    for topic, records in samples.items():
        enc = encoders[topic]
        body = enc.encoder
        assert isinstance(body, JsonBody)
        buf, offsets = enc.encode(records_to_columns(enc.schema.parsed, records), len(records))
        ser = JSONSerializer(json.dumps(body.schema), client)  # validates every record, too
        de = JSONDeserializer(None, schema_registry_client=client)
        for i, rec in enumerate(records):
            value = buf[offsets[i] : offsets[i + 1]]
            full = _full(rec, body.field_names)
            assert value == ser(full, _ctx(topic)), topic
            assert de(value, _ctx(topic)) == full
            assert enc.decode(value) == full


def test_the_decoder_reads_every_format_it_finds(
    samples: dict[str, list[dict[str, Any]]],
) -> None:
    schemas = Project().schemas()
    topic, records = next((t, r) for t, r in samples.items() if t.startswith("ticketing."))
    for fmt in ("avro", "protobuf", "json-schema", "json"):
        client = None if fmt == "json" else registry_client(f"mock://decoder-{fmt}")
        enc = encoders_for(schemas, None, client=client, fmt=fmt)[topic]
        buf, offsets = enc.encode(records_to_columns(enc.schema.parsed, records), len(records))
        decoder = Decoder(schemas, client=client)
        for i, rec in enumerate(records):
            got = decoder.decode(buf[offsets[i] : offsets[i + 1]])
            got = {
                k: int(v.timestamp() * 1000) if hasattr(v, "timestamp") else v
                for k, v in got.items()
            }
            assert _same(got, {k: rec.get(k) for k in got}), fmt


def test_bare_json_is_plain_text_without_framing(
    samples: dict[str, list[dict[str, Any]]],
) -> None:
    enc = encoders_for(Project().schemas(), None, fmt="json")
    topic, records = next(iter(samples.items()))
    buf, offsets = enc[topic].encode(
        records_to_columns(enc[topic].schema.parsed, records), len(records)
    )
    first = buf[offsets[0] : offsets[1]]
    assert first.startswith(b"{") and json.loads(first)["event_id"] == records[0]["event_id"]


def test_derived_schemas_are_readable() -> None:
    entry = next(e for e in Project().schemas() if e.topic == "ticketing.payment.attempted")
    proto = proto_source_of(entry)
    assert proto.startswith('syntax = "proto3";') and "message " in proto
    js = json_schema_of(entry)
    assert js["type"] == "object" and "event_id" in js["required"]


@pytest.mark.parametrize(
    ("fmt", "registry", "needle"),
    [
        ("protobuf", None, "--schema-registry-url"),
        ("json-schema", None, "--schema-registry-url"),
        ("xml", None, "avro, protobuf, json-schema, json"),
    ],
)
def test_a_format_that_cannot_run_is_refused(fmt: str, registry: str | None, needle: str) -> None:
    with pytest.raises(ConfigError, match="--value-format") as info:
        encoders_for(Project().schemas(), registry, fmt=fmt)
    assert needle in str(info.value)


def test_the_cli_refuses_protobuf_without_a_registry(tmp_path: Path) -> None:
    """The real entry point: exit 2 and one paragraph, before any broker is asked."""
    out = live.simctl(
        "worker",
        "run",
        "-b",
        "127.0.0.1:1",
        "--value-format",
        "protobuf",
        env=live.offline_env(tmp_path / "state"),
    )
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "--schema-registry-url" in lines[0], out.stderr


def test_schema_value_prints_what_a_topic_is_written_with() -> None:
    res = CliRunner().invoke(app, ["schema", "value", "ticketing.payment.attempted"])
    assert res.exit_code == 0 and "message PaymentAttempted {" in res.output
    res = CliRunner().invoke(
        app, ["schema", "value", "ticketing.payment.attempted", "--as", "json-schema"]
    )
    assert res.exit_code == 0 and json.loads(res.output)["title"].endswith("PaymentAttempted")
