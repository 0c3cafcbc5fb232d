"""A reference fraud detector: velocity rules over payment attempts, decisions to a topic.

It reads `ticketing.payment.attempted` as any consumer would (confluent-kafka, read_committed),
counts each device's and each IP address's attempts over a sliding window of sim time, and
writes one JSON decision per attempt: {"transaction_id", "event_id", "score", "decision"}.
Card testing and bot scalping run many attempts through a few devices, so they stand out; a
lone fraudster with one card does not, which is what a velocity rule misses in real life too.

    python examples/velocity_detector.py -b 127.0.0.1:9092 --decisions fraud.decisions
    simctl score --decisions fraud.decisions --domain ticketing

Values are decoded with simfleet's decoder (Avro single-object encoding by default; with a
schema registry, confluent-kafka's AvroDeserializer does the same).
"""

from __future__ import annotations

import argparse
import json
import signal
import time
from collections import defaultdict, deque
from datetime import datetime
from types import FrameType

from confluent_kafka import Consumer, Producer

from simfleet.codec import Decoder
from simfleet.domain.pack import Project
from simfleet.errors import SchemaError

SOURCE = "ticketing.payment.attempted"


class Velocity:
    """Attempts per value (a device, an IP) within the last ``window_ms`` of sim time."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.seen: dict[str, deque[int]] = defaultdict(deque)

    def add(self, value: str, at: int) -> int:
        q = self.seen[value]
        q.append(at)
        while q and q[0] <= at - self.window_ms:
            q.popleft()
        return len(q)


def decide(devices: int, ips: int) -> tuple[float, str]:
    """The rule: 5 attempts from one device or 8 from one IP within the window look automated."""
    score = min(1.0, max(devices / 5, ips / 8))
    if score >= 0.8:
        return score, "block"
    return score, "review" if score >= 0.6 else "allow"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-b", "--bootstrap-servers", default="127.0.0.1:9092")
    ap.add_argument("--decisions", default="fraud.decisions", help="topic to write decisions to")
    ap.add_argument("--window-minutes", type=float, default=10.0, help="sim minutes")
    ap.add_argument(
        "--idle", type=float, default=None, help="stop this many seconds after the last attempt"
    )
    args = ap.parse_args()

    stop = False

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    decoder = Decoder(Project().schemas())
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap_servers,
            "group.id": "velocity-detector",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    producer = Producer({"bootstrap.servers": args.bootstrap_servers, "linger.ms": 5})
    consumer.subscribe([SOURCE])
    window = int(args.window_minutes * 60_000)
    by_device, by_ip = Velocity(window), Velocity(window)
    decided = 0
    last: float | None = None  # idle counts from the first attempt seen
    try:
        while not stop:
            msgs = consumer.consume(500, 0.1)
            idle = last is not None and time.monotonic() - last > (args.idle or float("inf"))
            if not msgs and idle:
                break
            for m in msgs:
                if m.error() is not None:
                    continue
                last = time.monotonic()
                try:
                    rec = decoder.decode(m.value() or b"")
                except SchemaError:
                    continue  # a corrupt record (chaos) gets no decision
                at = rec["occurred_at"]
                at_ms = int(at.timestamp() * 1000) if isinstance(at, datetime) else int(at)
                score, decision = decide(
                    by_device.add(str(rec["device_id"]), at_ms),
                    by_ip.add(str(rec["ip_address"]), at_ms),
                )
                out = {
                    "transaction_id": rec["transaction_id"],
                    "event_id": rec["event_id"],
                    "score": round(score, 4),
                    "decision": decision,
                }
                producer.produce(
                    args.decisions, json.dumps(out).encode(), str(rec["transaction_id"]).encode()
                )
                producer.poll(0)
                decided += 1
    finally:
        producer.flush(30)
        consumer.close()
    print(f"velocity-detector: {decided} decisions written to {args.decisions}")


if __name__ == "__main__":
    main()
