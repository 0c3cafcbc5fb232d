"""Reading live topics into ``Message`` tuples, with explicit stop rules.

The reader ``assign()``s every partition of the matched topics (no consumer group, nothing
committed) and stops on the first rule that holds:

- ``until_ms``: every partition has shown a record whose timestamp is at or past it (that
  record and the rest of its partition are left out);
- ``for_s``: that much wall time has passed;
- ``idle_s``: no new record for that many seconds ("drain to idle").

It never stops at the high watermark: Tansu, the embedded broker, can report a watermark
short of a partition's last batch (see ``tests/broker/test_tansu_behaviours.py``), so reading
until idle is the only way to be sure nothing delivered is left behind.
"""

from __future__ import annotations

import fnmatch
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from simfleet.errors import BrokerError, ConfigError
from simfleet.recording import Message
from simfleet.settings import KafkaSettings

__all__ = ["BEGINNING", "END", "StopRule", "capture", "consumer_for", "match_topics"]

BEGINNING = "beginning"
END = "end"
_BATCH = 1000
_POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class StopRule:
    """When a capture ends; None: that rule does not apply. No rule at all: until Ctrl-C."""

    until_ms: int | None = None
    for_s: float | None = None
    idle_s: float | None = None


def consumer_for(settings: KafkaSettings) -> Consumer:
    """A consumer for assign(): a throwaway group id (librdkafka needs one), nothing committed."""
    try:
        return Consumer(
            {
                **settings.client_config("consumer"),
                "group.id": f"simctl-record-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "enable.partition.eof": False,
            }
        )
    except KafkaException as exc:
        raise BrokerError(f"Cannot create a Kafka consumer: {exc}. Check the settings.") from exc


def match_topics(consumer: Any, patterns: Iterable[str], timeout: float = 10.0) -> dict[str, int]:
    """Topics matching any glob (internal ``__`` topics only if named), with partition counts."""
    pats = list(patterns)
    try:
        meta = consumer.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise BrokerError(f"Cannot list the topics: {exc}. Check --bootstrap-servers.") from exc
    out = {
        name: len(t.partitions)
        for name, t in sorted(meta.topics.items())
        if t.error is None
        and any(
            fnmatch.fnmatchcase(name, p) and (not name.startswith("__") or p.startswith("__"))
            for p in pats
        )
    }
    if not out:
        known = sorted(n for n in meta.topics if not n.startswith("__"))
        raise ConfigError(
            f"--topics {' '.join(pats)}: no topic matches. Topics on the cluster: "
            f"{', '.join(known) or 'none'}. Globs use * and ?, e.g. 'marketplace.*'."
        )
    return out


def _start_offsets(
    consumer: Any, topics: dict[str, int], start: str | int, timeout: float
) -> list[TopicPartition]:
    if start in (BEGINNING, END):
        offset = OFFSET_BEGINNING if start == BEGINNING else OFFSET_END
        return [TopicPartition(t, p, offset) for t, n in topics.items() for p in range(n)]
    wanted = [TopicPartition(t, p, int(start)) for t, n in topics.items() for p in range(n)]
    try:
        found = consumer.offsets_for_times(wanted, timeout=timeout)
    except KafkaException as exc:
        raise BrokerError(f"Cannot look up offsets by time: {exc}.") from exc
    # -1: no record at or after the instant; start at the end of that partition
    return [
        TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END)
        for tp in found
    ]


def capture(
    consumer: Any,
    topics: dict[str, int],
    start: str | int,
    stop: StopRule,
    sink: Callable[[Message], None],
    progress: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Read ``topics`` from ``start`` (BEGINNING, END or epoch ms) into ``sink`` until a stop
    rule holds; returns why it stopped: until, for, idle or interrupted (Ctrl-C)."""
    consumer.assign(_start_offsets(consumer, topics, start, timeout=10.0))
    open_parts = {(t, p) for t, n in topics.items() for p in range(n)}
    began = last = clock()
    count = 0
    try:
        while True:
            now = clock()
            if stop.for_s is not None and now - began >= stop.for_s:
                return "for"
            if stop.idle_s is not None and now - last >= stop.idle_s:
                return "idle"
            msgs = consumer.consume(_BATCH, _POLL_S)
            for m in msgs:
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    if err.fatal() or err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                        raise BrokerError(f"Reading {m.topic()} failed: {err.str()}.")
                    continue
                topic, part = m.topic(), m.partition()
                ts_type, ts = m.timestamp()
                if stop.until_ms is not None and ts >= stop.until_ms:
                    if (topic, part) in open_parts:
                        open_parts.discard((topic, part))
                        consumer.pause([TopicPartition(topic, part)])
                    continue
                headers = m.headers()
                sink(
                    Message(
                        topic,
                        part,
                        m.offset(),
                        ts,
                        ts_type,
                        m.key(),
                        m.value(),
                        tuple(headers) if headers else (),
                    )
                )
                count += 1
            if msgs:
                last = clock()
                if progress is not None:
                    progress(count)
            if stop.until_ms is not None and not open_parts:
                return "until"
    except KeyboardInterrupt:
        return "interrupted"
