"""`simctl tail` reads back what the pipeline produced, as JSON lines, on the embedded broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from producers.backfill import backfill
from simfleet.codec import encoders_for
from simfleet.domain.pack import Project, load_domain
from simfleet.kafka import AccountedProducer, TopicSpec, ensure_topics
from simfleet.settings import KafkaSettings
from simfleet.timeutil import parse_instant_ms

pytestmark = pytest.mark.integration


def test_tail_prints_decoded_events_as_json_lines(bootstrap: str, tmp_path: object) -> None:
    """Produce an hour of bookings, then `simctl tail --from-beginning --max 5`: 5 JSON lines."""
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    domain = load_domain("marketplace")
    topic = "marketplace.booking.requested"
    ensure_topics(settings, [TopicSpec(topic, 3)])
    producer = AccountedProducer(settings, encoders_for(Project().schemas(), None))
    start = parse_instant_ms("2026-03-03T12:00:00Z")
    sent = []
    for batches in backfill(domain, start, start + 3_600_000, seed=3, shards=1):
        for b in batches:
            if b.topic == topic:
                producer.send_batch(b)
                sent.extend(r["booking_id"] for r in b.to_records())
    producer.flush(30)
    assert len(sent) >= 5
    env = {**os.environ, "SIMCTL_STATE_DIR": str(tmp_path)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "simctl.main",
            "tail",
            topic,
            "--from-beginning",
            "--max",
            "5",
            "--bootstrap-servers",
            bootstrap,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 5
    for line in lines:
        rec = json.loads(line)
        assert rec["booking_id"] in sent
        assert rec["student_id"].startswith("stu-")
