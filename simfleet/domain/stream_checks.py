"""The streams of a pack against their Avro schemas: every field a generator fills has a
type it can fill, every schema field gets a value in every way events come to be (drawn at a
rate, reached by a chain, emitted by an aggregate, an episode or a journey), entity fields
hold the kinds their `attr`, `by` tables and lifecycle roles need, and chains carry, rename
and set fields the targets have. ``simctl validate`` runs these with the project's schemas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from simfleet.codec.catalog import FieldType
from simfleet.domain.mechanisms.refs import choice_attrs as _choice_attrs
from simfleet.domain.mechanisms.refs import delay_table as _delay_table
from simfleet.domain.mechanisms.refs import numeric_attrs as _numeric_attrs
from simfleet.domain.mechanisms.refs import unknown as _unknown
from simfleet.domain.spec import (
    AggregateSpec,
    ByAttr,
    Chain,
    DomainSpec,
    FieldSpec,
    JourneySpec,
    RelationSpec,
)
from simfleet.problems import Problem
from simfleet.suggest import did_you_mean

__all__ = ["IMPLICIT", "UNKNOWN", "Schemas", "stream_problems"]

IMPLICIT = ("event_id", "occurred_at")
UNKNOWN = "?"  # the entity kind of a field whose entity is itself misspelt (reported once)


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
        if chain.requires is not None:
            out += self._requires(name, where, chain)
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

    def _requires(self, name: str, where: str, chain: Chain) -> list[Problem]:
        """The field a requirement compares is in the cause's schema and in each required
        stream's."""
        req = chain.requires
        assert req is not None
        out: list[Problem] = []
        for stream in (name, *req.any_of):
            types = self.types.get(stream)
            if types is not None and req.key not in types:
                out.append(
                    Problem(
                        self.file,
                        f"{where}.requires.key",
                        f"stream {stream}'s schema has no field `{req.key}`"
                        f"{did_you_mean(req.key, types)}",
                        "name a field both the cause and the required streams carry",
                    )
                )
        return out


def _mismatch(f: FieldSpec, t: FieldType, numeric_attr: bool = False) -> bool:
    """Whether a generator cannot fill a field of type ``t`` (``numeric_attr``: ``f`` reads a
    numeric entity attribute)."""
    if t.kind == "other":
        return True
    if f.branches():
        return any(_mismatch(b, t, numeric_attr) for b in f.branches())
    values = (*(f.choice or ()), *((f.const,) if f.const is not None else ()))
    textual = f.fills == "text" or any(isinstance(v, str) and not _numeric(v) for v in values)
    textual = textual or (f.fills == "attribute" and not numeric_attr)
    numeric = numeric_attr or f.fills == "number"
    return (textual and t.kind != "str") or (numeric and t.kind == "str")


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _type_problem(file: Path, where: str, f: FieldSpec, t: FieldType, schema: Path) -> Problem:
    return Problem(
        file,
        where,
        f"a `{f.key}` generator cannot fill a field of Avro kind {t.kind} in {schema}",
        "change the generator or the schema type",
    )


def stream_problems(
    spec: DomainSpec, file: Path, schemas: Schemas, streams: Iterable[str] | None = None
) -> list[Problem]:
    """Every problem of the pack's streams (default: all) against their schemas."""
    checks = _StreamChecks(spec, file, schemas)
    names = spec.streams if streams is None else [s for s in streams if s in spec.streams]
    return [p for n in names for p in checks.problems(n)]
