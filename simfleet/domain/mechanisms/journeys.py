"""`journeys`: a per-episode state machine started by a stream's events (a web session's
pages, dwell, actions and end); the models and their checks (the engine:
simfleet.producers.engine.journeys)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from simfleet.domain.mechanisms.numbers import Spec
from simfleet.domain.mechanisms.refs import param_problem, unknown
from simfleet.domain.mechanisms.tails import TailLaw, clip_warning
from simfleet.problems import Problem
from simfleet.scenarios import DurationMs

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec

__all__ = ["JourneySpec", "problems", "warnings"]


class Span(Spec):
    """A range ``[min, max]`` whose ends are numbers or parameter paths."""

    min: float | str
    max: float | str


class DwellSpec(Spec):
    """Time spent in a state, in seconds: a Weibull law (``shape`` < 1: most visits short, a
    long tail) truncated to ``[min, max]`` by drawing its inverse CDF on the truncated range
    (no mass piles up at the bounds). Every value is a number or a parameter path."""

    shape: float | str
    scale: float | str = Field(description="seconds, added to `min`")
    min: float | str
    max: float | str


class JourneyEmit(Spec):
    """Events a state brings once per episode, at its first visit, with a probability: at one
    instant within the visit's dwell, one event per stream (1 ms apart, in this order)."""

    probability: float | str
    streams: tuple[str, ...] = Field(min_length=1)
    action: str | None = Field(
        None, description="the name written to the journey's action field (add_to_cart)"
    )


class JourneyState(Spec):
    """One state of a path (a page): the actions possible in it, what it emits, and whether
    it can be entered only by episodes that emitted a stream before (the cart after an add)."""

    actions: tuple[str, ...] = ()
    emit: tuple[JourneyEmit, ...] = ()
    requires: str | None = Field(
        None, description="a stream emitted by an earlier state of the path (`emit`)"
    )


class JourneyPath(Spec):
    """One kind of episode (a shopping journey): drawn with ``weight``; ``forward`` walks its
    states in order (each step advances with probability ``advance`` or stays), ``any`` draws
    a state at each step."""

    weight: float | str
    order: Literal["forward", "any"] = "forward"
    advance: float | str = 0.5
    states: dict[str, JourneyState] = Field(min_length=1)


class JourneyActions(Spec):
    """Actions during each visit: ``count`` of them (uniform integers), at uniform instants
    within the dwell, each an event of one of ``streams`` (by weight) named from the state's
    ``actions`` (written to ``field`` where the stream's schema has it)."""

    count: Span
    streams: dict[str, float | str] = Field(min_length=1)
    field: str | None = None


class JourneySpec(Spec):
    """A per-episode state machine started by each event of ``start``: the episode draws a
    path (by weight), a number of steps and a time budget, then walks the path's states:
    ``enter`` at each state, actions during the dwell, ``leave`` after it, and ``end`` after
    the last one, either explicitly (a share ``end_explicit``) or ``idle_timeout`` after the
    last activity. The path's name goes only to ground truth (``truth``)."""

    start: str = Field(description="the stream whose events begin an episode")
    id: str = Field(description="the start event's field naming the episode, carried along")
    paths: dict[str, JourneyPath] = Field(min_length=1)
    steps: Span | TailLaw = Field(
        description="states visited: uniform integers (a span), or a long-tailed law rounded "
        "down (with `bounce`: the steps of the episodes that do not bounce)"
    )
    budget: Span | None = Field(
        None,
        description="seconds: the walk stops at the last step that ends within it (never "
        "below `steps.min` steps); none: no cut",
    )
    dwell: DwellSpec | TailLaw = Field(
        description="seconds in a state: a truncated Weibull, or a long-tailed law"
    )
    bounce: float | str | None = Field(
        None, description="share of episodes with a single step (a bounce); none: not drawn"
    )
    serial: str | None = Field(
        None,
        description="a field of the start event (an entity): one episode at a time per its "
        "value; a start while the previous episode runs waits for its end",
    )
    gap: Span = Field(
        default_factory=lambda: Span(min=0.5, max=4.0),
        description="seconds between leaving a state and entering the next",
    )
    enter: str
    leave: str
    state_field: str = Field(description="receives the state's name where the schema has it")
    dwell_field: str | None = Field(None, description="on `leave`: the dwell in ms")
    actions: JourneyActions | None = None
    end: str
    length_field: str | None = Field(None, description="on `end`: first to last activity, ms")
    reason_field: str | None = Field(None, description="on `end`: `closed` or `timeout`")
    end_explicit: float | str = Field(
        0.0, description="share of episodes ended right after their last activity"
    )
    idle_timeout: DurationMs = Field(1_800_000, gt=0)
    truth: bool = Field(True, description="one ground-truth record per episode (kind journey)")

    def streams(self) -> list[str]:
        """Every stream the journey emits."""
        out = [self.enter, self.leave, self.end, *(self.actions.streams if self.actions else ())]
        for p in self.paths.values():
            for st in p.states.values():
                for e in st.emit:
                    out += e.streams
        return list(dict.fromkeys(out))

    def params(self) -> list[tuple[str, str]]:
        """(where, parameter path) of every parameter it names."""
        out: list[tuple[str, float | str]] = []
        for name, law in (("steps", self.steps), ("dwell", self.dwell)):
            if isinstance(law, TailLaw):
                out += [(f"{name}.{k}", v) for k, v in law.numbers()]
        if isinstance(self.steps, Span):
            out += [
                (f"steps.{k}", v) for k, v in (("min", self.steps.min), ("max", self.steps.max))
            ]
        if self.budget is not None:
            b = self.budget
            out += [(f"budget.{k}", v) for k, v in (("min", b.min), ("max", b.max))]
        out += [(f"gap.{k}", v) for k, v in (("min", self.gap.min), ("max", self.gap.max))]
        d = self.dwell
        if isinstance(d, DwellSpec):
            pairs = (d.shape, d.scale, d.min, d.max)
            dwell = zip(("shape", "scale", "min", "max"), pairs, strict=True)
            out += [(f"dwell.{k}", v) for k, v in dwell]
        out += [("end_explicit", self.end_explicit)]
        if self.bounce is not None:
            out.append(("bounce", self.bounce))
        if self.actions is not None:
            a = self.actions
            out += [("actions.count.min", a.count.min), ("actions.count.max", a.count.max)]
            out += [(f"actions.streams.{k}", v) for k, v in a.streams.items()]
        for pname, p in self.paths.items():
            out += [(f"paths.{pname}.weight", p.weight), (f"paths.{pname}.advance", p.advance)]
            for sname, st in p.states.items():
                for i, e in enumerate(st.emit):
                    out.append((f"paths.{pname}.states.{sname}.emit.{i}", e.probability))
        return [(w, v) for w, v in out if isinstance(v, str)]


def problems(spec: DomainSpec, j: JourneySpec, where: str, file: Path) -> list[Problem]:
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
        unknown(file, f"{where}.{at}", "stream", x, spec.streams, fix)
        for at, x in roles
        if x not in spec.streams
    ]
    for at, v in j.params():
        out += param_problem(spec, f"{where}.{at}", v, file)
    start = spec.streams.get(j.start)
    if start is not None and j.id not in start.fields:
        out.append(
            unknown(file, f"{where}.id", "field", j.id, start.fields, f"name a field of {j.start}")
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

    if j.serial is not None and start is not None:
        f = start.fields.get(j.serial)
        if f is None or getattr(f, "entity", None) is None:
            out.append(
                Problem(
                    file,
                    f"{where}.serial",
                    f"{j.serial!r} is not an entity field of {j.start}",
                    f"name the field of {j.start} that holds the entity (user_id)",
                )
            )
    if j.dwell.max is None:
        out.append(
            Problem(
                file,
                f"{where}.dwell.max",
                "a dwell law without `max` can reach the idle timeout: episodes would time out "
                "half-way",
                "add a rare clip `max` below idle_timeout less gap.max",
            )
        )
    elif (most(j.dwell.max) + most(j.gap.max)) * 1000 >= j.idle_timeout:
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


def warnings(spec: DomainSpec, j: JourneySpec, where: str, file: Path) -> list[Problem]:
    """Clips of the journey's long-tailed laws that cut more than 1 % of them."""
    out: list[Problem] = []
    for name, law in (("steps", j.steps), ("dwell", j.dwell)):
        if isinstance(law, TailLaw):
            w = clip_warning(spec, law, f"{where}.{name}", file, f"{where}.{name}")
            if w is not None:
                out.append(w)
    return out
