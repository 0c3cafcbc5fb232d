"""A frozen worker (SIGSTOP, then SIGCONT 20 s later) writes nothing twice.

`simctl up` with two workers; one worker is frozen with its producing child (or alone) long
enough for the consumer group to give its shards to the other worker, then thawed. An outside
reader (read_committed, until idle) then finds every event id once, each booking with at most
one outcome, each shard's sim time counted once, and the same records per topic as
`simctl generate` of the same seed and range."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

from simfleet.broker.embedded import EmbeddedBroker
from simfleet.capture import BEGINNING, StopRule, capture, consumer_for
from simfleet.codec import Decoder
from simfleet.control import COUNTS_TOPIC, ShardCounts
from simfleet.control_io import FleetWatcher, read_latest_state
from simfleet.domain.pack import Project
from simfleet.recording import Message
from simfleet.settings import KafkaSettings
from tests import live
from tests.live import spawn, state_env, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = "2026-03-03T00:00:00Z"
UNTIL = "2026-03-06T00:00:00Z"  # 72 sim hours: 72 wall seconds at 3600x
SHARDS = 4
SCALE = "0.25"  # enough records that a freeze catches some queued in the producing child
FREEZE_S = 20.0  # longer than the group's session (6 s) and the handoff's silence (6 s)
OUTCOMES = ("confirmed", "declined", "expired")


@dataclass
class Frozen:
    """What a fleet with one frozen worker wrote, and where its recording is."""

    records: dict[str, list[Message]]
    counts: list[ShardCounts]
    recording: Path
    generated: Path
    err: str


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(c) for c in text]
    return out


def _drive(tmp: Path, both: bool) -> Frozen:
    broker = EmbeddedBroker()
    bs = broker.start(log_path=tmp / "tansu.log")
    kafka = KafkaSettings(bootstrap_servers=bs)
    env = state_env(tmp / "state")
    try:
        up = spawn(
            *("up", "-b", bs, "--speed", "3600"),
            *("--scale", SCALE, "--shards", str(SHARDS), "--workers", "2"),
            *("--start", START, "--until", UNTIL, "--no-stats", "--no-external-events"),
            *("--no-admin", "--domain", "marketplace"),
            env=env,
        )
        watcher = FleetWatcher(kafka)
        frozen: list[int] = []
        try:
            wait_for("a control state", lambda: read_latest_state(kafka, 1.0) is not None, 90)

            def owners() -> dict[str, tuple[int, set[int]]]:
                watcher.poll(0.3)
                return {
                    w: (pid, set(hb.shards))
                    for (w, _h, pid), hb in watcher.processes.items()
                    if not hb.stopping and hb.shards
                }

            wait_for("two workers owning shards", lambda: len(owners()) >= 2, 90)
            time.sleep(5)  # the run itself: both workers produce a while (past a checkpoint)
            victim = sorted(owners().items())[-1][1][0]
            frozen = [victim, *(_children(victim) if both else [])]
            assert len(frozen) == (2 if both else 1), frozen
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)
            time.sleep(FREEZE_S)  # the fault itself: the freeze's length
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
            watcher.close()
            _, err = up.communicate(timeout=300)  # it stops by itself at --until
        assert up.returncode == 0, err[-3000:]
        project = Project()
        topics = {
            project.spec("marketplace").topic(n): s.partitions
            for n, s in project.spec("marketplace").streams.items()
        }
        got: list[Message] = []
        consumer = consumer_for(kafka)  # read_committed
        try:
            capture(
                consumer, {**topics, COUNTS_TOPIC: 1}, BEGINNING, StopRule(idle_s=5.0), got.append
            )
        finally:
            consumer.close()
        records: dict[str, list[Message]] = {}
        for m in got:
            records.setdefault(m.topic, []).append(m)
        counts = [
            ShardCounts.model_validate_json(m.value or b"") for m in records.pop(COUNTS_TOPIC)
        ]
        done = live.simctl(
            *("record", "--topics", "marketplace.*", "-b", bs, "--from-beginning"),
            *("--idle", "3", "--out", str(tmp / "B")),
            env=env,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        broker.stop()
    done = live.simctl(
        *("generate", "--start", START, "--duration", "72h", "--domain", "marketplace"),
        *("--scale", SCALE, "--shards", str(SHARDS), "--no-external-events"),
        *("--format", "avro", "--out", str(tmp / "G")),
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return Frozen(records, counts, tmp / "B", tmp / "G", err)


@pytest.fixture(scope="module", params=["worker-and-child", "worker-only"])
def frozen(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Frozen:
    """A fleet run with one worker frozen 20 s: with its producing child, or alone."""
    mode = str(request.param)
    return _drive(tmp_path_factory.mktemp(mode), both=mode == "worker-and-child")


def test_no_event_id_is_written_twice(frozen: Frozen) -> None:
    """No event id appears twice in any topic."""
    decoder = Decoder(Project().schemas())
    ids: Counter[str] = Counter()
    for msgs in frozen.records.values():
        for m in msgs:
            ids[decoder.decode(m.value or b"")["event_id"]] += 1
    assert len(ids) > 5_000
    dupes = {i: n for i, n in ids.items() if n > 1}
    assert not dupes, f"{len(dupes)} of {len(ids)} event ids duplicated, e.g. {list(dupes)[:3]}"


def test_no_booking_has_two_outcomes(frozen: Frozen) -> None:
    """Each booking has at most one outcome."""
    decoder = Decoder(Project().schemas())
    outcomes: Counter[str] = Counter()
    for topic, msgs in frozen.records.items():
        if ".booking." in topic and topic.rsplit(".", 1)[1] in OUTCOMES:
            for m in msgs:
                outcomes[decoder.decode(m.value or b"")["booking_id"]] += 1
    assert sum(outcomes.values()) > 30
    twice = [b for b, n in outcomes.items() if n > 1]
    assert not twice, f"{len(twice)} bookings with two outcomes"


def test_each_shards_counts_tile_its_sim_time(frozen: Frozen) -> None:
    """The shards' count reports chain without a hole or an overlap: a successor counts from
    what the frozen owner's counts on sim.counts reached, not from its last heartbeat (one
    heartbeat apart at 3600x is two sim hours, the overlap seen before that)."""
    for shard in range(SHARDS):
        spans = sorted((c.since, c.until) for c in frozen.counts if c.shard == shard)
        assert spans, f"shard {shard} reported nothing"
        for (_a, b), (c, _d) in pairwise(spans):
            assert b == c, f"shard {shard}: a hole or an overlap between {b} and {c}"


def test_the_records_are_those_generate_writes(frozen: Frozen) -> None:
    """`simctl diff` of the fleet's recording against `simctl generate` of the same seed and
    range says identical (the produce-time header ignored)."""
    done = live.simctl("diff", str(frozen.recording), str(frozen.generated), "--json", timeout=180)
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: they differ
    doc = json.loads(done.stdout)
    different = {
        t: (r["count_a"], r["count_b"]) for t, r in doc["topics"].items() if not r["identical"]
    }
    assert doc["identical"] and not different, different


def test_up_finished_every_shard(frozen: Frozen) -> None:
    """`up` reached --until on every shard."""
    assert f"every shard reached --until {UNTIL[:19]}" in frozen.err, frozen.err[-3000:]
