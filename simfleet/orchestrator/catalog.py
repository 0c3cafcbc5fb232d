"""The scenario catalog: ``scenarios/<domain>/*.yaml`` of every root of the project plus any
``--scenarios-dir``, validated by pydantic; ids unique across the project. A scenario can also
be given as a path to its file (``--scenario my-scenarios/flash.yaml``)."""

from __future__ import annotations

from pathlib import Path

from simfleet.domain.pack import Project
from simfleet.errors import ScenarioError
from simfleet.scenario_check import load_checked
from simfleet.scenarios import ScenarioSpec
from simfleet.suggest import did_you_mean

__all__ = ["get_scenario", "list_scenarios", "load_scenario_file", "scenario_files"]


def load_scenario_file(path: Path) -> ScenarioSpec:
    """Load and validate one scenario file (within the size and phase caps); every problem is
    listed, unknown fields first, each with its bad value."""
    return load_checked(path)


def scenario_files(project: Project) -> list[Path]:
    """Every scenario file of the project: ``<dir>/*.yaml`` and ``<dir>/<domain>/*.yaml``."""
    out: list[Path] = []
    for root in project.scenario_dirs:
        if root.is_dir():
            out += sorted(root.glob("*.yaml")) + sorted(root.glob("*/*.yaml"))
    return out


def list_scenarios(project: Project) -> dict[str, tuple[Path, ScenarioSpec]]:
    """Every scenario of the catalog by id."""
    out: dict[str, tuple[Path, ScenarioSpec]] = {}
    for path in scenario_files(project):
        spec = load_scenario_file(path)
        if spec.id in out:
            raise ScenarioError(
                f"Scenario id {spec.id!r} is defined twice: {out[spec.id][0]} and {path}. "
                "Scenario ids are unique across the project; give one of them another id."
            )
        out[spec.id] = (path, spec)
    return out


def get_scenario(id_or_path: str, project: Project) -> ScenarioSpec:
    """One scenario by id, or from a file path; an unknown id names the known ones."""
    if id_or_path.endswith((".yaml", ".yml")) or "/" in id_or_path:
        path = Path(id_or_path)
        if not path.is_file():
            raise ScenarioError(
                f"Scenario file {path} does not exist. Give a scenario id "
                "(`simctl scenario list`) or the path of a scenario YAML file."
            )
        return load_scenario_file(path)
    catalog = list_scenarios(project)
    if id_or_path not in catalog:
        raise ScenarioError(
            f"Unknown scenario {id_or_path!r}{did_you_mean(id_or_path, catalog)}. Known "
            f"scenarios: {', '.join(sorted(catalog))}. Run `simctl scenario list` to see them "
            "with their descriptions, or give the path of a scenario file."
        )
    return catalog[id_or_path][1]
