"""The checks of one domain pack, each reported as its own ``Problem`` and never stopping at the
first: YAML syntax, structure (pydantic), cross-references, the external-event library, and
every stream against its Avro schema.

These are the only copies of those checks: ``load_pack`` refuses a pack with any problem of its
own files, and ``simctl validate`` (``orchestrator.validate``) adds the stream-against-schema
checks, which need the project's schemas. The engine (``producers/engine.py``) still runs its
own load-time checks; everything they can find is found here first, so no run stops mid-way.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from faker import Faker
from pydantic import BaseModel, ValidationError

from simfleet.codec.catalog import FieldType
from simfleet.domain.params import ParamGraph
from simfleet.domain.spec import (
    AggregateSpec,
    ByAttr,
    Chain,
    DomainSpec,
    FieldSpec,
    JourneySpec,
    RelationSpec,
    StockUse,
    StreamSpec,
)
from simfleet.errors import DomainError
from simfleet.external import ExternalLibrary
from simfleet.problems import Problem, explain_validation
from simfleet.suggest import did_you_mean
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
IMPLICIT = ("event_id", "occurred_at")
TOP = "(top level)"
UNKNOWN = "?"  # the entity kind of a field whose entity is itself misspelt (reported once)
_GENERATORS = ("entity", "attr", "seq", "choice", "const", "uniform", "normal", "lognormal")
M = TypeVar("M", bound=BaseModel)
_NUMERIC = (
    "uniform",
    "normal",
    "lognormal",
    "poisson",
    "integers",
    "pareto",
    "param",
    "process",
    "sum_of",
)
_ATTRIBUTE_LAWS = ("pareto", "uniform", "lognormal", "normal")  # numeric entity attributes


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


def _unknown(
    file: Path | None, where: str, what: str, name: str, known: Iterable[str], fix: str
) -> Problem:
    """``unknown <what> 'name' (did you mean `x`?)``."""
    known = list(known)
    return Problem(file, where, f"unknown {what} {name!r}{did_you_mean(name, known)}", fix)


def reference_problems(spec: DomainSpec, file: Path) -> list[Problem]:
    """Every name the pack uses that it does not define: profiles, entities, parameters,
    streams (chain targets, aggregate sources), relations, causal edges."""
    out = _growth_problems(spec, file) + _entity_problems(spec, file)
    for name, s in spec.streams.items():
        out += _stream_refs(spec, name, s, file)
    out += _causal_problems(spec, file) + _episode_problems(spec, file)
    out += _process_problems(spec, file)
    for name, j in spec.journeys.items():
        out += _journey_refs(spec, j, f"journeys.{name}", file)
    for name, prof in spec.profiles.items():  # strength and cycles read parameters
        out += _param_problem(spec, f"profiles.{name}.strength", prof.strength, file)
        for i, c in enumerate(prof.cycles):
            out += _param_problem(spec, f"profiles.{name}.cycles.{i}.amplitude", c.amplitude, file)
    return out


def _entity_field_problem(
    spec: DomainSpec, stream: str, fname: str, kind: str, where: str, file: Path
) -> list[Problem]:
    """``stream`` is a stream of the pack whose field ``fname`` draws ``kind`` entities."""
    s = spec.streams.get(stream)
    if s is None:
        return [_unknown(file, where, "stream", stream, spec.streams, "name a stream of the pack")]
    f = s.fields.get(fname)
    if f is None or f.entity != kind:
        return [
            Problem(
                file,
                where,
                f"stream {stream} has no field `{fname}: {{entity: {kind}}}`",
                f"declare `{fname}: {{entity: {kind}}}` in its fields, or name the field that "
                f"draws the {kind}",
            )
        ]
    return []


def _episode_problems(spec: DomainSpec, file: Path) -> list[Problem]:
    """Episodes and floors name an entity, streams drawing it in their field, and parameters;
    a multiplied stream is rate-driven and an emitted one is reached by nothing else."""
    out: list[Problem] = []
    kinds: dict[str, tuple[str, str]] = {}  # multiplied stream -> (field, kind)
    for name, e in spec.episodes.items():
        where = f"episodes.{name}"
        if e.entity not in spec.entities:
            out.append(
                _unknown(file, f"{where}.entity", "entity", e.entity, spec.entities, "name one")
            )
            continue
        for k, v in e.numbers().items():
            out += _param_problem(spec, f"{where}.{k}", v, file)
        for i, st in enumerate(e.streams):
            at = f"{where}.streams.{i}"
            found = _entity_field_problem(spec, st, e.field, e.entity, at, file)
            out += found
            if found:
                continue
            if not spec.streams[st].rate:
                fix = "give it a `rate`, or multiply another stream"
                out.append(Problem(file, at, f"stream {st} has no rate to multiply", fix))
            elif spec.streams[st].fields[e.field].pick != "active":
                fix = "multiply a stream that draws active entities (`pick: active`)"
                out.append(Problem(file, at, f"{st} picks its {e.entity} otherwise", fix))
            if kinds.setdefault(st, (e.field, e.entity)) != (e.field, e.entity):
                fix = "let every episode of a stream use the same entity field"
                out.append(Problem(file, at, f"{st} is multiplied on two fields", fix))
        if e.emit is not None:
            at = f"{where}.emit"
            found = _entity_field_problem(spec, e.emit, e.field, e.entity, at, file)
            out += found
            s = spec.streams.get(e.emit)
            reached = any(e.emit in c.targets() for st in spec.streams.values() for c in st.then)
            if not found and s is not None and (s.rate or s.aggregate or reached):
                fix = "drop its `rate` (an episode's stream is reached by the episode only)"
                out.append(Problem(file, at, f"stream {e.emit} is also drawn otherwise", fix))
    for name, f in spec.floors.items():
        where = f"floors.{name}"
        out += _param_problem(spec, f"{where}.at_least", f.at_least, file)
        s = spec.streams.get(f.stream)
        if s is None:
            out.append(
                _unknown(file, f"{where}.stream", "stream", f.stream, spec.streams, "name one")
            )
            continue
        fs = s.fields.get(f.field)
        if fs is None or fs.entity is None or fs.entity not in spec.entities:
            out.append(
                Problem(
                    file,
                    f"{where}.field",
                    f"`{f.field}` is not an entity field of stream {f.stream}",
                    "name the field that draws the entity the floor counts",
                )
            )
    return out


def _process_problems(spec: DomainSpec, file: Path) -> list[Problem]:
    """A process names an entity of the pack, parameters of the pack and drawn attributes of
    its entity."""
    out: list[Problem] = []
    for name, ps in spec.processes.items():
        where = f"processes.{name}"
        if ps.entity not in spec.entities:
            fix = "name an entity of `entities`"
            out.append(_unknown(file, f"{where}.entity", "entity", ps.entity, spec.entities, fix))
            continue
        if isinstance(ps.start, ByAttr) and ps.start.params():
            fix = "give numbers: starting levels are drawn once, before any parameter moves"
            out.append(Problem(file, f"{where}.start", "starting levels are fixed", fix))
        for key, v in ps.numbers().items():
            out += _param_problem(spec, f"{where}.{key}", v, file)
            if isinstance(v, ByAttr):
                out += _by_problems(spec, v, f"{where}.{key}", file, [ps.entity])
        if isinstance(ps.start, ByAttr):
            out += _by_problems(spec, ps.start, f"{where}.start", file, [ps.entity])
    return out


def _journey_refs(spec: DomainSpec, j: JourneySpec, where: str, file: Path) -> list[Problem]:
    """A journey names streams and parameters of the pack, its roles do not share a stream,
    a gated state follows the state that emits what it requires, and no gap inside an episode
    reaches the idle timeout (so an episode never times out half-way)."""
    fix = "name a stream of `streams`"
    roles = [("start", j.start), ("enter", j.enter), ("leave", j.leave), ("end", j.end)]
    if j.actions is not None:
        roles += [(f"actions.streams.{k}", k) for k in j.actions.streams]
    for pname, path in j.paths.items():
        for sname, st in path.states.items():
            for i, e in enumerate(st.emit):
                at = f"paths.{pname}.states.{sname}.emit.{i}.streams"
                roles += [(f"{at}.{k}", x) for k, x in enumerate(e.streams)]
    out = [
        _unknown(file, f"{where}.{at}", "stream", x, spec.streams, fix)
        for at, x in roles
        if x not in spec.streams
    ]
    for at, v in j.params():
        out += _param_problem(spec, f"{where}.{at}", v, file)
    start = spec.streams.get(j.start)
    if start is not None and j.id not in start.fields:
        out.append(
            _unknown(file, f"{where}.id", "field", j.id, start.fields, f"name a field of {j.start}")
        )
    own = [j.start, j.enter, j.leave, j.end]
    clicks = [x for at, x in roles[4:]]
    if len(set(own)) < 4 or set(own) & set(clicks):
        out.append(
            Problem(
                file,
                where,
                "start, enter, leave, end and the action and emitted streams must be distinct "
                "streams",
                "give each role its own stream (actions and emissions may share theirs)",
            )
        )
    for pname, path in j.paths.items():
        emitted: list[str] = []
        for sname, st in path.states.items():
            if st.requires is not None and (path.order == "any" or st.requires not in emitted):
                out.append(
                    Problem(
                        file,
                        f"{where}.paths.{pname}.states.{sname}.requires",
                        f"no earlier state of the {path.order} path {pname} emits {st.requires}",
                        "require a stream an earlier state lists under `emit` (forward paths only)",
                    )
                )
            emitted += [x for e in st.emit for x in e.streams]

    def most(v: float | str) -> float:
        return float(spec.parameters.get(v, 0.0)) if isinstance(v, str) else float(v)

    if (most(j.dwell.max) + most(j.gap.max)) * 1000 >= j.idle_timeout:
        out.append(
            Problem(
                file,
                f"{where}.idle_timeout",
                "a page's dwell plus the gap after it can reach the idle timeout: episodes "
                "would time out half-way",
                "lower dwell.max and gap.max or raise idle_timeout",
            )
        )
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
    laws = [k for k in _ATTRIBUTE_LAWS if getattr(a, k) is not None]
    if a.choice is None and (not laws or a.factors()):
        fix = (
            "use `choice: [...]` (with numeric `weights`), a numeric law (`pareto: {alpha, min, "
            "max}`, `uniform`, `lognormal` or `normal`, with `min`, `max`, `round`; no `times`) "
            "or `faker: <provider>`"
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
        out += _chain_refs(spec, chain, f"{where}.then.{i}", file)
    if s.aggregate is not None:
        out += _aggregate_refs(spec, s.aggregate, f"{where}.aggregate", file)
    if s.label_of is not None:
        out += _label_refs(spec, name, s.label_of, f"{where}.label_of", file)
    for i, use in enumerate(s.stock):
        out += _stock_refs(spec, s, use, f"{where}.stock.{i}", file)
    out += _record_problems(spec, name, s, file)
    return out


def _stock_refs(
    spec: DomainSpec, s: StreamSpec, use: StockUse, where: str, file: Path
) -> list[Problem]:
    """A stock use names a stock of the pack, the stream's entity field of the stock's kind,
    and (consume, restore) a `choice` field holding every level of the stock."""
    stock = spec.stocks.get(use.stock)
    if stock is None:
        return [
            _unknown(
                file, f"{where}.stock", "stock", use.stock, spec.stocks, "declare it under `stocks`"
            )
        ]
    out: list[Problem] = []
    # fields the stream does not generate are carried to it by a chain (checked there)
    of = s.fields.get(use.of)
    if of is not None and of.entity != stock.entity:
        out.append(
            Problem(
                file,
                f"{where}.of",
                f"`{use.of}` is not an `entity: {stock.entity}` field of this stream",
                f"name the field that draws the {stock.entity} holding the stock",
            )
        )
    lvl = s.fields.get(use.level or "")
    if lvl is not None:
        values = {str(v) for v in (lvl.choice or ())}
        missing = [k for k in stock.levels if k not in values]
        if missing:
            out.append(
                Problem(
                    file,
                    f"{where}.level",
                    f"`{use.level}` is not a `choice` of this stream holding every level of stock "
                    f"{use.stock} (missing: {', '.join(missing)})",
                    f"draw it with `choice: [{', '.join(stock.levels)}]`",
                )
            )
    return out


def _made_before(
    spec: DomainSpec, name: str, s: StreamSpec, fname: str, f: FieldSpec, where: str, file: Path
) -> list[Problem]:
    """The fields `after`, `product` and `null_if` read: made before this one, or carried by
    a chain into the stream (a stream no chain reaches must generate them)."""
    reads = [(f"{where}.after.of", f.after.of)] if f.after is not None else []
    reads += [(f"{where}.product", x) for x in f.product or ()]
    reads += [(f"{where}.sum_of", x) for x in f.sum_of or {}]
    reads += [(f"{where}.null_if", f.null_if)] if f.null_if is not None else []
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


def _param_problem(spec: DomainSpec, where: str, value: object, file: Path) -> list[Problem]:
    if isinstance(value, str) and value not in spec.parameters:
        return [
            _unknown(
                file,
                where,
                "parameter",
                value,
                spec.parameters,
                "name a parameter of `parameters` (without the domain prefix)",
            )
        ]
    return []


def _field_refs(spec: DomainSpec, f: FieldSpec, where: str, file: Path) -> list[Problem]:
    out: list[Problem] = []
    if f.entity is not None and f.entity not in spec.entities:
        out.append(
            _unknown(
                file,
                f"{where}.entity",
                "entity",
                f.entity,
                spec.entities,
                "name an entity of `entities`",
            )
        )
    for key in ("param", "bernoulli"):
        out += _param_problem(spec, f"{where}.{key}", getattr(f, key), file)
    many = isinstance(f.times, tuple)
    for k, x in enumerate(f.factors()):
        at = f"{where}.times.{k}" if many else f"{where}.times"
        out += _param_problem(spec, at, x, file)
        if isinstance(x, ByAttr):
            out += _by_problems(spec, x, at, file)
    out += _openings_problems(spec, f, where, file)
    if f.process is not None and f.process not in spec.processes:
        fix = "name a process of `processes`"
        out.append(_unknown(file, f"{where}.process", "process", f.process, spec.processes, fix))
    for k, w in enumerate(f.weights or ()):
        out += _param_problem(spec, f"{where}.weights.{k}", w, file)
    for key in ("bernoulli", "weight"):
        b = getattr(f, key)
        if isinstance(b, ByAttr):
            kinds = [f.entity] if key == "weight" and f.entity in spec.entities else None
            out += _by_problems(spec, b, f"{where}.{key}", file, kinds)
    for k, w in enumerate(f.weights or ()):
        if isinstance(w, ByAttr):
            out += _by_problems(spec, w, f"{where}.weights.{k}", file)
    for x, w in (f.sum_of or {}).items():
        out += _param_problem(spec, f"{where}.sum_of.{x}", w, file)
        if isinstance(w, ByAttr):
            out += _by_problems(spec, w, f"{where}.sum_of.{x}", file)
    return out


def _delay_table(chain: Chain) -> ByAttr:
    """A chain's ``delay_by`` as a `by` table (its laws' values listed), for the checks."""
    by = chain.delay_by
    assert by is not None
    return ByAttr(by=by.by, of=by.of, values=dict.fromkeys(by.laws, 0.0), default=0.0)


def _by_shape_problems(
    spec: DomainSpec,
    b: ByAttr,
    where: str,
    file: Path,
    kinds: Iterable[str] | None,
    over_choice: bool,
) -> list[Problem] | None:
    """The problems of a `by` table that needs no check of its listed values (`by: value`, a
    numeric attribute, an unknown attribute, a missing `values`); None for a table over a
    `choice` attribute (``over_choice``), whose values the caller checks."""
    if b.by == "value":
        fix = "list a number per value: `values: {a: 1, b: 2}`"
        needs = [Problem(file, f"{where}.values", "`by: value` needs `values`", fix)]
        return needs if b.numeric else []
    kinds = None if kinds is None else list(kinds)
    numeric = [k for k in _numeric_attrs(spec, kinds) if k.split(".", 1)[1] == b.by]
    if numeric and not b.numeric:
        fix = f"drop `values` (the number is {b.by} itself, or {b.by} ** `power`)"
        return [Problem(file, f"{where}.values", f"{numeric[0]} is a numeric attribute", fix)]
    if numeric:
        return []
    if not over_choice:
        drawn = [*_choice_attrs(spec, kinds), *_numeric_attrs(spec, kinds)]
        names = sorted({k.split(".", 1)[1] for k in drawn})
        fix = (
            "name an entity attribute drawn with `choice` (a persona, a segment) or a numeric "
            "law (a popularity)"
        )
        return [_unknown(file, f"{where}.by", "drawn attribute", b.by, names, fix)]
    if b.numeric:
        fix = f"list a number per value of {b.by}: `values: {{...}}`"
        return [Problem(file, f"{where}.values", f"`by: {b.by}` is not numeric", fix)]
    return None


def _numeric_attrs(spec: DomainSpec, kinds: Iterable[str] | None) -> list[str]:
    """``kind.attr`` of the numeric attributes (a law, no `choice`) of ``kinds`` (all: None)."""
    return [
        f"{kind}.{aname}"
        for kind, ent in spec.entities.items()
        if kinds is None or kind in kinds
        for aname, a in ent.attributes.items()
        if isinstance(a, FieldSpec) and any(getattr(a, k) is not None for k in _ATTRIBUTE_LAWS)
    ]


def _recorded(spec: DomainSpec) -> dict[str, set[str]]:
    """Entity kind -> the instants streams `record` on its entities."""
    out: dict[str, set[str]] = {}
    for s in spec.streams.values():
        for fname, kept in s.record.items():
            f = s.fields.get(fname)
            if f is not None and f.entity is not None:
                out.setdefault(f.entity, set()).update(kept)
    return out


def _openings_problems(spec: DomainSpec, f: FieldSpec, where: str, file: Path) -> list[Problem]:
    """An `openings` weight reads instants some stream records on the entity kind it draws,
    and its peaks name numbers or parameters of the pack."""
    op = f.openings
    if op is None or f.entity not in spec.entities:
        return []
    kept = _recorded(spec).get(f.entity or "", set())
    out: list[Problem] = []
    named = [("closed_until", op.closed_until), ("closed_after", op.closed_after)]
    named += [(f"peaks.{k}", k) for k in op.peaks]
    for key, instant in named:
        if instant is not None and instant not in kept:
            out.append(
                Problem(
                    file,
                    f"{where}.openings.{key}",
                    f"no stream records the instant `{instant}` on {f.entity} entities"
                    + (f" (recorded: {', '.join(sorted(kept))})" if kept else ""),
                    f"add `record: {{<{f.entity} field>: [{instant}]}}` to the stream that sets "
                    f"it (the one announcing the {f.entity}), or name a recorded instant",
                )
            )
    for k, pk in op.peaks.items():
        out += _param_problem(spec, f"{where}.openings.peaks.{k}.peak", pk.peak, file)
    return out


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


def _choice_attrs(spec: DomainSpec, kinds: Iterable[str] | None) -> dict[str, tuple[str, ...]]:
    """``kind.attr`` -> values, for the drawn (`choice`) attributes of ``kinds`` (all: None)."""
    return {
        f"{kind}.{aname}": tuple(str(c) for c in a.choice)
        for kind, ent in spec.entities.items()
        if kinds is None or kind in kinds
        for aname, a in ent.attributes.items()
        if isinstance(a, FieldSpec) and a.choice is not None
    }


def _by_problems(
    spec: DomainSpec, b: ByAttr, where: str, file: Path, kinds: Iterable[str] | None = None
) -> list[Problem]:
    """A `by` table whose attribute is not drawn by `choice`, or whose values it never takes,
    or that names no parameter; which entity field `of` names is checked with the stream's
    schema (``by: value``: a `choice` field of the event, checked there too)."""
    named = [p for v in b.params() for p in _param_problem(spec, f"{where}.values", v, file)]
    attrs = {k: v for k, v in _choice_attrs(spec, kinds).items() if k.split(".", 1)[1] == b.by}
    shape = _by_shape_problems(spec, b, where, file, kinds, bool(attrs))
    if shape is not None:
        return named + shape
    out: list[Problem] = named
    for attr, choices in attrs.items():
        for v in b.listed:
            if v not in choices:
                out.append(
                    _unknown(
                        file,
                        f"{where}.values.{v}",
                        f"value of {attr}",
                        v,
                        choices,
                        f"list values of {attr}: {', '.join(choices)}",
                    )
                )
        unlisted = [c for c in choices if c not in b.listed]
        if unlisted and b.default is None and b.otherwise is None:
            out.append(
                Problem(
                    file,
                    f"{where}.values",
                    f"lists no number for {', '.join(unlisted)} of {attr}",
                    "list every value, or give a `default` (or an `otherwise` table)",
                )
            )
    return out


def _chain_refs(spec: DomainSpec, chain: Chain, where: str, file: Path) -> list[Problem]:
    out: list[Problem] = []
    prefer = chain.delay.prefer
    if prefer is not None and prefer not in spec.profiles:
        out.append(
            _unknown(
                file,
                f"{where}.delay.prefer",
                "profile",
                prefer,
                spec.profiles,
                "name a profile of `profiles`",
            )
        )
    fix = "name a stream of this pack"
    if chain.to is not None:
        if chain.to not in spec.streams:
            out.append(_unknown(file, f"{where}.to", "stream", chain.to, spec.streams, fix))
        out += _param_problem(spec, f"{where}.probability", chain.probability, file)
        if isinstance(chain.probability, ByAttr):
            out += _by_problems(spec, chain.probability, f"{where}.probability", file)
    if chain.delay_by is not None:
        out += [
            dataclasses.replace(p, path=p.path.replace(".values", ".laws"))
            for p in _by_problems(spec, _delay_table(chain), f"{where}.delay_by", file)
        ]
    for target, w in (chain.one_of or {}).items():
        if isinstance(w, ByAttr):
            out += _by_problems(spec, w, f"{where}.one_of.{target}", file)
        if target not in spec.streams:
            out.append(
                _unknown(file, f"{where}.one_of.{target}", "stream", target, spec.streams, fix)
            )
        out += _param_problem(spec, f"{where}.one_of.{target}", w, file)
    return out


def _aggregate_refs(spec: DomainSpec, agg: AggregateSpec, where: str, file: Path) -> list[Problem]:
    places: dict[str, str | None] = {f"{where}.source": agg.source}
    places |= {f"{where}.metrics.{m}.source": ms.source for m, ms in agg.metrics.items()}
    out: list[Problem] = []
    for place, src in places.items():
        if src is None:
            continue
        if src not in spec.streams:
            out.append(
                _unknown(file, place, "stream", src, spec.streams, "name a stream of this pack")
            )
        elif spec.streams[src].aggregate is not None:
            out.append(
                Problem(
                    file, place, f"{src} is itself an aggregate", "aggregate an entity-level stream"
                )
            )
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


# -- streams against their schemas ------------------------------------------------------------


@dataclass(frozen=True)
class Schemas:
    """What the pack's streams are checked against: schema fields and files by topic, and the
    topics whose files are broken (their problem is reported on the file, once)."""

    fields: Mapping[str, dict[str, FieldType]]
    files: Mapping[str, Path]
    broken: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Way:
    """One way events of a stream come to be, and the fields it fills before generation:
    field -> (source stream, source field), or None for a constant or computed value."""

    how: str
    given: Mapping[str, tuple[str, str] | None]
    fix: str = "add a generator for each under `fields`"
    known: bool = True  # False when the source's schema is unknown: nothing to check against
    emitted: bool = True


Kinds = dict[str, dict[str, frozenset[str | None]]]  # stream -> field -> entity kinds (None: no)


class _StreamChecks:
    """The stream-against-schema checks of one pack."""

    def __init__(self, spec: DomainSpec, file: Path, schemas: Schemas) -> None:
        self.spec = spec
        self.file = file
        self.schemas = schemas
        self.types = {
            n: schemas.fields[spec.topic(n)]
            for n in spec.streams
            if spec.topic(n) in schemas.fields
        }
        self.incoming: dict[str, list[tuple[str, int, Chain]]] = {}
        for name, s in spec.streams.items():
            for i, chain in enumerate(s.then):
                for t in chain.targets():
                    self.incoming.setdefault(t, []).append((name, i, chain))
        self.ways = {n: self._ways(n) for n in spec.streams}
        self.kinds = self._kinds()

    def schema_file(self, name: str) -> Path:
        """The schema file of a stream (where it is, or where it should be)."""
        topic = self.spec.topic(name)
        return self.schemas.files.get(topic, Path("schemas", self.spec.domain, f"{name}.avsc"))

    # -- how events come to be

    def _ways(self, name: str) -> list[_Way]:
        s = self.spec.streams[name]
        ways: list[_Way] = []
        if s.aggregate is not None:
            ways.append(_Way("emitted by its aggregate", self._agg_given(s.aggregate)))
        for src, i, chain in self.incoming.get(name, ()):
            ways.append(self._chain_way(src, i, chain, name))
        if s.rate:
            ways.append(_Way("drawn at its rate", {}))
        for ep, e in self.spec.episodes.items():
            if e.emit == name:  # the entity field is carried; the rest is generated
                ways.append(_Way(f"emitted by episode {ep}", {}))
        for jname, j in self.spec.journeys.items():
            if name in j.streams():
                ways.append(self._journey_way(jname, j, name))
        if not ways:
            # never emitted (a chain into it may be misspelt: reported there); its fields are
            # still checked as if drawn, but nothing is missing from events that never exist
            ways.append(_Way("never emitted", {}, emitted=False))
        return ways

    def _journey_way(self, jname: str, j: JourneySpec, target: str) -> _Way:
        how = f"emitted by the journey journeys.{jname}"
        fix = f"add a generator for each, or carry them from {j.start} (same name in its schema)"
        src_types, tgt_types = self.types.get(j.start), self.types.get(target, {})
        if src_types is None:
            return _Way(how, {}, fix, known=False)
        given: dict[str, tuple[str, str] | None] = {
            f: (j.start, f) for f in tgt_types if f not in IMPLICIT and f in src_types
        }
        made: list[str | None] = [j.state_field]
        if target == j.end:
            made = [j.length_field, j.reason_field]
        if j.actions is not None and target not in (j.enter, j.leave, j.end):
            made.append(j.actions.field)
        if target == j.leave:
            made.append(j.dwell_field)
        given |= {f: None for f in made if f is not None and f in tgt_types}
        return _Way(how, given, fix)

    @staticmethod
    def _agg_given(agg: AggregateSpec) -> dict[str, tuple[str, str] | None]:
        given: dict[str, tuple[str, str] | None] = {"period_start": None}
        given[agg.group_by or "shard_id"] = (agg.source, agg.group_by) if agg.group_by else None
        return given | dict.fromkeys(agg.metrics)

    def _chain_way(self, src: str, i: int, chain: Chain, target: str) -> _Way:
        how = f"reached through the chain streams.{src}.then.{i}"
        fix = "add a generator for each, or carry them through that chain (same name in the "
        fix += f"schema of {src}, `rename` or `set`)"
        src_types, tgt_types = self.types.get(src), self.types.get(target, {})
        if src_types is None:
            return _Way(how, {}, fix, known=False)
        given: dict[str, tuple[str, str] | None] = {
            f: (src, f)
            for f in tgt_types
            if f not in IMPLICIT and f in src_types and f not in chain.set and f not in chain.fresh
        }
        reported = {c for u in self.spec.streams[src].stock for c in u.reported()}
        given |= {f: None for f in tgt_types if f in reported and f not in chain.set}
        given |= {dst: (src, from_) for dst, from_ in chain.rename.items()}
        given |= dict.fromkeys(chain.set)
        if chain.delay_field is not None and chain.delay_field in tgt_types:
            given[chain.delay_field] = None
        return _Way(how, given, fix)

    # -- which fields hold entity ids, of which kind

    def _kinds(self) -> Kinds:
        kinds: Kinds = {n: {} for n in self.spec.streams}
        for _ in range(len(self.spec.streams) + 2):  # chains carry kinds one hop per round
            changed = False
            for name in self.spec.streams:
                for fname in self._field_names(name):
                    new = kinds[name].get(fname, frozenset()) | self._field_kinds(
                        kinds, name, fname
                    )
                    if new != kinds[name].get(fname):
                        kinds[name][fname], changed = new, True
            if not changed:
                break
        return kinds

    def _field_names(self, name: str) -> list[str]:
        s = self.spec.streams[name]
        return list(dict.fromkeys([*self.types.get(name, {}), *s.fields]))

    def _field_kinds(self, kinds: Kinds, name: str, fname: str) -> frozenset[str | None]:
        out: set[str | None] = set()
        for way in self.ways[name]:
            out |= self._kinds_in(kinds, name, fname, way)
        return frozenset(out)

    def _kinds_in(self, kinds: Kinds, name: str, fname: str, way: _Way) -> set[str | None]:
        if not way.known:
            return {UNKNOWN}
        if fname in way.given:
            origin = way.given[fname]
            return {None} if origin is None else set(kinds[origin[0]].get(origin[1], ()))
        f = self.spec.streams[name].fields.get(fname)
        return set() if f is None else self._generated_kinds(kinds, name, f)

    def _generated_kinds(self, kinds: Kinds, name: str, f: FieldSpec) -> set[str | None]:
        if f.entity is not None:
            return {f.entity if f.entity in self.spec.entities else UNKNOWN}
        if f.attr is None:
            return {None}
        return {self._attr_kind(k, f.attr) for k in kinds[name].get(f.of or "", ())}

    def _attr_kind(self, kind: str | None, attr: str) -> str | None:
        if kind is None or kind == UNKNOWN:
            return kind
        entity = self.spec.entities.get(kind)
        a = entity.attributes.get(attr) if entity is not None else None
        if a is None:
            return UNKNOWN  # reported on the `attr` field
        return a.relation if isinstance(a, RelationSpec) else None

    # -- the checks

    def problems(self, name: str) -> list[Problem]:
        """Every problem of one stream against its schema and the streams chained to it."""
        topic = self.spec.topic(name)
        if topic in self.schemas.broken:
            return []
        types = self.types.get(name)
        if types is None:
            return [self._no_schema(name)]
        return (
            self._implicit(name, types)
            + self._declared(name, types)
            + self._pick(name)
            + self._aggregate(name, types)
            + self._attrs(name)
            + self._by_of(name)
            + self._lifecycle(name)
            + self._process_of(name)
            + self._provided(name, types)
            + self._chains(name)
        )

    def _no_schema(self, name: str) -> Problem:
        topic = self.spec.topic(name)
        return Problem(
            self.file,
            f"streams.{name}",
            f"no Avro schema serves topic {topic}",
            f'add {self.schema_file(name)} with "simfleet.topic": "{topic}"',
        )

    def _implicit(self, name: str, types: dict[str, FieldType]) -> list[Problem]:
        return [
            Problem(
                self.schema_file(name),
                "fields",
                f"lacks the field `{f}`",
                "every event carries event_id (string) and occurred_at "
                "(timestamp-millis long): add it",
            )
            for f in IMPLICIT
            if f not in types
        ]

    def _declared(self, name: str, types: dict[str, FieldType]) -> list[Problem]:
        s = self.spec.streams[name]
        where = f"streams.{name}"
        schema = self.schema_file(name)
        out = [
            Problem(
                self.file,
                f"{where}.fields.{f}",
                f"is generated but {schema} does not declare it{did_you_mean(f, types)}",
                "add it to the schema or remove it from the stream",
            )
            for f in s.fields
            if f not in types
        ]
        out += [
            _type_problem(self.file, f"{where}.fields.{f}", fs, types[f], schema)
            for f, fs in s.fields.items()
            if f in types and _mismatch(fs, types[f], self._numeric_attr(name, fs))
        ]
        if s.key not in types:
            out.append(
                Problem(
                    self.file,
                    f"{where}.key",
                    f"key field `{s.key}` is not in {schema}{did_you_mean(s.key, types)}",
                    "name a field of the schema, usually the main entity id",
                )
            )
        return out

    def _pick(self, name: str) -> list[Problem]:
        s = self.spec.streams[name]
        return [
            Problem(
                self.file,
                f"streams.{name}.fields.{f}.pick",
                f"`pick: {fs.pick}` caps the event count, so only rate-driven streams can use it",
                "give the stream a `rate` or drop `pick`",
            )
            for f, fs in s.fields.items()
            if fs.pick != "active" and not s.rate
        ]

    def _aggregate(self, name: str, types: dict[str, FieldType]) -> list[Problem]:
        agg = self.spec.streams[name].aggregate
        if agg is None:
            return []
        where = f"streams.{name}.aggregate"
        own = [f for f in ("period_start", agg.group_by or "shard_id") if f not in types]
        out = [
            Problem(
                self.schema_file(name),
                "fields",
                f"lacks the aggregate field `{f}`",
                "an aggregate carries period_start and its group field (shard_id "
                "without group_by): add it",
            )
            for f in own
        ]
        out += [
            Problem(
                self.file,
                f"{where}.metrics.{m}",
                f"metric `{m}` has no field in {self.schema_file(name)}",
                "add it to the schema",
            )
            for m in agg.metrics
            if m not in types
        ]
        return out + self._agg_sources(name, agg)

    def _agg_sources(self, name: str, agg: AggregateSpec) -> list[Problem]:
        where = f"streams.{name}.aggregate"
        out: list[Problem] = []
        for m, ms in agg.metrics.items():
            src = ms.source or agg.source
            src_types = self.types.get(src)
            if src_types is None:
                continue  # unknown stream or schema: reported there
            needs = {f"{where}.group_by": agg.group_by, f"{where}.metrics.{m}": ms.field}
            out += [
                Problem(
                    self.file,
                    place,
                    f"stream {src} has no field `{f}`{did_you_mean(f, src_types)}",
                    f"name a field of {src}'s schema",
                )
                for place, f in needs.items()
                if f is not None and f not in src_types
            ]
        return list(dict.fromkeys(out))

    def _attrs(self, name: str) -> list[Problem]:
        s = self.spec.streams[name]
        out: list[Problem] = []
        order = list(s.fields)
        for fname, f in s.fields.items():
            if f.attr is None or f.of is None:
                continue
            where = f"streams.{name}.fields.{fname}"
            of_kinds = self.kinds[name].get(f.of, frozenset())
            if UNKNOWN in of_kinds:
                continue
            if not of_kinds:
                out.append(
                    _unknown(
                        self.file,
                        f"{where}.of",
                        "field",
                        f.of,
                        self._entity_fields(name),
                        "name an entity field of the stream",
                    )
                )
            elif None in of_kinds:
                out.append(
                    Problem(
                        self.file,
                        f"{where}.of",
                        f"`{f.of}` does not hold entity ids",
                        f"name an entity field: {', '.join(self._entity_fields(name))}",
                    )
                )
            elif (
                f.of in s.fields
                and order.index(f.of) > order.index(fname)
                and self._drawn(name, f.of)
            ):
                out.append(
                    Problem(
                        self.file,
                        f"{where}.of",
                        f"`{f.of}` is generated after `{fname}`",
                        f"list `{f.of}` before `{fname}`",
                    )
                )
            else:
                out += self._attr_names(f, of_kinds, f"{where}.attr")
        return out

    def _by_of(self, name: str) -> list[Problem]:
        """`by` tables whose `of` is no entity field (made before the field) with the
        attribute."""
        s = self.spec.streams[name]
        order = list(s.fields)
        places: list[tuple[str, ByAttr, str | None]] = [
            (f"streams.{name}.fields.{fname}", b, fname)
            for fname, f in s.fields.items()
            for b in f.by_tables()
            if b.of is not None
        ]
        places += [
            (f"streams.{name}.then.{i}", b, None)
            for i, chain in enumerate(s.then)
            for b in chain.by_tables()
        ]
        places += [
            (f"streams.{name}.then.{i}.delay_by", _delay_table(chain), None)
            for i, chain in enumerate(s.then)
            if chain.delay_by is not None
        ]
        out: list[Problem] = []
        for where, b, fname in places:
            of = b.of or ""
            if b.by == "value" and fname is None and of in self.spec.tags:
                continue  # a chain over a campaign tag: its values are the scenarios' to set
            if b.by == "value":
                out += self._by_value(name, where, b)
                continue
            kinds = self.kinds[name].get(of, frozenset())
            if UNKNOWN in kinds:
                continue
            if not kinds or None in kinds:
                out.append(
                    _unknown(
                        self.file,
                        f"{where}.of",
                        "entity field",
                        of,
                        self._entity_fields(name),
                        "name an entity field of the stream",
                    )
                )
            elif (
                fname is not None
                and of in s.fields
                and order.index(of) > order.index(fname)
                and self._drawn(name, of)
            ):
                out.append(
                    Problem(
                        self.file,
                        f"{where}.of",
                        f"`{of}` is generated after `{fname}`",
                        f"list `{of}` before `{fname}`",
                    )
                )
            else:
                lacking = [
                    k
                    for k in kinds
                    if k is not None
                    and f"{k}.{b.by}" not in _choice_attrs(self.spec, [k])
                    and f"{k}.{b.by}" not in _numeric_attrs(self.spec, [k])
                ]
                out += [
                    Problem(
                        self.file,
                        f"{where}.of",
                        f"`{of}` holds {k} entities, which have no drawn attribute `{b.by}`",
                        f"name a field holding entities with `{b.by}`",
                    )
                    for k in lacking
                ]
        return out

    def _process_of(self, name: str) -> list[Problem]:
        """A `process` field's `of` holds entities of the process's kind."""
        out: list[Problem] = []
        for fname, f in self.spec.streams[name].fields.items():
            ps = self.spec.processes.get(f.process or "")
            if ps is None:
                continue
            kinds = self.kinds[name].get(f.of or "", frozenset())
            if UNKNOWN in kinds or kinds == {ps.entity}:
                continue
            out.append(
                Problem(
                    self.file,
                    f"streams.{name}.fields.{fname}.of",
                    f"`{f.of}` does not hold {ps.entity} entities, whose paths process "
                    f"{f.process} draws",
                    f"name the field holding the {ps.entity} (`entity: {ps.entity}`)",
                )
            )
        return out

    def _by_value(self, name: str, where: str, b: ByAttr) -> list[Problem]:
        """A ``by: value`` table names a `choice` field of the stream and lists its values."""
        f = self.spec.streams[name].fields.get(b.of or "")
        if f is None or f.choice is None:
            return [
                Problem(
                    self.file,
                    f"{where}.of",
                    f"`by: value` needs `of` to name a `choice` field of {name}, not `{b.of}`",
                    "name a field drawn with `choice`, generated before this one",
                )
            ]
        choices = [str(c) for c in f.choice]
        return [
            _unknown(self.file, f"{where}.values.{v}", "value", v, choices, "list its values")
            for v in b.listed
            if v not in choices
        ]

    def _drawn(self, name: str, fname: str) -> bool:
        """Whether some way of making the stream's events does not carry ``fname``."""
        return any(fname not in w.given for w in self.ways[name])

    def _numeric_attr(self, name: str, f: FieldSpec) -> bool:
        """Whether ``f`` reads a numeric attribute of the entity in its `of` field."""
        if f.attr is None:
            return False
        kinds = [k for k in self.kinds[name].get(f.of or "", frozenset()) if isinstance(k, str)]
        return any(f"{k}.{f.attr}" in _numeric_attrs(self.spec, [k]) for k in kinds)

    def _attr_names(self, f: FieldSpec, kinds: Iterable[str | None], where: str) -> list[Problem]:
        out: list[Problem] = []
        for kind in kinds:
            entity = self.spec.entities.get(kind or "")
            if entity is not None and f.attr not in entity.attributes:
                out.append(
                    _unknown(
                        self.file,
                        where,
                        f"attribute of {kind}",
                        f.attr or "",
                        entity.attributes,
                        f"name an attribute of entities.{kind}",
                    )
                )
        return out

    def _entity_fields(self, name: str) -> list[str]:
        return [f for f, k in self.kinds[name].items() if k and None not in k]

    def _lifecycle(self, name: str) -> list[Problem]:
        s = self.spec.streams[name]
        out: list[Problem] = []
        for role in ("activates", "retires"):
            fname = getattr(s, role)
            kinds = self.kinds[name].get(fname or "", frozenset())
            if fname is None or UNKNOWN in kinds or (kinds and None not in kinds):
                continue
            out.append(
                Problem(
                    self.file,
                    f"streams.{name}.{role}",
                    f"`{fname}` is not an entity field of the stream",
                    f"name an entity field: {', '.join(self._entity_fields(name))}",
                )
            )
        return out

    def _provided(self, name: str, types: dict[str, FieldType]) -> list[Problem]:
        s = self.spec.streams[name]
        out: list[Problem] = []
        for way in self.ways[name]:
            missing = [
                f for f in types if f not in IMPLICIT and f not in s.fields and f not in way.given
            ]
            if way.known and way.emitted and missing:
                out.append(
                    Problem(
                        self.file,
                        f"streams.{name}.fields",
                        f"schema field(s) {', '.join(missing)} get no value in events {way.how}",
                        way.fix,
                    )
                )
        return out

    def _chains(self, name: str) -> list[Problem]:
        out: list[Problem] = []
        for i, chain in enumerate(self.spec.streams[name].then):
            out += self._chain(name, f"streams.{name}.then.{i}", chain)
        return out

    def _chain(self, name: str, where: str, chain: Chain) -> list[Problem]:
        targets = {t: self.types[t] for t in chain.targets() if t in self.types}
        if len(targets) < len(chain.targets()):
            return []  # an unknown target or schema: reported there
        out = [
            Problem(
                self.file,
                f"{where}.set.{f}",
                f"target {t}'s schema has no field `{f}`",
                f"add it to {self.schema_file(t)} or drop it from `set`",
            )
            for t, types in targets.items()
            for f in chain.set
            if f not in types
        ]
        out += [
            Problem(
                self.file,
                f"{where}.rename.{dst}",
                f"no target schema has a field `{dst}`",
                "name a field of the target stream's schema",
            )
            for dst in chain.rename
            if all(dst not in types for types in targets.values())
        ]
        src_types = self.types.get(name, {})
        out += [
            Problem(
                self.file,
                f"{where}.rename.{dst}",
                f"stream {name} has no field `{src}`{did_you_mean(src, src_types)}",
                f"name a field of {name}'s schema",
            )
            for dst, src in chain.rename.items()
            if src not in src_types
        ]
        if chain.delay_field is not None and all(
            chain.delay_field not in t for t in targets.values()
        ):
            out.append(
                Problem(
                    self.file,
                    f"{where}.delay_field",
                    f"no target schema has a field `{chain.delay_field}`",
                    "name a numeric field of a target's schema",
                )
            )
        return out


def _mismatch(f: FieldSpec, t: FieldType, numeric_attr: bool = False) -> bool:
    """Whether a generator cannot fill a field of type ``t`` (``numeric_attr``: ``f`` reads a
    numeric entity attribute)."""
    if t.kind == "other":
        return True
    values = (*(f.choice or ()), *((f.const,) if f.const is not None else ()))
    textual = any(getattr(f, k) is not None for k in ("entity", "seq")) or any(
        isinstance(v, str) and not _numeric(v) for v in values
    )
    textual = textual or (f.attr is not None and not numeric_attr)
    numeric = numeric_attr or any(getattr(f, k) is not None for k in _NUMERIC)
    return (textual and t.kind != "str") or (numeric and t.kind == "str")


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _type_problem(file: Path, where: str, f: FieldSpec, t: FieldType, schema: Path) -> Problem:
    gen = next((k for k in (*_GENERATORS, *_NUMERIC) if getattr(f, k, None) is not None), "?")
    return Problem(
        file,
        where,
        f"a `{gen}` generator cannot fill a field of Avro kind {t.kind} in {schema}",
        "change the generator or the schema type",
    )


def stream_problems(
    spec: DomainSpec, file: Path, schemas: Schemas, streams: Iterable[str] | None = None
) -> list[Problem]:
    """Every problem of the pack's streams (default: all) against their schemas."""
    checks = _StreamChecks(spec, file, schemas)
    names = spec.streams if streams is None else [s for s in streams if s in spec.streams]
    return [p for n in names for p in checks.problems(n)]
