"""``simctl replay``: a recording or a generate folder back onto Kafka, paced or at full speed."""

from __future__ import annotations

import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from simfleet.avrofile import count_records
from simfleet.cli.options import (
    NO_FLAGS,
    PRODUCING,
    Flags,
    connect,
    project_of,
    settings_options,
)
from simfleet.clock import wall_ms
from simfleet.codec import encoders_for
from simfleet.domain.pack import Project
from simfleet.errors import BrokerError, ConfigError, DeliveryError
from simfleet.kafka import (
    ANY_AHEAD_MS,
    PRODUCED_AT_HEADER,
    TIMESTAMP_AHEAD_CONFIG,
    AccountedProducer,
    TopicSpec,
    ensure_topics,
    produced_at_header,
)
from simfleet.recording import Source, open_source
from simfleet.replay import Pacer, Renamer, merged, parse_renames, partition_plan
from simfleet.settings import KafkaSettings
from simfleet.topology import domain_topics, key_fields

__all__ = ["ReplayResult", "folder_total", "replay", "run_replay", "source_of"]

_FLUSH_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ReplayResult:
    """What a replay delivered, and its wall time from the first record to the last report."""

    records: int
    value_bytes: int
    seconds: float


def source_of(
    path: Path, project: Project, registry_url: str | None, value_format: str = "avro"
) -> Source:
    """A recording, or a generate folder read with the project's schemas and key fields."""
    if (path / "manifest.json").is_file():
        return open_source(path)
    domains = tuple(project.domains())
    return open_source(
        path,
        encoders=encoders_for(project.schemas(), registry_url, fmt=value_format),
        key_fields=key_fields(project, domains),
    )


def folder_total(source: Source) -> int | None:
    """How many records a source holds, counted cheaply (None when it cannot be)."""
    if source.counts:
        return sum(source.counts.values())
    total = 0
    for topic in source.topics:
        for ext in (".jsonl", ".avro"):
            path = Path(source.where) / f"{topic}{ext}"
            if not path.is_file():
                continue
            with path.open("rb") as fh:
                if ext == ".jsonl":
                    total += sum(
                        block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b"")
                    )
                else:
                    total += count_records(path)
    return total


def _target_partitions(kafka: KafkaSettings, topics: list[str]) -> dict[str, int]:
    try:
        meta = AdminClient(kafka.client_config("admin")).list_topics(timeout=10)
    except KafkaException as exc:
        raise BrokerError(f"Cannot list the topics at {kafka.bootstrap_servers}: {exc}.") from exc
    return {t: len(meta.topics[t].partitions) for t in topics if t in meta.topics}


def _replay_messages(
    source: Source,
    producer: AccountedProducer,
    pacer: Pacer,
    target: dict[str, str],
    keep: dict[str, bool],
    shift: int | None,
    restamp: bool,
    bar: Progress,
    task: TaskID,
) -> tuple[int, int]:
    """Message by message (paced, or a recording): (records sent, value bytes)."""
    sent = 0
    value_bytes = 0
    send = producer.send_message
    # unpaced, topics go one after the other: the order within each is all that is kept
    ordered = (
        merged(source, source.topics)
        if pacer.speed is not None
        else itertools.chain.from_iterable(source.messages(t) for t in source.topics)
    )
    for m in ordered:
        pacer.pace(m.timestamp)
        if shift is None:
            shift = wall_ms() - m.timestamp
        headers = list(m.headers)
        if restamp or not any(k == PRODUCED_AT_HEADER for k, _ in headers):
            # handed to Kafka now: a consumer's latency counts from here
            headers = [h for h in headers if h[0] != PRODUCED_AT_HEADER]
            headers += produced_at_header(wall_ms())
        send(
            target[m.topic],
            m.value,
            m.key,
            m.timestamp + shift,
            m.partition if keep[m.topic] else None,
            headers,
        )
        sent += 1
        value_bytes += len(m.value) if m.value is not None else 0
        if sent & 0x3FF == 0:
            bar.update(task, completed=sent)
    return sent, value_bytes


def run_replay(
    source: Source,
    kafka: KafkaSettings,
    project: Project,
    rename: Renamer,
    speed: float | None,
    retime: str,
    progress: bool = True,
) -> ReplayResult:
    """Produce every message of ``source``; every delivery counted, any failure raised."""
    spec_counts = {
        t.name: t.partitions for d in project.domains() for t in domain_topics(project, d)
    }
    src_counts = {t: source.partition_counts.get(t, 0) for t in source.topics}
    ahead = {TIMESTAMP_AHEAD_CONFIG: str(ANY_AHEAD_MS)}
    ensure_topics(
        kafka,
        [
            TopicSpec(rename(t), src_counts[t] or spec_counts.get(t, 3), ahead)
            for t in source.topics
        ],
    )
    keep = partition_plan(
        src_counts, _target_partitions(kafka, [rename(t) for t in source.topics]), rename
    )
    target = {t: rename(t) for t in source.topics}
    producer = AccountedProducer(kafka)
    pacer = Pacer(speed, time.monotonic, lambda s: producer.poll(min(s, 0.1)))
    total = folder_total(source)
    shift: int | None = 0 if retime == "original" else None
    # a recording's produce-time headers are kept with its timestamps, renewed with --retime now
    restamp = retime != "original"
    sent = 0
    value_bytes = 0
    t0 = time.monotonic()
    with Progress(
        TextColumn("[bold]replay"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not (progress and sys.stderr.isatty()),
        transient=True,
    ) as bar:
        task = bar.add_task("replay", total=total)
        if speed is None and source.chunked:
            # a generate folder at full speed: whole chunks, one produce-time instant each,
            # topics one after the other (the order within each is all that is kept)
            for topic in source.topics:
                dest = target[topic]
                for c in source.chunks(topic):
                    n = len(c.keys)
                    if not n:
                        continue
                    ts = c.timestamps
                    if shift is None:
                        shift = wall_ms() - int(ts[0])
                    producer.send_framed(
                        dest,
                        c.prefix,
                        c.buf,
                        c.offsets.tolist(),
                        c.keys,
                        (ts + shift if shift else ts).tolist(),
                    )
                    sent += n
                    value_bytes += int(c.offsets[-1] - c.offsets[0]) + n * len(c.prefix)
                    bar.update(task, completed=sent)
        else:
            sent, value_bytes = _replay_messages(
                source, producer, pacer, target, keep, shift, restamp, bar, task
            )
        bar.update(task, completed=sent)
        producer.flush(_FLUSH_TIMEOUT_S)
    _produced, delivered, failed = producer.totals()
    if failed or delivered != sent:
        raise DeliveryError(
            f"replay: {sent} records sent, {delivered} delivered, {failed} failed. Check the "
            "broker and the target topics."
        )
    return ReplayResult(delivered, value_bytes, time.monotonic() - t0)


@settings_options(
    "bootstrap", "properties", "registry", "value_format", *PRODUCING, "config", "pack_dir"
)
def replay(
    source_dir: Annotated[
        Path,
        typer.Argument(
            metavar="DIR",
            help="A recording (simctl record) or a simctl generate folder (jsonl or avro).",
            show_default=False,
        ),
    ],
    speed: Annotated[
        float | None,
        typer.Option(
            help="Replay this many times faster than recorded (timestamp gaps / speed). "
            "[default: 1]",
            show_default=False,
        ),
    ] = None,
    max_speed: Annotated[
        bool, typer.Option("--max-speed", help="No pacing: as fast as the broker takes it.")
    ] = False,
    retime: Annotated[
        str,
        typer.Option(
            help="original: keep each record's timestamp; now: shift them all so that the "
            "first record is now."
        ),
    ] = "original",
    rename: Annotated[
        list[str] | None,
        typer.Option(
            "--rename",
            help="FROM=TO: send topic FROM to TO; with * on both sides, a prefix "
            "('marketplace.*=copy.*'). Repeatable.",
            show_default=False,
        ),
    ] = None,
    topic_prefix: Annotated[
        str, typer.Option(help="Put this in front of every target topic (after --rename).")
    ] = "",
    flags: Flags = NO_FLAGS,
) -> None:
    """Produce a recording or a generate folder to Kafka: keys, values, headers and order kept.

    Each partition's records go out in offset order and each key stays in one partition, in
    order. Idempotent producer; every delivery is counted and any failure exits non-zero.
    Examples:

        simctl replay rec/ --speed 10 --topic-prefix replay.

        simctl replay out/ --max-speed --retime now
    """
    if max_speed and speed is not None:
        raise ConfigError("--speed and --max-speed exclude each other; give one.")
    if retime not in ("original", "now"):
        raise ConfigError(f"--retime must be original or now, not {retime!r}.")
    renamer = Renamer(parse_renames(rename or []), topic_prefix)
    run, kafka = connect(**flags)
    project = project_of(run)
    source = source_of(source_dir, project, kafka.registry_url, kafka.value_format)
    pace = None if max_speed else (1.0 if speed is None else speed)
    sys.stderr.write(
        f"replaying {source.kind} {source_dir} ({len(source.topics)} topic(s)) at "
        f"{'full speed' if pace is None else f'{pace:g}x'}, timestamps {retime}\n"
    )
    res = run_replay(source, kafka, project, renamer, pace, retime)
    sys.stderr.write(
        f"replayed {res.records} records in {res.seconds:.2f} s "
        f"({res.records / max(res.seconds, 1e-9):,.0f} records/s), every one delivered\n"
    )
