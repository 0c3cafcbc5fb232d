"""Bad inputs that used to crash or lie: each gets one paragraph and a non-zero exit, with no
traceback and no secret in it, before anything is started."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests import live
from tests.live import offline_env

START = "2026-03-02T00:00:00Z"


def simctl(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return live.simctl(*args, env=offline_env(tmp / "state"), cwd=tmp)


def _props(tmp: Path, text: str) -> str:
    p = tmp / "client.properties"
    p.write_text(text)
    return str(p)


def _file_as_parent(tmp: Path) -> str:
    (tmp / "a-file").write_text("x")
    return str(tmp / "a-file" / "out")


CASES = {
    "negative workers": (
        lambda t: ["up", "-b", "127.0.0.1:1", "--workers", "-1"],
        2,
        "--workers",
    ),
    "more workers than shards": (
        lambda t: ["up", "-b", "127.0.0.1:1", "--workers", "9", "--shards", "8"],
        2,
        "more than --shards 8",
    ),
    "unknown librdkafka key": (
        lambda t: ["up", "--kafka-properties", _props(t, "sasl.pasword=hunter2\n")],
        2,
        "No such configuration property",
    ),
    "colon separator with a secret": (
        lambda t: ["up", "--kafka-properties", _props(t, "sasl.password hunter2\n")],
        2,
        "expected `key=value`",
    ),
    "unwritable --out": (
        lambda t: ["generate", "--start", START, "--duration", "1h", "--out", _file_as_parent(t)],
        2,
        "--out",
    ),
    "start is not an instant": (
        lambda t: ["up", "-b", "127.0.0.1:1", "--start", "yesterday"],
        2,
        "--start",
    ),
    "unknown domain": (
        lambda t: [
            *("generate", "--domain", "marketplac", "--start", START),
            *("--duration", "1h", "--out", str(t / "o")),
        ],
        2,
        "did you mean `marketplace`?",
    ),
    # what validation accepted and then crash-looped: refused at the edge
    "start past the sim calendar (up)": (
        lambda t: ["up", "-b", "127.0.0.1:1", "--start", "9999-12-31"],
        2,
        "'9999-12-31' is outside the sim calendar",
    ),
    "start past the sim calendar (generate)": (
        lambda t: ["generate", "--start", "9999-12-31", "--duration", "1h", "--out", str(t / "o")],
        2,
        "--start 9999-12-31T00:00:00Z is outside the sim calendar",
    ),
    "a run that ends past the calendar": (
        lambda t: ["generate", "--start", "2199-12-31", "--duration", "3d", "--out", str(t / "o")],
        2,
        "would end at or after 2200-01-01",
    ),
    "a scale no memory holds (generate)": (
        lambda t: [
            *("generate", "--start", START, "--duration", "1h"),
            *("--scale", "1e9", "--out", str(t / "o")),
        ],
        2,
        "for the entity pools of",
    ),
    "a scale no memory holds (up)": (
        lambda t: ["up", "-b", "127.0.0.1:1", "--scale", "1e9"],
        2,
        "Give a --scale of at most",
    ),
    "a speed no clock follows": (
        lambda t: ["up", "-b", "127.0.0.1:1", "--speed", "1e9"],
        2,
        "--speed 1e+09 is out of range",
    ),
    "up for no time": (
        lambda t: ["up", "-b", "127.0.0.1:1", "--duration", "0s"],
        2,
        "--duration must be above 0",
    ),
    "a binary properties file": (
        lambda t: ["up", "--kafka-properties", _binary(t)],
        2,
        "is not UTF-8 text",
    ),
}


def _binary(tmp: Path) -> str:
    p = tmp / "client.properties"
    p.write_bytes(bytes(range(256)) * 64)
    return str(p)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gets_one_paragraph_and_a_non_zero_exit(case: str, tmp_path: Path) -> None:
    args, code, needle = CASES[case]
    out = simctl(*args(tmp_path), tmp=tmp_path)
    assert out.returncode == code, (out.stdout, out.stderr)
    text = " ".join(out.stderr.split())
    assert needle in text, out.stderr
    assert "Traceback" not in out.stderr
    assert "hunter2" not in out.stderr
    assert not (tmp_path / "state" / "logs").exists(), "something was started"


def test_unknown_domain_lists_only_real_domains(tmp_path: Path) -> None:
    """The known domains offered are packs (marketplace), never a file like marketplace.external."""
    out = simctl(
        "generate",
        "--domain",
        "nope",
        "--start",
        START,
        "--duration",
        "1h",
        "--out",
        "o",
        tmp=tmp_path,
    )
    assert out.returncode == 2
    from simfleet.domain.pack import Project

    known = ", ".join(Project().domains())
    assert f"Known domains: {known}." in " ".join(out.stderr.split())
    assert "external" not in out.stderr


def test_an_interrupted_generate_leaves_no_partial_files_behind(tmp_path: Path) -> None:
    """A later run cleans `.partial` files an interrupted one left; an aborted one removes its
    own (FileSink.close(complete=False))."""
    from simfleet.domain.pack import Project
    from simfleet.producers.sinks import FileSink

    out = tmp_path / "out"
    out.mkdir()
    (out / "marketplace.booking.requested.jsonl.partial").write_text("half a line")
    sink = FileSink(out, "jsonl", Project().schemas(), 1)
    assert not list(out.glob("*.partial"))
    sink.write_records("marketplace.ground_truth", [{"a": 1}])
    assert list(out.glob("*.partial"))
    sink.close(complete=False)
    assert not list(out.iterdir())
