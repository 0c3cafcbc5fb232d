"""The topics a fleet needs: control topics, and per domain one topic per stream plus its
ground truth, external events and metrics."""

from __future__ import annotations

from simfleet.clock import wall_ms
from simfleet.control import (
    COMMANDS_TOPIC,
    CONTROL_TOPIC,
    COUNTS_TOPIC,
    FLEET_TOPIC,
    SHARD_STATE_TOPIC,
    SHARDS_TOPIC,
)
from simfleet.domain.pack import Project
from simfleet.kafka import (
    ANY_AHEAD_MS,
    TIMESTAMP_AHEAD_CONFIG,
    TopicSpec,
    check_timestamp_headroom,
    ensure_topics,
    needed_ahead_ms,
)
from simfleet.settings import KafkaSettings

__all__ = [
    "TIMESTAMP_AHEAD_CONFIG",
    "ahead_topics",
    "domain_topics",
    "external_topic",
    "fleet_topics",
    "key_fields",
    "metrics_topic",
    "prepare_topics",
    "truth_topic",
]

# Record timestamps are sim time: at 60x they run hours ahead of the wall clock, which Apache
# Kafka 4.x refuses by default (1 h). Topics simfleet creates accept any future timestamp.
# (``simfleet.kafka.check_timestamp_headroom`` checks the topics a run finds already there.)
_ANY_AHEAD = {TIMESTAMP_AHEAD_CONFIG: str(ANY_AHEAD_MS)}


def metrics_topic(domain: str) -> str:
    """Where the live per-stream interval metrics of a domain go."""
    return f"{domain}.metrics"


def truth_topic(domain: str) -> str:
    """Where a domain's labels go: causal or red herring, scenario windows, ..."""
    return f"{domain}.ground_truth"


def stamped_topics(project: Project, domains: tuple[str, ...]) -> frozenset[str]:
    """The topics whose records carry the produce-time header: the subjects of a domain's
    labels (``label_of``), whose latency a model's decisions are scored on. The header costs
    about a third of the client's produce rate, so records nothing measures go without it."""
    out: set[str] = set()
    for d in domains:
        spec = project.spec(d)
        out |= {spec.topic(s.label_of) for s in spec.streams.values() if s.label_of is not None}
    return frozenset(out)


def external_topic(domain: str) -> str:
    """Where a domain's external events are published."""
    return f"{domain}.external_events"


def domain_topics(project: Project, domain: str) -> list[TopicSpec]:
    """Every topic of one domain: its streams, ground truth, external events and metrics."""
    spec = project.spec(domain)
    topics = [
        TopicSpec(spec.topic(name), s.partitions, _ANY_AHEAD) for name, s in spec.streams.items()
    ]
    topics += [
        TopicSpec(external_topic(domain), 1, _ANY_AHEAD),
        TopicSpec(truth_topic(domain), 1, _ANY_AHEAD),
        TopicSpec(metrics_topic(domain), 1, _ANY_AHEAD),
    ]
    return topics


def key_fields(project: Project, domains: tuple[str, ...]) -> dict[str, str]:
    """The field each topic's Kafka key comes from: a stream's key, the event id of external
    events and ground truth, the stream name of metrics (as the fleet produces them)."""
    out: dict[str, str] = {}
    for d in domains:
        spec = project.spec(d)
        out.update({spec.topic(name): s.key for name, s in spec.streams.items()})
        out[external_topic(d)] = "event_id"
        out[truth_topic(d)] = "event_id"
        out[metrics_topic(d)] = "stream"
    return out


def fleet_topics(project: Project, domains: tuple[str, ...], shards: int) -> list[TopicSpec]:
    """Every topic of a fleet running ``domains`` over ``shards`` shards."""
    topics = [
        TopicSpec(CONTROL_TOPIC, 1, {"cleanup.policy": "compact"}),
        TopicSpec(COMMANDS_TOPIC, 1),
        TopicSpec(FLEET_TOPIC, 1),
        TopicSpec(SHARDS_TOPIC, shards),
        TopicSpec(SHARD_STATE_TOPIC, shards, {"cleanup.policy": "compact"}),
        TopicSpec(COUNTS_TOPIC, 1, _ANY_AHEAD),
    ]
    for d in domains:
        topics += domain_topics(project, d)
    return topics


def ahead_topics(topics: list[TopicSpec]) -> list[str]:
    """The topics whose records carry sim-time timestamps (which may run ahead of the wall)."""
    return [t.name for t in topics if TIMESTAMP_AHEAD_CONFIG in t.config]


def prepare_topics(
    kafka: KafkaSettings,
    project: Project,
    domains: tuple[str, ...],
    shards: int,
    speed: float,
    sim_start: int,
    duration_ms: int | None,
) -> set[str]:
    """Create the fleet's missing topics; refuse to run when an existing one would reject
    the run's future timestamps (Apache Kafka 4.x allows 1 h ahead by default)."""
    topics = fleet_topics(project, domains, shards)
    created = ensure_topics(kafka, topics)
    needed = needed_ahead_ms(speed, sim_start, wall_ms(), duration_ms)
    check_timestamp_headroom(kafka, ahead_topics(topics), needed, created)
    return created
