"""Is the cluster still the one the fleet started on?

A broker that was replaced (a memory-only broker restarted on the same port, a bootstrap
address that now points elsewhere) is a new, empty cluster: producing into it would scatter
records over topics it does not have. Every process of a fleet remembers the cluster's
identity at start and checks it in the background:

- the cluster id (a real Kafka cluster has its own; Tansu reports the same ``tansu_cluster``
  for every broker, pinned in ``tests/broker/test_tansu_behaviours.py``), and
- the topic id of ``sim.control``, which a new cluster lacks or has under another id.

A broker that does not answer is not a replaced one: that is an outage, ridden out elsewhere.
On a replacement the process stops producing, writes off what its producer still holds
(counted failed), says so in one paragraph and exits with ``ClusterReplacedError.exit_code``; the
supervisor of ``simctl up`` does not restart such a child, it stops the fleet.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient

from simfleet.control import CONTROL_TOPIC
from simfleet.errors import BrokerError
from simfleet.kafka import AccountedProducer
from simfleet.paths import state_dir
from simfleet.settings import KafkaSettings

__all__ = [
    "ClusterIdentity",
    "ClusterReplacedError",
    "ClusterWatch",
    "declare_gone",
    "final_counts",
    "identify",
    "replaced_paragraph",
    "write_final_counts",
]

CHECK_INTERVAL_S = 2.0
_FINAL_DIR = "final"


class ClusterReplacedError(BrokerError):
    """The cluster is not the one the fleet started on; production stopped."""

    exit_code = 5


@dataclass(frozen=True, slots=True)
class ClusterIdentity:
    """What tells one cluster from another: its id and the id of its control topic."""

    cluster_id: str | None
    control_topic_id: str


class _UnansweredError(Exception):
    """The broker did not answer in time: an outage, not a verdict."""


def _admin(settings: KafkaSettings) -> AdminClient:
    # quiet: a broker that is away is the outage path's to report, not librdkafka's stderr
    return AdminClient({**settings.client_config("admin"), "log_level": 0})


def _probe(admin: AdminClient, timeout: float) -> ClusterIdentity | None:
    """The identity the broker reports, None when it has no control topic; raises
    ``_UnansweredError`` when it does not answer within ``timeout``."""
    try:
        cluster_id = admin.list_topics(timeout=timeout).cluster_id
        fut = admin.describe_topics(TopicCollection([CONTROL_TOPIC]), request_timeout=timeout)
        desc = fut[CONTROL_TOPIC].result(timeout + 1.0)
    except KafkaException as exc:
        err = exc.args[0] if exc.args else None
        if isinstance(err, KafkaError) and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return None
        raise _UnansweredError from exc
    except TimeoutError as exc:
        raise _UnansweredError from exc
    return ClusterIdentity(cluster_id, str(desc.topic_id))


def identify(settings: KafkaSettings, timeout: float = 10.0) -> ClusterIdentity:
    """The identity of the cluster at ``settings`` (its control topic must exist)."""
    try:
        ident = _probe(_admin(settings), timeout)
    except _UnansweredError:
        raise BrokerError(
            f"The Kafka broker at {settings.bootstrap_servers} did not answer within "
            f"{timeout:g} s. Is it up? Check --bootstrap-servers."
        ) from None
    if ident is None:
        raise BrokerError(
            f"The cluster at {settings.bootstrap_servers} has no {CONTROL_TOPIC} topic: no "
            "fleet was started on it. `simctl up` creates the topics and the control state."
        )
    return ident


def _verdict(known: ClusterIdentity, seen: ClusterIdentity | None) -> str | None:
    """Why ``seen`` is another cluster than ``known``, or None when it is the same."""
    if seen is None:
        return f"its {CONTROL_TOPIC} topic is gone"
    if known.cluster_id and seen.cluster_id and known.cluster_id != seen.cluster_id:
        return f"its cluster id is now {seen.cluster_id} (it was {known.cluster_id})"
    if seen.control_topic_id != known.control_topic_id:
        return f"its {CONTROL_TOPIC} topic was created anew (another topic id)"
    return None


def replaced_paragraph(
    who: str, bootstrap: str, reason: str, produced: int, delivered: int, failed: int
) -> str:
    """The one paragraph a process of the fleet says when the cluster was replaced."""
    return (
        f"The Kafka cluster at {bootstrap} is not the one this fleet started on: {reason}. "
        "A memory-only broker that was restarted is a new, empty cluster; the records "
        f"delivered to the old one went with it. {who} stopped producing: produced "
        f"{produced:,}, delivered {delivered:,} (to the old cluster), failed {failed:,} "
        "(what was still waiting for the broker, written off). Nothing was written to the new "
        "cluster and no topic was created there. To go on, start a new fleet on it: "
        f"`simctl up -b {bootstrap}` (it creates the topics and a fresh control state)."
    )


# A process-wide fact, set once: the cluster is gone for good (the `simctl up` that started
# the memory-only broker saw it die and told this worker). Private; changed by declare_gone.
_gone: list[str] = []


def declare_gone(reason: str) -> None:
    """Tell this process that the cluster is gone for good: every ``ClusterWatch`` then writes
    off what is queued instead of waiting for a broker that will not come back."""
    if not _gone:
        _gone.append(reason)


def write_final_counts(worker_id: str, produced: int, delivered: int, failed: int) -> None:
    """Leave a worker's final counters where the supervising ``simctl up`` reads them."""
    path = final_counts(worker_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"produced": produced, "delivered": delivered, "failed": failed}))


def final_counts(worker_id: str, pid: int | None = None) -> Path:
    """Where a worker process writes its final counters when the cluster is gone (its
    heartbeats, where they normally go, are gone with it)."""
    return state_dir() / _FINAL_DIR / f"{worker_id}-{pid or os.getpid()}.json"


class ClusterWatch:
    """Checks, in a background thread, that the cluster is still the one of ``known``."""

    def __init__(
        self,
        settings: KafkaSettings,
        known: ClusterIdentity | None = None,
        interval_s: float = CHECK_INTERVAL_S,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self.known = known if known is not None else identify(settings)
        self.interval_s = interval_s
        self.reason: str | None = None
        self._stop = threading.Event()
        self._admin = _admin(settings)
        self._thread = threading.Thread(target=self._loop, name="cluster-watch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):  # the check's period, not synchronisation
            try:
                seen = _probe(self._admin, min(self.interval_s, 5.0))
            except _UnansweredError:
                continue  # an outage: whoever rides it out decides how long
            reason = _verdict(self.known, seen)
            if reason is not None:
                self.reason = reason
                return

    def verify(self, timeout: float = 2.0) -> None:
        """Check now (not at the next period); raise ``ClusterReplacedError`` (the reason alone)
        if the cluster was replaced. A broker that does not answer passes."""
        if self.reason is None:
            try:
                self.reason = _verdict(self.known, _probe(self._admin, timeout))
            except _UnansweredError:
                return
        if self.reason is not None:
            raise ClusterReplacedError(self.reason)

    def check(self, who: str, producer: AccountedProducer | None = None) -> None:
        """Raise ``ClusterReplacedError`` (one paragraph, with counts) once the cluster was found
        replaced; ``producer`` is closed for business first, what it held counted failed."""
        if self.reason is None:
            return
        self.close(producer)
        produced, delivered, failed = producer.totals() if producer is not None else (0, 0, 0)
        raise ClusterReplacedError(
            replaced_paragraph(
                who, self.settings.bootstrap_servers, self.reason, produced, delivered, failed
            )
        )

    def close(self, producer: AccountedProducer | None = None) -> None:
        """Stop watching; on a replaced cluster, write ``producer`` off (and, for a worker,
        leave its final counters in ``final_counts``)."""
        self._stop.set()
        if producer is None or producer.abandoned:
            return
        if self.reason is None and _gone:
            self.reason = _gone[0]
        if self.reason is None and producer.in_flight:
            # stopping with records still queued: make sure they are not waiting for a
            # cluster that is gone before waiting for them
            try:
                self.reason = _verdict(self.known, _probe(self._admin, 2.0))
            except _UnansweredError:
                return
        if self.reason is None:
            return
        producer.abandon()
        if self.worker_id:
            write_final_counts(self.worker_id, *producer.totals())
