"""record -> replay -> record again -> diff, against the embedded broker.

One module-scoped run: `simctl generate` writes a sim day of the marketplace (every stream,
external events and ground truth); `simctl replay --max-speed` loads it under prefix ``a.``;
`simctl record` drains ``a.*`` to idle; the recording is replayed to prefix ``b.`` and recorded
again; `simctl diff` must call the two recordings identical.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from typer.testing import CliRunner, Result

from simfleet.cli.main import app
from simfleet.codec import encoders_for
from simfleet.domain.pack import Project
from simfleet.recording import WALL_CLOCK_HEADER, Message, RecordingWriter, open_source
from simfleet.topology import key_fields

pytestmark = pytest.mark.integration

START = "2026-03-01T06:00:00Z"  # the span holds a midnight: daily aggregates


def cli(*args: str) -> Result:
    """Run simctl; fail the test with its output when it exits non-zero."""
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == 0, (res.output, res.exception)
    return res


def _digest(m: Message) -> str:
    """Key, value, timestamp and headers, but the wall-clock instant replay stamps on each."""
    headers = tuple(h for h in m.headers if h[0] != WALL_CLOCK_HEADER)
    return hashlib.sha256(repr((m.key, m.value, headers, m.timestamp)).encode()).hexdigest()


def per_key(folder: Path, strip: str) -> dict[tuple[str, bytes | None], list[str]]:
    """(topic without prefix, key) -> the digests of its records, in partition offset order."""
    src = open_source(folder)
    out: dict[tuple[str, bytes | None], list[str]] = {}
    for topic in src.topics:
        msgs = sorted(src.messages(topic), key=lambda m: (m.partition, m.offset))
        for m in msgs:
            out.setdefault((topic.removeprefix(strip), m.key), []).append(_digest(m))
    return out


@pytest.fixture(scope="module")
def round_trip(
    bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Folder -> a.* -> rec_a -> b.* -> rec_b; the paths, prefixes and timings."""
    tmp = tmp_path_factory.mktemp("rr")
    run = uuid.uuid4().hex[:8]
    pa, pb = f"rr{run}a.", f"rr{run}b."
    gen = tmp / "gen"
    cli(
        "generate", "--domain", "marketplace", "--start", START, "--duration", "1d",
        "--out", str(gen), "--shards", "2", "--format", "avro", "--scale", "0.3",
    )  # fmt: skip
    t0 = time.monotonic()
    cli("replay", str(gen), "-b", bootstrap, "--max-speed", "--topic-prefix", pa)
    replay_s = time.monotonic() - t0
    rec_a, rec_b = tmp / "rec_a", tmp / "rec_b"
    cli("record", "-b", bootstrap, "--topics", f"{pa}*", "--from-beginning", "--idle", "3",
        "--out", str(rec_a))  # fmt: skip
    cli("replay", str(rec_a), "-b", bootstrap, "--max-speed", "--rename", f"{pa}*={pb}*")
    cli("record", "-b", bootstrap, "--topics", f"{pb}*", "--from-beginning", "--idle", "3",
        "--out", str(rec_b))  # fmt: skip
    yield {"gen": gen, "a": rec_a, "b": rec_b, "pa": pa, "pb": pb, "replay_s": replay_s}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [t for t in admin.list_topics(timeout=10).topics if t.startswith((pa, pb))]
    for fut in admin.delete_topics(names, operation_timeout=15).values():
        fut.result(timeout=15)


def test_recording_holds_every_marketplace_stream_and_ground_truth(
    round_trip: dict[str, Any],
) -> None:
    """The manifest lists every marketplace topic with the generate folder's counts."""
    manifest = json.loads((round_trip["a"] / "manifest.json").read_text())
    pa = round_trip["pa"]
    expected = {p.name.removesuffix(".avro") for p in round_trip["gen"].glob("*.avro")}
    spec = Project().spec("marketplace")
    assert {spec.topic(n) for n in spec.streams} | {"marketplace.ground_truth"} <= expected
    got = {t.removeprefix(pa): v for t, v in manifest["topics"].items()}
    assert set(got) == expected
    gen = open_source(
        round_trip["gen"],
        encoders=encoders_for(Project().schemas(), None),
        key_fields=key_fields(Project(), ("marketplace",)),
    )
    for topic in expected:
        assert got[topic]["count"] == sum(1 for _ in gen.messages(topic)), topic
        assert got[topic]["count"] > 0, topic
        assert len(got[topic]["sha256"]) == 64
    # every value schema seen is in the manifest, with the schema itself
    assert manifest["schemas"] and all(s["schema"] for s in manifest["schemas"])


def test_record_replay_record_is_identical_by_diff(round_trip: dict[str, Any]) -> None:
    """`simctl diff` of the two recordings (prefixes stripped) says identical, exit 0."""
    res = CliRunner().invoke(
        app,
        [
            "diff", str(round_trip["a"]), str(round_trip["b"]), "--json",
            "--strip-prefix", round_trip["pa"], "--strip-prefix", round_trip["pb"],
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["identical"] is True
    assert all(t["identical"] for t in doc["topics"].values())


def test_each_key_keeps_its_order_through_both_replays(round_trip: dict[str, Any]) -> None:
    """Per (topic, key): the same records in the same order, in one partition, after 2 hops."""
    a = per_key(round_trip["a"], round_trip["pa"])
    b = per_key(round_trip["b"], round_trip["pb"])
    assert a == b
    # and against the generate folder's own order (file order per key)
    src = open_source(
        round_trip["gen"],
        encoders=encoders_for(Project().schemas(), None),
        key_fields=key_fields(Project(), ("marketplace",)),
    )
    folder: dict[tuple[str, bytes | None], list[str]] = {}
    for topic in src.topics:
        for m in src.messages(topic):
            folder.setdefault((topic, m.key), []).append(_digest(m))
    assert folder == a
    # each key in one partition
    rec = open_source(round_trip["b"])
    for topic in rec.topics:
        parts: dict[bytes | None, set[int]] = {}
        for m in rec.messages(topic):
            parts.setdefault(m.key, set()).add(m.partition)
        assert all(len(p) == 1 for k, p in parts.items() if k is not None), topic


def test_replay_at_speed_takes_the_recorded_span_over_speed(bootstrap: str, tmp_path: Path) -> None:
    """30 s of timestamps at --speed 10 take 3 s of wall time, within 10 %."""
    topic = f"pace-{uuid.uuid4().hex[:8]}"
    rec = tmp_path / "rec"
    w = RecordingWriter(rec)
    base = 1_772_409_600_000
    for i in range(301):  # one record every 100 ms of timestamp, 30 s in all
        w.write(Message(topic, 0, i, base + 100 * i, 1, f"k{i % 7}".encode(), b"v%d" % i))
    w.partition_counts[topic] = 1
    w.close({})
    res = cli("replay", str(rec), "-b", bootstrap, "--speed", "10")
    found = re.search(r"replayed 301 records in ([0-9.]+) s", res.output)
    assert found is not None, res.output
    # from the first record sent to the last delivery report (topic creation before it)
    assert 2.7 <= float(found.group(1)) <= 3.3, res.output


def test_a_jsonl_folder_replays_at_full_speed_with_retime_now(
    bootstrap: str, tmp_path: Path
) -> None:
    """JSON lines, parsed and encoded in chunks: every record, each key in order in one
    partition, timestamps shifted by one constant so that the first is now, and each record
    stamped with the produce-time header."""
    gen, rec = tmp_path / "gen", tmp_path / "rec"
    cli(
        "generate", "--domain", "marketplace", "--start", START, "--duration", "3h",
        "--out", str(gen), "--shards", "2", "--format", "jsonl", "--scale", "0.3",
    )  # fmt: skip
    prefix = f"rj{uuid.uuid4().hex[:8]}."
    before_ms = int(time.time() * 1000)
    cli("replay", str(gen), "-b", bootstrap, "--max-speed", "--retime", "now",
        "--topic-prefix", prefix)  # fmt: skip
    cli("record", "-b", bootstrap, "--topics", f"{prefix}*", "--from-beginning", "--idle", "3",
        "--out", str(rec))  # fmt: skip
    folder = open_source(
        gen,
        encoders=encoders_for(Project().schemas(), None),
        key_fields=key_fields(Project(), ("marketplace",)),
    )
    want: dict[tuple[str, bytes | None], list[tuple[bytes | None, int]]] = {}
    # topics go out one after the other: the first record sent is the first topic's first
    first_ts = next(iter(folder.messages(folder.topics[0]))).timestamp
    for topic in folder.topics:
        for m in folder.messages(topic):
            want.setdefault((topic, m.key), []).append((m.value, m.timestamp))
    got: dict[tuple[str, bytes | None], list[tuple[bytes | None, int]]] = {}
    shifts: set[int] = set()
    recording = open_source(rec)
    for topic in recording.topics:
        parts: dict[bytes | None, set[int]] = {}
        for m in sorted(recording.messages(topic), key=lambda m: (m.partition, m.offset)):
            assert any(k == WALL_CLOCK_HEADER for k, _ in m.headers), topic
            parts.setdefault(m.key, set()).add(m.partition)
            got.setdefault((topic.removeprefix(prefix), m.key), []).append((m.value, m.timestamp))
        assert all(len(p) == 1 for p in parts.values()), topic
    for key, records in got.items():
        assert [v for v, _ in records] == [v for v, _ in want[key]], key
        shifts |= {ts - w for (_, ts), (_, w) in zip(records, want[key], strict=True)}
    assert set(got) == set(want)
    assert len(shifts) == 1
    (shift,) = shifts
    assert before_ms <= first_ts + shift <= int(time.time() * 1000) + 60_000
