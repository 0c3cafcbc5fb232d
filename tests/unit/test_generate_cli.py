"""`simctl generate`: backfill to files, byte-identical for the same arguments, readable Avro."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import fastavro
import pytest
from typer.testing import CliRunner, Result

from simfleet.cli import main as cli_main
from simfleet.cli.main import app
from simfleet.errors import ConfigError

START = "2026-03-02T00:00:00Z"
START_MS = 1_772_409_600_000
H = 3_600_000


def generate(out: Path, *extra: str, fmt: str = "jsonl", seed: int = 42) -> Result:
    """Run `generate` for 6 sim hours on 2 shards into ``out``."""
    args = [
        "generate",
        "--domain",
        "marketplace",
        "--start",
        START,
        "--duration",
        "6h",
        "--out",
        str(out),
        "--seed",
        str(seed),
        "--shards",
        "2",
        "--format",
        fmt,
        *extra,
    ]
    return CliRunner().invoke(app, args)


def contents(folder: Path) -> dict[str, bytes]:
    """File name -> bytes of every file in a folder."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def read_avro(path: Path) -> list[dict[str, Any]]:
    """Records of an Avro container file, timestamp-millis back to epoch ms."""
    with path.open("rb") as fh:
        records = list(fastavro.reader(fh))
    for r in records:
        for k, v in r.items():
            if isinstance(v, datetime):
                r[k] = round(v.timestamp() * 1000)
    return records


def reported_counts(result: Result) -> dict[str, int]:
    """The `  <file>: <count>` lines the command prints."""
    return {
        m[1]: int(m[2].replace(",", ""))
        for m in re.finditer(r"^\s+(\S+): ([\d,]+)$", result.output, re.M)
    }


@pytest.mark.parametrize("fmt", ["jsonl", "avro"])
def test_same_arguments_write_byte_identical_files(tmp_path: Path, fmt: str) -> None:
    """Two runs with one seed write the same files, byte for byte (an Avro file's datum index
    too); no .partial is left."""
    a, b = generate(tmp_path / "a", fmt=fmt), generate(tmp_path / "b", fmt=fmt)
    assert a.exit_code == 0, a.output
    assert b.exit_code == 0, b.output
    files_a, files_b = contents(tmp_path / "a"), contents(tmp_path / "b")
    assert "marketplace.booking.requested." + fmt in files_a
    kinds = ("." + fmt, ".avro.index") if fmt == "avro" else ("." + fmt,)
    assert all(name.endswith(kinds) for name in files_a)
    if fmt == "avro":
        indexed = {n.removesuffix(".index") for n in files_a if n.endswith(".index")}
        assert indexed == {n for n in files_a if n.endswith(".avro")}
    assert files_a == files_b


@pytest.mark.parametrize("fmt", ["jsonl", "avro"])
def test_another_seed_writes_different_files(tmp_path: Path, fmt: str) -> None:
    """A different seed changes the content of every file."""
    assert generate(tmp_path / "a", fmt=fmt, seed=1).exit_code == 0
    assert generate(tmp_path / "b", fmt=fmt, seed=2).exit_code == 0
    files_a, files_b = contents(tmp_path / "a"), contents(tmp_path / "b")
    for name in set(files_a) & set(files_b):
        assert files_a[name] != files_b[name], name


def test_avro_files_are_readable_with_the_reported_counts(tmp_path: Path) -> None:
    """Each .avro is an object container file fastavro reads, with the count the CLI printed."""
    result = generate(tmp_path, fmt="avro")
    assert result.exit_code == 0, result.output
    counts = reported_counts(result)
    files = sorted(tmp_path.glob("*.avro"))
    assert {p.name for p in files} == set(counts)
    assert sum(counts.values()) > 0
    assert f"wrote {sum(counts.values()):,} events in {len(files)} files" in result.output
    for path in files:
        with path.open("rb") as fh:
            reader = fastavro.reader(fh)
            assert reader.writer_schema is not None
            first = next(reader)
        assert isinstance(first["occurred_at"], datetime)  # timestamp-millis logical type
        records = read_avro(path)
        assert len(records) == counts[path.name], path.name
        assert all(START_MS <= r["occurred_at"] < START_MS + 6 * H for r in records), path.name


def test_jsonl_lines_are_json_objects_with_the_reported_counts(tmp_path: Path) -> None:
    """Each .jsonl holds one JSON object per line; the line count is the reported count."""
    result = generate(tmp_path)
    assert result.exit_code == 0, result.output
    counts = reported_counts(result)
    for path in tmp_path.glob("*.jsonl"):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) == counts[path.name]
        first = json.loads(lines[0])
        assert {"event_id", "occurred_at"} <= set(first)


def test_avro_and_jsonl_hold_the_same_events(tmp_path: Path) -> None:
    """The two formats of one run carry the same records."""
    assert generate(tmp_path / "j").exit_code == 0
    assert generate(tmp_path / "a", fmt="avro").exit_code == 0
    for jpath in (tmp_path / "j").glob("*.jsonl"):
        apath = tmp_path / "a" / jpath.name.replace(".jsonl", ".avro")
        from_avro = read_avro(apath)
        from_json = [json.loads(line) for line in jpath.read_text(encoding="utf-8").splitlines()]
        assert from_avro == from_json, jpath.name


def test_unknown_format_is_a_config_error(tmp_path: Path) -> None:
    """`--format xml` raises ConfigError (exit code 2) naming the allowed formats; no files."""
    result = generate(tmp_path / "out", fmt="xml")
    assert isinstance(result.exception, ConfigError)
    assert result.exception.exit_code == 2
    assert "--format must be jsonl or avro" in str(result.exception)
    assert not (tmp_path / "out").exists()


def test_unknown_format_exits_2_through_the_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real entry point prints `error: ...` on stderr as one line and exits 2."""
    monkeypatch.setattr("simfleet.logs.configure_logging", lambda **_kw: None)
    monkeypatch.setattr(
        "sys.argv",
        [
            "simctl",
            "generate",
            "--domain",
            "marketplace",
            "--start",
            START,
            "--duration",
            "6h",
            "--out",
            str(tmp_path),
            "--format",
            "xml",
        ],
    )
    with pytest.raises(SystemExit) as info:
        cli_main.main()
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --format must be jsonl or avro")
    assert "\n" not in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--start", "yesterday"], "--start"),
        (["--scenario-at", START], "--scenario"),
        (["--shards", "0"], "--shards"),
    ],
)
def test_bad_flags_are_config_errors_naming_the_flag(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    """Bad flag values raise ConfigError naming the flag."""
    base = {
        "--domain": "marketplace",
        "--start": START,
        "--duration": "6h",
        "--out": str(tmp_path / "out"),
    }
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    result = CliRunner().invoke(app, ["generate", *[x for kv in base.items() for x in kv]])
    assert isinstance(result.exception, ConfigError), result.output
    assert needle in str(result.exception)


def test_warmup_runs_before_start_and_writes_nothing_from_it(tmp_path: Path) -> None:
    """--warmup fills the follow-up queues before --start: a cold start schedules almost no
    sessions in its first hours (bookings take 2-24 h to be confirmed), a warmed-up one the
    outcomes of the day before; and not one written event, external event included, is from
    before --start."""
    cold, warm = tmp_path / "cold", tmp_path / "warm"
    assert generate(cold).exit_code == 0
    result = generate(warm, "--warmup", "2d")
    assert result.exit_code == 0, result.output

    def lines(folder: Path, topic: str) -> list[dict[str, Any]]:
        path = folder / f"marketplace.{topic}.jsonl"
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        return [json.loads(line) for line in text.splitlines()]

    cold_n, warm_n = len(lines(cold, "session.scheduled")), len(lines(warm, "session.scheduled"))
    assert warm_n > 10 * max(cold_n, 10), (cold_n, warm_n)
    for path in warm.glob("*.jsonl"):
        for row in lines(warm, path.name.removeprefix("marketplace.").removesuffix(".jsonl")):
            assert START_MS <= row["occurred_at"] < START_MS + 6 * H, (path.name, row)


@pytest.mark.parametrize(
    ("flag", "value"), [("--warmup", "-1h"), ("--duration", "six hours"), ("--warmup", "7")]
)
def test_a_bad_duration_is_a_usage_error_naming_the_flag(
    tmp_path: Path, flag: str, value: str
) -> None:
    """Every duration flag takes one type (90s, 6h, 30d); anything else is refused with exit 2,
    the flag named and the accepted forms shown."""
    result = generate(tmp_path, flag, value)
    assert result.exit_code == 2
    assert flag in result.output
    assert "500ms, 90s, 30m, 6h, 3d, 1w" in " ".join(result.output.split())
