"""``simctl tail TOPIC``: print a topic's events as JSON lines, decoded with the local schemas.

stdout carries exactly one JSON object per event (``null`` for a tombstone); progress and
skipped records go to stderr. The consumer ``assign()``s every partition itself, with no
consumer group to join, so it starts at once and commits nothing.

Stopping: after ``--max`` events, or after ``--timeout`` seconds without a new event. Without
``--timeout`` the command follows the topic like ``tail -f`` until interrupted (Ctrl-C exits
cleanly with status 0).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any, TextIO

import typer
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from simfleet.cli.options import (
    NO_FLAGS,
    Flags,
    connect,
    project_of,
    settings_options,
)
from simfleet.codec import Decoder, json_default
from simfleet.errors import BrokerError, SchemaError
from simfleet.suggest import did_you_mean

__all__ = ["tail", "topics"]

_POLL_SECONDS = 0.2


def _assign_all(consumer: Any, topic: str, from_beginning: bool, timeout: float) -> int:
    """Assign every partition of ``topic`` at its beginning or end; the partition count."""
    try:
        meta = consumer.list_topics(topic, timeout=timeout)
    except KafkaException as exc:
        raise BrokerError(f"cannot read metadata of topic {topic!r}: {exc}") from exc
    info = meta.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        reason = "" if info is None or info.error is None else f" ({info.error})"
        try:
            known = [t for t in consumer.list_topics(timeout=timeout).topics if t != topic]
        except KafkaException:
            known = []
        raise BrokerError(
            f"topic {topic!r} does not exist on the broker{reason}{did_you_mean(topic, known)}. "
            "List the topics with `simctl topics`, or start producing with `simctl up`."
        )
    offset = OFFSET_BEGINNING if from_beginning else OFFSET_END
    consumer.assign([TopicPartition(topic, p, offset) for p in sorted(info.partitions)])
    return len(info.partitions)


def follow(
    consumer: Any,
    decoder: Decoder,
    out: TextIO,
    err: TextIO,
    *,
    max_events: int | None,
    idle_timeout: float | None,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Poll, decode and print events until ``max_events`` or ``idle_timeout``; the count."""
    printed = 0
    last_event = clock()
    while max_events is None or printed < max_events:
        msg = consumer.poll(_POLL_SECONDS)
        if msg is None:
            if idle_timeout is not None and clock() - last_event >= idle_timeout:
                break
            continue
        error = msg.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                continue
            if error.fatal() or error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise BrokerError(f"consuming failed: {error.str()}")
            err.write(f"warning: {error.str()}\n")
            continue
        last_event = clock()
        value = msg.value()
        try:
            record = None if value is None else decoder.decode(value)
        except SchemaError as exc:
            err.write(f"skipped partition {msg.partition()} offset {msg.offset()}: {exc}\n")
            continue
        out.write(json.dumps(record, ensure_ascii=False, default=json_default) + "\n")
        out.flush()
        printed += 1
    return printed


@settings_options("bootstrap", "properties", "registry", "config", "pack_dir")
def tail(
    topic: Annotated[
        str, typer.Argument(metavar="TOPIC", help="Topic to read.", show_default=False)
    ],
    *,
    max_events: Annotated[
        int | None,
        typer.Option("--max", min=1, help="Stop after this many events (default: no limit)."),
    ] = None,
    from_beginning: Annotated[
        bool,
        typer.Option(
            "--from-beginning", help="Start at the oldest retained event instead of new ones."
        ),
    ] = False,
    flags: Flags = NO_FLAGS,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0.0,
            help="Stop after this many seconds without a new event (default: follow forever).",
        ),
    ] = None,
) -> None:
    """Print a topic's events as JSON lines, one per event."""
    run, kafka = connect(**flags)
    decoder = Decoder(project_of(run).schemas(), kafka.registry_url)
    consumer = Consumer(
        {
            **kafka.client_config("consumer"),
            # librdkafka needs a group id even for assign(); nothing is joined or committed.
            "group.id": f"simctl-tail-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }
    )
    try:
        partitions = _assign_all(consumer, topic, from_beginning, timeout=10.0)
        where = "the beginning" if from_beginning else "new events"
        sys.stderr.write(f"tailing {topic} ({partitions} partitions) from {where}\n")
        count = follow(
            consumer,
            decoder,
            sys.stdout,
            sys.stderr,
            max_events=max_events,
            idle_timeout=timeout,
        )
        sys.stderr.write(f"{count} events\n")
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
    finally:
        consumer.close()


@settings_options("bootstrap", "properties", "config")
def topics(
    flags: Flags = NO_FLAGS,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List the topics on the cluster with their partition counts."""
    from confluent_kafka.admin import AdminClient

    _, kafka = connect(**flags)
    try:
        meta = AdminClient(kafka.client_config("admin")).list_topics(timeout=10)
    except KafkaException as exc:
        raise BrokerError(f"cannot list the topics at {kafka.bootstrap_servers}: {exc}") from exc
    rows = {name: len(t.partitions) for name, t in sorted(meta.topics.items())}
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for name, parts in rows.items():
        typer.echo(f"{name}  ({parts} partition{'s' if parts != 1 else ''})")
