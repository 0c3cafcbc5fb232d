"""The admin server's view of a running fleet, kept by one background thread.

It follows ``sim.control`` (the state), ``sim.fleet`` (every worker's heartbeat and counters),
``sim.counts`` from its beginning (records per stream per interval, for ``/api/history``) and,
with one consumer from their ends, every topic of the running domains: decoded events go to the
WebSocket hub; ``<domain>.external_events`` records are kept for the timeline; metric records
outside the normal band are the anomalies.

It only reads: commands go through ``sim.commands`` like the CLI's.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition

from simfleet.clock import wall_ms
from simfleet.codec import Decoder, json_default
from simfleet.control import COUNTS_TOPIC, ControlState, Heartbeat, ShardCounts
from simfleet.control_io import Behind, ControlFollower, FleetWatcher
from simfleet.domain.pack import Project
from simfleet.errors import BrokerError, SchemaError
from simfleet.orchestrator.baseline import BaselineStats
from simfleet.settings import KafkaSettings
from simfleet.topology import external_topic, metrics_topic, truth_topic

__all__ = ["FleetView"]

log = structlog.get_logger()

HOUR_MS = 3_600_000


def _ms(value: Any) -> Any:
    return round(value.timestamp() * 1000) if isinstance(value, datetime) else value


class FleetView:
    """What the admin server shows, refreshed by a daemon thread."""

    def __init__(
        self,
        kafka: KafkaSettings,
        project: Project,
        publish: Callable[[str, str | None], None],
        stats: BaselineStats | None = None,
        on_cadence: Callable[[dict[str, str]], None] | None = None,
        decode_per_s: int = 500,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kafka = kafka
        self.project = project
        self.publish = publish
        self.stats = stats
        self.on_cadence = on_cadence
        self.interval = stats.interval if stats is not None else HOUR_MS
        self.state: ControlState | None = None
        self.workers: dict[str, Heartbeat] = {}
        self.behind: Behind | None = None
        self.anomalies: deque[dict[str, Any]] = deque(maxlen=20)
        self.external: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, dict[int, int]] = {}  # topic -> interval start -> records
        self.covered: dict[int, int] = {}  # shard -> sim ms its reports reach
        self.streams: dict[str, str] = {}  # topic -> cadence group ('' when none)
        self.error: str | None = None
        # decoding is the server's main cost: beyond this many events per stream and wall
        # second, events are only counted (the rates stay exact, the samples thin out)
        self.decode_per_s = decode_per_s
        self.monotonic = monotonic
        self._second = 0
        self._decoded: dict[str, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="admin-fleet-view", daemon=True)

    def start(self) -> None:
        """Start following the fleet."""
        self._thread.start()

    def stop(self) -> None:
        """Stop following (the thread closes its consumers)."""
        self._stop.set()
        self._thread.join(timeout=10)

    # -- reads (any thread) ----------------------------------------------------------------
    def history(self, start: int, end: int) -> dict[str, list[tuple[int, int, bool]]]:
        """(interval start, records, complete) per topic for intervals meeting [start, end)."""
        with self._lock:
            reach = min(self.covered.values()) if self.covered else 0
            out: dict[str, list[tuple[int, int, bool]]] = {}
            first = start - start % self.interval
            for topic, per in self.counts.items():
                rows = [
                    (s, n, s + self.interval <= reach)
                    for s, n in sorted(per.items())
                    if first <= s < end
                ]
                out[topic] = rows
            return out

    # -- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow()
            except (BrokerError, KafkaException) as exc:
                self.error = str(exc)
                log.warning("admin_view_error", error=self.error)
                self._stop.wait(2.0)  # a broker that went away: retry at a calm pace

    def _domain_topics(self, state: ControlState) -> dict[str, str]:
        out: dict[str, str] = {}
        for d in state.domains:
            spec = self.project.spec(d)
            for name, s in spec.streams.items():
                out[spec.topic(name)] = s.cadence or ""
            out[external_topic(d)] = "low"
            out[truth_topic(d)] = "low"
            out[metrics_topic(d)] = "medium"
        return out

    def _follow(self) -> None:
        follower = ControlFollower(self.kafka)
        watcher = FleetWatcher(self.kafka)
        data: Consumer | None = None
        decoder = Decoder(self.project.schemas(), self.kafka.registry_url)
        try:
            while not self._stop.is_set():
                follower.poll(0.2 if data is None else 0)
                if follower.versions:
                    self.state = follower.latest
                    self.error = None
                watcher.poll(0)
                self.workers = dict(watcher.workers)
                self.behind = watcher.behind(wall_ms())
                if data is None:
                    if self.state is None:
                        continue
                    self.streams = self._domain_topics(self.state)
                    if self.on_cadence is not None:
                        self.on_cadence(dict(self.streams))
                    data = self._subscribe()
                for msg in data.consume(2000, 0.1):
                    if msg.error():
                        continue
                    self._handle(msg.topic() or "", msg.value(), decoder)
        finally:
            follower.close()
            watcher.close()
            if data is not None:
                data.close()

    def _subscribe(self) -> Consumer:
        c = Consumer(
            {
                **self.kafka.client_config("consumer"),
                "group.id": f"simctl-admin-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
        parts = [TopicPartition(COUNTS_TOPIC, 0, OFFSET_BEGINNING)]
        meta = c.list_topics(timeout=10)
        for topic in self.streams:
            info = meta.topics.get(topic)
            if info is None or info.error is not None:
                continue
            start = OFFSET_BEGINNING if topic.endswith(".external_events") else OFFSET_END
            parts += [TopicPartition(topic, p, start) for p in sorted(info.partitions)]
        c.assign(parts)
        return c

    def _handle(self, topic: str, value: bytes | None, decoder: Decoder) -> None:
        if not value:
            return
        if topic == COUNTS_TOPIC:
            try:
                report = ShardCounts.model_validate_json(value)
            except ValueError:
                return
            self._count(report)
            return
        second = int(self.monotonic())
        if second != self._second:
            self._second, self._decoded = second, {}
        n = self._decoded.get(topic, 0)
        if n >= self.decode_per_s and not topic.endswith((".external_events", ".metrics")):
            self.publish(topic, None)
            return
        self._decoded[topic] = n + 1
        try:
            rec = decoder.decode(value)
        except SchemaError:
            return
        text = json.dumps(rec, default=json_default, separators=(",", ":"))
        self.publish(topic, text)
        if topic.endswith(".external_events"):
            self.external[str(rec["event_id"])] = {
                k: _ms(v) for k, v in rec.items() if k != "expected_streams"
            } | {"expected_streams": str(rec.get("expected_streams", "")).split(",")}
            if len(self.external) > 2000:
                self.external.pop(next(iter(self.external)))
        elif topic.endswith(".metrics") and rec.get("anomaly") not in (None, "normal"):
            anomaly = {k: _ms(v) for k, v in rec.items()}
            self.anomalies.append(anomaly)
            self.publish("anomalies", json.dumps(anomaly, separators=(",", ":")))

    def _count(self, r: ShardCounts) -> None:
        with self._lock:
            self.covered[r.shard] = max(self.covered.get(r.shard, 0), r.until)
            for topic, per in r.counts.items():
                into = self.counts.setdefault(topic, {})
                for minute, n in per.items():
                    start = minute - minute % self.interval
                    into[start] = into.get(start, 0) + n
