"""A scenario's campaigns against the pack of its domain: actor kinds and attributes, streams,
field generators (a field of the stream or a domain tag), processes and tags.

Each campaign is checked on its own, so a mistake elsewhere in the file (or in another
campaign) does not hide a campaign's names; a campaign whose structure is wrong is left to the
structure's problems.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from simfleet.domain.checks import _openings_problems
from simfleet.domain.mechanisms.refs import by_problems as _by_problems
from simfleet.domain.mechanisms.refs import param_problem as _param_problem
from simfleet.domain.spec import ByAttr, DomainSpec, FieldSpec
from simfleet.problems import Problem, explain_validation
from simfleet.scenario_check.names import unknown
from simfleet.scenario_check.structure import items
from simfleet.scenarios import Campaign

__all__ = ["campaign_problems", "raw_campaign_problems"]


def raw_campaign_problems(spec: DomainSpec, raw: object, file: Path | None) -> list[Problem]:
    """The problems of every campaign of a scenario's raw ``campaigns`` list that is itself
    well formed (the structure's check reports the others)."""
    out: list[Problem] = []
    for i, c in items(raw):
        try:
            campaign = Campaign.model_validate(c)
        except ValidationError:
            continue
        out += _campaign(spec, i, campaign, file)
    return out


def campaign_problems(
    spec: DomainSpec, campaigns: Iterable[Campaign], file: Path | None
) -> list[Problem]:
    """Every problem of ``campaigns`` against the pack ``spec``."""
    return [p for i, c in enumerate(campaigns) for p in _campaign(spec, i, c, file)]


def _campaign(spec: DomainSpec, i: int, c: Campaign, file: Path | None) -> list[Problem]:
    where = f"campaigns.{i}"
    out = _actors(spec, where, c, file)
    for sname, cs in c.streams.items():
        s = spec.streams.get(sname)
        if s is None:
            fix = "name a stream of the pack"
            out.append(
                unknown(file, f"{where}.streams.{sname}", "stream", sname, spec.streams, fix)
            )
            continue
        for fname, raw in cs.fields.items():
            out += _field(spec, f"{where}.streams.{sname}.fields.{fname}", sname, fname, raw, file)
    for pname, numbers in c.processes.items():
        pwhere = f"{where}.processes.{pname}"
        if pname not in spec.processes:
            fix = "name a process of the pack"
            out.append(unknown(file, pwhere, "process", pname, spec.processes, fix))
            continue
        known = list(spec.processes[pname].numbers())
        for key, v in numbers.items():
            if key not in known:
                fix = f"give one of {known}"
                out.append(unknown(file, f"{pwhere}.{key}", "process number", key, known, fix))
            out += _param_problem(spec, f"{pwhere}.{key}", v, _file(file))
    for tag in c.set:
        if tag not in spec.tags:
            out.append(
                Problem(
                    file,
                    f"{where}.set.{tag}",
                    f"`{tag}` is not one of the pack's `tags` {list(spec.tags)}",
                    "declare it under `tags` in the pack, or drop it",
                )
            )
    return out


def _file(file: Path | None) -> Path:
    """The pack helpers name a file; a scenario sent without one is ``scenario``."""
    return file if file is not None else Path("scenario")


def _actors(spec: DomainSpec, where: str, c: Campaign, file: Path | None) -> list[Problem]:
    out: list[Problem] = []
    for kind, a in c.actors.items():
        ent = spec.entities.get(kind)
        if ent is None:
            fix = "name an entity of the pack"
            out.append(unknown(file, f"{where}.actors.{kind}", "entity", kind, spec.entities, fix))
            continue
        given = [("attributes", k, v) for k, v in a.attributes.items()]
        given += [("where", k, v) for k, v in a.where.items()]
        for key, aname, value in given:
            attr = ent.attributes.get(aname)
            choices = [str(v) for v in attr.choice or ()] if isinstance(attr, FieldSpec) else []
            if value not in choices:
                out.append(
                    Problem(
                        file,
                        f"{where}.actors.{kind}.{key}.{aname}",
                        f"{value!r} is not a value of the drawn attribute {kind}.{aname}",
                        f"give one of {choices}" if choices else "name a `choice` attribute",
                    )
                )
    return out


def _field(
    spec: DomainSpec, fwhere: str, sname: str, fname: str, raw: object, file: Path | None
) -> list[Problem]:
    out: list[Problem] = []
    try:
        f = FieldSpec.model_validate(raw)
    except ValidationError as exc:
        return [
            dataclasses.replace(p, path=f"{fwhere}.{p.path}")
            for p in explain_validation(exc, FieldSpec, file)
        ]
    if fname not in spec.streams[sname].fields and fname not in spec.tags:
        out.append(
            Problem(
                file,
                fwhere,
                f"stream {sname} generates no `{fname}` and it is no tag of the pack",
                f"name a field of {sname} or a tag of the pack: {list(spec.tags)}",
            )
        )
    if f.entity is not None and f.entity not in spec.entities:
        fix = "name an entity of the pack"
        out.append(unknown(file, f"{fwhere}.entity", "entity", f.entity, spec.entities, fix))
    if isinstance(f.weight, ByAttr) and f.entity in spec.entities:
        out += _by_problems(spec, f.weight, f"{fwhere}.weight", _file(file), [f.entity or ""])
    out += _openings_problems(spec, f, fwhere, _file(file))
    if f.process is not None and f.process not in spec.processes:
        fix = "name a process of the pack"
        out.append(unknown(file, f"{fwhere}.process", "process", f.process, spec.processes, fix))
    return out
