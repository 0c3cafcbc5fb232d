"""Exactly-once shard handoff and fleet determinism, through two fleet runs side by side.

Run B: `simctl up` with one worker, a second started by hand, SIGKILLed mid-run, then a third
that joins. An outside reader (read_committed, until idle) then finds every record once, every
old request resolved, and each shard's sim time covered without a hole; the membership
changes moved only the shards that had to move.

Run A: the same flags and the same command at the same sim instant, one worker, no fault. Both
stop at `--until`; `simctl diff` of their recordings says identical, and so does a diff of B's
recording against `simctl generate` of the same seed, range and scenario."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
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
from simfleet.timeutil import parse_instant_ms
from tests import live
from tests.live import spawn, state_env, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = "2026-03-03T00:00:00Z"
UNTIL = "2026-03-06T00:00:00Z"  # 72 sim hours: 72 wall seconds at 3600x
SCENARIO_AT = "2026-03-03T20:00:00Z"  # late enough for a busy machine to send it in time
H = 3_600_000
SHARDS = 4
OUTCOMES = ("confirmed", "declined", "expired")


@dataclass
class Run:
    """What the fleet wrote and what happened to its membership."""

    records: dict[str, list[Message]]
    counts: list[ShardCounts]
    takeover_s: float
    before_join: dict[str, set[int]]
    after_join: dict[str, set[int]]
    log_after_join: str  # worker-0's log from the join on
    log_survivor: str  # worker-0's whole log
    recordings: dict[str, Path]  # A, B and G (the generate folder)


def simctl(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    """Run simctl; its stdout; a failure fails the test with its stderr."""
    done = live.simctl(*args, env=env, timeout=timeout)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


def fleet(bs: str, env: dict[str, str], workers: int) -> subprocess.Popen[str]:
    """`simctl up` on ``bs`` until UNTIL (both runs take exactly these flags but --workers)."""
    return spawn(
        *("up", "-b", bs, "--speed", "3600"),
        *("--scale", "0.02", "--shards", str(SHARDS), "--workers", str(workers)),
        *("--start", START, "--until", UNTIL, "--no-stats", "--no-external-events"),
        *("--no-admin", "--domain", "marketplace"),
        env=env,
    )


def start_scenario(bs: str, env: dict[str, str]) -> None:
    """Wait for the run's control state, then the same command at the same sim instant."""
    kafka = KafkaSettings(bootstrap_servers=bs)
    wait_for("a control state", lambda: read_latest_state(kafka, 1.0) is not None, 60)
    simctl("scenario", "start", "supply-crisis", "--at", SCENARIO_AT, "-b", bs, env=env)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Run B (the faults) and run A (none) side by side, each on its own broker; then each
    recorded, and the same range generated to files."""
    tmp = tmp_path_factory.mktemp("handoff")
    brokers = [EmbeddedBroker(), EmbeddedBroker()]
    bs_b = brokers[0].start(log_path=tmp / "tansu-b.log")
    bs_a = brokers[1].start(log_path=tmp / "tansu-a.log")
    env_a = state_env(tmp / "state-a")
    try:
        up_a = fleet(bs_a, env_a, 1)
        try:
            start_scenario(bs_a, env_a)
            result = _drive(tmp, bs_b)
        finally:
            _, err_a = up_a.communicate(timeout=180)
        assert up_a.returncode == 0 and f"every shard reached --until {UNTIL[:19]}" in err_a, err_a
        for name, bs in (("A", bs_a), ("B", bs_b)):
            simctl(
                *("record", "--topics", "marketplace.*", "-b", bs, "--from-beginning"),
                *("--idle", "3", "--out", str(tmp / name)),
                env=env_a,
            )
    finally:
        for b in brokers:
            b.stop()  # whatever failed
    simctl(
        *("generate", "--start", START, "--duration", "72h", "--domain", "marketplace"),
        *("--scale", "0.02", "--shards", str(SHARDS), "--no-external-events"),
        *("--scenario", "supply-crisis", "--scenario-at", SCENARIO_AT, "--format", "avro"),
        *("--out", str(tmp / "G")),
        env=env_a,
    )
    result.recordings = {n: tmp / n for n in "ABG"}
    return result


def _drive(tmp: Path, bs: str) -> Run:
    """The fleet run and the read back, on the broker at ``bs``."""
    kafka = KafkaSettings(bootstrap_servers=bs)
    env = state_env(tmp / "state")
    up = fleet(bs, env, 1)

    def worker(name: str) -> subprocess.Popen[bytes]:
        with (tmp / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
            return subprocess.Popen(
                [
                    *(sys.executable, "-m", "simfleet.cli.main", "worker", "run", "-b", bs),
                    *("--worker-id", name),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    watcher = FleetWatcher(kafka)
    extra: list[subprocess.Popen[bytes]] = []

    def owned() -> dict[str, set[int]]:
        watcher.poll(0.3)
        return {w: set(hb.shards) for w, hb in watcher.workers.items() if not hb.stopping}

    try:
        start_scenario(bs, env)
        victim = worker("victim")
        extra.append(victim)
        wait_for(
            "both workers owning shards",
            lambda: bool(owned().get("worker-0")) and bool(owned().get("victim")),
            60,
        )
        time.sleep(6)  # the run itself: both workers produce for a while
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        takeover_s = wait_for(
            "worker-0 owning every shard", lambda: owned().get("worker-0") == set(range(SHARDS))
        )
        time.sleep(4)  # the run itself: the survivor alone
        before = owned()
        log0 = tmp / "state" / "logs" / "worker-0.log"
        mark = log0.stat().st_size
        extra.append(worker("joiner"))
        wait_for("the joiner owning shards", lambda: bool(owned().get("joiner")), 60)

        def settled() -> bool:
            o = owned()  # the victim's last beat still lists its shards: ignore it
            first, joiner = o.get("worker-0", set()), o.get("joiner", set())
            return first | joiner == set(range(SHARDS)) and not first & joiner

        wait_for("the shards settled", settled)
        after = owned()
        time.sleep(6)  # the run itself: after the join
    finally:
        watcher.close()
        try:
            _, err = up.communicate(timeout=180)  # it stops by itself at --until
        finally:
            for p in extra:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in extra:
                p.wait(60)
    assert up.returncode == 0 and f"every shard reached --until {UNTIL[:19]}" in err, err
    project = Project()
    topics = {
        t: s.partitions
        for t, s in (
            (project.spec("marketplace").topic(n), s)
            for n, s in project.spec("marketplace").streams.items()
        )
    }
    records: dict[str, list[Message]] = {}
    consumer = consumer_for(kafka)  # read_committed
    try:
        got: list[Message] = []
        capture(consumer, {**topics, COUNTS_TOPIC: 1}, BEGINNING, StopRule(idle_s=3.0), got.append)
    finally:
        consumer.close()
    for m in got:
        records.setdefault(m.topic, []).append(m)
    counts = [ShardCounts.model_validate_json(m.value or b"") for m in records.pop(COUNTS_TOPIC)]
    with log0.open("rb") as fh:
        whole = fh.read().decode(errors="replace")
    return Run(records, counts, takeover_s, before, after, whole[mark:], whole, {})


def test_no_record_is_written_twice(run: Run) -> None:
    """Across the kill and the join, no event id appears twice in any topic."""
    decoder = Decoder(Project().schemas())
    ids: Counter[str] = Counter()
    for msgs in run.records.values():
        for m in msgs:
            ids[decoder.decode(m.value or b"")["event_id"]] += 1
    assert len(ids) > 5_000
    dupes = {i: n for i, n in ids.items() if n > 1}
    assert not dupes, f"{len(dupes)} duplicated event ids, e.g. {list(dupes)[:5]}"


def test_every_old_request_has_its_outcome(run: Run) -> None:
    """A booking requested more than 24 sim-hours before the end has exactly one outcome:
    the follow-ups pending in the killed worker were not lost."""
    decoder = Decoder(Project().schemas())
    requested: dict[str, int] = {}
    outcomes: Counter[str] = Counter()
    end = 0
    for topic, msgs in run.records.items():
        for m in msgs:
            end = max(end, m.timestamp)
            if topic == "marketplace.booking.requested":
                requested[decoder.decode(m.value or b"")["booking_id"]] = m.timestamp
            elif topic.rsplit(".", 1)[1] in OUTCOMES and ".booking." in topic:
                outcomes[decoder.decode(m.value or b"")["booking_id"]] += 1
    old = [b for b, at in requested.items() if at < end - 24 * H]
    assert len(old) > 30
    assert [b for b in old if outcomes[b] != 1] == []
    assert set(outcomes) <= set(requested)  # no outcome without its request


def test_each_shards_sim_time_is_covered_without_a_hole(run: Run) -> None:
    """The shards' count reports (each one [since, until) of sim time) chain without a gap or
    an overlap from the shard's first tick to past the join, whoever wrote them."""
    start = parse_instant_ms(START)
    for shard in range(SHARDS):
        spans = sorted((c.since, c.until) for c in run.counts if c.shard == shard)
        assert spans, f"shard {shard} reported nothing"
        for (_a, b), (c, _d) in pairwise(spans):
            assert b == c, f"shard {shard}: a hole or an overlap between {b} and {c}"
        # from the shard's first owner's "now" (the fleet took a while to start) to the end
        assert start <= spans[0][0] and spans[-1][1] - spans[0][0] > 12 * H


def test_the_survivor_dropped_what_the_dead_worker_had_already_written(run: Run) -> None:
    """The kill came after the victim's last checkpoint: the survivor regenerated records the
    victim had written, found them on the broker and did not write them again (without
    this, the test above would not be testing the handoff)."""
    found = [
        int(n) for n in re.findall(r"shard_caught_up.*?already_written=(\d+)", run.log_survivor)
    ]
    assert found and max(found) > 0, found


def test_a_dead_workers_shards_are_owned_again_within_15_s(run: Run) -> None:
    """The survivor took every shard of the killed worker within 15 s of the kill."""
    assert run.takeover_s < 15


def test_a_join_moves_only_the_shards_given_to_the_new_worker(run: Run) -> None:
    """Before the join worker-0 owned every shard; after it, the joiner's shards are exactly
    those worker-0 gave up, and worker-0's log revoked no other shard."""
    assert run.before_join["worker-0"] == set(range(SHARDS))
    moved = run.after_join["joiner"]
    assert moved and run.after_join["worker-0"] == set(range(SHARDS)) - moved
    revoked = [int(s) for s in re.findall(r"shard_revoked\s+shard=(\d+)", run.log_after_join)]
    assert sorted(revoked) == sorted(moved), revoked


@pytest.mark.parametrize("pair", ["AB", "BG"])
def test_runs_with_the_same_seed_and_commands_are_identical(run: Run, pair: str) -> None:
    """`simctl diff` says identical: the run with a kill and a join against the one without
    (AB), and against `simctl generate` of the same seed, range and scenario (BG); the
    produce-time header, the one wall-clock field, is ignored."""
    a, b = (run.recordings[n] for n in pair)
    done = live.simctl("diff", str(a), str(b), "--json", timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(done.stdout)
    different = {
        t: (r["count_a"], r["count_b"]) for t, r in doc["topics"].items() if not r["identical"]
    }
    assert doc["identical"] and not different, different
    assert sum(r["count_a"] for r in doc["topics"].values()) > 5_000
