"""The same fleet against Apache Kafka 4.x and a Schema Registry in Docker (testcontainers).

Skipped, with the reason, where no Docker engine answers (as on the CI machines); everything
else runs on the embedded broker.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.docker]

KAFKA_IMAGE = "apache/kafka:4.1.0"
REGISTRY_IMAGE = "confluentinc/cp-schema-registry:7.9.0"
_KAFKA_ALIAS = "kafka"
_INTERNAL_PORT = 9092  # the BROKER listener: other containers of the network, and inter-broker
_REGISTRY_PORT = 8081
_STARTUP_S = 120
_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS


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


def _apache_kafka(network: Any) -> Any:
    """A single-node KRaft ``apache/kafka`` container on ``network``, alias ``kafka``.

    testcontainers' ``KafkaContainer`` boots Confluent images only (it runs their
    ``/etc/confluent/docker`` scripts). This subclass keeps its mechanism (the container waits
    for a start script, written once the host port is mapped, that sets the advertised
    listeners) and runs the Apache image's own ``/etc/kafka/docker/run`` instead. Its broker
    keeps the Kafka 4.x default ``log.message.timestamp.after.max.ms`` of 1 h: the topics
    simfleet creates must lift it themselves.
    """
    try:
        from testcontainers.community.kafka import KafkaContainer
    except ImportError:  # testcontainers before the community namespace
        from testcontainers.kafka import KafkaContainer

    class ApacheKafkaContainer(KafkaContainer):  # type: ignore[misc]
        def configure(self) -> None:
            self.wait_for = r".*Kafka Server started.*"
            self.env.pop("KAFKA_BROKER_ID", None)  # KRaft: node.id only
            self.with_env("CLUSTER_ID", self.cluster_id)
            self.with_env("KAFKA_NODE_ID", "1")
            self.with_env("KAFKA_PROCESS_ROLES", "broker,controller")
            self.with_env("KAFKA_LISTENERS", f"{self.listeners},CONTROLLER://0.0.0.0:9094")
            self.with_env(
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                f"{self.security_protocol_map},CONTROLLER:PLAINTEXT",
            )
            self.with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
            self.with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9094")
            self.with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
            self.with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")

        def tc_start(self) -> None:
            host = self.get_container_host_ip()
            port = self.get_exposed_port(self.port)
            listeners = (
                f"{self.listener_name}://{host}:{port},BROKER://{_KAFKA_ALIAS}:{_INTERNAL_PORT}"
            )
            script = f"export KAFKA_ADVERTISED_LISTENERS={listeners}\nexec /etc/kafka/docker/run\n"
            self.create_file(script.encode(), KafkaContainer.TC_START_SCRIPT)

    return (
        ApacheKafkaContainer(KAFKA_IMAGE)
        .with_cluster_id("70EXbj6-VWGjdgc3nInAQA")  # a base64 UUID, as kafka-storage.sh wants
        .with_network(network)
        .with_network_aliases(_KAFKA_ALIAS)
    )


def _schema_registry(network: Any) -> Any:
    """A Confluent Schema Registry storing its schemas in the ``kafka`` container."""
    from testcontainers.core.container import DockerContainer

    return (
        DockerContainer(REGISTRY_IMAGE)
        .with_network(network)
        .with_network_aliases("schema-registry")
        .with_env("SCHEMA_REGISTRY_HOST_NAME", "schema-registry")
        .with_env(
            "SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS",
            f"PLAINTEXT://{_KAFKA_ALIAS}:{_INTERNAL_PORT}",
        )
        .with_env("SCHEMA_REGISTRY_KAFKASTORE_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("SCHEMA_REGISTRY_LISTENERS", f"http://0.0.0.0:{_REGISTRY_PORT}")
        .with_exposed_ports(_REGISTRY_PORT)
    )


def _wait_for_registry(url: str) -> None:
    """Poll ``GET /subjects`` until the registry answers 200 (it needs Kafka first)."""
    deadline = time.monotonic() + _STARTUP_S
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/subjects", timeout=5) as resp:
                if resp.status == 200:
                    json.load(resp)
                    return
        except OSError as exc:  # refused, reset or 5xx while it starts
            last = exc
        time.sleep(0.5)  # polling a condition with a deadline
    raise AssertionError(f"schema registry at {url} did not answer in {_STARTUP_S} s: {last}")


@pytest.mark.skipif(DOCKER_REASON is not None, reason=str(DOCKER_REASON))
@pytest.mark.filterwarnings("ignore::ResourceWarning")  # docker-py's pooled sockets
def test_backfill_to_apache_kafka_with_schema_registry() -> None:
    """A sim hour 30 days ahead into Apache Kafka 4.x, Confluent-framed, read back via the
    registry: the topics simfleet creates accept the future timestamps (the broker's default
    limit is 1 h), every record starts with magic byte 0 and the id of its subject's schema."""
    from confluent_kafka import OFFSET_BEGINNING, TIMESTAMP_CREATE_TIME, Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext
    from pydantic import SecretStr
    from testcontainers.core.network import Network

    from simfleet.clock import wall_ms
    from simfleet.codec import CONFLUENT_MAGIC, encoders_for
    from simfleet.domain.pack import Project
    from simfleet.kafka import (
        ANY_AHEAD_MS,
        TIMESTAMP_AHEAD_CONFIG,
        AccountedProducer,
        check_timestamp_headroom,
        ensure_topics,
    )
    from simfleet.producers.backfill import backfill
    from simfleet.settings import KafkaSettings
    from simfleet.topology import domain_topics

    domain = "marketplace"
    project = Project()
    spec = project.spec(domain)
    schemas = project.schemas()

    with contextlib.ExitStack() as stack:
        network = stack.enter_context(Network())
        kafka = _apache_kafka(network)
        stack.callback(kafka.stop)  # a no-op for a container that never started
        kafka.start(timeout=_STARTUP_S)
        registry = _schema_registry(network)
        stack.callback(registry.stop)
        registry.start()
        registry_url = (
            f"http://{registry.get_container_host_ip()}:{registry.get_exposed_port(_REGISTRY_PORT)}"
        )
        _wait_for_registry(registry_url)

        settings = KafkaSettings(
            bootstrap_servers=kafka.get_bootstrap_server(),
            schema_registry_url=SecretStr(registry_url),
        )
        topics = domain_topics(project, domain)
        created = ensure_topics(settings, topics)
        assert created == {t.name for t in topics}
        # created here with no limit: nothing to check, and Kafka reports the limit we set
        check_timestamp_headroom(settings, [t.name for t in topics], None, created)
        admin = AdminClient(settings.client_config("admin"))
        stream_topic = spec.topic(next(iter(spec.streams)))
        resource = ConfigResource(ResourceType.TOPIC, stream_topic)
        described = admin.describe_configs([resource])[resource].result(timeout=30)
        assert described[TIMESTAMP_AHEAD_CONFIG].value == str(ANY_AHEAD_MS)

        assert settings.registry_url is not None
        encoders = encoders_for(schemas, settings.registry_url)
        producer = AccountedProducer(settings, encoders)
        start = (wall_ms() // _HOUR_MS) * _HOUR_MS + 30 * _DAY_MS
        end = start + _HOUR_MS
        for batches in backfill(spec, start, end, seed=1, schemas=schemas):
            for b in batches:
                producer.send_batch(b)
        producer.flush(60)  # raises DeliveryError if Kafka refused any record
        produced, delivered, failed = producer.totals()
        assert produced == delivered > 0
        assert failed == 0

        client = SchemaRegistryClient({"url": settings.registry_url})
        subjects = set(client.get_subjects())
        for name in spec.streams:
            entry = schemas.for_topic(spec.topic(name))
            assert entry.subject in subjects
            latest = client.get_latest_version(entry.subject)
            assert latest.schema_id == encoders[entry.topic].schema_id

        # read back the busiest stream topic through the registry
        stream_topics = {spec.topic(n) for n in spec.streams}
        topic, counter = max(
            ((t, c) for t, c in producer.counters.items() if t in stream_topics),
            key=lambda tc: tc[1].delivered,
        )
        partitions = len(admin.list_topics(topic=topic, timeout=10).topics[topic].partitions)
        entry = schemas.for_topic(topic)
        schema_id = encoders[topic].schema_id
        assert schema_id is not None
        deserialize = AvroDeserializer(client)
        ctx = SerializationContext(topic, MessageField.VALUE)
        consumer = Consumer(
            {
                "bootstrap.servers": settings.bootstrap_servers,
                "group.id": "simfleet-real-kafka-test",
                "enable.auto.commit": False,
            }
        )
        stack.callback(consumer.close)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        got = 0
        deadline = time.monotonic() + 60
        while got < counter.delivered and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, 1.0):
                assert msg.error() is None, msg.error()
                value = msg.value()
                assert value is not None
                assert value[:1] == CONFLUENT_MAGIC == b"\x00"
                assert int.from_bytes(value[1:5], "big") == schema_id
                record = deserialize(value, ctx)
                assert set(record) == set(entry.fields)
                kind, stamp = msg.timestamp()
                assert kind == TIMESTAMP_CREATE_TIME
                assert start <= stamp < end
                got += 1
        assert got == counter.delivered
