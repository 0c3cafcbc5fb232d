"""The checks of one domain pack, each reported as its own ``Problem`` and never stopping at the
first: YAML syntax, structure (pydantic), cross-references, the external-event library, and
every stream against its Avro schema.

These are the only copies of those checks: ``load_pack`` refuses a pack with any problem of its
own files, and ``simctl validate`` (``orchestrator.validate``) adds the stream-against-schema
checks, which need the project's schemas. The engine (``producers/engine.py``) still runs its
own load-time checks; everything they can find is found here first, so no run stops mid-way.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from faker import Faker
from pydantic import BaseModel, ValidationError

from simfleet.domain.mechanisms import (
    aggregates,
    chains,
    episodes,
    feedback,
    generators,
    journeys,
    label_noise,
    localtime,
    processes,
    stocks,
)
from simfleet.domain.mechanisms.fields.choice import ChoiceField
from simfleet.domain.mechanisms.fields.entity import EntityField
from simfleet.domain.mechanisms.refs import by_problems as _by_problems
from simfleet.domain.mechanisms.refs import param_problem as _param_problem
from simfleet.domain.mechanisms.refs import unknown as _unknown
from simfleet.domain.params import ParamGraph
from simfleet.domain.spec import (
    ByAttr,
    DomainSpec,
    FieldSpec,
    RelationSpec,
    StreamSpec,
)
from simfleet.domain.stream_checks import IMPLICIT, Schemas, stream_problems
from simfleet.errors import DomainError
from simfleet.external import ExternalLibrary
from simfleet.problems import Problem, explain_validation
from simfleet.timeutil import parse_instant_ms

__all__ = [
    "EXTERNAL_FILE",
    "IMPLICIT",
    "STREAMS_FILE",
    "PackCheck",
    "Schemas",
    "check_pack",
    "read_yaml_file",
    "reference_problems",
    "stream_problems",
    "target_problems",
]

STREAMS_FILE = "streams.yaml"
EXTERNAL_FILE = "external.yaml"
TOP = "(top level)"
M = TypeVar("M", bound=BaseModel)


def read_yaml_file(path: Path) -> tuple[Any, list[Problem]]:
    """A YAML file's content, or the problem that keeps it from being read."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")), []
    except OSError as exc:
        return None, [Problem(path, TOP, f"cannot be read: {exc.strerror}", "check the file")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or str(exc)
        return None, [Problem(path, TOP, f"is not valid YAML{where}: {what}", "fix the syntax")]


def _validated(model: type[M], raw: Any, file: Path) -> tuple[M | None, list[Problem]]:
    """The model, or every problem pydantic finds (unknown fields first)."""
    try:
        return model.model_validate(raw), []
    except ValidationError as exc:
        return None, explain_validation(exc, model, file)


# -- one pack: its files and cross-references ---------------------------------------------------


@dataclass(frozen=True)
class PackCheck:
    """What loading one pack folder gave: its spec and library (None when invalid), problems."""

    folder: Path
    spec: DomainSpec | None
    library: ExternalLibrary | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def streams_file(self) -> Path:
        """The pack's ``streams.yaml``."""
        return self.folder / STREAMS_FILE


def check_pack(folder: Path) -> PackCheck:
    """Read and check one pack folder: every problem of its own files."""
    spec, problems = _load_spec(folder)
    if spec is not None:
        problems += reference_problems(spec, folder / STREAMS_FILE)
    library, lib_problems = _load_library(folder, spec)
    return PackCheck(folder, spec, library, problems + lib_problems)


def _load_spec(folder: Path) -> tuple[DomainSpec | None, list[Problem]]:
    path = folder / STREAMS_FILE
    raw, problems = read_yaml_file(path)
    if problems:
        return None, problems
    if not isinstance(raw, dict):
        return None, [
            Problem(
                path,
                TOP,
                f"holds a {type(raw).__name__}, not a mapping",
                "write a mapping with entities, parameters, profiles and streams",
            )
        ]
    declared = raw.setdefault("domain", folder.name)
    if declared != folder.name:
        return None, [
            Problem(
                path,
                "domain",
                f"says {declared!r} but the pack folder is {folder.name!r}",
                "a pack's domain is its folder name: rename one of them",
            )
        ]
    return _validated(DomainSpec, raw, path)


def _load_library(
    folder: Path, spec: DomainSpec | None
) -> tuple[ExternalLibrary | None, list[Problem]]:
    path = folder / EXTERNAL_FILE
    raw: Any = {}
    if path.is_file():
        raw, problems = read_yaml_file(path)
        if problems:
            return None, problems
        raw = raw or {}
        if not isinstance(raw, dict):
            fix = "write a mapping with `templates`"
            return None, [Problem(path, TOP, f"holds a {type(raw).__name__}", fix)]
    library, problems = _validated(ExternalLibrary, {**raw, "domain": folder.name}, path)
    if library is not None and spec is not None:
        problems += library_problems(library, spec, path)
    return library, problems


def library_problems(library: ExternalLibrary, spec: DomainSpec, file: Path) -> list[Problem]:
    """Modifier targets of the templates that name no parameter of the domain."""
    graph = targets_graph(spec)
    out: list[Problem] = []
    for i, t in enumerate(library.templates):
        targets = {
            f"templates.{i}.modifiers.{j}.target": m.target for j, m in enumerate(t.modifiers)
        }
        out += target_problems(targets, [graph], file)
        for k, topic in enumerate(t.expected_impact.streams):
            if topic not in _topics(spec):
                out.append(
                    _unknown(
                        file,
                        f"templates.{i}.expected_impact.streams.{k}",
                        "stream",
                        topic,
                        _topics(spec),
                        "name a topic of the domain",
                    )
                )
    return out


def targets_graph(spec: DomainSpec) -> ParamGraph:
    """The domain's parameter paths (causal edges left out: a target needs only the names)."""
    return ParamGraph.from_domain(spec.model_copy(update={"causal": ()}))


def target_problems(
    targets: Mapping[str, str], graphs: Iterable[ParamGraph], file: Path
) -> list[Problem]:
    """Targets (by field path) that match a parameter of none of ``graphs``."""
    graphs = list(graphs)
    known = [p for g in graphs for p in g.defaults]
    return [
        _unknown(
            file,
            where,
            "modifier target",
            t,
            known,
            "use a parameter path or glob such as <domain>.<stream>.rate",
        )
        for where, t in targets.items()
        if all(g.unknown_targets([t]) for g in graphs)
    ]


def _topics(spec: DomainSpec) -> list[str]:
    return [spec.topic(s) for s in spec.streams]


def reference_problems(spec: DomainSpec, file: Path) -> list[Problem]:
    """Every name the pack uses that it does not define: profiles, entities, parameters,
    streams (chain targets, aggregate sources), relations, causal edges."""
    out = _growth_problems(spec, file) + _entity_problems(spec, file)
    for name, s in spec.streams.items():
        out += _stream_refs(spec, name, s, file)
    out += _causal_problems(spec, file) + episodes.problems(spec, file)
    out += processes.problems(spec, file)
    out += label_noise.problems(spec, file) + feedback.problems(spec, file)
    for name, j in spec.journeys.items():
        out += journeys.problems(spec, j, f"journeys.{name}", file)
    for name, prof in spec.profiles.items():  # strength and cycles read parameters
        if prof.local is not None:
            out += localtime.problems(spec, name, prof.local, file)
        out += _param_problem(spec, f"profiles.{name}.strength", prof.strength, file)
        for i, c in enumerate(prof.cycles):
            out += _param_problem(spec, f"profiles.{name}.cycles.{i}.amplitude", c.amplitude, file)
    return out


def _growth_problems(spec: DomainSpec, file: Path) -> list[Problem]:
    try:
        parse_instant_ms(spec.growth_reference)
    except ValueError as exc:
        return [Problem(file, "growth_reference", str(exc), "write an ISO-8601 instant")]
    return []


def _entity_problems(spec: DomainSpec, file: Path) -> list[Problem]:
    out: list[Problem] = [
        _unknown(
            file, f"stocks.{name}.entity", "entity", st.entity, spec.entities, "name an entity"
        )
        for name, st in spec.stocks.items()
        if st.entity not in spec.entities
    ]
    for kind, ent in spec.entities.items():
        for aname, a in ent.attributes.items():
            where = f"entities.{kind}.attributes.{aname}"
            if isinstance(a, RelationSpec) and a.relation not in spec.entities:
                out.append(
                    _unknown(
                        file,
                        f"{where}.relation",
                        "entity",
                        a.relation,
                        spec.entities,
                        "name an entity of `entities`",
                    )
                )
            elif isinstance(a, FieldSpec):
                out += _drawn_attribute_problems(a, where, file)
            elif isinstance(a, dict):
                out += _faker_problems(a, where, file)
    return out


def _drawn_attribute_problems(a: FieldSpec, where: str, file: Path) -> list[Problem]:
    if not isinstance(a, ChoiceField) and (not a.numeric_law or a.factors()):
        laws = [f"`{k}`" for k, g in generators().items() if g.numeric_law]
        fix = (
            f"use `choice: [...]` (with numeric `weights`), a numeric law ({', '.join(laws)}; "
            "with `min`, `max`, `round`; no `times`) or `faker: <provider>`"
        )
        return [Problem(file, where, "an entity attribute is drawn once per entity", fix)]
    if any(isinstance(w, str | ByAttr) for w in a.weights or ()):
        fix = "give numbers: attributes are drawn once, before any parameter moves"
        return [Problem(file, f"{where}.weights", "entity attribute weights are fixed", fix)]
    return []


@functools.cache
def _faker() -> Faker:
    return Faker()


def _faker_problems(a: Mapping[str, str], where: str, file: Path) -> list[Problem]:
    if set(a) != {"faker"}:
        extra = [k for k in a if k != "faker"]
        return [
            _unknown(
                file,
                f"{where}.{extra[0] if extra else 'faker'}",
                "attribute key",
                extra[0] if extra else "",
                ["faker"],
                "an attribute is `{faker: <provider>}`, `{choice: [...]}`, "
                "`{relation: <entity>, per: [min, max]}` or `{joined: month}`",
            )
        ]
    if not hasattr(_faker(), a["faker"]):
        return [
            Problem(
                file,
                f"{where}.faker",
                f"Faker has no provider {a['faker']!r}",
                "use a Faker provider such as name, city, company or email",
            )
        ]
    return []


def _stream_refs(spec: DomainSpec, name: str, s: StreamSpec, file: Path) -> list[Problem]:
    where = f"streams.{name}"
    out: list[Problem] = []
    profiles = [*spec.profiles, "flat"]
    if s.profile not in profiles:
        out.append(
            _unknown(
                file,
                f"{where}.profile",
                "profile",
                s.profile,
                profiles,
                "name a profile of `profiles`, or `flat`",
            )
        )
    for fname, f in s.fields.items():
        out += _field_refs(spec, f, f"{where}.fields.{fname}", file)
        out += _made_before(spec, name, s, fname, f, f"{where}.fields.{fname}", file)
    for i, chain in enumerate(s.then):
        out += chains.problems(spec, chain, f"{where}.then.{i}", file)
    if s.aggregate is not None:
        out += aggregates.problems(spec, s.aggregate, f"{where}.aggregate", file)
    if s.label_of is not None:
        out += _label_refs(spec, name, s.label_of, f"{where}.label_of", file)
    for i, use in enumerate(s.stock):
        out += stocks.problems(spec, s, use, f"{where}.stock.{i}", file)
    out += _record_problems(spec, name, s, file)
    return out


def _made_before(
    spec: DomainSpec, name: str, s: StreamSpec, fname: str, f: FieldSpec, where: str, file: Path
) -> list[Problem]:
    """The fields `after`, `product` and `null_if` read: made before this one, or carried by
    a chain into the stream (a stream no chain reaches must generate them)."""
    reads = [(f"{where}.{at}", x) for at, x in f.reads()]
    reached = any(name in c.targets() for st in spec.streams.values() for c in st.then)
    order = list(s.fields)
    out: list[Problem] = []
    for at, other in reads:
        if other == "occurred_at":
            continue
        if other in s.fields and order.index(other) > order.index(fname):
            out.append(
                Problem(file, at, f"`{other}` is made after `{fname}`", f"list `{other}` first")
            )
        elif other not in s.fields and not reached:
            fix = "name a field generated before it (or carried by a chain)"
            out.append(_unknown(file, at, "field", other, order[: order.index(fname)], fix))
    return out


def _label_refs(spec: DomainSpec, name: str, of: str, where: str, file: Path) -> list[Problem]:
    """A label stream names a stream of the pack and some chain reaches it."""
    if of not in spec.streams:
        return [_unknown(file, where, "stream", of, spec.streams, "name the stream labelled")]
    if not any(name in c.targets() for st in spec.streams.values() for c in st.then):
        return [
            Problem(
                file,
                where,
                f"no chain reaches label stream {name}",
                f"chain to it (`then: [{{to: {name}, probability: 1, delay: ...}}]`) from {of} "
                "or from the streams that settle it",
            )
        ]
    return []


def _field_refs(spec: DomainSpec, f: FieldSpec, where: str, file: Path) -> list[Problem]:
    """The names a field uses: its generator's own checks, then its `times` factors."""
    out = f.problems(spec, where, file)
    many = isinstance(f.times, tuple)
    for k, x in enumerate(f.factors()):
        at = f"{where}.times.{k}" if many else f"{where}.times"
        out += _param_problem(spec, at, x, file)
        if isinstance(x, ByAttr):
            out += _by_problems(spec, x, at, file)
    return out


def _openings_problems(spec: DomainSpec, f: FieldSpec, where: str, file: Path) -> list[Problem]:
    """An `entity` field's `openings` read instants recorded on its kind."""
    return f.openings_problems(spec, where, file) if isinstance(f, EntityField) else []


def _record_problems(spec: DomainSpec, name: str, s: StreamSpec, file: Path) -> list[Problem]:
    """A stream's `record` names its own entity fields and, for each, instant fields it
    makes; `at_start` names fields of the stream."""
    where = f"streams.{name}"
    out: list[Problem] = []
    entity_fields = [k for k, f in s.fields.items() if f.entity is not None]
    for fname, kept in s.record.items():
        if fname not in entity_fields:
            fix = "name a field drawn with `entity:` in this stream"
            out.append(
                _unknown(file, f"{where}.record.{fname}", "entity field", fname, entity_fields, fix)
            )
        for i, instant in enumerate(kept):
            f = s.fields.get(instant)
            if instant != "occurred_at" and (f is None or f.after is None):
                fields = [k for k, x in s.fields.items() if x.after is not None]
                fix = "name an instant the stream makes (`after: ...`) or occurred_at"
                out.append(
                    _unknown(
                        file, f"{where}.record.{fname}.{i}", "instant field", instant, fields, fix
                    )
                )
    for fname, f in (s.at_start or {}).items():
        if fname not in s.fields:
            fix = "name a field of the stream: `at_start` replaces its generators"
            out.append(_unknown(file, f"{where}.at_start.{fname}", "field", fname, s.fields, fix))
        out += _field_refs(spec, f, f"{where}.at_start.{fname}", file)
    return out


def _causal_problems(spec: DomainSpec, file: Path) -> list[Problem]:
    known = [*spec.parameters, *(f"{s}.rate" for s in spec.streams)]
    out: list[Problem] = []
    for i, e in enumerate(spec.causal):
        for key, p in (("from", e.source), ("to", e.target)):
            if p not in known:
                out.append(
                    _unknown(
                        file,
                        f"causal.{i}.{key}",
                        "parameter",
                        p,
                        known,
                        "name a parameter, or <stream>.rate",
                    )
                )
    return out or _graph_problems(spec, file)


def _graph_problems(spec: DomainSpec, file: Path) -> list[Problem]:
    """Edges from a zero default (undefined ratio) and cycles, once every name is known."""
    out = [
        Problem(
            file,
            f"causal.{i}.from",
            f"parameter {e.source!r} has default 0, so the edge's ratio is undefined",
            "give it a non-zero default",
        )
        for i, e in enumerate(spec.causal)
        if spec.parameters.get(e.source, 1.0) == 0
    ]
    if not out:
        try:
            ParamGraph.from_domain(spec)
        except DomainError as exc:
            out.append(Problem(file, "causal", str(exc), "break the cycle: drop one edge"))
    return out
