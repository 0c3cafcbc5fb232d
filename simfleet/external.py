"""External events: world happenings (marketing, product, infrastructure, academic, competitive,
operational) published on their own topic as context for consumers.

A template library per domain lives in ``producers/<domain>/external.yaml`` (optional: a domain
without one has an empty library, and its topics exist all the same). The scheduler is a
pure function of (library, seed, day): 2-5 events a day, academic ones on their calendar dates,
marketing ones clustered on campaign days, infrastructure ones at random hours. About a third
are red herrings: published like the others, they move nothing. Which ones is known only on the
ground-truth topic. A causal event acts through the same machinery as a scenario: it becomes a
one-phase ``ScenarioInstance`` whose modifiers start after the template's delay.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simfleet.errors import ScenarioError
from simfleet.scenarios import (
    DurationMs,
    Modifier,
    Phase,
    ScenarioInstance,
    ScenarioSpec,
    Settle,
)
from simfleet.timeutil import format_ms, parse_duration_ms

__all__ = [
    "ExternalLibrary",
    "Injection",
    "Template",
    "schedule_day",
    "schedule_range",
]

DAY_MS = 86_400_000
# Categories are the domain's own words (marketing, infrastructure, academic, regulatory, ...).
Category = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExpectedImpact(_Frozen):
    """What the event is expected to move, as announced to consumers."""

    streams: tuple[str, ...]
    direction: Literal["increase", "decrease", "mixed"]
    magnitude: Literal["low", "medium", "high"]
    duration: DurationMs
    delay: DurationMs = 0


class Template(_Frozen):
    """One kind of external event and what it does when it is causal."""

    id: str
    category: Category
    title: str
    description: str
    severity: Literal["info", "warning", "critical"] = "info"
    timing: Literal["random", "clustered", "calendar"] = "random"
    dates: tuple[str, ...] = Field((), description="MM-DD days for calendar timing")
    hours: tuple[int, int] = Field((0, 24), description="UTC hours the event may happen in")
    weight: float = Field(1.0, gt=0, description="relative frequency within its timing group")
    expected_impact: ExpectedImpact
    modifiers: tuple[Modifier, ...] = Field(min_length=1)


class ExternalLibrary(_Frozen):
    """A domain's templates and how often they happen."""

    domain: str
    per_day: tuple[int, int] = (2, 5)
    red_herring_share: float = Field(0.35, ge=0, le=1)
    campaign_day_share: float = Field(0.3, ge=0, le=1)
    templates: tuple[Template, ...] = ()

    @property
    def topic(self) -> str:
        """Where the domain's external events are published."""
        return f"{self.domain}.external_events"

    @property
    def truth_topic(self) -> str:
        """Where the domain's labels go: which event was causal, which scenario ran when."""
        return f"{self.domain}.ground_truth"

    def template(self, template_id: str) -> Template:
        """One template by id; an unknown id names the known ones."""
        for t in self.templates:
            if t.id == template_id:
                return t
        known = ", ".join(t.id for t in self.templates) or "none"
        raise ScenarioError(
            f"Unknown external event template {template_id!r} in domain {self.domain}. "
            f"Known: {known}."
        )


class Injection(_Frozen):
    """One external event placed on the sim timeline."""

    event_id: str
    domain: str
    template: str
    category: Category
    title: str
    description: str
    severity: str
    at: int
    expected_impact: ExpectedImpact
    causal: bool
    modifiers: tuple[Modifier, ...]
    injected: bool = Field(False, description="asked for with `simctl inject`")
    scenario: str | None = Field(None, description="the scenario that published it as context")

    def instance(self) -> ScenarioInstance | None:
        """The modifiers this event applies, as a scenario instance; None for a red herring."""
        if not self.causal:
            return None
        impact = self.expected_impact
        spec = ScenarioSpec(
            id=f"ext-{self.template}",
            name=self.title,
            description=self.description,
            domain=self.domain,
            phases=(
                Phase(
                    name="impact",
                    duration=max(1, impact.duration),
                    ramp=min(impact.duration // 4, 3_600_000),
                    modifiers=self.modifiers,
                ),
            ),
            settle=Settle(curve="linear", duration=max(1, impact.duration // 4)),
        )
        return ScenarioInstance(spec=spec, started_at=self.at + impact.delay)

    @property
    def ends_at(self) -> int:
        """When its effect (with the settle) is over."""
        impact = self.expected_impact
        return self.at + impact.delay + impact.duration + impact.duration // 4

    def public_record(self) -> dict[str, Any]:
        """The record consumers see on the external events topic: no causal flag."""
        impact = self.expected_impact
        return {
            "event_id": self.event_id,
            "occurred_at": self.at,
            "domain": self.domain,
            "category": self.category,
            "template": self.template,
            "title": self.title,
            "description": self.description,
            "severity": self.severity,
            "expected_streams": ",".join(impact.streams),
            "direction": impact.direction,
            "magnitude": impact.magnitude,
            "expected_duration_ms": impact.duration,
            "expected_delay_ms": impact.delay,
        }

    def truth_record(self) -> dict[str, Any]:
        """The ground-truth label of this event."""
        moved = sorted({m.target for m in self.modifiers}) if self.causal else []
        return {
            "event_id": f"truth-{self.event_id}",
            "occurred_at": self.at,
            "domain": self.domain,
            "kind": "external_event",
            "subject_id": self.event_id,
            "label": f"scenario:{self.scenario}"
            if self.scenario
            else ("causal" if self.causal else "red_herring"),
            "moved_parameters": ",".join(moved),
            "moved_streams": ",".join(self.expected_impact.streams)
            if self.causal or self.scenario
            else "",
            "window_start": self.at + self.expected_impact.delay,
            "window_end": self.ends_at,
            "action": "",
            "topic": "",
            "detail": "",
        }


def _make(
    lib: ExternalLibrary, t: Template, at: int, causal: bool, key: str, injected: bool = False
) -> Injection:
    return Injection(
        event_id=f"ext-{zlib.crc32(key.encode()):08x}-{at}",
        domain=lib.domain,
        template=t.id,
        category=t.category,
        title=t.title,
        description=t.description,
        severity=t.severity,
        at=at,
        expected_impact=t.expected_impact,
        causal=causal,
        modifiers=t.modifiers,
        injected=injected,
    )


def schedule_day(lib: ExternalLibrary, seed: int, day: int) -> list[Injection]:
    """The external events of one UTC day (``day`` = days since the epoch); pure."""
    rng = np.random.default_rng([seed, day, zlib.crc32(lib.domain.encode()), 0xE7])
    date = datetime.fromtimestamp(day * 86_400, tz=UTC)
    md = f"{date.month:02d}-{date.day:02d}"
    day_start = day * DAY_MS
    out: list[Injection] = []
    calendar = [t for t in lib.templates if t.timing == "calendar" and md in t.dates]
    n = int(rng.integers(lib.per_day[0], lib.per_day[1] + 1))
    campaign = bool(rng.random() < lib.campaign_day_share)
    pools: dict[str, list[Template]] = {
        "clustered": [t for t in lib.templates if t.timing == "clustered"],
        "random": [t for t in lib.templates if t.timing == "random"],
    }
    picks: list[Template] = calendar[:n]
    while len(picks) < n:
        # marketing clusters on campaign days; otherwise the random pool dominates
        group = (
            "clustered" if (campaign and rng.random() < 0.7) or not pools["random"] else "random"
        )
        if not pools[group]:
            group = "random"
        pool = pools[group]
        w = np.asarray([t.weight for t in pool])
        picks.append(pool[int(rng.choice(len(pool), p=w / w.sum()))])
    for k, t in enumerate(picks):
        lo, hi = t.hours
        minute = int(rng.integers(lo * 60, hi * 60))
        at = day_start + minute * 60_000 + int(rng.integers(0, 60_000))
        causal = bool(rng.random() >= lib.red_herring_share)
        out.append(_make(lib, t, at, causal, f"{seed}:{day}:{k}:{t.id}"))
    out.sort(key=lambda i: i.at)
    return out


def schedule_range(lib: ExternalLibrary, seed: int, start_ms: int, end_ms: int) -> list[Injection]:
    """Every scheduled external event with ``start_ms <= at < end_ms``."""
    out: list[Injection] = []
    for day in range(start_ms // DAY_MS, (end_ms - 1) // DAY_MS + 1):
        out.extend(i for i in schedule_day(lib, seed, day) if start_ms <= i.at < end_ms)
    return out


def for_scenario(lib: ExternalLibrary, template_id: str, at: int, scenario_id: str) -> Injection:
    """A context event a scenario publishes: not causal on its own (the scenario moves the
    parameters), labelled with the scenario in ground truth."""
    t = lib.template(template_id)
    inj = _make(lib, t, at, False, f"scenario:{scenario_id}:{template_id}:{at}")
    return inj.model_copy(update={"scenario": scenario_id})


_STRENGTH = {"low": 0.5, "medium": 1.0, "high": 2.0}


def _scaled(m: Modifier, strength: float) -> Modifier:
    """The same modifier, its effect made ``strength`` times as large."""
    if m.op == "multiply":
        value = max(0.0, 1.0 + (m.value - 1.0) * strength)
    elif m.op == "set":
        return m
    else:
        value = m.value * strength
    return m.model_copy(update={"value": value})


def injected(lib: ExternalLibrary, template_id: str, at: int, params: dict[str, str]) -> Injection:
    """An event asked for by hand (``simctl inject``); causal unless ``causal=false``."""
    t = lib.template(template_id)
    impact = t.expected_impact
    updates: dict[str, Any] = {}
    causal = True
    for k, v in params.items():
        if k == "causal":
            causal = v.lower() in ("1", "true", "yes")
        elif k in ("duration", "delay"):
            try:
                updates[k] = parse_duration_ms(v)
            except ValueError as exc:
                raise ScenarioError(f"--param {k}={v}: {exc}.") from exc
        elif k in ("magnitude", "direction"):
            updates[k] = v
        elif k == "title":
            t = t.model_copy(update={"title": v})
        else:
            raise ScenarioError(
                f"--param {k}: unknown; use causal, duration, delay, magnitude, direction or title."
            )
    try:
        impact = ExpectedImpact.model_validate({**impact.model_dump(), **updates})
    except ValidationError as exc:
        raise ScenarioError(f"--param: {exc.errors()[0]['msg']}.") from exc
    strength = _STRENGTH[impact.magnitude] / _STRENGTH[t.expected_impact.magnitude]
    t = t.model_copy(
        update={
            "expected_impact": impact,
            "modifiers": tuple(_scaled(m, strength) for m in t.modifiers),
        }
    )
    return _make(lib, t, at, causal, f"inject:{template_id}:{at}:{format_ms(at)}", injected=True)
