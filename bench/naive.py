"""The naive approach of the seeds, as a baseline: one Faker-filled dict per event, JSON, produce.

Each event costs Faker calls (uuid4, name, email), ``random`` choices, a ``dict`` and
``json.dumps``; records go through a plain confluent-kafka producer with simfleet's producer
configuration, and every delivery report is counted. The events resemble marketplace booking
requests. Time is not read: event times step from a given start.

Run alone: ``.venv/bin/python bench/naive.py --bootstrap 127.0.0.1:9092 --count 50000``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import KafkaError, Producer
from faker import Faker

from simfleet.kafka import PRODUCER_DEFAULTS, TopicSpec, ensure_topics
from simfleet.settings import KafkaSettings

__all__ = ["NAIVE_TOPIC", "NaiveResult", "run_naive"]

NAIVE_TOPIC = "bench.naive.booking_requested"
SUBJECTS = ("math", "physics", "chemistry", "biology", "english", "history", "economics")
SUBJECT_WEIGHTS = (0.28, 0.12, 0.1, 0.08, 0.16, 0.06, 0.08)
GRADES = ("middle_school", "high_school", "undergraduate", "adult")


@dataclass(frozen=True)
class NaiveResult:
    """What one naive run produced and how long it took (generation to last delivery)."""

    events: int
    delivered: int
    failed: int
    value_bytes: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        """Delivered events per wall second."""
        return self.events / self.seconds

    @property
    def mb_per_s(self) -> float:
        """Value payload (JSON bytes) per wall second, in MB (1e6 bytes)."""
        return self.value_bytes / self.seconds / 1e6


class _Delivery:
    """Counts delivery reports, as the seeds should have done."""

    def __init__(self) -> None:
        self.delivered = 0
        self.failed = 0

    def __call__(self, err: KafkaError | None, _msg: Any) -> None:
        if err is None:
            self.delivered += 1
        else:
            self.failed += 1


def _event(fake: Faker, rnd: random.Random, at: datetime) -> dict[str, Any]:
    """One booking request the way the seeds build events: Faker calls into a fresh dict."""
    return {
        "event_id": fake.uuid4(),
        "occurred_at": at.isoformat(),
        "booking_id": f"bkg_{fake.uuid4()[:12]}",
        "student": {
            "student_id": f"stu_{rnd.randint(0, 80_000):06d}",
            "name": fake.name(),
            "email": fake.email(),
            "grade": rnd.choice(GRADES),
        },
        "tutor_id": f"tut_{rnd.randint(0, 16_000):05d}",
        "subject": rnd.choices(SUBJECTS, weights=SUBJECT_WEIGHTS)[0],
        "price": round(min(300.0, max(10.0, rnd.lognormvariate(3.6, 0.35))), 2),
        "currency": "USD",
    }


def run_naive(
    settings: KafkaSettings,
    count: int,
    seed: int,
    start: datetime,
    topic: str = NAIVE_TOPIC,
    partitions: int = 3,
    flush_timeout: float = 120.0,
) -> NaiveResult:
    """Generate, serialise and produce ``count`` events one by one; all must be delivered."""
    ensure_topics(settings, [TopicSpec(topic, partitions)])
    producer = Producer({**PRODUCER_DEFAULTS, **settings.client_config("producer")})
    fake = Faker()
    fake.seed_instance(seed)
    rnd = random.Random(seed)
    step = timedelta(milliseconds=50)
    report = _Delivery()
    value_bytes = 0
    t0 = time.perf_counter()
    for i in range(count):
        event = _event(fake, rnd, start + i * step)
        value = json.dumps(event).encode()
        value_bytes += len(value)
        key = event["student"]["student_id"].encode()
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(flush_timeout)
    seconds = time.perf_counter() - t0
    if remaining or report.failed or report.delivered != count:
        raise RuntimeError(
            f"naive run: {report.delivered} of {count} delivered, {report.failed} failed, "
            f"{remaining} still in flight after {flush_timeout} s"
        )
    return NaiveResult(count, report.delivered, report.failed, value_bytes, seconds)


def main() -> None:
    """Run the naive baseline alone against a given broker."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="HOST:PORT of a Kafka broker")
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    res = run_naive(
        KafkaSettings(bootstrap_servers=args.bootstrap),
        args.count,
        args.seed,
        datetime(2026, 3, 2, tzinfo=UTC),
    )
    print(f"naive: {res.events_per_s:,.0f} events/s, {res.mb_per_s:.2f} MB/s")


if __name__ == "__main__":
    main()
