"""The embedded broker's memory under a default `simctl up`: its RSS each minute, and how
much of it each kind of topic holds at the end.

    python bench/broker_memory.py [MINUTES]   (default 3)

Runs `simctl up` (every domain, scale 1, 60x, its own embedded broker) for MINUTES, samples
the broker's RSS every 5 s from /proc, and prints the growth per minute. The README's "MB a
minute" and the default of --broker-memory rest on this figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simfleet.broker.budget import broker_rss


def main(minutes: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        up = subprocess.Popen(
            [sys.executable, "-m", "simfleet.cli.main", "up", "--no-admin", "--no-stats"],
            env={**os.environ, "SIMCTL_STATE_DIR": str(state)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            info = state / "broker.json"
            deadline = time.monotonic() + 120
            while not info.exists() and time.monotonic() < deadline:
                time.sleep(0.2)  # polling a condition with a deadline
            pid = json.loads(info.read_text())["pid"]
            start = time.monotonic()
            samples: list[tuple[float, int]] = []
            while (elapsed := time.monotonic() - start) < minutes * 60 and up.poll() is None:
                rss = broker_rss(pid)
                if rss is not None:
                    samples.append((elapsed, rss))
                time.sleep(5)  # the sampling period
        finally:
            up.terminate()
            up.wait(120)
    mib = 2**20
    for t, rss in samples[::12]:
        print(f"{t / 60:5.1f} min  broker RSS {rss / mib:8.1f} MiB")
    (t0, r0), (t1, r1) = samples[len(samples) // 3], samples[-1]
    rate = (r1 - r0) / mib / ((t1 - t0) / 60)
    print(f"growth after the first third of the run: {rate:.1f} MiB a minute")
    print(f"at that rate, 4 GiB last {4096 / rate:.0f} minutes and 6 GiB {6144 / rate:.0f}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)
