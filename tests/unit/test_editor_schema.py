"""``simctl schema pack|scenario``: JSON Schemas generated from the models, committed beside
the data, named by every shipped pack and scenario, and matching them (checked as an editor
would, with a JSON Schema checker, not through pydantic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from simfleet.cli.main import app
from simfleet.domain.editor_schema import (
    PACK_SCHEMA_FILE,
    SCENARIO_SCHEMA_FILE,
    pack_schema,
    render,
    scenario_schema,
)
from simfleet.paths import packs_dir, scenarios_dir

PACKS = sorted(packs_dir().glob("*/streams.yaml"))
SCENARIOS = sorted(scenarios_dir().glob("**/*.yaml"))


def errors(value: object, schema: dict[str, object]) -> list[str]:
    """Every violation of ``schema`` by ``value``, as an editor's checker (jsonschema) finds."""
    validator = Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)
    ]


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_the_committed_schemas_are_the_commands_output() -> None:
    """The files beside the data equal what `simctl schema` prints: regenerate them with
    `simctl schema pack > producers/pack.schema.json` (and `scenario`) after a model change."""
    runner = CliRunner()
    for what, file, schema in (
        ("pack", packs_dir() / PACK_SCHEMA_FILE, pack_schema()),
        ("scenario", scenarios_dir() / SCENARIO_SCHEMA_FILE, scenario_schema()),
    ):
        result = runner.invoke(app, ["schema", what])
        assert result.exit_code == 0, result.output
        assert result.output == render(schema)
        assert file.read_text(encoding="utf-8") == result.output, f"regenerate {file}"


@pytest.mark.parametrize(
    ("path", "schema_file"),
    [(p, PACK_SCHEMA_FILE) for p in PACKS] + [(p, SCENARIO_SCHEMA_FILE) for p in SCENARIOS],
    ids=lambda v: str(v).split("simfleet/")[-1] if isinstance(v, Path) else "",
)
def test_every_shipped_file_names_its_schema_and_matches_it(path: Path, schema_file: str) -> None:
    """The first line points editors at the schema (relative, so it works through the
    `producers` link too), and the file validates against it."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# yaml-language-server: $schema=../{schema_file}"
    assert (path.parent / ".." / schema_file).resolve().is_file()
    schema = pack_schema() if schema_file == PACK_SCHEMA_FILE else scenario_schema()
    assert errors(_load(path), schema) == []


def test_there_are_packs_and_scenarios_to_check() -> None:
    """The parametrised test above ran over every domain."""
    assert len(PACKS) >= 5 and len(SCENARIOS) >= 20


def test_a_field_with_an_unknown_generator_does_not_validate() -> None:
    """An unknown generator key, or two generators, match no generator of the schema; a
    known one with an option of another generator neither."""
    schema = pack_schema()
    raw = _load(packs_dir() / "marketplace" / "streams.yaml")
    stream = next(iter(raw["streams"].values()))
    good = dict(stream["fields"])
    for bad in (
        {"wobble": [1, 2]},
        {"uniform": [1, 2], "choice": ["a"]},
        {"uniform": [1, 2], "pick": "inactive"},
    ):
        stream["fields"] = {**good, "broken": bad}
        found = errors(raw, schema)
        assert found, bad
        assert all("/fields/broken" in e for e in found), found
    stream["fields"] = {**good, "fine": {"uniform": [1, 2], "round": 2}}
    assert errors(raw, schema) == []
