"""Replay pacing over a recorded hour: `simctl replay --speed 10` of an hour of timestamps
(ten records a second, seven keys) takes six wall minutes, within 10 %.

    python bench/replay_pace.py [--speed 10]

It writes the recording itself, starts an embedded broker, runs the CLI and prints the wall
time beside the target and their ratio (6 minutes at the default speed).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from simfleet.broker.embedded import EmbeddedBroker
from simfleet.recording import Message, RecordingWriter

HOUR_MS = 3_600_000
BASE = 1_772_409_600_000  # 2026-03-02T00:00:00Z


def main() -> int:
    """Record, replay, print the figure; non-zero beyond 10 %."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=10.0)
    args = parser.parse_args()
    topic = f"pace-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="simfleet-pace-") as tmp:
        rec = Path(tmp) / "rec"
        w = RecordingWriter(rec)
        n = HOUR_MS // 100 + 1  # one record every 100 ms of timestamp, an hour in all
        for i in range(n):
            w.write(Message(topic, 0, i, BASE + 100 * i, 1, f"k{i % 7}".encode(), b"v%d" % i))
        w.partition_counts[topic] = 1
        w.close({})
        broker = EmbeddedBroker()
        bs = broker.start(log_path=Path(tmp) / "broker.log")
        try:
            out = subprocess.run(
                [
                    *(sys.executable, "-m", "simfleet.cli.main", "replay", str(rec), "-b", bs),
                    *("--speed", f"{args.speed:g}"),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            broker.stop()
    found = re.search(rf"replayed {n} records in ([0-9.]+) s", out.stdout + out.stderr)
    if out.returncode != 0 or found is None:
        print(out.stdout[-2000:], out.stderr[-2000:])
        return 2
    took = float(found.group(1))
    target = HOUR_MS / 1000 / args.speed
    ratio = took / target
    ok = 0.9 <= ratio <= 1.1
    print(
        f"replay_pace: an hour of timestamps ({n:,} records) at --speed {args.speed:g} took "
        f"{took:.1f} s; target {target:.0f} s; ratio {ratio:.3f} -> {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
