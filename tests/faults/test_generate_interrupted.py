"""`simctl generate` stopped half-way (a full disk, Ctrl-C): one paragraph, a non-zero exit,
and no partial file left behind (no file holds a part of the run)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.live import patience

START = "2026-03-02T00:00:00Z"


def _generate(out: Path, duration: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "simfleet.cli.main", "generate", "--domain", "clickstream"),
            *("--start", START, "--duration", duration, "--out", str(out), "--scale", "0.5"),
        ],
        env={k: v for k, v in os.environ.items() if k != "SIMCTL_BOOTSTRAP_SERVERS"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,  # type: ignore[call-overload]
    )


def _small_files() -> None:
    # what a full disk looks like to a writer: a write fails with an OSError. A file-size limit
    # makes one without privileges (EFBIG instead of ENOSPC; the same code path). Large enough
    # that the first sim hour is written (clickstream's midnight UTC is the Americas' evening:
    # about 13 MB an hour at scale 0.5), so the run knows how far it got
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (24 * 2**20, 24 * 2**20))


def test_a_full_disk_removes_the_partial_files_and_says_what_was_needed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _generate(out, "2d", preexec_fn=_small_files)
    _, err = proc.communicate(timeout=patience(600))
    assert proc.returncode == 6, err
    assert "Traceback" not in err
    assert err.startswith("error: Writing to --out") and err.count("\n") == 1, err
    assert "File too large" in err and "it needs about" in err and "MiB in all" in err
    assert "Nothing was kept" in err
    assert list(out.iterdir()) == [], sorted(p.name for p in out.iterdir())


def test_ctrl_c_says_what_was_kept_and_leaves_no_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _generate(out, "30d")
    try:
        deadline = time.monotonic() + patience(300)
        while not list(out.glob("*.partial")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)  # polling a condition with a deadline
        assert list(out.glob("*.partial")), "generate never started writing"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=patience(120))
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted at sim 2026-03-" in err and "nothing was kept" in err, err
    assert list(out.iterdir()) == []
