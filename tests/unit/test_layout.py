"""The design card's layout, pinned: the top-level entries, one installed namespace, and
imports that run one way (cli -> producers | orchestrator | admin -> the shared core; never
back, never across)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "simfleet"
PARTS = ("producers", "orchestrator", "admin", "cli", "api")
# part -> the parts it may import from, besides itself and the shared core (simfleet.*)
ALLOWED = {
    "core": set(),
    "producers": set(),
    "orchestrator": set(),
    "admin": {"orchestrator"},
    "cli": {"producers", "orchestrator", "admin", "api"},
    # the Python API runs the CLI's pipelines; its `produce` sends through `simctl replay`'s
    "api": {"producers", "orchestrator", "cli"},
}
# the package's root re-exports the API (`from simfleet import Simulation`), lazily
ROOT_EXPORTS = {"api"}
# The repository's top-level folders that were packages before the one namespace
OLD_TOP_LEVEL = {"producers", "orchestrator", "admin", "simctl"}


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
        "LICENSE",
    ):
        assert (ROOT / entry).exists(), entry
    assert (ROOT / "producers" / "marketplace" / "streams.yaml").is_file()
    assert (ROOT / "schemas" / "marketplace").is_dir()
    assert (ROOT / "scenarios" / "marketplace").is_dir()
    # the top-level code folders are the installed ones, not copies
    assert (ROOT / "producers").resolve() == PACKAGE / "producers"
    assert (ROOT / "orchestrator").resolve() == PACKAGE / "orchestrator"


def _imports(path: Path) -> set[str]:
    """The project parts a module imports: ``core`` or one of PARTS (or an old top level)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    out: set[str] = set()
    for name in names:
        head, _, rest = name.partition(".")
        if head in OLD_TOP_LEVEL:
            out.add(f"old:{head}")
        elif head == "simfleet":
            part = rest.split(".")[0]
            out.add(part if part in PARTS else "core")
    return out


def _part_files(part: str) -> list[Path]:
    if part != "core":
        return sorted((PACKAGE / part).rglob("*.py"))
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in PARTS)


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_imports_run_one_way(part: str) -> None:
    """No module of a part imports a part it may not (lazy imports included)."""
    may = ALLOWED[part] | {part, "core"}

    def allowed(p: Path) -> set[str]:
        return may | ROOT_EXPORTS if p == PACKAGE / "__init__.py" else may

    bad = {
        str(p.relative_to(ROOT)): sorted(_imports(p) - allowed(p))
        for p in _part_files(part)
        if _imports(p) - allowed(p)
    }
    assert bad == {}


def test_nothing_imports_an_old_top_level_package() -> None:
    """Tests, benchmarks and examples import through ``simfleet.*`` only."""
    bad = {
        str(p.relative_to(ROOT))
        for folder in ("simfleet", "tests", "bench", "examples")
        for p in (ROOT / folder).rglob("*.py")
        if any(i.startswith("old:") for i in _imports(p))
    }
    assert bad == set()


@pytest.mark.slow
def test_the_wheel_installs_one_namespace_and_runs_from_elsewhere(tmp_path: Path) -> None:
    """A built wheel holds only ``simfleet`` (packs, schemas and scenarios under its one data
    root), and installed into a fresh venv it generates from another folder."""
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(ROOT)],
        check=True,
        timeout=600,
    )
    (wheel,) = dist.glob("simfleet-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {
        "simfleet",
        wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info",
    }
    assert "simfleet/_data/producers/marketplace/streams.yaml" in names
    assert "simfleet/_data/schemas/marketplace/booking_requested.avsc" in names or any(
        n.startswith("simfleet/_data/schemas/marketplace/") for n in names
    )
    assert any(n.startswith("simfleet/_data/scenarios/ticketing/") for n in names)
    assert not any(n.startswith("simfleet/producers/marketplace/") for n in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
        timeout=600,
    )
    # the dependencies come from this interpreter's site-packages, read as a plain path: a
    # .pth line adds a folder without running the .pth files in it (so not our editable one)
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    (site / "site-packages" / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "SIMCTL_HOME"}}
    probe = (
        "import importlib.util, simfleet, simfleet.paths as p;"
        "print(simfleet.__file__);"
        "print(p.packs_dir());"
        "print(*[n for n in ('producers','orchestrator','admin','simctl')"
        " if importlib.util.find_spec(n)])"
    )
    out = subprocess.run(
        [str(python), "-c", probe],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    assert out[0].startswith(str(venv)), out
    assert out[1].startswith(str(venv)) and out[1].endswith("_data/producers"), out
    assert out[2] == "", f"old top-level packages importable: {out[2]}"
    gen = subprocess.run(
        [
            str(venv / "bin" / "simctl"),
            "generate",
            "--domain",
            "markets",
            "--start",
            "2026-03-02T00:00:00Z",
            "--duration",
            "10m",
            "--out",
            str(elsewhere / "out"),
            "--format",
            "jsonl",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert gen.returncode == 0, gen.stderr[-2000:]
    assert any((elsewhere / "out").rglob("*.jsonl"))
