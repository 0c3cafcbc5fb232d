"""The same fleet against Apache Kafka and a Schema Registry in Docker (testcontainers).

Skipped, with the reason, where no Docker engine answers (as on the CI machines); everything
else runs on the embedded broker.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.docker]


def _docker_reason() -> str | None:
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return (
            "no Docker engine (no DOCKER_HOST, no /var/run/docker.sock); Apache Kafka tests skipped"
        )
    import docker  # type: ignore[import-untyped]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = docker.from_env()
            try:
                client.ping()
            finally:
                client.close()
        except Exception as exc:  # noqa: BLE001 - any failure means: no engine to test against
            return f"no Docker engine answers ({type(exc).__name__}); Apache Kafka tests skipped"
    return None


DOCKER_REASON = _docker_reason()


@pytest.mark.skipif(DOCKER_REASON is not None, reason=str(DOCKER_REASON))
def test_backfill_to_apache_kafka_with_schema_registry() -> None:
    """Generate a sim hour into Apache Kafka with the Confluent wire format, read it back."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    from testcontainers.kafka import KafkaContainer

    from producers.backfill import backfill
    from simfleet.codec import Decoder, encoders_for
    from simfleet.domain.pack import Project, load_domain
    from simfleet.kafka import AccountedProducer, TopicSpec, ensure_topics
    from simfleet.settings import KafkaSettings
    from simfleet.timeutil import parse_instant_ms

    with KafkaContainer("apache/kafka:3.9.0") as kafka:
        settings = KafkaSettings(bootstrap_servers=kafka.get_bootstrap_server())
        spec = load_domain("marketplace")
        ensure_topics(
            settings, [TopicSpec(spec.topic(n), s.partitions) for n, s in spec.streams.items()]
        )
        schemas = Project().schemas()
        producer = AccountedProducer(settings, encoders_for(schemas, None))
        start = parse_instant_ms("2026-03-03T12:00:00Z")
        sent = 0
        for batches in backfill(spec, start, start + 3_600_000, seed=1):
            for b in batches:
                producer.send_batch(b)
                sent += b.n
        producer.flush(60)
        topic = "marketplace.customer.search"
        c = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": "t"})
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(6)])
        decoder = Decoder(schemas)
        got = 0
        for m in c.consume(100_000, 10):
            if m.error() is None:
                decoder.decode(m.value())
                got += 1
        c.close()
        assert sent > 0 and got > 0
