"""Run a command beside a CPU hog: one busy process per core, for the command's whole life.

    python tests/load.py -- make test

`make test-loaded` uses it to run the suite as a busy CI machine would (the live tiers'
deadlines stretch by SIMFLEET_TEST_SLOWDOWN, see tests/live.py). The hog's processes are
stopped when the command ends, whatever its outcome; the command's exit code is returned.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys


def _spin() -> None:
    x = 0
    while True:  # busy by design: it stands for the other jobs of a shared machine
        x = (x * 31 + 7) % 1_000_003


def main(argv: list[str]) -> int:
    """Start the hog, run ``argv`` (after ``--``), stop the hog; the command's exit code."""
    command = argv[argv.index("--") + 1 :] if "--" in argv else argv
    if not command:
        print("usage: python tests/load.py -- COMMAND ...", file=sys.stderr)
        return 2
    hogs = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(os.cpu_count() or 1)]
    for h in hogs:
        h.start()
    try:
        return subprocess.call(command)
    finally:
        for h in hogs:
            h.terminate()
        for h in hogs:
            h.join(10)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
