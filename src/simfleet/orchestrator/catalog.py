"""The scenario catalog: ``scenarios/*.yaml``, validated by pydantic, errors naming file,
field and fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from simfleet.core.paths import scenarios_dir
from simfleet.core.scenarios import ScenarioSpec
from simfleet.errors import ScenarioError

__all__ = ["get_scenario", "list_scenarios", "load_scenario_file"]


def _explain(path: Path, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        fix = {
            "extra_forbidden": "remove it or check its spelling",
            "missing": "add it",
            "literal_error": "use one of the allowed values",
        }.get(err["type"], "correct its value")
        parts.append(f"field `{where}`: {err['msg']} ({fix})")
    more = "" if exc.error_count() <= 3 else f"; and {exc.error_count() - 3} more"
    return (
        f"Scenario file {path} is invalid: {'; '.join(parts)}{more}. "
        "See `simctl scenario show normal-operations` for a valid example."
    )


def load_scenario_file(path: Path) -> ScenarioSpec:
    """Load and validate one scenario file."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"Cannot read scenario file {path}: {exc.strerror}.") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(
            f"Scenario file {path} is not valid YAML: {exc}. Fix the syntax and retry."
        ) from exc
    if not isinstance(raw, dict):
        raise ScenarioError(
            f"Scenario file {path} must hold a mapping with id, name, description, domain, "
            f"phases; it holds a {type(raw).__name__}."
        )
    try:
        return ScenarioSpec.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(_explain(path, exc)) from exc


def list_scenarios(root: Path | None = None) -> dict[str, tuple[Path, ScenarioSpec]]:
    """Every scenario of the catalog by id."""
    out: dict[str, tuple[Path, ScenarioSpec]] = {}
    for path in sorted((root or scenarios_dir()).glob("*.yaml")):
        spec = load_scenario_file(path)
        if spec.id in out:
            raise ScenarioError(
                f"Scenario id {spec.id!r} is defined twice: {out[spec.id][0]} and {path}. "
                "Give one of them another id."
            )
        out[spec.id] = (path, spec)
    return out


def get_scenario(scenario_id: str, root: Path | None = None) -> ScenarioSpec:
    """One scenario by id; an unknown id names the known ones."""
    catalog = list_scenarios(root)
    if scenario_id not in catalog:
        raise ScenarioError(
            f"Unknown scenario {scenario_id!r}. Known scenarios: {', '.join(sorted(catalog))}. "
            "Run `simctl scenario list` to see them with their descriptions."
        )
    return catalog[scenario_id][1]
