"""Domain packs and the project that holds them.

A *pack* is a folder ``producers/<domain>/`` with ``streams.yaml`` (entities, parameters,
profiles, streams: a ``DomainSpec``) and, optionally, ``external.yaml`` (its external-event
library; none means an empty library). Its schemas are in ``schemas/<domain>/`` and its
scenarios in ``scenarios/<domain>/``.

A ``Project`` is where a run finds its packs, schemas and scenarios: the repository's own
folders (or ``SIMCTL_HOME``), then any extra roots laid out the same way (``--pack-dir``), then
extra scenario folders (``--scenarios-dir``). It loads each thing once and hands out the same
objects, so every part of a process sees one domain model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from simfleet.codec.catalog import SchemaSet
from simfleet.domain.checks import EXTERNAL_FILE, STREAMS_FILE, check_pack
from simfleet.domain.params import ParamGraph
from simfleet.domain.spec import DomainSpec
from simfleet.errors import DomainError
from simfleet.external import ExternalLibrary
from simfleet.paths import packs_dir, scenarios_dir, schemas_dir
from simfleet.suggest import did_you_mean

__all__ = ["EXTERNAL_FILE", "STREAMS_FILE", "DomainPack", "Project", "read_yaml"]


def read_yaml(path: Path, what: str) -> Any:
    """A YAML file's content, or a DomainError naming the file and the fix."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DomainError(f"Cannot read {what} {path}: {exc.strerror}.") from exc
    except yaml.YAMLError as exc:
        raise DomainError(f"{what} {path} is not valid YAML: {exc}. Fix the syntax.") from exc


@dataclass(frozen=True)
class DomainPack:
    """One domain: its spec, its external-event library and where they came from."""

    name: str
    folder: Path
    spec: DomainSpec
    library: ExternalLibrary
    graph: ParamGraph = field(repr=False, compare=False)


def load_pack(folder: Path) -> DomainPack:
    """Load and check one pack folder; a DomainError lists every problem of its files."""
    checked = check_pack(folder)
    if checked.problems or checked.spec is None or checked.library is None:
        listed = " ".join(f"({i}) {p.line()};" for i, p in enumerate(checked.problems, 1))
        raise DomainError(
            f"Domain pack {folder} is invalid ({len(checked.problems)} problem(s)): {listed} "
            "fix them, then run `simctl validate` to check the whole project."
        )
    spec = checked.spec
    return DomainPack(spec.domain, folder, spec, checked.library, ParamGraph.from_domain(spec))


class Project:
    """The packs, schemas and scenario folders a run uses; each loaded once."""

    def __init__(
        self, roots: Sequence[Path] = (), scenario_dirs: Sequence[Path] = (), own: bool = True
    ) -> None:
        """``roots``: extra folders laid out like the project; ``own=False`` leaves out the
        repository's own packs, schemas and scenarios (tests of a folder on its own)."""
        self.extra_roots = tuple(Path(r) for r in roots)
        self.extra_scenario_dirs = tuple(Path(d) for d in scenario_dirs)
        mine = own
        self.pack_dirs = (*([packs_dir()] if mine else []), *(r / "producers" for r in roots))
        self.schema_dirs = (*([schemas_dir()] if mine else []), *(r / "schemas" for r in roots))
        self.scenario_dirs = (
            *([scenarios_dir()] if mine else []),
            *(r / "scenarios" for r in self.extra_roots),
            *self.extra_scenario_dirs,
        )
        self._packs: dict[str, DomainPack] = {}
        self._schemas: SchemaSet | None = None

    def _folders(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for root in self.pack_dirs:
            if not root.is_dir():
                continue
            for folder in sorted(p for p in root.iterdir() if (p / STREAMS_FILE).is_file()):
                if folder.name in found:
                    raise DomainError(
                        f"Domain {folder.name!r} is defined twice: {found[folder.name]} and "
                        f"{folder}. Domain names are unique across the project; rename one."
                    )
                found[folder.name] = folder
        return found

    def domains(self) -> list[str]:
        """Every domain of the project, in name order."""
        return sorted(self._folders())

    def resolve_domains(self, names: Iterable[str] | None) -> tuple[str, ...]:
        """The domains asked for (default: all), each checked to exist."""
        known = self.domains()
        wanted = list(dict.fromkeys(names or known))
        unknown = [d for d in wanted if d not in known]
        if unknown:
            hints = "".join(did_you_mean(d, known) for d in unknown)
            raise DomainError(
                f"Unknown domain(s) {unknown}{hints}. Known domains: {', '.join(known)}. A "
                "domain is a folder producers/<domain>/ holding streams.yaml."
            )
        return tuple(wanted)

    def pack(self, name: str) -> DomainPack:
        """One domain pack, loaded and validated on first use."""
        hit = self._packs.get(name)
        if hit is None:
            folder = self._folders().get(name)
            if folder is None:
                self.resolve_domains([name])  # raises with the known names
                raise AssertionError  # pragma: no cover
            hit = self._packs[name] = load_pack(folder)
        return hit

    def spec(self, name: str) -> DomainSpec:
        """A domain's streams spec."""
        return self.pack(name).spec

    def library(self, name: str) -> ExternalLibrary:
        """A domain's external-event library (possibly empty)."""
        return self.pack(name).library

    def graph(self, name: str) -> ParamGraph:
        """A domain's parameters and causal graph."""
        return self.pack(name).graph

    def schemas(self) -> SchemaSet:
        """Every record schema of every domain, shared ones instantiated per domain."""
        if self._schemas is None:
            self._schemas = SchemaSet.load(list(self.schema_dirs), self.domains())
        return self._schemas


def load_domain(name: str, project: Project | None = None) -> DomainSpec:
    """One domain's spec by name, from ``project`` (default: the repository's own)."""
    return (project or Project()).spec(name)
