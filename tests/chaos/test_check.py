"""`simctl check` on a generate folder, on live topics and on a recording: one assertion of
each kind passing and failing, the JUnit XML read back by a parser, the exit codes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simfleet.broker.embedded import EmbeddedBroker
from simfleet.cli.main import app

HERE = Path(__file__).parent
KINDS = {"count", "sequence", "absence", "ratio", "latency", "custom"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("checked")
    args = ["generate", "--domain", "marketplace", "--start", "2026-03-02T00:00:00Z"]
    args += ["--duration", "8h", "--out", str(out), "--seed", "3", "--shards", "2"]
    args += ["--no-external-events", "--scenario", str(HERE / "checked-pass.yaml")]
    args += ["--scenario-at", "2026-03-02T00:00:00Z"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def _junit(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    suites = root.findall("testsuite")
    assert len(suites) == 1
    cases = {c.get("classname", "").rsplit(".", 1)[1]: c for c in suites[0].iter("testcase")}
    assert set(cases) == KINDS
    assert suites[0].get("tests") == "6"
    return cases


def test_all_kinds_pass(folder: Path, tmp_path: Path) -> None:
    xml = tmp_path / "pass.xml"
    args = ["check", str(HERE / "checked-pass.yaml"), "--data", str(folder)]
    result = CliRunner().invoke(app, [*args, "--junit-xml", str(xml)])
    assert result.exit_code == 0, result.output
    cases = _junit(xml)
    assert all(c.find("failure") is None for c in cases.values())
    assert "actual" in (cases["count"].findtext("system-out") or "")


def test_all_kinds_fail(folder: Path, tmp_path: Path) -> None:
    xml = tmp_path / "fail.xml"
    args = ["check", str(HERE / "checked-fail.yaml"), "--data", str(folder)]
    result = CliRunner().invoke(app, [*args, "--junit-xml", str(xml)])
    assert result.exit_code == 1, result.output
    cases = _junit(xml)
    failures = {k: c.find("failure") for k, c in cases.items()}
    assert all(f is not None for f in failures.values()), failures
    count = failures["count"]
    assert count is not None and "expected = 3" in count.get("message", "")
    assert ET.parse(xml).getroot().find("testsuite").get("failures") == "6"  # type: ignore[union-attr]
    assert "6 of 6 assertion(s) failed" in result.output


def test_an_unimportable_custom_check_is_a_config_error(folder: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (HERE / "checked-pass.yaml")
        .read_text()
        .replace("custom_checks:every_request_has_a_student", "custom_checks:nope"),
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["check", str(bad), "--data", str(folder)])
    assert result.exit_code != 0
    assert "custom_checks:nope" in str(result.exception)


def _actuals(xml: Path) -> dict[str, tuple[str, bool]]:
    """Per assertion kind: its system-out (expected and actual) and whether it failed."""
    cases = _junit(xml)
    return {
        k: (c.findtext("system-out") or "", c.find("failure") is not None) for k, c in cases.items()
    }


@pytest.mark.integration
def test_live_topics_and_a_recording_judge_as_the_folder_does(folder: Path, tmp_path: Path) -> None:
    """The folder replayed into a broker of its own: `check` on the live topics and on a
    recording of them gives each assertion the same actual value as on the folder."""
    broker = EmbeddedBroker()
    bs = broker.start(log_path=tmp_path / "tansu.log")
    try:
        run = CliRunner().invoke
        assert run(app, ["replay", str(folder), "-b", bs, "--max-speed"]).exit_code == 0
        rec = tmp_path / "rec"
        args = ["record", "--topics", "marketplace.*", "-b", bs, "--from-beginning"]
        done = run(app, [*args, "--idle", "3", "--out", str(rec)])
        assert done.exit_code == 0, done.output
        got = {}
        for where, extra in (("folder", ["--data", str(folder)]), ("live", ["-b", bs])):
            xml = tmp_path / f"{where}.xml"
            args = ["check", str(HERE / "checked-pass.yaml"), *extra, "--junit-xml", str(xml)]
            result = run(app, args)
            assert result.exit_code == 0, (where, result.output)
            got[where] = _actuals(xml)
    finally:
        broker.stop()
    xml = tmp_path / "recording.xml"
    args = ["check", str(HERE / "checked-pass.yaml"), "--data", str(rec), "--junit-xml", str(xml)]
    assert run(app, args).exit_code == 0
    got["recording"] = _actuals(xml)
    assert got["live"] == got["folder"] == got["recording"]
    failing = run(app, ["check", str(HERE / "checked-fail.yaml"), "--data", str(rec)])
    assert failing.exit_code == 1, failing.output
