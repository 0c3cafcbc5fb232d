"""`Simulation`: the Python face of `simctl generate` and `simctl replay`.

It runs the same pipeline as the CLI (`simfleet.api.generation`), so a `Simulation` with the
CLI's seed, scale and shards gives the CLI's records: `to_files` writes the same files as
`simctl generate`, `generate` yields the same records in memory, and `produce` sends them to a
cluster the way `simctl replay` sends a generate folder.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from simfleet.api.generation import Plan, Write, plan_run, run_writes, write_files
from simfleet.codec import Decoder
from simfleet.domain.pack import Project
from simfleet.errors import ConfigError, SchemaError
from simfleet.producers.chaos import plain
from simfleet.replay import Renamer
from simfleet.settings import KafkaSettings
from simfleet.timeutil import parse_duration_ms, parse_instant_ms

__all__ = ["RecordBatch", "Simulation"]

Instant = str | datetime | int
Duration = str | timedelta | int


@dataclass(frozen=True)
class RecordBatch:
    """Records of one topic, in the order the run wrote them: plain dicts (timestamps as epoch
    ms, as in `simctl generate`'s JSON lines)."""

    topic: str
    records: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.records)

    def columns(self) -> dict[str, list[Any]]:
        """The batch as columns (field -> values), for Arrow or pandas without a loop of yours."""
        names: dict[str, None] = {}
        for r in self.records:
            names.update(dict.fromkeys(r))
        return {k: [r.get(k) for r in self.records] for k in names}


def _instant_ms(value: Instant, what: str) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ConfigError(
                f"{what}={value!r} is a naive datetime: simulated time is UTC. Pass "
                "datetime(..., tzinfo=UTC) or an ISO string ending in Z."
            )
        return int(value.timestamp() * 1000)
    try:
        return parse_instant_ms(value)
    except ValueError as exc:
        raise ConfigError(f"{what}={value!r}: {exc}.") from exc


def _duration_ms(value: Duration, what: str) -> int:
    if isinstance(value, timedelta):
        return int(value.total_seconds() * 1000)
    try:
        return parse_duration_ms(value)
    except ValueError as exc:
        raise ConfigError(f"{what}={value!r}: {exc} (e.g. '6h', '3d').") from exc


class Simulation:
    """A set of domains with a seed and a scale, run between sim instants.

    >>> sim = Simulation(domains=["ticketing"], seed=7, scale=0.1)
    >>> for batch in sim.generate("2026-03-02T00:00:00Z", "1h"):
    ...     print(batch.topic, len(batch))
    """

    def __init__(
        self,
        domains: Sequence[str] | None = None,
        *,
        seed: int = 42,
        scale: float = 1.0,
        shards: int = 8,
        external_events: bool = True,
        pack_dirs: Sequence[Path | str] = (),
        scenarios_dirs: Sequence[Path | str] = (),
    ) -> None:
        """``domains``: default every domain of the project; the other arguments are those of
        `simctl generate` (`--seed`, `--scale`, `--shards`, `--pack-dir`, ...), same defaults."""
        if scale <= 0:
            raise ConfigError(f"scale={scale}: use a number above 0 (1.0 is the packs' rates).")
        if shards < 1:
            raise ConfigError(f"shards={shards}: use 1 or more (8 is the CLI's default).")
        self.project = Project([Path(p) for p in pack_dirs], [Path(p) for p in scenarios_dirs])
        self.domains = self.project.resolve_domains(domains)
        self.seed = seed
        self.scale = scale
        self.shards = shards
        self.external_events = external_events

    def plan(
        self,
        start: Instant,
        duration: Duration,
        *,
        scenario: str | None = None,
        scenario_at: Instant | None = None,
        scenario_stop_at: Instant | None = None,
        warmup: Duration = 0,
    ) -> Plan:
        """The checked run (what `generate`, `to_files` and `produce` execute)."""
        return plan_run(
            self.project,
            self.domains,
            seed=self.seed,
            scale=self.scale,
            shards=self.shards,
            external_events=self.external_events,
            start_ms=_instant_ms(start, "start"),
            duration_ms=_duration_ms(duration, "duration"),
            warmup_ms=_duration_ms(warmup, "warmup"),
            scenario=scenario,
            scenario_at_ms=None if scenario_at is None else _instant_ms(scenario_at, "scenario_at"),
            scenario_stop_at_ms=(
                None if scenario_stop_at is None else _instant_ms(scenario_stop_at, "stop_at")
            ),
        )

    def generate(
        self,
        start: Instant,
        duration: Duration,
        *,
        scenario: str | None = None,
        scenario_at: Instant | None = None,
        scenario_stop_at: Instant | None = None,
        warmup: Duration = 0,
    ) -> Iterator[RecordBatch]:
        """Record batches in the order `simctl generate` writes them (one per topic and tick,
        then external events, ground truth); lazily, an hour of sim time at a time. Records
        that chaos corrupted come as ``<topic>.corrupt`` batches (key, timestamp, value_hex)."""
        plan = self.plan(
            start,
            duration,
            scenario=scenario,
            scenario_at=scenario_at,
            scenario_stop_at=scenario_stop_at,
            warmup=warmup,
        )
        decoder = Decoder(self.project.schemas())
        for write in run_writes(plan):
            yield from _batches(write, decoder)

    def to_files(
        self,
        out: Path | str,
        start: Instant,
        duration: Duration,
        *,
        fmt: str = "jsonl",
        scenario: str | None = None,
        scenario_at: Instant | None = None,
        scenario_stop_at: Instant | None = None,
        warmup: Duration = 0,
    ) -> dict[str, int]:
        """Write ``out``/<topic>.jsonl (or .avro with ``fmt="avro"``), as `simctl generate`
        does with the same arguments; the records written per topic."""
        plan = self.plan(
            start,
            duration,
            scenario=scenario,
            scenario_at=scenario_at,
            scenario_stop_at=scenario_stop_at,
            warmup=warmup,
        )
        return write_files(plan, Path(out), fmt).counts

    def produce(
        self,
        bootstrap: str,
        start: Instant,
        duration: Duration,
        *,
        scenario: str | None = None,
        scenario_at: Instant | None = None,
        scenario_stop_at: Instant | None = None,
        schema_registry_url: str | None = None,
        topic_prefix: str = "",
        properties: dict[str, str] | None = None,
    ) -> int:
        """Generate the run and produce it to ``bootstrap`` at full speed, with the records'
        sim timestamps (as `simctl generate` then `simctl replay --max-speed`): topics are
        created when missing, every delivery is counted, a failure raises. The records sent."""
        # lazy: the replay command's module brings typer and rich, needed only here
        from simfleet.cli.replay import run_replay, source_of  # noqa: PLC0415

        kafka = KafkaSettings(
            bootstrap_servers=bootstrap,
            properties=dict(properties or {}),
            schema_registry_url=schema_registry_url,
        )
        with tempfile.TemporaryDirectory(prefix="simfleet-produce-") as tmp:
            self.to_files(
                tmp,
                start,
                duration,
                fmt="avro",
                scenario=scenario,
                scenario_at=scenario_at,
                scenario_stop_at=scenario_stop_at,
            )
            source = source_of(Path(tmp), self.project, schema_registry_url)
            result = run_replay(
                source,
                kafka,
                self.project,
                Renamer(prefix=topic_prefix),
                None,
                "original",
                progress=False,
            )
        return result.records


def _batches(write: Write, decoder: Decoder) -> Iterator[RecordBatch]:
    """The record batches of one write (empty batches left out)."""
    if write.kind == "batches":
        for b in write.batches:
            if b.n:
                yield RecordBatch(b.topic, b.to_records())
    elif write.kind == "records":
        if write.records:
            yield RecordBatch(write.topic, list(write.records))
    else:
        for e in write.encoded:
            good: list[dict[str, Any]] = []
            bad: list[dict[str, Any]] = []
            for value, key, ts in zip(e.values, e.keys, e.timestamps, strict=True):
                try:
                    good.append(plain(decoder.decode(value)))
                except SchemaError as exc:
                    k = None if key is None else key.decode()
                    bad.append(
                        {"key": k, "timestamp": ts, "value_hex": value.hex(), "error": str(exc)}
                    )
            if good:
                yield RecordBatch(e.topic, good)
            if bad:
                yield RecordBatch(f"{e.topic}.corrupt", bad)
