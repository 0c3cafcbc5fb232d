"""``simctl tail TOPIC``: print a topic's events as JSON lines, decoded with the local schemas.

stdout carries exactly one line per event: the value as a JSON object (``null`` for a
tombstone) by default, ``--format json`` an envelope with the record's key, partition, offset
and timestamp, ``--format table`` aligned columns for people. Progress and skipped records go
to stderr. The consumer ``assign()``s every partition itself, with no
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

from simfleet.cli import complete
from simfleet.cli.options import (
    NO_FLAGS,
    Flags,
    connect,
    project_of,
    settings_options,
)
from simfleet.codec import Decoder, json_default
from simfleet.errors import BrokerError, ConfigError, SchemaError
from simfleet.suggest import did_you_mean
from simfleet.timeutil import format_ms

__all__ = ["FORMATS", "render", "tail", "topics"]

_POLL_SECONDS = 0.2
FORMATS = ("value", "json", "table")
_TABLE_VALUE_CHARS = 100


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=json_default)


def render(fmt: str, msg: Any, record: Any) -> str:
    """One event as its output line: ``value`` (the record), ``json`` (an envelope with key,
    partition, offset, timestamp and value) or ``table`` (the same as aligned columns)."""
    if fmt == "value":
        return _dumps(record)
    raw_key = msg.key()
    key = None if raw_key is None else raw_key.decode("utf-8", errors="replace")
    kind, ts = msg.timestamp()
    when = format_ms(ts) if kind and ts is not None and ts >= 0 else None
    if fmt == "json":
        envelope = {"key": key, "partition": msg.partition(), "offset": msg.offset()}
        return _dumps({**envelope, "timestamp": when, "value": record})
    value = _dumps(record)
    if len(value) > _TABLE_VALUE_CHARS:
        value = value[: _TABLE_VALUE_CHARS - 1] + "…"
    return f"{when or '-':<24}  {msg.partition():>3}  {msg.offset():>9,}  {key or '-':<24}  {value}"


TABLE_HEADER = f"{'time (record timestamp)':<24}  {'par':>3}  {'offset':>9}  {'key':<24}  value"


def _assign_all(
    consumer: Any, topic: str, from_beginning: bool, timeout: float, last: int | None = None
) -> int:
    """Assign every partition of ``topic`` at its beginning, its end, or ``last`` records
    before its end; the partition count."""
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
    parts = []
    for p in sorted(info.partitions):
        at = offset
        if last is not None:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            at = max(low, high - last)
        parts.append(TopicPartition(topic, p, at))
    consumer.assign(parts)
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
    fmt: str = "value",
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
        out.write(render(fmt, msg, record) + "\n")
        out.flush()
        printed += 1
    return printed


@settings_options("bootstrap", "properties", "registry", "config", "pack_dir")
def tail(
    topic: Annotated[
        str,
        typer.Argument(
            metavar="TOPIC",
            help="Topic to read.",
            show_default=False,
            autocompletion=complete.topics,
        ),
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
    last: Annotated[
        int | None,
        typer.Option(
            "--last",
            min=1,
            metavar="N",
            help="Start N events before the end of each partition, then follow (the embedded "
            "broker lists a partition's end at its last batch: there that batch comes whole "
            "too).",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="value|json|table",
            help="`value`: each event's value as a JSON object; `json`: an object with its "
            "key, partition, offset, timestamp (sim time) and value; `table`: the same as "
            "columns for people.",
        ),
    ] = "value",
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
    """Print a topic's events, one line per event (JSON by default)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}.")
    if last is not None and from_beginning:
        raise ConfigError("--last and --from-beginning both say where to start: give one.")
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
        partitions = _assign_all(consumer, topic, from_beginning, timeout=10.0, last=last)
        where = (
            "the beginning"
            if from_beginning
            else f"the last {last:,} of each partition"
            if last is not None
            else "new events (waiting for the next one; --last N shows recent ones)"
        )
        sys.stderr.write(f"tailing {topic} ({partitions} partitions) from {where}\n")
        if fmt == "table":
            sys.stdout.write(TABLE_HEADER + "\n")
        count = follow(
            consumer,
            decoder,
            sys.stdout,
            sys.stderr,
            max_events=max_events,
            idle_timeout=timeout,
            fmt=fmt,
        )
        sys.stderr.write(f"{count:,} events\n")
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
