"""`simctl validate`: the whole project checks clean, and a folder with ten planted mistakes
reports all ten at once, each with its file, field path and fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from simfleet.cli.validate import validate
from simfleet.domain.pack import Project, load_pack
from simfleet.errors import DomainError
from simfleet.orchestrator.validate import check_paths, validate_paths, validate_project
from simfleet.problems import Problem

STREAMS = """\
domain: tiny
entities:
  student: {count: 100, prefix: stu}
  tutor:
    count: 20
    prefix: tut
    attributes:
      subject: {choice: [math, physics]}
profiles:
  peak: {diurnal: [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1]}
parameters:
  demand: 1.0
  confirm: 0.8
causal:
  - {from: demand, to: lesson.requested.rate, elasticity: 1.0}
streams:
  lesson.requested:
    key: student_id
    rate: 0.1
    profile: peak
    fields:
      lesson_id: {seq: les}
      student_id: {entity: student}
      tutor_id: {entity: tutor}
      subject: {attr: subject, of: tutor_id}
      price: {uniform: [20, 60], round: 2}
    then:
      - to: lesson.started
        probability: confirm
        delay: {uniform: [1m, 1h]}
        delay_field: wait_minutes
  lesson.started:
    key: student_id
    then:
      - to: lesson.rated
        probability: 0.5
        delay: {uniform: [1h, 2h]}
  lesson.rated:
    key: student_id
    fields:
      stars: {integers: [1, 5]}
"""

EXTERNAL = """\
templates:
  - id: promo-day
    category: marketing
    title: Promo day
    description: Half-price lessons.
    expected_impact: {streams: [tiny.lesson.requested], direction: increase,
                      magnitude: medium, duration: 1d}
    modifiers:
      - {target: tiny.demand, op: multiply, value: 1.5}
"""

RUSH = """\
id: tiny-rush
name: Rush
description: Demand doubles.
domain: tiny
phases:
  - name: rush
    duration: 6h
    modifiers:
      - {target: tiny.demand, op: multiply, value: 2.0}
external_events:
  - {template: promo-day}
"""

SLUMP = """\
id: tiny-slump
name: Slump
description: Demand halves.
domain: tiny
phases:
  - name: slump
    duration: 1d
    modifiers:
      - {target: tiny.demand, op: multiply, value: 0.5}
settle: {duration: 6h}
"""

EVENT = [
    {"name": "event_id", "type": "string"},
    {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
]
SCHEMAS = {
    "lesson.requested": ["lesson_id", "student_id", "tutor_id", "subject", ("price", "double")],
    "lesson.started": ["lesson_id", "student_id", "tutor_id", "subject", ("wait_minutes", "long")],
    "lesson.rated": ["lesson_id", "student_id", "tutor_id", ("stars", "long")],
}


def schema(stream: str, fields: list[str | tuple[str, str]]) -> str:
    """An Avro record for ``tiny.<stream>``."""
    pairs = [(f, "string") if isinstance(f, str) else f for f in fields]
    return json.dumps(
        {
            "type": "record",
            "name": "".join(w.title() for w in stream.split(".")),
            "namespace": "simfleet.tiny",
            "simfleet.topic": f"tiny.{stream}",
            "fields": [*EVENT, *({"name": n, "type": t} for n, t in pairs)],
        },
        indent=2,
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A project root with a clean 3-stream pack, its schemas and two scenarios."""
    pack = tmp_path / "producers" / "tiny"
    pack.mkdir(parents=True)
    (pack / "streams.yaml").write_text(STREAMS)
    (pack / "external.yaml").write_text(EXTERNAL)
    (tmp_path / "schemas" / "tiny").mkdir(parents=True)
    for stream, fields in SCHEMAS.items():
        (tmp_path / "schemas" / "tiny" / f"{stream}.avsc").write_text(schema(stream, fields))
    (tmp_path / "scenarios" / "tiny").mkdir(parents=True)
    (tmp_path / "scenarios" / "tiny" / "rush.yaml").write_text(RUSH)
    (tmp_path / "scenarios" / "tiny" / "slump.yaml").write_text(SLUMP)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    """Replace one exact piece of a file."""
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def plant_ten(root: Path) -> None:
    """The ten mistakes."""
    streams = root / "producers" / "tiny" / "streams.yaml"
    rush = root / "scenarios" / "tiny" / "rush.yaml"
    slump = root / "scenarios" / "tiny" / "slump.yaml"
    edit(slump, "phases:", "phses:")
    edit(rush, "target: tiny.demand", "target: tiny.demnd")
    edit(rush, "template: promo-day", "template: promo-dya")
    edit(slump, "settle: {duration: 6h}", "settle: {duration: 6 hours}")
    edit(streams, "profile: peak", "profile: peek")
    edit(streams, "      price:", "      discount: {uniform: [0, 5]}\n      price:")
    edit(streams, "tutor_id: {entity: tutor}", "tutor_id: {entity: tutr}")
    edit(streams, "to: lesson.rated", "to: lesson.ratd")
    (root / "schemas" / "tiny" / "lesson.rated.avsc").write_text('{"type": "record",, }')
    edit(slump, "id: tiny-slump", "id: tiny-rush")


def test_the_project_has_no_problems() -> None:
    """The repository's packs, schemas and scenarios validate clean."""
    assert [p.line() for p in validate_project(Project())] == []


def test_the_clean_folder_has_no_problems(root: Path) -> None:
    """Before the mistakes are planted, the folder checks clean (within the project)."""
    report = check_paths([root], Project())
    assert [p.line() for p in report.problems] == []
    assert (report.packs, report.scenarios, report.schemas) == (1, 2, 3)


# (file, field path, words of the message, words of the fix)
EXPECTED = [
    ("slump.yaml", "phses", "unknown field (did you mean `phases`?)", "rename it to `phases`"),
    ("rush.yaml", "phases.0.modifiers.0.target", "did you mean `tiny.demand`?", "parameter"),
    ("rush.yaml", "external_events.0.template", "did you mean `promo-day`?", "promo-day"),
    ("slump.yaml", "settle.duration", "'6 hours' is not a duration; write", "correct its value"),
    ("streams.yaml", "streams.lesson.requested.profile", "did you mean `peak`?", "profile"),
    ("streams.yaml", "streams.lesson.requested.fields.discount", "does not declare", "schema"),
    ("streams.yaml", "streams.lesson.requested.fields.tutor_id.entity", "`tutor`?", "entit"),
    ("streams.yaml", "streams.lesson.started.then.0.to", "did you mean `lesson.rated`?", "stream"),
    ("lesson.rated.avsc", "(top level)", "not valid JSON at line 1", "JSON syntax"),
    ("slump.yaml", "id", "'tiny-rush' is also used by", "unique"),
]


def test_ten_planted_mistakes_are_all_reported(root: Path) -> None:
    """Each mistake is one problem naming its file, its field path and a fix."""
    plant_ten(root)
    problems = validate_paths([root], Project())
    lines = "\n".join(p.line() for p in problems)
    assert len(problems) == len(EXPECTED), lines
    for file, path, message, fix in EXPECTED:
        hits = [p for p in problems if p.path == path and p.file is not None]
        assert len(hits) == 1, f"{path}\n{lines}"
        hit: Problem = hits[0]
        assert hit.file is not None and hit.file.name == file, hit.line()
        assert message in hit.message, hit.line()
        assert fix in hit.fix, hit.line()


def test_a_planted_mistake_is_found_by_its_file_alone(root: Path) -> None:
    """A scenario file given alone is still judged against the project (ids, targets)."""
    plant_ten(root)
    problems = validate_paths([root / "scenarios" / "tiny" / "rush.yaml"], Project())
    assert {p.path for p in problems} == {
        "phases.0.modifiers.0.target",
        "external_events.0.template",
        "id",  # the other file with its id is not given, but it is in the project
    }


def test_load_pack_lists_every_problem_of_the_pack(root: Path) -> None:
    """The loader refuses a broken pack with all of its problems in one message."""
    plant_ten(root)
    with pytest.raises(DomainError) as info:
        load_pack(root / "producers" / "tiny")
    text = str(info.value)
    assert "3 problem(s)" in text
    for path in ("profile", "tutor_id.entity", "then.0.to"):
        assert f"streams.lesson.{'started' if 'then' in path else 'requested'}" in text
        assert path in text


def cli() -> typer.Typer:
    """A small app around the command, as simctl will register it."""
    app = typer.Typer()
    app.command()(validate)
    return app


def test_cli_exits_1_and_lists_the_problems(root: Path) -> None:
    """With problems: one line each, a summary, exit code 1."""
    plant_ten(root)
    result = CliRunner().invoke(cli(), [str(root)])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 11
    assert "field `streams.lesson.requested.profile`: unknown profile 'peek'" in result.output
    assert lines[-1] == "1 pack, 2 scenarios, 3 schemas: 10 problems"


def test_cli_exits_0_without_problems(root: Path) -> None:
    """Without problems: the summary only, exit code 0."""
    result = CliRunner().invoke(cli(), [str(root)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 pack, 2 scenarios, 3 schemas: no problems"


def test_cli_without_paths_checks_the_project() -> None:
    """No paths: the whole project, clean."""
    result = CliRunner().invoke(cli(), [])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(": no problems")
