"""A broker that hangs (SIGSTOP) under `simctl up`, for 10 s and then for 60 s, one fleet for
both (a module fixture): the fleet rides it out. It says the broker is unreachable and back,
keeps its children, delivers everything it produced (read back by an outside reader,
read_committed, until idle) and prints its summary.

Both pauses outlast the consumer group's session: every worker loses its shards and gets
some back, each resumed from its newest checkpoint on ``sim.shard_state``
(``simfleet.producers.handoff``), by the worker that held it or by the other. The second test
checks what was written: each shard's reports on ``sim.counts`` tile its sim time, and no
``event_id`` occurs twice."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

import pytest

from simfleet.broker.embedded import EmbeddedBroker
from simfleet.codec import Decoder
from simfleet.control import COUNTS_TOPIC, ShardCounts
from simfleet.control_io import FleetWatcher, read_latest_state
from simfleet.domain.pack import Project
from simfleet.settings import KafkaSettings
from simfleet.topology import domain_topics, external_topic, metrics_topic, truth_topic
from tests.live import patience, read_until_idle, spawn, state_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = "2026-03-03T00:00:00Z"
SHARDS = 4


def read_committed(bootstrap: str, topics: list[str]) -> dict[str, list[bytes]]:
    """Every committed value of ``topics``, reading until nothing new came for a while."""
    out: dict[str, list[bytes]] = {t: [] for t in topics}
    for m in read_until_idle(bootstrap, topics, **{"isolation.level": "read_committed"}):
        out[m.topic()].append(m.value())
    return out


def holes(reports: list[ShardCounts]) -> dict[int, list[tuple[int, int]]]:
    """Per shard, every gap (or overlap: end before start) between successive reports."""
    out: dict[int, list[tuple[int, int]]] = {}
    for shard in range(SHARDS):
        mine = sorted((r.since, r.until) for r in reports if r.shard == shard)
        out[shard] = [(a[1], b[0]) for a, b in pairwise(mine) if a[1] != b[0]]
    return out


@dataclass
class Run:
    """What the paused fleet said and wrote."""

    returncode: int
    err: str
    delivered: int
    worker_records: int  # read back: streams, and the truth records workers write (chaos)
    ids_twice: int
    holes: dict[int, list[tuple[int, int]]]


@pytest.fixture(scope="module")
def paused(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """One fleet, two pauses (10 s, then 60 s), then what an outside reader finds."""
    tmp_path = tmp_path_factory.mktemp("pause")
    broker = EmbeddedBroker()
    bs = broker.start(log_path=tmp_path / "tansu.log")
    kafka = KafkaSettings(bootstrap_servers=bs)
    up = spawn(
        *("up", "-b", bs, "--speed", "600"),
        *("--scale", "0.02", "--shards", str(SHARDS), "--workers", "2", "--start", START),
        *("--domain", "marketplace", "--no-admin"),
        *("--no-stats", "--no-external-events", "--duration", "6m"),
        env=state_env(tmp_path / "state"),
    )
    watcher = FleetWatcher(kafka)

    def alive() -> bool:
        if up.poll() is not None:
            raise AssertionError(f"simctl up exited {up.returncode}: {up.communicate()[1]}")
        return True

    def pause_and_recover(seconds: float) -> None:
        time.sleep(3.0)  # a few seconds of normal production before the fault
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)  # the fault itself: the broker hangs this long
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        # recovered: both workers beat again, with every shard owned
        deadline = time.monotonic() + patience(60)
        resumed = time.time() * 1000
        while True:
            watcher.poll(0.5)
            fresh = [hb for hb in watcher.workers.values() if hb.wall_ms > resumed + 3000]
            if len(fresh) == 2 and sorted(s for hb in fresh for s in hb.shards) == [0, 1, 2, 3]:
                break
            assert time.monotonic() < deadline and alive(), f"no recovery after {seconds} s"

    try:
        try:
            deadline = time.monotonic() + patience(60)
            while read_latest_state(kafka, 1.0) is None:
                assert time.monotonic() < deadline and alive()
            while len({hb.shards for hb in watcher.workers.values() if hb.shards}) < 2:
                assert time.monotonic() < deadline and alive(), "shards never split"
                watcher.poll(0.5)
            pause_and_recover(10.0)
            pause_and_recover(60.0)
            time.sleep(3.0)  # and a few seconds of production after the last one
        finally:
            watcher.close()
            up.send_signal(signal.SIGINT)
            _, err = up.communicate(timeout=patience(120))
        summary = re.search(r"stopped: produced ([\d,]+), delivered ([\d,]+), failed", err)
        delivered = int(summary.group(2).replace(",", "")) if summary else -1
        project = Project()
        truth = truth_topic("marketplace")
        streams = [
            t.name
            for t in domain_topics(project, "marketplace")
            if t.name not in (external_topic("marketplace"), metrics_topic("marketplace"), truth)
        ]
        got = read_committed(bs, [*streams, truth, COUNTS_TOPIC])
        decoder = Decoder(project.schemas())
        ids = Counter(decoder.decode(v)["event_id"] for t in streams for v in got[t])
        # the orchestrator writes scenario truth too; the workers' own is chaos truth
        chaos_truth = sum(decoder.decode(v)["kind"] == "chaos" for v in got[truth])
        yield Run(
            returncode=up.returncode,
            err=err,
            delivered=delivered,
            worker_records=sum(len(got[t]) for t in streams) + chaos_truth,
            ids_twice=sum(1 for n in ids.values() if n > 1),
            holes=holes([ShardCounts.model_validate_json(v) for v in got[COUNTS_TOPIC]]),
        )
    finally:
        broker.stop()


@pytest.mark.timeout(420)
def test_the_fleet_rides_out_a_10_s_and_a_60_s_broker_pause(paused: Run) -> None:
    """It keeps running, says the broker was away and is back, and everything it produced is
    delivered and read back: nothing failed, nothing lost, the summary printed at the end."""
    err = paused.err
    assert paused.returncode == 0, err
    summary = re.search(r"stopped: produced ([\d,]+), delivered ([\d,]+), failed (\d+)", err)
    assert summary is not None, err
    assert summary.group(1) == summary.group(2) and summary.group(3) == "0", err
    assert "lost" not in err
    assert err.count("broker unreachable since") >= 2, err
    assert err.count("broker reachable again") >= 2, err
    assert paused.worker_records == paused.delivered > 0


@pytest.mark.timeout(420)
def test_across_the_pauses_no_record_is_written_twice_and_no_shard_time_is_skipped(
    paused: Run,
) -> None:
    """Each shard's reports on sim.counts tile its sim time; no event_id occurs twice."""
    assert (paused.ids_twice, paused.holes) == (0, {s: [] for s in range(SHARDS)})
