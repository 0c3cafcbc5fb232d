"""The design card's layout, pinned: the top-level entries, and imports that run one way
(simctl -> producers | orchestrator -> simfleet; never back, never across)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# package -> the packages it may import from (besides itself)
ALLOWED = {
    "simfleet": set(),
    "producers": {"simfleet"},
    "orchestrator": {"simfleet"},
    "simctl": {"simfleet", "producers", "orchestrator", "admin"},
    "admin": {"simfleet", "orchestrator"},
}


def test_the_top_level_shows_the_design_card() -> None:
    for entry in (
        "producers",
        "orchestrator",
        "schemas",
        "scenarios",
        "docker-compose.kafka.yml",
        "pyproject.toml",
        "tests",
        "README.md",
    ):
        assert (ROOT / entry).exists(), entry
    assert (ROOT / "producers" / "marketplace" / "streams.yaml").is_file()
    assert (ROOT / "schemas" / "marketplace").is_dir()
    assert (ROOT / "scenarios" / "marketplace").is_dir()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_run_one_way(package: str) -> None:
    """No module of a package imports a project package it may not (lazy imports included)."""
    forbidden = set(ALLOWED) - ALLOWED[package] - {package}
    bad = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & forbidden)
        for p in (ROOT / package).rglob("*.py")
        if _imports(p) & forbidden
    }
    assert bad == {}
