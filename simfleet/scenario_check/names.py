"""The names a scenario uses, against what the project has: its domain (and whether the fleet
runs it), modifier targets, external-event templates, expected effects and drift features.

``Known`` is what the project has, built once per check from a ``Project`` (the live paths) or
by ``simctl validate`` from the packs it checked. A part left as None is unknown (a broken
pack, whose own problems say why), and the names needing it are not judged, so no problem is
reported twice. Names are judged even when the domain is unknown: a template is then looked up
in every domain's library, so a misspelt domain and a misspelt template are two problems.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simfleet.domain.pack import Project
from simfleet.domain.params import ParamGraph
from simfleet.domain.spec import DomainSpec
from simfleet.errors import DomainError, SchemaError
from simfleet.problems import Problem
from simfleet.scenario_check.structure import items, value_at
from simfleet.suggest import closest, did_you_mean

__all__ = ["Known", "name_problems", "unknown"]

_LISTED = 12  # names listed in a fix before "..."


@dataclass(frozen=True)
class Known:
    """What a scenario may name; None where a broken pack keeps it unknown."""

    domains: tuple[str, ...]
    graphs: Mapping[str, ParamGraph] | None = None
    templates: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    fields: Mapping[str, tuple[str, ...]] | None = None  # topic -> its field names
    specs: Mapping[str, DomainSpec] = field(default_factory=dict)
    running: tuple[str, ...] | None = None  # the fleet's domains, when one runs

    @property
    def topics(self) -> list[str] | None:
        """Every stream topic of the project (None when a pack is broken)."""
        if self.graphs is None or len(self.specs) < len(self.domains):
            return None
        return [s.topic(n) for s in self.specs.values() for n in s.streams]

    @classmethod
    def of_project(cls, project: Project, running: Sequence[str] | None = None) -> Known:
        """What ``project`` has; ``running``: the fleet's domains. A pack that does not load
        leaves what it would define unknown."""
        domains = tuple(project.domains())
        specs: dict[str, DomainSpec] = {}
        graphs: dict[str, ParamGraph] = {}
        templates: dict[str, tuple[str, ...]] = {}
        for d in domains:
            try:
                pack = project.pack(d)
            except DomainError:
                continue
            specs[d], graphs[d] = pack.spec, pack.graph
            templates[d] = tuple(t.id for t in pack.library.templates)
        try:
            fields = {e.topic: tuple(e.fields) for e in project.schemas()}
        except SchemaError:
            fields = None
        return cls(
            domains=domains,
            graphs=graphs if len(graphs) == len(domains) else None,
            templates=templates,
            fields=fields if len(graphs) == len(domains) else None,
            specs=specs,
            running=None if running is None else tuple(running),
        )


def unknown(
    file: Path | None, where: str, what: str, name: str, known: Iterable[str], fix: str
) -> Problem:
    """``unknown <what> 'name' (did you mean `x`?)``."""
    return Problem(file, where, f"unknown {what} {name!r}{did_you_mean(name, list(known))}", fix)


def _listed(names: Sequence[str]) -> str:
    more = ", ..." if len(names) > _LISTED else ""
    return (", ".join(names[:_LISTED]) + more) or "none"


def name_problems(raw: Mapping[str, Any], known: Known, file: Path | None) -> list[Problem]:
    """Every name of the scenario that the project does not have."""
    domain = raw.get("domain")
    out = _domain(domain, known, file)
    own = domain if isinstance(domain, str) and domain in known.domains else None
    near = closest(domain, known.domains) if isinstance(domain, str) and own is None else None
    out += _targets(raw, known, own, file) + _templates(raw, known, own, near, file)
    return out + _effects(raw, known, file) + _drift(raw, known, file)


def _domain(domain: object, known: Known, file: Path | None) -> list[Problem]:
    if not isinstance(domain, str):
        return []  # missing or not a string: the structure says so
    if domain not in known.domains:
        return [
            unknown(
                file,
                "domain",
                "domain",
                domain,
                known.domains,
                f"name a domain of the project: {', '.join(known.domains)}",
            )
        ]
    if known.running is not None and domain not in known.running:
        return [
            Problem(
                file,
                "domain",
                f"{domain!r} is not running: the fleet runs {list(known.running)}",
                f"start the fleet with `--domain {domain}` too, or pick a scenario of "
                f"{', '.join(known.running)}",
            )
        ]
    return []


def _targets(
    raw: Mapping[str, Any], known: Known, domain: str | None, file: Path | None
) -> list[Problem]:
    if known.graphs is None:
        return []
    graphs = list(known.graphs.values())
    targets: dict[str, object] = {}
    for i, phase in items(raw.get("phases")):
        for j, m in items(value_at(phase, "modifiers")):
            targets[f"phases.{i}.modifiers.{j}.target"] = value_at(m, "target")
    for j, m in items(value_at(value_at(raw.get("settle"), "backlog"), "modifiers")):
        targets[f"settle.backlog.modifiers.{j}.target"] = value_at(m, "target")
    d = domain or "<domain>"
    fix = (
        f"use a parameter path or glob such as {d}.<entity>.<name> or {d}.<stream>.rate; "
        f"see producers/{d}/streams.yaml"
    )
    names = [p for g in graphs for p in g.defaults]
    return [
        unknown(file, where, "modifier target", t, names, fix)
        for where, t in targets.items()
        if isinstance(t, str) and all(g.unknown_targets([t]) for g in graphs)
    ]


def _templates(
    raw: Mapping[str, Any], known: Known, domain: str | None, near: str | None, file: Path | None
) -> list[Problem]:
    """Templates of the scenario's domain; under an unknown one, of any domain (the fix lists
    those of the domain it is likely a misspelling of)."""
    if domain is not None:
        if domain not in known.templates:
            return []  # the pack's library is broken: its problems say why
        names = list(known.templates[domain])
        fix = f"name a template of producers/{domain}/external.yaml: {_listed(names)}"
    else:
        if len(known.templates) < len(known.domains):
            return []
        names = sorted({t for ts in known.templates.values() for t in ts})
        fix = f"name a template of a domain's external.yaml: {_listed(names)}"
        if near is not None and near in known.templates:
            ids = known.templates[near]
            fix = f"name a template of producers/{near}/external.yaml: {_listed(ids)}"
    out: list[Problem] = []
    for i, ev in items(raw.get("external_events")):
        t = value_at(ev, "template")
        if isinstance(t, str) and t not in names:
            where = f"external_events.{i}.template"
            out.append(unknown(file, where, "external event template", t, names, fix))
    return out


def _effects(raw: Mapping[str, Any], known: Known, file: Path | None) -> list[Problem]:
    topics = known.topics
    if topics is None:
        return []
    out: list[Problem] = []
    for i, eff in items(raw.get("expected_effects")):
        s = value_at(eff, "stream")
        if isinstance(s, str) and s not in topics:
            fix = "name a stream topic: <domain>.<stream>"
            out.append(unknown(file, f"expected_effects.{i}.stream", "stream", s, topics, fix))
    return out


def _drift(raw: Mapping[str, Any], known: Known, file: Path | None) -> list[Problem]:
    """A drift feature is ``<topic>.<field>``: a topic of the project and one of its fields."""
    if known.fields is None:
        return []
    every = [f"{t}.{f}" for t, fs in known.fields.items() for f in fs]
    features = set(every)
    out: list[Problem] = []
    for i, d in items(raw.get("drift")):
        for j, feature in items(value_at(d, "features")):
            if isinstance(feature, str) and feature not in features:
                fix = "name a field as <topic>.<field>, e.g. <domain>.<stream>.<field>"
                out.append(unknown(file, f"drift.{i}.features.{j}", "feature", feature, every, fix))
    return out
