"""`feedback`: the closed loop, a model's decisions steering the campaigns that attack it (the
model and its checks; the engine's side: simfleet.producers.engine.feedback).

Off unless a run asks for it (`simctl generate --feedback reference`): a pack that declares it
makes the same output as one that does not until then. With it, after every tick each shard
takes the decisions on the tick's subject events (attempts): the reference detector's, drawn in
process from the rules below, or a model's. A blocked attempt of a campaign burns the actors
it used (the entities of the `burn` fields: a fresh one takes the place of each), and each
ring (the campaigns of a scenario in a shard) moves its effort between its tactics (the value
of the `tactic` tag, a campaign's `pattern`) by multiplicative weights on their recent pass
rates: ``log w_k += rate x (pass_k - mean pass) x hours``; the efforts are their softmax,
each raised to `floor` and then all scaled to keep their mean at one (so a ring keeps probing
a tactic that fails). Every change is a ground-truth record of kind `adaptation`. The same
seed and the same decisions give the same output.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from simfleet.domain.mechanisms.numbers import Spec
from simfleet.domain.mechanisms.refs import unknown
from simfleet.problems import Problem
from simfleet.scenarios import DurationMs

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec

__all__ = ["TRUTH_KIND", "FeedbackSpec", "ReferenceRules", "problems"]

TRUTH_KIND = "adaptation"


class ReferenceRules(Spec):
    """The reference velocity detector: per field, attempts with the same value within
    ``window``; the score is the largest count over its limit, and a score at ``block`` or
    above blocks."""

    window: DurationMs = Field(600_000, gt=0, description="the sliding window of sim time")
    limits: dict[str, int] = Field(
        min_length=1, description="per field of the subject stream, the count that scores 1"
    )
    block: float = Field(0.8, gt=0, le=1, description="the score at which an attempt is blocked")


class FeedbackSpec(Spec):
    """How a model's decisions on ``subject`` events steer the campaigns."""

    subject: str = Field(description="the stream a model decides on (payment attempts)")
    key: str = Field(description="the field decisions name a subject by (its key)")
    tactic: str = Field(description="the tag naming an event's tactic (a campaign's `pattern`)")
    learning_rate: float | str = Field(
        description="how fast a ring shifts its effort, per hour: a number or a parameter path"
    )
    memory: DurationMs = Field(
        3_600_000, gt=0, description="the half-life of the recent pass rates"
    )
    floor: float = Field(
        0.05,
        ge=0,
        lt=1,
        description="about the least effort a tactic keeps (before the mean is restored)",
    )
    burn: tuple[str, ...] = Field(
        (), description="fields of the subject whose entity a blocked attempt burns"
    )
    reference: ReferenceRules = Field(
        description="the rules `--feedback reference` applies in process"
    )


def problems(spec: DomainSpec, file: Path) -> list[Problem]:
    """The subject stream, its key, the tactic tag, the learning rate's parameter and the
    fields the rules and `burn` read exist."""
    fb = spec.feedback
    if fb is None:
        return []
    where = "feedback"
    if fb.subject not in spec.streams:
        fix = "name a stream of `streams`"
        return [unknown(file, f"{where}.subject", "stream", fb.subject, spec.streams, fix)]
    out: list[Problem] = []
    s = spec.streams[fb.subject]
    # its own fields and those its causes carry to it along their chains
    fields = [*s.fields, s.key]
    for other in spec.streams.values():
        if any(fb.subject in c.targets() for c in other.then):
            fields += [f for f in other.fields if f not in fields]
    if fb.tactic not in spec.tags:
        out.append(
            unknown(file, f"{where}.tactic", "tag", fb.tactic, spec.tags, "list it in `tags`")
        )
    if isinstance(fb.learning_rate, str) and fb.learning_rate not in spec.parameters:
        fix = "declare it under `parameters` or give a number"
        out.append(
            unknown(
                file, f"{where}.learning_rate", "parameter", fb.learning_rate, spec.parameters, fix
            )
        )
    named = [("key", fb.key)] + [("burn", f) for f in fb.burn]
    named += [("reference.limits", f) for f in fb.reference.limits]
    for at, f in named:
        if f not in fields:
            fix = f"name a field of streams.{fb.subject}"
            out.append(unknown(file, f"{where}.{at}", "field", f, fields, fix))
    return out
