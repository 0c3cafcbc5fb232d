"""Topics simfleet creates take the broker's default replication factor (-1, KIP-464) unless
``--replication-factor`` says otherwise; the embedded broker accepts -1 (one replica)."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import AdminClient

from simfleet.kafka import TopicSpec, ensure_topics
from simfleet.settings import KafkaSettings, Settings

pytestmark = pytest.mark.integration


def test_the_brokers_default_replication_is_asked_for_and_accepted(bootstrap: str) -> None:
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    assert settings.replication_factor == -1
    name = f"rf-{uuid.uuid4().hex[:10]}"
    assert ensure_topics(settings, [TopicSpec(name, 2)]) == {name}
    topic = AdminClient({"bootstrap.servers": bootstrap}).list_topics(name, timeout=10).topics
    assert [len(p.replicas) for p in topic[name].partitions.values()] == [1, 1]


def test_an_explicit_replication_factor_reaches_every_child() -> None:
    s = Settings.build(replication_factor=3)
    kafka = KafkaSettings.build("b:9092", replication_factor=s.replication_factor)
    assert kafka.revealed()["replication_factor"] == 3
