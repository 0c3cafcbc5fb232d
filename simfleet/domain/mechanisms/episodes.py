"""`episodes` and `floors`: per-entity periods that multiply an entity's own rate (bursts,
churn) and the least events per entity and period; the models and their checks (the engine:
simfleet.producers.engine.episodes)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from simfleet.domain.mechanisms.numbers import Spec
from simfleet.domain.mechanisms.refs import param_problem, unknown
from simfleet.problems import Problem
from simfleet.scenarios import DurationMs

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec

__all__ = ["EpisodeSpec", "FloorSpec", "problems"]


class EpisodeSpec(Spec):
    """Episodes per entity and period (a customer's burst, its churn): in each period
    (multiples of ``every`` since the epoch, UTC), each entity of kind ``entity`` has one with
    probability ``probability``, lasting ``duration`` (uniform, inside the period; the whole
    period without it). During it the entity's own rate on ``streams`` is multiplied by a
    uniform draw in ``multiplier``; in periods without one, by ``otherwise``. ``emit`` names a
    stream given one event at the episode's start (it may retire the entity), ``truth`` puts
    each episode on the domain's ground truth. Numbers may be parameter paths."""

    entity: str
    field: str = Field(description="the field holding the entity id in `streams` and `emit`")
    every: DurationMs = Field(gt=0)
    probability: float | str
    duration: tuple[DurationMs, DurationMs] | None = None
    multiplier: tuple[float | str, float | str] = (1.0, 1.0)
    otherwise: float | str = 1.0
    gamma: float | None = Field(
        None,
        gt=0,
        description="a shape k: the multiplier is also times a gamma factor of mean 1 per "
        "entity and period (a Cox process: counts per period have var/mean about "
        "1 + mean/k), normalised over the active entities by activity so the stream's total "
        "stays as declared",
    )
    streams: tuple[str, ...] = Field((), description="rate-driven streams it multiplies")
    emit: str | None = Field(None, description="a stream reached only by this episode's start")
    truth: bool = False

    @model_validator(mode="after")
    def _shape(self) -> EpisodeSpec:
        if self.duration is not None and not 0 <= self.duration[0] <= self.duration[1] <= (
            self.every
        ):
            raise ValueError("`duration: [lo, hi]` needs 0 <= lo <= hi <= every")
        if not self.streams and self.emit is None:
            raise ValueError("an episode multiplies `streams`, `emit`s a stream, or both")
        return self

    def numbers(self) -> dict[str, float | str]:
        """Every number of the episode (parameter paths among them), by field path."""
        return {
            "probability": self.probability,
            "multiplier.0": self.multiplier[0],
            "multiplier.1": self.multiplier[1],
            "otherwise": self.otherwise,
        }


class FloorSpec(Spec):
    """At least ``at_least`` events of ``stream`` per active entity and period: an entity
    short of it at an instant drawn uniformly in the period gets the missing events there."""

    stream: str
    field: str = Field(description="the stream's `entity` field")
    every: DurationMs = Field(gt=0)
    at_least: float | str = Field(description="a count or a parameter path (0: no floor)")


def entity_field_problem(
    spec: DomainSpec, stream: str, fname: str, kind: str, where: str, file: Path
) -> list[Problem]:
    """``stream`` is a stream of the pack whose field ``fname`` draws ``kind`` entities."""
    s = spec.streams.get(stream)
    if s is None:
        return [unknown(file, where, "stream", stream, spec.streams, "name a stream of the pack")]
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


def problems(spec: DomainSpec, file: Path) -> list[Problem]:
    """Episodes and floors name an entity, streams drawing it in their field, and parameters;
    a multiplied stream is rate-driven and an emitted one is reached by nothing else."""
    out: list[Problem] = []
    kinds: dict[str, tuple[str, str]] = {}  # multiplied stream -> (field, kind)
    for name, e in spec.episodes.items():
        where = f"episodes.{name}"
        if e.entity not in spec.entities:
            out.append(
                unknown(file, f"{where}.entity", "entity", e.entity, spec.entities, "name one")
            )
            continue
        for k, v in e.numbers().items():
            out += param_problem(spec, f"{where}.{k}", v, file)
        for i, st in enumerate(e.streams):
            at = f"{where}.streams.{i}"
            found = entity_field_problem(spec, st, e.field, e.entity, at, file)
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
            found = entity_field_problem(spec, e.emit, e.field, e.entity, at, file)
            out += found
            s = spec.streams.get(e.emit)
            reached = any(e.emit in c.targets() for st in spec.streams.values() for c in st.then)
            if not found and s is not None and (s.rate or s.aggregate or reached):
                fix = "drop its `rate` (an episode's stream is reached by the episode only)"
                out.append(Problem(file, at, f"stream {e.emit} is also drawn otherwise", fix))
    for name, f in spec.floors.items():
        where = f"floors.{name}"
        out += param_problem(spec, f"{where}.at_least", f.at_least, file)
        s = spec.streams.get(f.stream)
        if s is None:
            out.append(
                unknown(file, f"{where}.stream", "stream", f.stream, spec.streams, "name one")
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
