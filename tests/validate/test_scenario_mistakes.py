"""`simctl validate` on scenario files with planted mistakes: each mistake is named once, with its
field path and its bad value, every mistake of a file (and of several files) in one run, and no
line that is only a consequence of another (no "phases ... at least 1 item" cascade). Files too
large or with too many phases are refused before they are parsed, with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from simfleet.cli.main import app
from simfleet.errors import ScenarioError
from simfleet.orchestrator.catalog import load_scenario_file
from simfleet.scenario_check import MAX_BYTES, MAX_PHASES

# A clean scenario of the repository's marketplace pack using every part a mistake is planted in.
BASE = """\
id: planted
name: Planted
description: one planted mistake at a time
domain: marketplace
phases:
  - name: surge
    duration: 2h
    ramp: 30m
    modifiers:
      - {target: marketplace.customer.demand, op: multiply, value: 1.5}
    chaos:
      - {action: delay, streams: marketplace.customer.*, probability: 0.1, delay: 5m}
  - name: after
    duration: 1h
settle: {curve: linear, duration: 1h}
external_events:
  - {template: sat-exam}
expected_effects:
  - {stream: marketplace.customer.search, direction: increase, magnitude: 0.2}
chaos:
  - {action: drop, streams: marketplace.customer.search, probability: 0.05}
assertions:
  - {kind: count, topic: marketplace.customer.search, min: 1}
campaigns:
  - name: bots
    pattern: scraping
    duration: 1h
    streams:
      customer.search: {rate: 0.5}
"""

# (test id, [(exact text, its replacement)], [(field path, text the line must hold)])
MISTAKES = [
    (
        "unknown-op",
        [("op: multiply", "op: explode")],
        [("phases.0.modifiers.0.op", "'explode' is not one of multiply, add, set, shift")],
    ),
    (
        "unknown-curve",
        [("curve: linear", "curve: wobbly")],
        [("settle.curve", "'wobbly' is not one of linear, exponential, immediate")],
    ),
    (
        "unknown-template-under-unknown-domain",
        [
            ("domain: marketplace", "domain: marketplce"),
            ("template: sat-exam", "template: sat-exm"),
        ],
        [
            ("domain", "unknown domain 'marketplce' (did you mean `marketplace`?)"),
            ("external_events.0.template", "'sat-exm' (did you mean `sat-exam`?)"),
        ],
    ),
    (
        "bad-parameter-path",
        [("target: marketplace.customer.demand", "target: marketplace.customer.demnd")],
        [("phases.0.modifiers.0.target", "'marketplace.customer.demnd' (did you mean")],
    ),
    (
        "bad-stream-glob",
        [("streams: marketplace.customer.*", "streams: marketplace.custmer.*")],
        [("phases.0.chaos.0.streams", "'marketplace.custmer.*'")],
    ),
    (
        "negative-ramp",
        [("ramp: 30m", "ramp: -30")],
        [("phases.0.ramp", "-30 should be greater than or equal to 0")],
    ),
    (
        "negative-duration",
        [("duration: 2h", "duration: -2h")],
        [("phases.0.duration", "'-2h' is not a duration")],
    ),
    (
        "zero-length-phase",
        [("name: after\n    duration: 1h", "name: after\n    duration: 0s")],
        [("phases.1.duration", "'0s': phase 'after' has zero length")],
    ),
    (
        "zero-length-settle",
        [("settle: {curve: linear, duration: 1h}", "settle: {curve: linear, duration: 0s}")],
        [("settle.duration", "'0s': a linear settle of zero length")],
    ),
    (
        "bad-expected-effect-direction",
        [("direction: increase", "direction: up")],
        [("expected_effects.0.direction", "'up' is not one of increase, decrease")],
    ),
    (
        "bad-expected-effect-stream",
        [("stream: marketplace.customer.search", "stream: marketplace.customer.serch")],
        [("expected_effects.0.stream", "'marketplace.customer.serch' (did you mean")],
    ),
    (
        "unknown-chaos-action",
        [("action: drop", "action: explode")],
        [("chaos.0.action", "'explode' is not one of drop, duplicate, delay")],
    ),
    (
        "chaos-probability-out-of-range",
        [("probability: 0.05", "probability: 1.5")],
        [("chaos.0.probability", "1.5 should be less than or equal to 1")],
    ),
    (
        "bad-campaign-stream",
        [("customer.search: {rate: 0.5}", "customer.serch: {rate: 0.5}")],
        [("campaigns.0.streams.customer.serch", "'customer.serch' (did you mean")],
    ),
    (
        "bad-campaign-duration",
        [("duration: 1h\n    streams:", "duration: 0s\n    streams:")],
        [("campaigns.0.duration", "0 should be greater than 0")],
    ),
    (
        "unknown-assertion-topic",
        [("topic: marketplace.customer.search", "topic: marketplace.customer.serch")],
        [("assertions.0.topic", "'marketplace.customer.serch'")],
    ),
    (
        "misspelt-field",
        [("ramp: 30m", "rmap: 30m")],
        [("phases.0.rmap", "unknown field (did you mean `ramp`?)")],
    ),
]


def plant(text: str, edits: list[tuple[str, str]]) -> str:
    """``text`` with each exact piece replaced once."""
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def run_validate(*files: Path) -> tuple[int, list[str]]:
    """``simctl validate FILES``: exit code and output lines."""
    result = CliRunner().invoke(app, ["validate", *map(str, files)])
    return result.exit_code, result.output.strip().splitlines()


def test_the_base_scenario_is_clean(tmp_path: Path) -> None:
    """Every mistake below is the only one of its file."""
    path = tmp_path / "base.yaml"
    path.write_text(BASE, encoding="utf-8")
    code, lines = run_validate(path)
    assert code == 0, lines
    assert lines == ["0 packs, 1 scenario, 0 schemas: no problems"]


@pytest.mark.parametrize(("edits", "expected"), [pytest.param(e, x, id=i) for i, e, x in MISTAKES])
def test_a_planted_mistake_is_named_with_its_bad_value(
    tmp_path: Path, edits: list[tuple[str, str]], expected: list[tuple[str, str]]
) -> None:
    """One line per mistake: the file, the field path, the bad value, a fix; nothing else."""
    path = tmp_path / "planted.yaml"
    path.write_text(plant(BASE, edits), encoding="utf-8")
    code, lines = run_validate(path)
    problems = [line for line in lines if line.startswith(f"{path}: ")]
    text = "\n".join(lines)
    assert code == 1, text
    assert len(problems) == len(expected), text
    for (field, said), line in zip(expected, problems, strict=True):
        assert line.startswith(f"{path}: field `{field}`: "), text
        assert said in line, text
        assert line.endswith(")"), line  # the fix closes the line
    assert "at least 1 item" not in text
    n = len(expected)
    assert lines[-1] == f"0 packs, 1 scenario, 0 schemas: {n} problem{'s' if n > 1 else ''}"


TWO = {
    "first.yaml": (
        [
            ("op: multiply", "op: explode"),
            ("curve: linear", "curve: wobbly"),
            ("domain: marketplace", "domain: marketplce"),
            ("template: sat-exam", "template: sat-exm"),
        ],
        {"phases.0.modifiers.0.op", "settle.curve", "domain", "external_events.0.template"},
    ),
    "second.yaml": (
        [
            ("id: planted", "id: planted-too"),  # ids are unique across the files checked
            ("name: after\n    duration: 1h", "name: after\n    duration: 0s"),
            ("target: marketplace.customer.demand", "target: marketplace.customer.demnd"),
            ("direction: increase", "direction: up"),
            ("stream: marketplace.customer.search", "stream: marketplace.customer.serch"),
            ("action: drop", "action: explode"),
            ("streams: marketplace.customer.*", "streams: marketplace.nope.*"),
            ("customer.search: {rate: 0.5}", "customer.serch: {rate: 0.5}"),
        ],
        {
            "phases.1.duration",
            "phases.0.modifiers.0.target",
            "expected_effects.0.direction",
            "expected_effects.0.stream",
            "chaos.0.action",
            "phases.0.chaos.0.streams",
            "campaigns.0.streams.customer.serch",
        },
    ),
}


def test_two_files_get_all_their_mistakes_in_one_run(tmp_path: Path) -> None:
    """Eleven mistakes over two files: eleven lines, each file's own, in one run."""
    paths = []
    for name, (edits, _fields) in TWO.items():
        paths.append(tmp_path / name)
        paths[-1].write_text(plant(BASE, edits), encoding="utf-8")
    code, lines = run_validate(*paths)
    text = "\n".join(lines)
    assert code == 1, text
    for path, (_edits, fields) in zip(paths, TWO.values(), strict=True):
        mine = [line for line in lines if line.startswith(f"{path}: ")]
        assert {line.split("`")[1] for line in mine} == fields, text
        assert len(mine) == len(fields), text
    assert lines[-1] == "0 packs, 2 scenarios, 0 schemas: 11 problems"
    assert "at least 1 item" not in text


def test_a_file_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    """A file larger than the cap: one line saying so, exit 2; the file is not parsed (it is not
    even YAML past its first lines)."""
    path = tmp_path / "huge.yaml"
    path.write_text(BASE + "# " + "x" * MAX_BYTES + "\n: [unclosed\n", encoding="utf-8")
    code, lines = run_validate(path)
    assert code == 2, lines
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{path}: field `(top level)`: is ")
    assert f"over the {MAX_BYTES:,} a scenario file may hold" in lines[0]
    with pytest.raises(ScenarioError, match="over the") as info:
        load_scenario_file(path)
    assert ScenarioError.exit_code == 2
    assert "\n" not in str(info.value)


def test_a_file_with_too_many_phases_is_refused_before_loading(tmp_path: Path) -> None:
    """More phases than the cap (in flow style, well under the size cap): one line, exit 2."""
    path = tmp_path / "long.yaml"
    phases = "".join(f"  - {{name: p{i}, duration: 1h}}\n" for i in range(MAX_PHASES + 1))
    head = "id: long\nname: Long\ndescription: too many phases\ndomain: marketplace\nphases:\n"
    path.write_text(head + phases, encoding="utf-8")
    assert path.stat().st_size < MAX_BYTES
    code, lines = run_validate(path)
    assert code == 2, lines
    assert len(lines) == 2, lines
    assert f"field `phases`: holds more than {MAX_PHASES:,} phases" in lines[0]
    with pytest.raises(ScenarioError, match="phases"):
        load_scenario_file(path)


def test_the_cap_is_not_a_limit_on_clean_files(tmp_path: Path) -> None:
    """Exactly the cap of phases is still a scenario."""
    path = tmp_path / "long.yaml"
    phases = "".join(f"  - {{name: p{i}, duration: 1h}}\n" for i in range(MAX_PHASES))
    head = "id: long\nname: Long\ndescription: many phases\ndomain: marketplace\nphases:\n"
    path.write_text(head + phases, encoding="utf-8")
    assert len(load_scenario_file(path).phases) == MAX_PHASES


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("name: after\n    duration: 1h", "name: after\n    duration: 0s", "has zero length"),
        ("settle: {curve: linear, duration: 1h}", "settle: {curve: exponential}", "without a"),
    ],
)
def test_zero_lengths_are_refused_where_a_run_reads_the_file(
    tmp_path: Path, old: str, new: str, said: str
) -> None:
    """`up`, `generate` and `scenario start` read a scenario file through the catalog: a
    zero-length phase or settle is a one-paragraph ScenarioError (exit 2) there too."""
    path = tmp_path / "zero.yaml"
    path.write_text(plant(BASE, [(old, new)]), encoding="utf-8")
    with pytest.raises(ScenarioError, match=said) as info:
        load_scenario_file(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
