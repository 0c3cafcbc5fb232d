"""Each value format through a real producer and the embedded broker: a generate folder
replayed with ``--value-format``, read back by a plain consumer and decoded by confluent-kafka's
deserializers (Protobuf, JSON Schema) or ``json`` (bare JSON), and by ``simctl tail``'s decoder.

``mock://`` registries live in one process: the reader's own mock client registers the same
derived schemas in the same order, so its ids are the producer's (the deserializers then look
each id up as they would on a real registry)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry.json_schema import JSONDeserializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from typer.testing import CliRunner

from simfleet.cli.main import app
from simfleet.codec import encoders_for
from simfleet.codec.decoder import Decoder
from simfleet.codec.encoder import registry_client
from simfleet.codec.formats import ProtobufBody
from simfleet.domain.pack import Project
from tests.live import read_until_idle

pytestmark = pytest.mark.integration

TOPIC = "ticketing.payment.attempted"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fmt-gen")
    res = CliRunner().invoke(
        app,
        ["generate", "--domain", "ticketing", "--start", "2026-03-03T08:00:00Z", "--duration",
         "2h", "--warmup", "0s", "--out", str(out), "--shards", "2", "--format", "jsonl",
         "--scale", "0.3"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return out


def _source(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (folder / f"{TOPIC}.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("fmt", ["protobuf", "json-schema", "json"])
def test_replayed_values_decode_with_the_librarys_deserializers(
    bootstrap: str, folder: Path, fmt: str
) -> None:
    prefix = f"vf{uuid.uuid4().hex[:8]}."
    url = f"mock://vf-{fmt}"
    args = ["replay", str(folder), "-b", bootstrap, "--max-speed", "--topic-prefix", prefix]
    args += ["--value-format", fmt]
    if fmt != "json":
        args += ["--schema-registry-url", url]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, (res.output, res.exception)

    want = {r["event_id"]: r for r in _source(folder)}
    assert len(want) > 50
    client = None if fmt == "json" else registry_client(url)
    encoders = encoders_for(Project().schemas(), None, client=client, fmt=fmt)  # same ids
    ctx = SerializationContext(prefix + TOPIC, MessageField.VALUE)
    decoder = Decoder(Project().schemas(), client=client)
    got: dict[str, dict[str, Any]] = {}
    for m in read_until_idle(bootstrap, [prefix + TOPIC]):
        value = m.value()
        assert value is not None
        if fmt == "protobuf":
            body = encoders[TOPIC].encoder
            assert isinstance(body, ProtobufBody)
            assert value[:1] == b"\x00"
            msg = ProtobufDeserializer(body.message_class, {"use.deprecated.format": False})(
                value, ctx
            )
            rec = {f: getattr(msg, f) for f in ("event_id", "amount", "occurred_at")}
        elif fmt == "json-schema":
            assert value[:1] == b"\x00"
            rec = JSONDeserializer(None, schema_registry_client=client)(value, ctx)
        else:
            rec = json.loads(value)  # any tool reads it: no framing at all
        assert decoder.decode(value)["event_id"] == rec["event_id"]
        got[rec["event_id"]] = rec
    assert got.keys() == want.keys()
    for eid, rec in got.items():
        assert rec["occurred_at"] == want[eid]["occurred_at"]
        assert rec["amount"] == pytest.approx(want[eid]["amount"])
