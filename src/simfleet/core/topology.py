"""The topics a fleet needs: control topics and one topic per stream of each domain."""

from __future__ import annotations

from simfleet.core.control import (
    COMMANDS_TOPIC,
    CONTROL_TOPIC,
    COUNTS_TOPIC,
    FLEET_TOPIC,
    SHARDS_TOPIC,
)
from simfleet.core.external import load_external_library
from simfleet.core.kafka import TopicSpec
from simfleet.producers.spec import load_domain

__all__ = ["fleet_topics", "metrics_topic"]


def metrics_topic(domain: str) -> str:
    """Where the live per-stream interval metrics of a domain go."""
    return f"{domain}.metrics"


def fleet_topics(domains: tuple[str, ...], shards: int) -> list[TopicSpec]:
    """Every topic of a fleet running ``domains`` over ``shards`` shards."""
    topics = [
        TopicSpec(CONTROL_TOPIC, 1, {"cleanup.policy": "compact"}),
        TopicSpec(COMMANDS_TOPIC, 1),
        TopicSpec(FLEET_TOPIC, 1),
        TopicSpec(SHARDS_TOPIC, shards),
        TopicSpec(COUNTS_TOPIC, 1),
    ]
    for d in domains:
        spec = load_domain(d)
        topics.extend(TopicSpec(spec.topic(name), s.partitions) for name, s in spec.streams.items())
        lib = load_external_library(d)
        if lib is not None:
            topics += [TopicSpec(lib.topic, 1), TopicSpec(lib.truth_topic, 1)]
        topics.append(TopicSpec(metrics_topic(d), 1))
    return topics
