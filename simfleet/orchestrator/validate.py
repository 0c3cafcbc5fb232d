"""Check a whole project (or some of its files) and report every problem at once.

Each pack is checked by ``simfleet.domain.checks`` (its files, its names, its streams against
their Avro schemas) and each scenario file by ``simfleet.scenario_check`` (the one scenario
validator, which the live paths use too); here are added the schema files themselves, scenario
ids unique across the project, and the choice of what to check: the whole project, or the
packs, scenarios, schemas and roots given as paths.

Paths are judged in the project they belong to: a scenario given alone is still checked
against every domain's parameters, and its id against every other scenario's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from simfleet.codec.catalog import SHARED_DIR, TOPIC_PROPERTY, SchemaEntry, load_entry
from simfleet.domain.checks import (
    STREAMS_FILE,
    TOP,
    PackCheck,
    Schemas,
    check_pack,
    stream_problems,
    targets_graph,
)
from simfleet.domain.mechanisms.clips import pack_warnings
from simfleet.domain.pack import Project
from simfleet.domain.params import ParamGraph
from simfleet.errors import SchemaError
from simfleet.orchestrator.catalog import scenario_files
from simfleet.problems import Problem
from simfleet.scenario_check import Known, Refusal, read_scenario_file, scenario_problems

__all__ = ["Report", "check_paths", "check_project", "validate_paths", "validate_project"]


@dataclass
class Report:
    """What was checked and every problem found."""

    problems: list[Problem] = field(default_factory=list)
    # what is allowed but suspect (a clip cutting more than 1 % of its law): no exit code
    warnings: list[Problem] = field(default_factory=list)
    packs: int = 0
    scenarios: int = 0
    schemas: int = 0

    def summary(self) -> str:
        """``1 pack, 9 scenarios, 60 schemas: no problems`` (or how many)."""
        counts = ", ".join(
            _plural(n, what)
            for n, what in (
                (self.packs, "pack"),
                (self.scenarios, "scenario"),
                (self.schemas, "schema"),
            )
        )
        found = _plural(len(self.problems), "problem") if self.problems else "no problems"
        return f"{counts}: {found}"

    @property
    def exit_code(self) -> int:
        """0 clean, 1 with problems, 2 when a file was refused unread (too large, too many
        phases), as every input refused at the edge."""
        if any(isinstance(p, Refusal) for p in self.problems):
            return 2
        return 1 if self.problems else 0


def _plural(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def validate_project(project: Project) -> list[Problem]:
    """Every problem of the project's packs, schemas and scenarios."""
    return check_project(project).problems


def validate_paths(paths: list[Path], project: Project) -> list[Problem]:
    """Every problem of the given files and folders, judged within the project."""
    return check_paths(paths, project).problems


def check_project(project: Project) -> Report:
    """Check everything the project holds."""
    return _Checker(_Sources.of(project)).run(None)


def check_paths(paths: Sequence[Path], project: Project) -> Report:
    """Check the packs, scenarios, schemas and roots at ``paths`` (files or folders)."""
    sources, missing = _Sources.with_paths(project, paths)
    report = _Checker(sources).run([p.resolve() for p in paths if p.exists()])
    report.problems[:0] = missing
    return report


# -- what the project holds ---------------------------------------------------------------------


@dataclass
class _Sources:
    """Every pack folder, schema file and scenario file the check can see."""

    packs: dict[str, Path]
    schemas: list[tuple[Path, str]]  # (file, its domain folder)
    scenarios: list[Path]
    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        project: Project,
        packs: Iterable[Path] = (),
        schemas: Iterable[Path] = (),
        scenarios: Iterable[Path] = (),
    ) -> _Sources:
        """The project's own files, plus the loose ones given."""
        out = cls({}, [], [])
        for root in project.pack_dirs:
            for folder in sorted(root.glob(f"*/{STREAMS_FILE}")) if root.is_dir() else ():
                out.add_pack(folder.parent)
        for folder in packs:
            out.add_pack(folder)
        for root in project.schema_dirs:
            out.schemas += [(f, f.parent.name) for f in sorted(root.glob("*/*.avsc"))]
        out.schemas += [(f, f.parent.name) for f in schemas]
        out.scenarios = list(dict.fromkeys([*scenario_files(project), *scenarios]))
        return out

    def add_pack(self, folder: Path) -> None:
        """Add a pack folder; a domain defined twice is a problem of the second."""
        seen = self.packs.get(folder.name)
        if seen is None:
            self.packs[folder.name] = folder
        elif seen.resolve() != folder.resolve():
            self.problems.append(
                Problem(
                    folder / STREAMS_FILE,
                    "domain",
                    f"domain {folder.name!r} is also defined in {seen}",
                    "domain names are unique across the project: rename one pack folder",
                )
            )

    @classmethod
    def with_paths(cls, project: Project, paths: Sequence[Path]) -> tuple[_Sources, list[Problem]]:
        """The project, widened by the roots, packs, schemas and scenarios at ``paths``."""
        found = _Found(project)
        for p in paths:
            found.add(p)
        roots = [*project.extra_roots, *found.roots]
        widened = Project(roots, project.extra_scenario_dirs)
        return cls.of(widened, found.packs, found.schemas, found.scenarios), found.missing


class _Found:
    """Paths sorted into roots laid out like the project, and loose packs, schemas, scenarios."""

    def __init__(self, project: Project) -> None:
        dirs = (*project.pack_dirs, *project.schema_dirs, *project.scenario_dirs)
        self.known = {d.resolve().parent for d in dirs} | {d.resolve() for d in dirs}
        self.roots: list[Path] = []
        self.packs: list[Path] = []
        self.schemas: list[Path] = []
        self.scenarios: list[Path] = []
        self.missing: list[Problem] = []

    def add(self, path: Path) -> None:
        """Sort one path (a folder: everything in it)."""
        path = path.resolve()
        if not path.exists():
            self.missing.append(
                Problem(
                    path, TOP, "does not exist", "give a pack, scenario or schema file, or a folder"
                )
            )
        elif path.is_dir():
            self._folder(path)
        elif path.name == STREAMS_FILE or (path.parent / STREAMS_FILE).is_file():
            self._pack(path.parent)
        elif path.suffix == ".avsc":
            self._under(path, "schemas", self.schemas)
        elif path.suffix in (".yaml", ".yml"):
            self._under(path, "scenarios", self.scenarios)

    def _folder(self, path: Path) -> None:
        if (path / STREAMS_FILE).is_file():
            self._pack(path)
        elif any((path / d).is_dir() for d in ("producers", "schemas", "scenarios")):
            self._root(path)
        else:
            for child in sorted(path.iterdir()):
                if child.name.startswith("."):
                    continue  # .venv, .git: never part of a project
                if child.is_dir() or child.suffix in (".avsc", ".yaml", ".yml"):
                    self.add(child)

    def _pack(self, folder: Path) -> None:
        if folder.parent.name == "producers":
            self._root(folder.parent.parent)
        else:
            self.packs.append(folder)

    def _under(self, file: Path, kind: str, loose: list[Path]) -> None:
        """A file in ``<root>/<kind>/<domain>/`` widens the project by its root."""
        if file.parent.parent.name == kind:
            self._root(file.parent.parent.parent)
        elif file.parent.resolve() not in self.known:
            loose.append(file)

    def _root(self, root: Path) -> None:
        if root not in self.known and root not in self.roots:
            self.roots.append(root)


# -- the checks ---------------------------------------------------------------------------------


def _within(path: Path, scope: Sequence[Path] | None, pack: bool = False) -> bool:
    """Whether ``path`` is one of ``scope`` or inside one (for a pack: or holds one)."""
    if scope is None:
        return True
    p = path.resolve()
    return any(p == s or s in p.parents or (pack and p in s.parents) for s in scope)


class _Checker:
    """One validation run over a set of sources."""

    def __init__(self, sources: _Sources) -> None:
        self.sources = sources
        self.packs: dict[str, PackCheck] = {d: check_pack(f) for d, f in sources.packs.items()}
        self.graphs: dict[str, ParamGraph] = {
            d: targets_graph(c.spec) for d, c in self.packs.items() if c.spec is not None
        }
        self.schema_problems: dict[Path, list[Problem]] = {}
        self.schemas = self._schemas()
        self.known = self._known()
        self.raw: dict[Path, tuple[Any, list[Problem]]] = {}

    def run(self, scope: Sequence[Path] | None) -> Report:
        """Every problem of the sources within ``scope`` (None: all)."""
        report = Report(
            problems=[p for p in self.sources.problems if _within(p.file or Path(), scope)]
        )
        for domain, folder in self.sources.packs.items():
            if _within(folder, scope, pack=True):
                report.packs += 1
                report.problems += self._pack(domain)
                check = self.packs[domain]
                if check.spec is not None:
                    report.warnings += pack_warnings(check.spec, check.streams_file)
        for file, domain in self.sources.schemas:
            if _within(file, scope):
                report.schemas += 1
                report.problems += self.schema_problems.get(file, []) + self._served(file, domain)
        ids = self._scenario_ids()
        for file in self.sources.scenarios:
            if _within(file, scope):
                report.scenarios += 1
                report.problems += self._scenario(file) + _duplicate_id(file, ids, scope)
        report.problems = list(dict.fromkeys(report.problems))
        return report

    # -- schemas

    def _schemas(self) -> Schemas:
        """Every schema by topic (shared ones per domain); broken files noted by topic."""
        entries: dict[str, SchemaEntry] = {}
        broken: set[str] = set()
        shared: list[SchemaEntry] = []
        for file, domain in self.sources.schemas:
            entry, problems = _schema_file(file, domain)
            self.schema_problems[file] = problems
            if entry is None:
                broken.add(f"{domain}.{file.stem}")  # the topic its name promises
            elif entry.shared:
                shared.append(entry)
            else:
                self._add_entry(entries, entry)
        for domain in self.sources.packs:
            for t in shared:
                entries.setdefault(t.topic.format(domain=domain), replace(t, domain=domain))
        return Schemas(
            fields={t: e.fields for t, e in entries.items()},
            files={t: e.path for t, e in entries.items()},
            broken=frozenset(broken),
        )

    def _add_entry(self, entries: dict[str, SchemaEntry], entry: SchemaEntry) -> None:
        other = entries.get(entry.topic)
        if other is None:
            entries[entry.topic] = entry
            return
        self.schema_problems[entry.path].append(
            Problem(
                entry.path,
                TOPIC_PROPERTY,
                f"topic {entry.topic!r} is also served by {other.path}",
                "give each record schema its own topic",
            )
        )

    def _served(self, file: Path, domain: str) -> list[Problem]:
        """The problems of the stream a schema file serves, if a pack has it."""
        check = self.packs.get(domain)
        if check is None or check.spec is None or file.stem not in check.spec.streams:
            return []
        return stream_problems(check.spec, check.streams_file, self.schemas, [file.stem])

    # -- packs

    def _pack(self, domain: str) -> list[Problem]:
        check = self.packs[domain]
        if check.spec is None:
            return check.problems
        return check.problems + stream_problems(check.spec, check.streams_file, self.schemas)

    # -- scenarios

    def _scenario_ids(self) -> dict[str, list[Path]]:
        ids: dict[str, list[Path]] = {}
        for file in self.sources.scenarios:
            raw, _ = self._read(file)
            if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                ids.setdefault(raw["id"], []).append(file)
        return ids

    def _read(self, file: Path) -> tuple[Any, list[Problem]]:
        """A scenario file's content (read once, within the caps), or its problems."""
        hit = self.raw.get(file)
        if hit is None:
            hit = self.raw[file] = read_scenario_file(file)
        return hit

    def _known(self) -> Known:
        """What the checked packs and schemas let a scenario name (see ``Known``)."""
        whole = len(self.graphs) == len(self.packs)  # else a broken pack's names are unknown
        return Known(
            domains=tuple(self.sources.packs),
            graphs=self.graphs if whole else None,
            templates={
                d: tuple(t.id for t in c.library.templates)
                for d, c in self.packs.items()
                if c.library is not None
            },
            fields={t: tuple(f) for t, f in self.schemas.fields.items()} if whole else None,
            specs={d: c.spec for d, c in self.packs.items() if c.spec is not None},
        )

    def _scenario(self, file: Path) -> list[Problem]:
        raw, problems = self._read(file)
        return problems or scenario_problems(raw, self.known, file)


def _duplicate_id(
    file: Path, ids: dict[str, list[Path]], scope: Sequence[Path] | None
) -> list[Problem]:
    """A duplicated id is reported once: on the last file of the group within the scope."""
    for sid, files in ids.items():
        if file in files and len(files) > 1:
            mine = [f for f in files if _within(f, scope)]
            if mine[-1] == file:
                others = ", ".join(str(f) for f in files if f != file)
                return [
                    Problem(
                        file,
                        "id",
                        f"scenario id {sid!r} is also used by {others}",
                        "scenario ids are unique across the project: give this one another",
                    )
                ]
    return []


def _schema_file(path: Path, domain: str) -> tuple[SchemaEntry | None, list[Problem]]:
    """One schema file's entry, or the problem that keeps it from being one."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(path, TOP, f"cannot be read: {exc}", "check the file")]
    except json.JSONDecodeError as exc:
        return None, [
            Problem(
                path,
                TOP,
                f"is not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                "fix the JSON syntax there",
            )
        ]
    shape = _record_shape(path, doc, domain)
    if shape:
        return None, shape
    try:
        return load_entry(path, domain), []
    except SchemaError as exc:
        return None, [
            Problem(
                path,
                "fields",
                str(exc).split(". Fix", 1)[0],
                "follow the Avro specification for that field",
            )
        ]


def _record_shape(path: Path, doc: Any, domain: str) -> list[Problem]:
    if not isinstance(doc, dict) or doc.get("type") != "record":
        return [
            Problem(
                path,
                "type",
                "is not a record schema",
                'hold one top-level {"type": "record", ...} object',
            )
        ]
    topic = doc.get(TOPIC_PROPERTY)
    if not isinstance(topic, str) or not topic:
        want = "{domain}" if domain == SHARED_DIR else domain
        return [
            Problem(
                path,
                TOPIC_PROPERTY,
                "is missing",
                f'add "{TOPIC_PROPERTY}": "{want}.{path.stem}" naming its Kafka topic',
            )
        ]
    return []
