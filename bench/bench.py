"""Throughput of the marketplace pipeline against its ceiling and against the seeds' approach.

In one process, against an embedded broker started (and stopped) here:

(b) pipeline: ``backfill`` of every domain of the project (``MIX``: each at its own share of
    the scale, their ticks interleaved) -> ``AccountedProducer.send_batch`` for every merged
    batch -> flush; every record delivered. Run first, because its encoded output
    gives (a) its record sizes.
(a) ceilings: random bytes with exactly the pipeline's record sizes, keys, timestamps and batch
    boundaries, pre-built before the clock, with the same producer configuration, to
    ``bench.raw.<topic>`` topics with the same partitions, three ways: ``produce()`` per record
    with the produce-time header (``send_encoded``, as the pipeline), the same without the
    header, and ``produce_batch()`` per batch (``send_untimed``: the call refuses timestamps
    and drops headers). ``pipeline_vs_raw_ratio`` is taken against the fastest ceiling that
    carries the records' timestamps (produce_batch cannot, so it is printed, not used);
    ``pipeline_vs_produce_ceiling_ratio`` against the same records with the same header.
(c) naive: per-event Faker calls, a dict and ``json.dumps``, produced one by one (``naive.py``).
(d) replay: ``simctl replay --max-speed`` of a ``simctl generate`` month (Avro with its datum
    index, written before the clock): read the datums as they lie, produce one by one with the
    produce-time header, flush; compared with (a), both the fastest ceiling
    (``replay_vs_raw_ratio``, no header) and the like-for-like one (header). Then a few days of
    the same as JSON lines (parsed and encoded again), for its own figure.
(e) fleets (``fleet.py``): live fleets of one and two worker processes on fresh brokers, every
    domain, saturated; events/s and CPU seconds of each process; then, with two workers, how
    long after a scenario start the last worker reads the new control version.

Run: ``make bench`` (or ``.venv/bin/python bench/bench.py [--quick] [--json FILE]``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import confluent_kafka
import numpy as np
import numpy.typing as npt
import structlog

from fleet import LEAD_WALL_MS, SWITCH_TARGET_MS, cpu_seconds, run_fleet
from formats import run as run_formats
from memory import SPEED as MEMORY_SPEED
from memory import run_realtime
from naive import NaiveResult, run_naive
from simfleet.broker.embedded import EmbeddedBroker
from simfleet.cli.replay import run_replay, source_of
from simfleet.codec import TopicEncoder, encoders_for
from simfleet.columns import Batch, Column, FixedStrings, TableStrings
from simfleet.domain.pack import Project, load_domain
from simfleet.domain.spec import DomainSpec
from simfleet.kafka import AccountedProducer, TopicSpec, ensure_topics
from simfleet.producers.backfill import DEFAULT_TICK_MS, backfill
from simfleet.producers.sinks import FileSink
from simfleet.producers.worker import CHECKPOINT_MS
from simfleet.recording import Source
from simfleet.replay import Renamer
from simfleet.sender import SenderProcess
from simfleet.settings import KafkaSettings
from simfleet.topology import key_fields, stamped_topics, truth_topic

DOMAIN = "marketplace"  # the replay phase's and the realtime phase's domain
# the pipeline's mix: each domain's scale as a share of Sizes.scale. Domains differ by orders
# of magnitude in events per unit of scale (a click stream against bookings), so the shares
# give each of the other four about a tenth of the events and marketplace about half.
MIX = {
    "marketplace": 1.0,
    "ticketing": 1.0,
    "clickstream": 0.02,
    "ai_usage": 0.5,
    "markets": 0.04,
}
START = datetime(2026, 3, 2, tzinfo=UTC)
RAW_PREFIX = "bench.raw."
REPLAY_PREFIX = "bench.replay."
FLUSH_TIMEOUT_S = 300.0
# pipeline / ceiling is the figure the pipeline is held to; pipeline / naive is our own bar.
TARGETS = {
    # like for like (the same records, header and all): the floor the pipeline keeps
    "pipeline_vs_produce_ceiling_ratio": 0.5,
    # against the fastest way to move the same bytes, keys and timestamps: the goal
    "pipeline_vs_raw_ratio": 0.7,
    "pipeline_vs_naive_ratio": 8.0,
    "replay_vs_raw_ratio": 0.5,
}
RSS_GROWTH_TARGET = 0.05  # of the realtime run, over its last minute
RSS_PEAK_TARGET_MB = 400.0  # the realtime worker at about 20k events/s
# the realtime run: its first two minutes are a cold start (follow-up queues filling), the
# last minute is the growth measured
MEMORY_SECONDS = 180.0
# the live fleets: every domain at one scale (at 09:00 about 59 events per sim second), at a
# speed that asks for about 420k events/s: more than two workers make on 2 cores
FLEET_SCALE = 1.0
FLEET_SPEED = 7200.0
SWITCHES = 3


@dataclass(frozen=True)
class Sizes:
    """How much each phase does."""

    scale: float
    shards: int
    days: float
    naive_count: int
    replay_days: float
    replay_scale: float
    replay_jsonl_days: float


FULL = Sizes(
    scale=12.0,
    shards=8,
    days=2.0,
    naive_count=50_000,
    replay_days=30.0,
    replay_scale=0.25,
    replay_jsonl_days=3.0,
)
QUICK = Sizes(
    scale=1.0,
    shards=2,
    days=1.0,
    naive_count=5_000,
    replay_days=2.0,
    replay_scale=0.25,
    replay_jsonl_days=1.0,
)


@dataclass
class Phase:
    """Figures of one timed phase; seconds run from the first event to the last delivery."""

    name: str
    events: int
    value_bytes: int
    seconds: float
    detail: dict[str, float] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        """Delivered events per wall second."""
        return self.events / self.seconds

    @property
    def mb_per_s(self) -> float:
        """Record values per wall second, MB of 1e6 bytes (keys and headers excluded)."""
        return self.value_bytes / self.seconds / 1e6

    def line(self) -> str:
        """One human-readable result line."""
        return (
            f"{self.name:<9}: {self.events:>10,} events in {self.seconds:7.2f} s = "
            f"{self.events_per_s:>10,.0f} events/s, {self.mb_per_s:6.2f} MB/s "
            f"({self.value_bytes / max(self.events, 1):.1f} B/value)"
        )

    def as_dict(self) -> dict[str, Any]:
        """All figures, for --json."""
        return {
            **asdict(self),
            "events_per_s": self.events_per_s,
            "mb_per_s": self.mb_per_s,
        }


@dataclass(frozen=True)
class _Recorded:
    """What (a) needs of one pipeline batch: record boundaries, keys and timestamps."""

    topic: str
    offsets: npt.NDArray[np.int64]
    key_col: Column
    occurred_at: Column


class _RecordingEncoder:
    """Wraps a ``TopicEncoder``: keeps references to each batch's offsets and key column.

    Keeping references costs nothing measurable inside the timed window; the encode time it
    sums splits the pipeline's time into generation, encoding and produce.
    """

    def __init__(self, inner: TopicEncoder, key_field: str, log: list[_Recorded]) -> None:
        self._inner = inner
        self._key_field = key_field
        self._log = log
        self.seconds = 0.0

    def encode(self, columns: Mapping[str, Column], n: int) -> tuple[bytes, npt.NDArray[np.int64]]:
        t0 = time.perf_counter()
        buf, offsets = self._inner.encode(columns, n)
        self.seconds += time.perf_counter() - t0
        self._log.append(
            _Recorded(self._inner.topic, offsets, columns[self._key_field], columns["occurred_at"])
        )
        return buf, offsets


def _check_delivered(producer: AccountedProducer, expected: int, what: str) -> None:
    produced, delivered, failed = producer.totals()
    if not (produced == delivered == expected and failed == 0):
        raise SystemExit(
            f"{what}: expected {expected} records, produced {produced}, delivered {delivered}, "
            f"failed {failed}"
        )


def _mixed(
    domains: list[DomainSpec], start_ms: int, end_ms: int, seed: int, sizes: Sizes
) -> Iterator[list[Batch]]:
    """Every domain's backfill, tick by tick: one tick's batches of all domains together."""
    gens = [
        backfill(
            d,
            start_ms,
            end_ms,
            seed,
            sizes.scale * MIX[d.domain],
            sizes.shards,
            tick_ms=DEFAULT_TICK_MS,
        )
        for d in domains
    ]
    for ticks in itertools.zip_longest(*gens, fillvalue=[]):
        yield [b for tick in ticks for b in tick]


def run_pipeline(
    settings: KafkaSettings,
    domains: list[DomainSpec],
    sizes: Sizes,
    seed: int,
    producer_type: Callable[..., AccountedProducer] = SenderProcess,
) -> tuple[Phase, list[_Recorded], dict[str, int]]:
    """(b): backfill -> encode -> produce -> flush, timed from the first tick's produce.
    The produce loop runs in a child process, as a worker's does (``SenderProcess``);
    ``bench/overlap.py`` passes other ``producer_type``s."""
    start_ms = int(START.timestamp() * 1000)
    end_ms = start_ms + int(sizes.days * 86_400_000)
    recorded: list[_Recorded] = []
    # encoders_for gives one encoder per schema; only the stream topics are produced to
    plain = encoders_for(Project().schemas(), None)
    encoders = {
        domain.topic(name): _RecordingEncoder(plain[domain.topic(name)], stream.key, recorded)
        for domain in domains
        for name, stream in domain.streams.items()
    }
    # the ground truth some engines write (journeys, entity episodes) is produced too
    encoders |= {
        truth_topic(d.domain): _RecordingEncoder(plain[truth_topic(d.domain)], "event_id", recorded)
        for d in domains
    }
    # the produce-time header goes where the fleet puts it: the labels' subjects
    producer = producer_type(
        settings,
        encoders,
        stamp_topics=stamped_topics(Project(), tuple(d.domain for d in domains)),
    )
    gen = _mixed(domains, start_ms, end_ms, seed, sizes)
    # backfill builds its shard engines (entity pools, Faker) on the first next(): that and
    # the first tick's generation happen before the clock; the first tick is still produced.
    t_setup = time.perf_counter()
    first = next(gen)
    setup_s = time.perf_counter() - t_setup
    first_events = sum(b.n for b in first)

    events = 0
    per_domain: dict[str, int] = {}
    gen_s = 0.0
    t0 = time.perf_counter()
    batches_iter = itertools.chain([first], gen)
    while True:
        tg = time.perf_counter()
        batches = next(batches_iter, None)
        gen_s += time.perf_counter() - tg
        if batches is None:
            break
        for b in batches:
            producer.send_batch(b)
            events += b.n
            d = b.topic.split(".", 1)[0]
            per_domain[d] = per_domain.get(d, 0) + b.n
    t_flush = time.perf_counter()
    producer.flush(FLUSH_TIMEOUT_S)
    t1 = time.perf_counter()
    _check_delivered(producer, events, "pipeline")
    sender_cpu = cpu_seconds(producer.child_pid) if isinstance(producer, SenderProcess) else 0.0
    producer.close()

    encode_s = sum(e.seconds for e in encoders.values())
    value_bytes = sum(int(r.offsets[-1]) for r in recorded)
    phase = Phase(
        "pipeline",
        events,
        value_bytes,
        t1 - t0,
        {
            "untimed_setup_s": setup_s,
            "untimed_first_tick_events": first_events,
            "generate_s": gen_s,
            "encode_s": encode_s,
            # keys, and the hand-over to the producing process (waiting when it is behind)
            "keys_and_hand_over_s": (t_flush - t0) - gen_s - encode_s,
            "flush_s": t1 - t_flush,
            "sender_cpu_s": sender_cpu,  # the producing process, setup included
        },
    )
    return phase, recorded, per_domain


def _keys(col: Column) -> list[bytes | None]:
    if isinstance(col, TableStrings | FixedStrings):
        return col.to_bytes_list()
    raise TypeError(f"key column of type {type(col).__name__} is not a string column")


# the ways (a) moves the bytes: what the pipeline does (produce(), timestamp, produce-time
# header); the same without the header (its cost); the client's batch call (no timestamp, no
# header: it refuses both)
CEILINGS = {
    "ceiling": "produce() per record, timestamp, produce-time header on the labels' subjects "
    "(as the pipeline)",
    "ceil_bare": "produce() per record, timestamp, no header at all",
    "ceil_batch": "produce_batch() per pipeline batch: no timestamp, no header (refused)",
}


# (topic, value bytes, n + 1 offsets, keys, timestamps): one batch as the ceilings send it
_Prepared = tuple[str, bytes, list[int], list[bytes | None], list[int]]


def prepare_pipeline(recorded: list[_Recorded], seed: int) -> list[_Prepared]:
    """Random bytes of the pipeline's record sizes, with its keys, timestamps and batches."""
    rng = np.random.default_rng(seed)
    prepared = []
    for r in recorded:
        total = int(r.offsets[-1])
        ts = r.occurred_at
        assert isinstance(ts, np.ndarray)
        prepared.append(
            (
                RAW_PREFIX + r.topic,
                rng.bytes(total),
                r.offsets.tolist(),
                _keys(r.key_col),
                ts.tolist(),
            )
        )
    return prepared


def prepare_source(source: Source, seed: int, batch: int = 4096) -> list[_Prepared]:
    """Random bytes of a replay source's record sizes, with its keys and timestamps, in
    batches of ``batch`` records per topic (``--only replay``'s own ceiling)."""
    rng = np.random.default_rng(seed)
    prepared: list[_Prepared] = []
    for topic in source.topics:
        it = iter(source.messages(topic))
        while chunk := list(itertools.islice(it, batch)):
            sizes = np.array([len(m.value or b"") for m in chunk], np.int64)
            offsets = np.zeros(len(chunk) + 1, np.int64)
            np.cumsum(sizes, out=offsets[1:])
            prepared.append(
                (
                    RAW_PREFIX + topic,
                    rng.bytes(int(offsets[-1])),
                    offsets.tolist(),
                    [m.key for m in chunk],
                    [m.timestamp for m in chunk],
                )
            )
    return prepared


def run_ceiling(
    settings: KafkaSettings,
    prepared: list[_Prepared],
    how: str = "ceiling",
    stamp_topics: frozenset[str] | None = None,
) -> Phase:
    """(a): pre-built batches of random bytes, produced the way ``how`` (a key of
    ``CEILINGS``) says; "ceiling" stamps ``stamp_topics`` (None: every record)."""
    events = sum(len(p[3]) for p in prepared)
    value_bytes = sum(len(p[1]) for p in prepared)
    producer = AccountedProducer(settings, stamp_topics=stamp_topics)
    t0 = time.perf_counter()
    for topic, buf, offsets, keys, timestamps in prepared:
        if how == "ceil_batch":
            producer.send_untimed(topic, buf, offsets, keys)
        else:
            producer.send_encoded(topic, buf, offsets, keys, timestamps, stamp=how == "ceiling")
    t_flush = time.perf_counter()
    producer.flush(FLUSH_TIMEOUT_S)
    t1 = time.perf_counter()
    _check_delivered(producer, events, how)
    return Phase(how, events, value_bytes, t1 - t0, {"flush_s": t1 - t_flush})


def write_month(
    sizes: Sizes, seed: int, tmp: Path, fmt: str, days: float | None = None
) -> tuple[Path, int]:
    """A ``simctl generate`` folder of ``DOMAIN`` (untimed): its path and record count."""
    project = Project()
    schemas = project.schemas()
    out = tmp / f"month-{fmt}"
    keys = key_fields(project, (DOMAIN,))
    sink = FileSink(out, fmt, schemas, seed, keys)  # type: ignore[arg-type]
    start_ms = int(START.timestamp() * 1000)
    end_ms = start_ms + int((sizes.replay_days if days is None else days) * 86_400_000)
    for batches in backfill(
        project.spec(DOMAIN), start_ms, end_ms, seed, sizes.replay_scale, sizes.shards,
        schemas=schemas,
    ):  # fmt: skip
        sink.write(batches)
    sink.close(True)
    return out, sum(sink.counts.values())


def run_replay_phase(settings: KafkaSettings, folder: Path, expected: int, name: str) -> Phase:
    """(d): ``run_replay`` of a generate folder at full speed, every record delivered."""
    project = Project()
    source = source_of(folder, project, None)
    res = run_replay(source, settings, project, Renamer(prefix=REPLAY_PREFIX), None, "original",
                     progress=False)  # fmt: skip
    if res.records != expected:
        raise SystemExit(f"replay: expected {expected} records, delivered {res.records}")
    return Phase(name, res.records, res.value_bytes, res.seconds)


def pipeline_only(sizes: Sizes, seed: int, partitions: str, repeat: int) -> int:
    """``--only pipeline``: the pipeline and its ceilings, ``repeat`` times in a row on one
    broker; each run's ratios, then their spread (the goal holds on every run, not one)."""
    domains = [load_domain(d) for d in MIX]
    parts = _partitions(domains, partitions)
    stamped = stamped_topics(Project(), tuple(MIX))
    print(
        f"simfleet bench, pipeline only: every domain, {sizes.days:g} day(s), shards "
        f"{sizes.shards}, seed {seed}, {repeat} run(s)"
    )
    ratios: list[float] = []
    like: list[float] = []
    broker = EmbeddedBroker()
    with tempfile.TemporaryDirectory(prefix="simfleet-bench-") as tmp:
        bootstrap = broker.start(log_path=Path(tmp) / "broker.log")
        try:
            settings = KafkaSettings(bootstrap_servers=bootstrap)
            ensure_topics(
                settings,
                [TopicSpec(t, p) for t, p in parts.items()]
                + [TopicSpec(RAW_PREFIX + t, p) for t, p in parts.items()],
            )
            for i in range(repeat):
                pipeline, recorded, _ = run_pipeline(settings, domains, sizes, seed)
                prepared = prepare_pipeline(recorded, seed)
                del recorded
                stamp = frozenset(RAW_PREFIX + t for t in stamped)
                ceil = {
                    h: run_ceiling(settings, prepared, h, stamp) for h in ("ceiling", "ceil_bare")
                }
                del prepared
                fastest = max(ceil.values(), key=lambda p: p.events_per_s)
                ratios.append(pipeline.events_per_s / fastest.events_per_s)
                like.append(pipeline.events_per_s / ceil["ceiling"].events_per_s)
                print(
                    f"run {i + 1}: pipeline {pipeline.events_per_s:,.0f} events/s, ceiling "
                    f"(as the pipeline) {ceil['ceiling'].events_per_s:,.0f}, ceiling (no header) "
                    f"{ceil['ceil_bare'].events_per_s:,.0f}; pipeline_vs_raw_ratio "
                    f"{ratios[-1]:.2f}, pipeline_vs_produce_ceiling_ratio {like[-1]:.2f}"
                )
        finally:
            broker.stop()
    goal = TARGETS["pipeline_vs_raw_ratio"]
    print(
        f"pipeline_vs_raw_ratio over {repeat} consecutive run(s): min {min(ratios):.2f}, max "
        f"{max(ratios):.2f} (spread {max(ratios) - min(ratios):.2f}); like for like: min "
        f"{min(like):.2f}, max {max(like):.2f}"
    )
    ok = min(ratios) >= goal
    print(f"target: pipeline_vs_raw_ratio >= {goal} on every run -> {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def replay_only(sizes: Sizes, seed: int, fmt: str) -> int:
    """``--only replay``: the replay phase against ceilings of its own records (the same
    sizes, keys, timestamps and topics, random values), with and without the header."""
    print(
        f"simfleet bench, replay only: {DOMAIN}, {sizes.replay_days:g} sim days at scale "
        f"{sizes.replay_scale:g}, {sizes.shards} shards, {fmt}, seed {seed}"
    )
    broker = EmbeddedBroker()
    with tempfile.TemporaryDirectory(prefix="simfleet-bench-") as tmp:
        bootstrap = broker.start(log_path=Path(tmp) / "broker.log")
        try:
            settings = KafkaSettings(bootstrap_servers=bootstrap)
            t0 = time.perf_counter()
            folder, expected = write_month(sizes, seed, Path(tmp), fmt)
            print(f"generate folder: {expected:,} records in {time.perf_counter() - t0:.1f} s")
            prepared = prepare_source(source_of(folder, Project(), None), seed)
            spec = Project().spec(DOMAIN)
            parts = {spec.topic(n): s.partitions for n, s in spec.streams.items()}
            ensure_topics(settings, [TopicSpec(RAW_PREFIX + t, p) for t, p in parts.items()])
            # produce_batch() cannot carry the timestamps: not a ceiling of the replay
            hows = [h for h in CEILINGS if h != "ceil_batch"]
            ceilings = {how: run_ceiling(settings, prepared, how) for how in hows}
            del prepared
            for how, what in CEILINGS.items():
                if how not in ceilings:
                    continue
                print(ceilings[how].line())
                print(f"           {what} (the replay's own records)")
            replay = run_replay_phase(settings, folder, expected, "replay")
            print(replay.line())
        finally:
            broker.stop()
    ceiling = max(ceilings["ceiling"], ceilings["ceil_bare"], key=lambda p: p.events_per_s)
    print(f"replay_vs_raw_ratio: {replay.events_per_s / ceiling.events_per_s:.2f}")
    print(
        "replay_vs_produce_ceiling_ratio: "
        f"{replay.events_per_s / ceilings['ceiling'].events_per_s:.2f}"
    )
    return 0


def _partitions(domains: list[DomainSpec], choice: str) -> dict[str, int]:
    streams = {
        d.topic(n): s.partitions if choice == "spec" else int(choice)
        for d in domains
        for n, s in d.streams.items()
    }
    return streams | {
        truth_topic(d.domain): 1 if choice == "spec" else int(choice) for d in domains
    }


def _environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "confluent_kafka": confluent_kafka.__version__,
        "librdkafka": confluent_kafka.libversion()[0],
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }


def memory_speed() -> float:
    """The sim speed of the realtime run."""
    return MEMORY_SPEED


def main(argv: list[str] | None = None) -> int:
    """Run the phases, print the figures and ratios, optionally write them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure here")
    parser.add_argument(
        "--partitions",
        default="spec",
        help="partitions per topic: `spec` (each stream's StreamSpec.partitions) or a number",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--only",
        choices=["replay", "pipeline", "fleet"],
        help="run one phase: `replay` against ceilings made of its own records; `pipeline` "
        "and its ceilings (with --repeat); `fleet`: the live fleets and the handoff's cost",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="with --only pipeline: consecutive runs"
    )
    parser.add_argument(
        "--replay-format",
        choices=["avro", "jsonl"],
        default="avro",
        help="with --only replay: the format of the generate folder the replay reads",
    )
    args = parser.parse_args(argv)
    if args.partitions != "spec" and not args.partitions.isdigit():
        parser.error("--partitions takes `spec` or a positive number")
    sizes = QUICK if args.quick else FULL
    # the broker logs its start and stop at info; the bench's output is the figures
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.only == "replay":
        return replay_only(sizes, args.seed, args.replay_format)
    if args.only == "pipeline":
        return pipeline_only(sizes, args.seed, args.partitions, args.repeat)
    if args.only == "fleet":
        with tempfile.TemporaryDirectory(prefix="simfleet-bench-") as tmp:
            for w in (1, 2):
                f = run_fleet(
                    w,
                    domains=list(MIX),
                    scale=FLEET_SCALE,
                    speed=FLEET_SPEED,
                    shards=sizes.shards,
                    seconds=10.0 if args.quick else 40.0,
                    log_dir=Path(tmp),
                )
                share = ", ".join(f"{n} {v:.1%}" for n, v in f.checkpoint_share.items())
                print(
                    f"fleet_{f.workers}_worker: {f.rate:,.0f} events/s over {f.seconds:.0f} s; "
                    f"wall time on shard checkpoints (every {CHECKPOINT_MS // 1000} s): {share}"
                )
        return 0

    domains = [load_domain(d) for d in MIX]
    parts = _partitions(domains, args.partitions)
    mix = ", ".join(f"{d} {sizes.scale * share:g}" for d, share in MIX.items())
    print(
        f"simfleet bench: backfill of every domain (scale: {mix}), shards {sizes.shards}, "
        f"{sizes.days:g} day(s) from {START.isoformat().replace('+00:00', 'Z')}, "
        f"tick 1 h, seed {args.seed}, partitions {args.partitions} ({len(parts)} topics)"
    )
    broker = EmbeddedBroker()
    with tempfile.TemporaryDirectory(prefix="simfleet-bench-") as tmp:
        bootstrap = broker.start(log_path=Path(tmp) / "broker.log")
        try:
            settings = KafkaSettings(bootstrap_servers=bootstrap)
            ensure_topics(
                settings,
                [TopicSpec(t, p) for t, p in parts.items()]
                + [TopicSpec(RAW_PREFIX + t, p) for t, p in parts.items()],
            )
            print(f"broker: embedded Tansu (memory) at {bootstrap}, {os.cpu_count()} CPU(s)")
            pipeline, recorded, per_domain = run_pipeline(settings, domains, sizes, args.seed)
            print(pipeline.line())
            print(
                "           events: "
                + ", ".join(f"{d} {n / pipeline.events:.0%}" for d, n in per_domain.items())
            )
            d = pipeline.detail
            print(
                f"           generate {d['generate_s']:.2f} s, encode {d['encode_s']:.2f} s, "
                f"keys+hand-over {d['keys_and_hand_over_s']:.2f} s, flush {d['flush_s']:.2f} s; "
                f"the producing process (produce() per record) used {d['sender_cpu_s']:.1f} CPU s"
            )
            print(
                f"           untimed: shard engine construction + generation of the first tick "
                f"({int(d['untimed_first_tick_events']):,} events, "
                f"{d['untimed_first_tick_events'] / pipeline.events:.2%}, still encoded and "
                f"produced inside the clock) {d['untimed_setup_s']:.2f} s"
            )
            ceilings: dict[str, Phase] = {}
            stamped = stamped_topics(Project(), tuple(MIX))
            stamped_share = sum(len(r.offsets) - 1 for r in recorded if r.topic in stamped) / max(
                1, sum(len(r.offsets) - 1 for r in recorded)
            )
            prepared = prepare_pipeline(recorded, args.seed)
            del recorded
            for how, what in CEILINGS.items():
                # the header where the pipeline puts it (the ceiling's topics are prefixed)
                stamp = frozenset(RAW_PREFIX + t for t in stamped)
                ceilings[how] = run_ceiling(settings, prepared, how, stamp)
                print(ceilings[how].line())
                print(f"           {what}")
            del prepared
            print("           random (incompressible) values of the pipeline's sizes and keys")
            # produce_batch() refuses timestamps: not a way to move these records
            ceiling = max(ceilings["ceiling"], ceilings["ceil_bare"], key=lambda p: p.events_per_s)
            folder, expected = write_month(sizes, args.seed, Path(tmp), "avro")
            replay = run_replay_phase(settings, folder, expected, "replay")
            print(replay.line())
            print(
                f"           simctl replay --max-speed of a generate folder: "
                f"{sizes.replay_days:g} sim days at scale {sizes.replay_scale:g} (Avro with its "
                "datum index, written before the clock), with the produce-time header; "
                f"{replay.events_per_s / ceiling.events_per_s:.2f} of the ceiling, "
                f"{replay.events_per_s / ceilings['ceiling'].events_per_s:.2f} of the one "
                "with the header"
            )
            shutil.rmtree(folder)
            folder, expected = write_month(
                sizes, args.seed, Path(tmp), "jsonl", sizes.replay_jsonl_days
            )
            replay_jsonl = run_replay_phase(settings, folder, expected, "replay_jsonl")
            print(replay_jsonl.line())
            print(
                f"           the same from JSON lines ({sizes.replay_jsonl_days:g} sim days): "
                "parsed and encoded again in chunks; "
                f"{replay_jsonl.events_per_s / ceiling.events_per_s:.2f} of the ceiling"
            )
            shutil.rmtree(folder)
            naive: NaiveResult = run_naive(
                settings, sizes.naive_count, args.seed, START, partitions=3
            )
            naive_phase = Phase("naive", naive.events, naive.value_bytes, naive.seconds)
            print(naive_phase.line())
            print("           per event: Faker uuid4/name/email, random choices, dict, json.dumps")
            memory = run_realtime(
                bootstrap, seconds=30.0 if args.quick else MEMORY_SECONDS, log_dir=Path(tmp)
            )
        finally:
            broker.stop()
        fleet_seconds = 10.0 if args.quick else 40.0
        fleets = [
            run_fleet(
                w,
                domains=list(MIX),
                scale=FLEET_SCALE,
                speed=FLEET_SPEED,
                shards=sizes.shards,
                seconds=fleet_seconds,
                switches=SWITCHES if w == 2 else 0,
                log_dir=Path(tmp),
            )
            for w in (1, 2)
        ]

    header_cost = 1 - ceilings["ceiling"].events_per_s / ceilings["ceil_bare"].events_per_s
    print(
        f"ceiling: the fastest that carries the timestamps is {ceiling.name}; the "
        f"produce-time header, on {stamped_share:.1%} of the records (the labels' subjects: "
        f"{', '.join(sorted(stamped))}), costs {header_cost:.1%} of produce()'s rate"
    )
    for f in fleets:
        cpu = ", ".join(f"{n} {s:.1f}" for n, s in f.cpu_s.items())
        lag = ", ".join(f"{n} {s:.0f} s" for n, s in f.lag_s.items())
        print(
            f"fleet_{f.workers}_worker: {f.rate:,.0f} events/s over {f.seconds:.0f} s "
            f"({', '.join(f'{n} {r:,.0f}' for n, r in f.rates.items())}); CPU s: {cpu}; "
            f"generation behind the clock at the end: {lag}"
        )
        share = ", ".join(f"{n} {v:.1%}" for n, v in f.checkpoint_share.items())
        print(
            f"fleet_{f.workers}_worker handoff cost: wall time on shard checkpoints (wait for "
            f"acknowledgements, list offsets, pickle, produce; every "
            f"{CHECKPOINT_MS // 1000} s): {share}"
        )
    one, two = fleets
    switches = two.switches
    worst = max(switches, key=lambda w: w.last_ms)
    print(
        f"fleet: {len(MIX)} domains at scale {FLEET_SCALE:g}, {sizes.shards} shards, "
        f"{FLEET_SPEED:g}x (more than two workers make: each is saturated)"
    )
    for w in switches:
        print(
            f"switch v{w.version}: last of {two.workers} workers read it {w.last_ms} ms after "
            f"the command was sent ({w.applied_wall - w.sent_wall} ms to the orchestrator, "
            f"{w.last_after_apply_ms} ms from it); versions read late so far: {w.late}"
        )
    print(
        f"scenario_switch_ms: {worst.last_ms} (worst of {len(switches)}; the lead is "
        f"{LEAD_WALL_MS} ms, target < {SWITCH_TARGET_MS + LEAD_WALL_MS} ms)"
    )

    ratios = {
        "pipeline_vs_raw_ratio": pipeline.events_per_s / ceiling.events_per_s,
        "pipeline_vs_produce_ceiling_ratio": pipeline.events_per_s
        / ceilings["ceiling"].events_per_s,
        "pipeline_vs_batch_ceiling_ratio": pipeline.events_per_s
        / ceilings["ceil_batch"].events_per_s,
        "two_vs_one_worker_ratio": two.rate / one.rate,
        # the live worker with the handoff on (checkpoints every 10 s, per-shard batches,
        # heartbeats), against the same ceiling: not a target, the fleet's distance from it
        "fleet_vs_raw_ratio": one.rate / ceiling.events_per_s,
        "pipeline_vs_naive_ratio": pipeline.events_per_s / naive_phase.events_per_s,
        "replay_vs_raw_ratio": replay.events_per_s / ceiling.events_per_s,
        "replay_vs_produce_ceiling_ratio": replay.events_per_s / ceilings["ceiling"].events_per_s,
        "replay_jsonl_vs_raw_ratio": replay_jsonl.events_per_s / ceiling.events_per_s,
    }
    # the value formats beside Avro (not targets: Protobuf and JSON build a message or a dict
    # per record, where Avro is vectorised; the figures say what choosing one costs)
    ratios.update({k: v for k, v in run_formats().items() if k.endswith("_ratio")})
    if args.quick:
        # fewer records than the producer queue holds: the ceiling never waits for the broker
        print("quick run: a smoke test; its ratios are not the benchmark's figures")
    print(
        f"realtime: one worker paced at {memory_speed():g}x from 11:00 UTC, scale "
        f"{memory.scale:.1f}, {memory.seconds:.0f} s: {memory.rate:,.0f} events/s "
        f"(target rate {memory.target_rate:,.0f})"
    )
    print(f"realtime_peak_rss_mb: {memory.peak_rss_mb:.0f}")
    print(
        f"realtime_rss_growth_last_minute: {memory.growth_last_minute:.2%} "
        f"({memory.rss_minute_before_end_mb:.0f} MB a minute before the end, "
        f"{memory.rss_at_end_mb:.0f} MB at the end)"
    )
    passed = {name: ratios[name] >= target for name, target in TARGETS.items()}
    passed["realtime_rss_growth"] = memory.growth_last_minute < RSS_GROWTH_TARGET
    passed["realtime_peak_rss"] = memory.peak_rss_mb < RSS_PEAK_TARGET_MB
    passed["scenario_switch"] = worst.last_ms < SWITCH_TARGET_MS + LEAD_WALL_MS
    for name, target in TARGETS.items():
        print(f"target: {name} >= {target:g} -> {'PASS' if passed[name] else 'FAIL'}")
    print(
        f"target: realtime_peak_rss_mb < {RSS_PEAK_TARGET_MB:g} -> "
        f"{'PASS' if passed['realtime_peak_rss'] else 'FAIL'}"
    )
    print(
        f"target: realtime_rss_growth_last_minute < {RSS_GROWTH_TARGET:.0%} -> "
        f"{'PASS' if passed['realtime_rss_growth'] else 'FAIL'}"
    )
    print(
        f"target: scenario_switch_ms < {SWITCH_TARGET_MS + LEAD_WALL_MS} -> "
        f"{'PASS' if passed['scenario_switch'] else 'FAIL'}"
    )

    if args.json is not None:
        doc = {
            "when_utc": datetime.now(UTC).isoformat(),
            "config": {
                **asdict(sizes),
                "domains": {d: sizes.scale * share for d, share in MIX.items()},
                "replay_domain": DOMAIN,
                "start": START.isoformat(),
                "tick_ms": DEFAULT_TICK_MS,
                "seed": args.seed,
                "partitions": args.partitions,
                "topic_partitions": parts,
                "quick": args.quick,
            },
            "environment": _environment(),
            "ceiling": ceiling.as_dict(),
            "ceilings": {n: c.as_dict() for n, c in ceilings.items()},
            "header_cost": header_cost,
            "fleets": [
                {**asdict(f), "rate": f.rate, "switches": [asdict(w) for w in f.switches]}
                for f in fleets
            ],
            "pipeline": {**pipeline.as_dict(), "events_per_domain": per_domain},
            "naive": naive_phase.as_dict(),
            "replay": replay.as_dict(),
            "replay_jsonl": replay_jsonl.as_dict(),
            "realtime_memory": asdict(memory),
            "ratios": ratios,
            "targets": {n: {"min": t, "pass": passed[n]} for n, t in TARGETS.items()},
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {args.json}")
    # the last two lines are the benchmark's verdict, in a form scripts can read
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
