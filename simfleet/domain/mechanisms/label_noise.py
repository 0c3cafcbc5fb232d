"""`label_noise`: labels that differ from what happened, in declared shares (the model and
its checks; the engine's draw: simfleet.producers.engine.label_noise).

A bank learns that a payment was fraud when its cardholder disputes it, and that it was not
when the dispute window closes in silence. Both are wrong in a known share of cases:

- friendly fraud: a legitimate buyer disputes a payment they made (the goods came, the show
  was good); the label is a chargeback, the truth is not fraud;
- unreported fraud: the cardholder of a stolen card never notices; no chargeback comes and the
  label, at the window's close, says legitimate, the truth is fraud.

The mechanism sits on one stream's follow-ups (a payment's authorization, whose `then` sends
each event either to the dispute stream or to the label at the window's close): a share of the
events bound for the close goes to the dispute instead (friendly), a share of those bound for
the dispute goes to the close (unreported). The moved events carry the `set` tags (the pack's
`tags`), so the label says what a bank would see (`pattern: friendly`), and each move is a
ground-truth record of kind `label_noise` (label friendly | unreported, subject the event's
`subject` field, detail the tags it had), so a score can be taken against either.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from simfleet.domain.mechanisms.numbers import Spec
from simfleet.domain.mechanisms.refs import unknown
from simfleet.problems import Problem

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec

__all__ = ["NOISE_KINDS", "TRUTH_KIND", "LabelNoiseSpec", "NoiseShare", "problems"]

TRUTH_KIND = "label_noise"
NOISE_KINDS = ("friendly", "unreported")


class NoiseShare(Spec):
    """One kind of wrong label: how often, and the tags the moved events carry."""

    share: float | str = Field(
        description="the probability an event is moved: a number or a parameter path of the pack"
    )
    set: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="tags (of the pack's `tags`) given to the moved events and their follow-ups",
    )


class LabelNoiseSpec(Spec):
    """Friendly and unreported fraud on the follow-ups of ``stream``."""

    stream: str = Field(description="the stream whose follow-ups decide the label")
    dispute: str = Field(description="the follow-up stream of a dispute (a chargeback)")
    close: str = Field(description="the follow-up stream of the silent close (the label)")
    subject: str = Field(description="the field naming the labelled subject on ground truth")
    friendly: NoiseShare | None = Field(
        None, description="of the events bound for `close`, those that go to `dispute`"
    )
    unreported: NoiseShare | None = Field(
        None, description="of the events bound for `dispute`, those that go to `close`"
    )

    def kinds(self) -> dict[str, NoiseShare]:
        """The kinds declared, by name."""
        got = {"friendly": self.friendly, "unreported": self.unreported}
        return {k: v for k, v in got.items() if v is not None}


def problems(spec: DomainSpec, file: Path) -> list[Problem]:
    """The streams exist, both follow-ups are `then` targets of the stream, the subject is a
    field of it, shares are parameters of the pack and `set` names the pack's tags."""
    ln = spec.label_noise
    if ln is None:
        return []
    where = "label_noise"
    out: list[Problem] = []
    if ln.stream not in spec.streams:
        fix = "name a stream of `streams`"
        return [unknown(file, f"{where}.stream", "stream", ln.stream, spec.streams, fix)]
    targets = {t for c in spec.streams[ln.stream].then for t in c.targets()}
    for key in ("dispute", "close"):
        name = getattr(ln, key)
        if name not in targets:
            fix = f"name a `then` target of streams.{ln.stream}"
            out.append(unknown(file, f"{where}.{key}", "follow-up", name, sorted(targets), fix))
    s = spec.streams[ln.stream]
    if ln.subject not in s.fields and ln.subject != s.key:
        out.append(
            Problem(
                file,
                f"{where}.subject",
                f"`{ln.subject}` is not a field of streams.{ln.stream}",
                f"name the field that identifies the labelled subject (its key: {s.key})",
            )
        )
    for kind, ns in ln.kinds().items():
        if isinstance(ns.share, str) and ns.share not in spec.parameters:
            fix = "declare it under `parameters` or give a number"
            out.append(
                unknown(file, f"{where}.{kind}.share", "parameter", ns.share, spec.parameters, fix)
            )
        for tag in ns.set:
            if tag not in spec.tags:
                fix = "list it under the pack's `tags`"
                out.append(unknown(file, f"{where}.{kind}.set", "tag", tag, spec.tags, fix))
    return out
