"""A broker that hangs (SIGSTOP for 10 s) under `simctl up`: the fleet rides it out. It says
the broker is unreachable, keeps its children (or restarts them), delivers everything it
produced, and prints its summary.

Not pinned yet: that no record is written twice and no shard's sim time has a hole. After a
pause longer than the group session the shards are dealt anew, and a shard that lands on the
other worker restarts from the seed at "now"; shard checkpoints will remove that."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from simfleet.broker.embedded import EmbeddedBroker
from simfleet.control_io import FleetWatcher, read_latest_state
from simfleet.settings import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = "2026-03-03T00:00:00Z"
PAUSE_S = 10.0


def read_all(bootstrap: str, topic: str) -> list[bytes]:
    """Every value of a topic, to the consumer's own end of each partition."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"pause-{uuid.uuid4().hex}",
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in md.partitions])
        out: list[bytes] = []
        ended: set[int] = set()
        deadline = time.monotonic() + 60
        while len(ended) < len(md.partitions) and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error() is not None:
                if m.error().code() == KafkaError._PARTITION_EOF:
                    ended.add(m.partition())
                continue
            out.append(m.value())
        return out
    finally:
        c.close()


def test_the_fleet_survives_a_ten_second_broker_pause(tmp_path: Path) -> None:
    broker = EmbeddedBroker()
    bs = broker.start(log_path=tmp_path / "tansu.log")
    kafka = KafkaSettings(bootstrap_servers=bs)
    up = subprocess.Popen(
        [
            *(sys.executable, "-m", "simctl.main", "up", "-b", bs, "--speed", "600"),
            *("--scale", "0.02", "--shards", "4", "--workers", "2", "--start", START),
            *("--no-stats", "--no-external-events", "--duration", "4m"),
        ],
        env={**os.environ, "SIMCTL_STATE_DIR": str(tmp_path / "state")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watcher = FleetWatcher(kafka)

    def alive() -> bool:
        if up.poll() is not None:
            raise AssertionError(f"simctl up exited {up.returncode}: {up.communicate()[1]}")
        return True

    try:
        deadline = time.monotonic() + 60
        while read_latest_state(kafka, 1.0) is None:
            assert time.monotonic() < deadline and alive()
        while len({hb.shards for hb in watcher.workers.values() if hb.shards}) < 2:
            assert time.monotonic() < deadline and alive(), "shards never split"
            watcher.poll(0.5)
        time.sleep(3.0)  # a few seconds of normal production before the fault
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGSTOP)
        try:
            time.sleep(PAUSE_S)  # the fault itself: the broker hangs this long
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        # recovered: both workers beat again, with every shard owned
        deadline = time.monotonic() + 60
        resumed = time.time() * 1000
        while True:
            watcher.poll(0.5)
            fresh = [hb for hb in watcher.workers.values() if hb.wall_ms > resumed + 3000]
            if len(fresh) == 2 and sorted(s for hb in fresh for s in hb.shards) == [0, 1, 2, 3]:
                break
            assert time.monotonic() < deadline and alive(), "no recovery"
        time.sleep(3.0)  # and a few seconds of production after it
    finally:
        watcher.close()
        up.send_signal(signal.SIGINT)
        _, err = up.communicate(timeout=120)
    try:
        assert up.returncode == 0, err
        assert "failed 0" in err and "lost" not in err
        assert "broker unreachable since" in err
        assert "broker reachable again" in err
        searches = read_all(bs, "marketplace.customer.search")
        assert searches, "nothing was produced"
    finally:
        broker.stop()
