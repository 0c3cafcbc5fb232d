"""`Simulation` runs `simctl generate`'s pipeline: the same arguments give the CLI's files, and
the in-memory batches hold the records of those files, chaos (corrupted records included)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simfleet import RecordBatch, Simulation
from simfleet.cli.main import app
from simfleet.errors import ConfigError, DomainError

START = "2026-03-02T00:00:00Z"
CHAOS = Path(__file__).resolve().parents[1] / "chaos" / "all-actions.yaml"


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_to_files_writes_what_simctl_generate_writes(tmp_path: Path) -> None:
    """Same defaults as the CLI (seed 42, 8 shards): byte-identical Avro files."""
    cli = CliRunner().invoke(
        app,
        ["generate", "--domain", "ticketing", "--scale", "0.1", "--start", START,
         "--duration", "6h", "--format", "avro", "--out", str(tmp_path / "cli")],
    )  # fmt: skip
    assert cli.exit_code == 0, cli.output
    Simulation(["ticketing"], scale=0.1).to_files(tmp_path / "api", START, "6h", fmt="avro")
    assert _digests(tmp_path / "api") == _digests(tmp_path / "cli")


def test_generate_yields_the_records_of_the_files_chaos_included(tmp_path: Path) -> None:
    sim = Simulation(["marketplace"], seed=3, scale=0.05, shards=2, external_events=False)
    args = {"scenario": str(CHAOS), "scenario_at": datetime(2026, 3, 2, 1, tzinfo=UTC)}
    batches = list(sim.generate(START, "4h", **args))
    sim.to_files(tmp_path, START, "4h", **args)
    in_memory: dict[str, list[dict[str, object]]] = {}
    for b in batches:
        in_memory.setdefault(b.topic, []).extend(b.records)
    on_disk = {
        p.name.removesuffix(".jsonl"): [json.loads(line) for line in p.read_text().splitlines()]
        for p in tmp_path.glob("*.jsonl")
    }
    assert in_memory.keys() == on_disk.keys()
    for topic, records in on_disk.items():
        assert in_memory[topic] == records, topic
    ids = [r["event_id"] for r in in_memory["marketplace.booking.requested"]]
    assert len(set(ids)) < len(ids)  # the scenario's duplicates, in memory as in the files


def test_a_batch_as_columns() -> None:
    batch = RecordBatch("t", [{"a": 1, "b": "x"}, {"a": 2, "c": None}])
    assert batch.columns() == {"a": [1, 2], "b": ["x", None], "c": [None, None]}
    assert len(batch) == 2


def test_bad_arguments_say_what_to_pass() -> None:
    with pytest.raises(DomainError, match="Known domains"):
        Simulation(["ticketin"])
    sim = Simulation(["ticketing"], scale=0.1)
    with pytest.raises(ConfigError, match="naive datetime"):
        next(sim.generate(datetime(2026, 3, 2), "1h"))  # noqa: DTZ001
    with pytest.raises(ConfigError, match=re.escape("e.g. '6h'")):
        next(sim.generate(START, "six hours"))
    with pytest.raises(ConfigError, match="scale=0"):
        Simulation(["ticketing"], scale=0)
