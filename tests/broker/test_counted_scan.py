"""``scan_counted``: a shard's successor reads how far any owner's counts reached on
``sim.counts`` past the checkpoint, whatever the heartbeats said."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from simfleet.control import ShardCounts
from simfleet.producers.handoff import scan_counted
from simfleet.settings import KafkaSettings

pytestmark = pytest.mark.integration


def test_the_newest_until_of_the_shard_from_the_offset_on(
    bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("counts")
    p = Producer({"bootstrap.servers": bootstrap})
    for shard, since, until in [(1, 0, 100), (2, 0, 500), (1, 100, 200), (1, 200, 150)]:
        doc = ShardCounts(shard=shard, worker_id="w", since=since, until=until, counts={})
        p.produce(topic, doc.model_dump_json().encode(), str(shard).encode())
    assert p.flush(30) == 0
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    assert scan_counted(settings, 1, 0, topic=topic) == 200  # the newest reach, not the last
    assert scan_counted(settings, 1, 3, topic=topic) == 150  # from the checkpoint's offset on
    assert scan_counted(settings, 2, 0, topic=topic) == 500
    assert scan_counted(settings, 3, 0, topic=topic) == 0  # none: the heartbeats' word stands
