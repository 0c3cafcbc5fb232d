"""The scenario catalog: the repo's files load, and a bad file names file, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from simfleet.domain.pack import Project
from simfleet.errors import ScenarioError
from simfleet.orchestrator.catalog import get_scenario, list_scenarios, load_scenario_file
from simfleet.orchestrator.transitions import check_scenario
from simfleet.paths import scenarios_dir

VALID = """\
id: tiny
name: Tiny
description: a valid scenario
domain: marketplace
phases:
  - name: one
    duration: 1h
    modifiers:
      - {target: marketplace.tutor.supply, op: multiply, value: 0.5}
"""


def write(root: Path, name: str, text: str) -> Path:
    """A scenario file under ``root``."""
    path = root / name
    path.write_text(text, encoding="utf-8")
    return path


def test_repo_scenarios_all_load_and_check() -> None:
    """Every scenarios/*.yaml validates, ids match file names, and every target is known."""
    catalog = list_scenarios(Project())
    assert {"normal-operations", "supply-crisis"} <= set(catalog)
    assert len(catalog) == len(list(scenarios_dir().glob("*/*.yaml")))
    for sid, (path, spec) in catalog.items():
        assert path.stem == sid
        check_scenario(spec, Project(), (spec.domain,))


def test_get_scenario_returns_the_spec_by_id() -> None:
    """get_scenario finds a catalog entry by id."""
    spec = get_scenario("supply-crisis", Project())
    assert [p.name for p in spec.phases] == ["onset", "peak"]
    assert spec.settle.curve == "linear"


@pytest.mark.parametrize(
    ("old", "new", "field", "fix"),
    [
        ("op: multiply", "op: explode", "phases.0.modifiers.0.op", "use one of the allowed"),
        ("op: multiply", "op: multiply, strength: 3", "phases.0.modifiers.0.strength", "remove it"),
        ("name: Tiny\n", "", "name", "add it"),
        ("duration: 1h", "duration: soon", "phases.0.duration", "correct its value"),
        ("id: tiny", "id: Tiny Scenario", "id", "use lower-case letters, digits and dashes"),
    ],
)
def test_wrong_field_names_file_field_and_fix(
    tmp_path: Path, old: str, new: str, field: str, fix: str
) -> None:
    """A validation error becomes a ScenarioError with the file path, the field path and a fix."""
    path = write(tmp_path, "broken.yaml", VALID.replace(old, new))
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(path)
    msg = str(info.value)
    assert str(path) in msg
    assert f"`{field}`" in msg
    assert fix in msg
    assert "\n" not in msg


def test_every_problem_is_listed(tmp_path: Path) -> None:
    """An empty file misses five required fields: all five are named, with the count."""
    path = write(tmp_path, "empty.yaml", "{}\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(path)
    msg = str(info.value)
    assert "(5 problem(s))" in msg
    for name in ("id", "name", "description", "domain", "phases"):
        assert f"`{name}`" in msg
    assert str(path) in msg


def test_a_misspelt_field_comes_first_with_did_you_mean(tmp_path: Path) -> None:
    """`phses` instead of `phases`: one problem, the unknown field, with "did you mean" and the
    fix; not a "field required" for `phases` that hides the cause."""
    path = write(tmp_path, "typo.yaml", VALID.replace("phases:", "phses:"))
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(path)
    msg = str(info.value)
    assert "(1 problem(s))" in msg
    assert "`phses`: unknown field (did you mean `phases`?) (rename it to `phases`)" in msg
    assert "required" not in msg


def test_a_scenario_file_path_works_where_an_id_does(tmp_path: Path) -> None:
    """`--scenario path/to/file.yaml`: get_scenario loads the file instead of the catalog."""
    path = write(tmp_path, "mine.yaml", VALID.replace("id: tiny", "id: my-own"))
    assert get_scenario(str(path), Project()).id == "my-own"


def test_unknown_id_lists_the_known_ids(tmp_path: Path) -> None:
    """An unknown scenario id names every known id and how to list them."""
    write(tmp_path, "tiny.yaml", VALID)
    write(tmp_path, "other.yaml", VALID.replace("id: tiny", "id: other"))
    with pytest.raises(ScenarioError, match="Unknown scenario 'nope'") as info:
        get_scenario("nope", Project(scenario_dirs=[tmp_path], own=False))
    assert "Known scenarios: other, tiny." in str(info.value)
    assert "simctl scenario list" in str(info.value)


def test_unknown_id_in_the_repo_catalog_lists_its_ids() -> None:
    """Against the repo catalog the message names supply-crisis and normal-operations."""
    with pytest.raises(ScenarioError) as info:
        get_scenario("no-such-scenario", Project())
    assert "normal-operations" in str(info.value)
    assert "supply-crisis" in str(info.value)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    """A YAML syntax error becomes a ScenarioError naming the file and asking for a fix."""
    path = write(tmp_path, "bad.yaml", "id: [unclosed\nphases: {\n")
    with pytest.raises(ScenarioError, match="is not valid YAML") as info:
        load_scenario_file(path)
    assert str(path) in str(info.value)


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    """A file that cannot be read is a ScenarioError, not an OSError."""
    path = tmp_path / "absent.yaml"
    with pytest.raises(ScenarioError, match="Cannot read scenario file") as info:
        load_scenario_file(path)
    assert str(path) in str(info.value)


def test_non_mapping_file_names_what_it_holds(tmp_path: Path) -> None:
    """A YAML list instead of a mapping: the error says it holds a list."""
    path = write(tmp_path, "list.yaml", "- id: tiny\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(path)
    assert "it holds a list" in str(info.value)


def test_non_mapping_file_is_a_scenario_error(tmp_path: Path) -> None:
    """A YAML list instead of a mapping is refused with the file and the fields expected."""
    path = write(tmp_path, "list.yaml", "- id: tiny\n")
    with pytest.raises(ScenarioError, match="must hold a mapping") as info:
        load_scenario_file(path)
    assert str(path) in str(info.value)


def test_duplicate_ids_name_both_files(tmp_path: Path) -> None:
    """Two files with one id: the error names both files."""
    a = write(tmp_path, "a.yaml", VALID)
    b = write(tmp_path, "b.yaml", VALID)
    with pytest.raises(ScenarioError, match="defined twice") as info:
        list_scenarios(Project(scenario_dirs=[tmp_path], own=False))
    assert str(a) in str(info.value)
    assert str(b) in str(info.value)
