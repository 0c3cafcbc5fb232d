"""Live ``<domain>.metrics``: per-stream interval counts of a running fleet, normalised 0-100
against a baseline (``simctl baseline``).

The counts come from the producers themselves: every worker reports, per shard, what it
produced per topic and sim minute (``ShardCounts`` on ``sim.counts``). ``MetricsAggregator``
sums them per baseline interval and releases an interval once every shard's contiguous
coverage spans it; an interval a moved shard left a hole in is skipped, never published
short. ``MetricsService`` is the Kafka wiring: it follows ``sim.counts`` from its end and the
control state (for the number of shards and the scale), and publishes the records.
"""

from __future__ import annotations

import threading
from typing import Any

import structlog
from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from simfleet.codec import encoders_for
from simfleet.control import COUNTS_GRAIN_MS, COUNTS_TOPIC, ShardCounts
from simfleet.control_io import ControlFollower
from simfleet.domain.pack import Project
from simfleet.errors import ConfigError
from simfleet.kafka import AccountedProducer
from simfleet.orchestrator.baseline import BaselineStats
from simfleet.settings import KafkaSettings
from simfleet.topology import metrics_topic

__all__ = ["MetricsAggregator", "MetricsService"]

log = structlog.get_logger()


class MetricsAggregator:
    """Sums shard reports per interval; says which intervals every shard has fully covered."""

    def __init__(self, interval: int) -> None:
        if interval <= 0 or interval % COUNTS_GRAIN_MS:
            raise ConfigError(
                f"A metric interval of {interval} ms is not a whole number of sim minutes; "
                "make the baseline with `simctl baseline --interval 1h` (or 5m, 12h, 1d)."
            )
        self.interval = interval
        self.cover: dict[int, tuple[int, int]] = {}  # shard -> contiguous [since, until)
        self.sums: dict[int, dict[str, int]] = {}  # interval start -> topic -> records
        self.next: int | None = None  # the first interval neither released nor skipped
        self.skipped = 0

    def add(self, r: ShardCounts) -> None:
        """Take one report; a report that does not continue its shard's coverage restarts it."""
        cov = self.cover.get(r.shard)
        if cov is not None and r.until <= cov[0]:
            return  # a stale report of a shard's previous owner: its time is already behind
        if cov is not None and r.since == cov[1]:
            self.cover[r.shard] = (cov[0], r.until)
        else:
            if cov is not None:
                log.warning("shard_coverage_gap", shard=r.shard, was=cov, now=(r.since, r.until))
            self.cover[r.shard] = (r.since, r.until)
        for topic, per in r.counts.items():
            for minute, n in per.items():
                start = minute - minute % self.interval
                into = self.sums.setdefault(start, {})
                into[topic] = into.get(topic, 0) + n

    def ready(self, shards: int) -> list[tuple[int, dict[str, int]]]:
        """Intervals every one of ``shards`` shards covers, oldest first, each released once."""
        if any(s not in self.cover for s in range(shards)):
            return []
        spans = [self.cover[s] for s in range(shards)]
        first = max(since for since, _ in spans)  # from here on, every shard is contiguous
        low = min(until for _, until in spans)
        if self.next is None:
            self.next = -(-first // self.interval) * self.interval
        out = []
        while self.next + self.interval <= low:
            start, self.next = self.next, self.next + self.interval
            sums = self.sums.pop(start, {})
            if start >= first:
                out.append((start, sums))
            else:
                self.skipped += 1
                log.warning("metric_interval_skipped", interval_start=start, reason="shard moved")
        for stale in [k for k in self.sums if k < self.next]:
            del self.sums[stale]
        return out


class MetricsService:
    """Follows ``sim.counts``, publishes ``<domain>.metrics`` records as intervals complete."""

    def __init__(
        self,
        settings: KafkaSettings,
        stats: BaselineStats,
        domains: tuple[str, ...],
        project: Project,
    ) -> None:
        self.settings = settings
        self.stats = stats
        self.domains = domains
        schemas = project.schemas()
        missing = [d for d in domains if metrics_topic(d) not in schemas]
        if missing:
            raise ConfigError(
                f"No metrics schema for domain(s) {missing}: schemas/_shared/metrics.avsc is "
                "missing from the project."
            )
        self.aggregator = MetricsAggregator(stats.interval)
        self.published = 0
        self._encoders = encoders_for(schemas, settings.registry_url, fmt=settings.value_format)

    def records(
        self, domain: str, start: int, sums: dict[str, int], factor: float
    ) -> list[dict[str, Any]]:
        """One record per baseline stream of the domain (zero counts included)."""
        topics = sorted(t for t in self.stats.streams if t.startswith(domain + "."))
        return [self.stats.record(t, start, sums.get(t, 0), factor) for t in topics]

    def run(self, stop: threading.Event) -> int:
        """Publish until ``stop`` is set; return the number of records published."""
        follower = ControlFollower(self.settings)
        state = follower.wait_first(30.0)
        factor = self.stats.factor_for(state.scale)
        if factor != 1.0:
            log.info("metrics_rescaled", baseline=self.stats.meta.get("scale"), fleet=state.scale)
        producer = AccountedProducer(self.settings, self._encoders)
        consumer = Consumer(
            {
                **self.settings.client_config("consumer"),
                "group.id": "simfleet-metrics",
                "enable.auto.commit": False,
            }
        )
        consumer.assign([TopicPartition(COUNTS_TOPIC, 0, OFFSET_END)])
        log.info("metrics_started", domains=self.domains, interval_ms=self.stats.interval)
        try:
            while not stop.is_set():
                follower.poll(0)
                for msg in consumer.consume(500, 0.5):
                    if msg.error():
                        continue
                    try:
                        self.aggregator.add(ShardCounts.model_validate_json(msg.value() or b""))
                    except ValueError:
                        log.warning("counts_unreadable", offset=msg.offset())
                for start, sums in self.aggregator.ready(follower.latest.shards):
                    for domain in self.domains:
                        rows = self.records(domain, start, sums, factor)
                        producer.send_records(metrics_topic(domain), rows, "stream")
                        self.published += len(rows)
                producer.poll(0)
        finally:
            try:
                producer.flush(30.0)
            finally:
                consumer.close()
                follower.close()
        log.info("metrics_stopped", published=self.published, skipped=self.aggregator.skipped)
        return self.published
