"""Encode rate of each value format on real records, beside the same run's ceilings.

For every format: records/s of ``TopicEncoder.encode`` (columns in, framed values out) on the
batches of one sim day of ticketing (the engine's own columns); beside it, confluent-kafka's own
serializer called per record (Protobuf: ``ProtobufSerializer``; JSON Schema: ``JSONSerializer``,
which also validates each record) and the rate at which ``Producer.produce()`` takes the
encoded values (the client's ceiling: no encoder can make a fleet faster than that).

Run: ``.venv/bin/python bench/formats.py`` (part of ``make bench``).
"""

from __future__ import annotations

import json
import time
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from simfleet.codec import encoders_for
from simfleet.codec.encoder import registry_client
from simfleet.codec.formats import JsonBody, ProtobufBody
from simfleet.columns import Batch
from simfleet.domain.pack import Project
from simfleet.producers.backfill import backfill
from simfleet.timeutil import parse_instant_ms

FORMATS = ("avro", "protobuf", "json-schema", "json")


def sample() -> list[Batch]:
    """The batches one sim day of ticketing makes (the engine's columns, as the pipeline has
    them: ids as fixed-width bytes, categories as table indexes)."""
    spec = Project().spec("ticketing")
    t0 = parse_instant_ms("2026-03-03T00:00:00Z")
    return [
        b
        for batches in backfill([spec], t0, t0 + 86_400_000, 7, 1.0, 2, merge=False)
        for b in batches
        if b.n
    ]


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def run() -> dict[str, float]:
    """Figures by name (records/s and ratios), printed as they are measured."""
    batches = sample()
    n = sum(b.n for b in batches)
    schemas = Project().schemas()
    # a producer that never connects: produce() only queues (the client's per-call ceiling)
    producer = Producer(
        {"bootstrap.servers": "127.0.0.1:1", "queue.buffering.max.messages": 2_000_000,
         "queue.buffering.max.kbytes": 4_000_000, "log_level": 0}
    )  # fmt: skip
    out: dict[str, float] = {}
    topics = len({b.topic for b in batches})
    print(
        f"formats: {n:,} records of {topics} ticketing topics (one sim day), {len(batches)} batches"
    )
    for fmt in FORMATS:
        client = None if fmt == "json" else registry_client(f"mock://bench-{fmt}")
        encs = encoders_for(schemas, None, client=client, fmt=fmt)
        encoded = []
        t0 = time.perf_counter()
        for b in batches:
            encoded.append(encs[b.topic].encode(b.columns, b.n))
        ours = _rate(n, time.perf_counter() - t0)
        values = [buf[off[i] : off[i + 1]] for buf, off in encoded for i in range(len(off) - 1)]
        t0 = time.perf_counter()
        for v in values:
            producer.produce("bench-formats", v)
            producer.poll(0)
        ceiling = _rate(n, time.perf_counter() - t0)
        producer.purge()
        line = f"  {fmt:<11}: encode {ours:>12,.0f} records/s; produce() ceiling {ceiling:>10,.0f}"
        line += f" records/s; ratio {ours / ceiling:.2f}"
        out[f"format_{fmt}_encode_per_s"] = ours
        out[f"format_{fmt}_vs_produce_ratio"] = ours / ceiling
        if fmt in ("protobuf", "json-schema"):
            lib = _library_rate(fmt, encs, batches, client)
            line += f"; the library's serializer per record {lib:,.0f} records/s"
            line += f" (ours/library {ours / lib:.1f}x)"
            out[f"format_{fmt}_vs_library_ratio"] = ours / lib
        print(line)
    return out


def _library_rate(fmt: str, encs: dict[str, Any], batches: list[Batch], client: Any) -> float:
    """Records/s of the library's serializer called per record (the rows taken out of the
    columns beforehand, untimed)."""
    rows = [(b.topic, b.to_records()) for b in batches]
    n = sum(len(r) for _, r in rows)
    sers: dict[str, Any] = {}
    t0 = time.perf_counter()
    for topic, recs in rows:
        body = encs[topic].encoder
        ctx = SerializationContext(topic, MessageField.VALUE)
        if isinstance(body, ProtobufBody):
            ser = sers.get(topic) or ProtobufSerializer(
                body.message_class, client, {"use.deprecated.format": False}
            )
            sers[topic] = ser
            for r in recs:
                ser(body.message([r.get(k) for k in body.field_names]), ctx)
        else:
            assert isinstance(body, JsonBody)
            jser = sers.get(topic) or JSONSerializer(json.dumps(body.schema), client)
            sers[topic] = jser
            for r in recs:
                jser({k: r.get(k) for k in body.field_names}, ctx)
    return _rate(n, time.perf_counter() - t0)


if __name__ == "__main__":
    run()
