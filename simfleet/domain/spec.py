"""Domain specifications: a domain's entities, parameters, causal graph, profiles and streams,
declared in ``producers/<domain>/streams.yaml``; their structure is validated here, the names
they use by ``simfleet.domain.checks``.

Nothing about a particular stream lives in code: the engine interprets these models.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from simfleet.domain.mechanisms import ByAttr, FieldSpec, SignedDurationMs, Spec
from simfleet.domain.mechanisms.aggregates import AggregateSpec, MetricSpec
from simfleet.domain.mechanisms.chains import Chain, DelayBy, DelaySpec
from simfleet.domain.mechanisms.episodes import EpisodeSpec, FloorSpec
from simfleet.domain.mechanisms.feedback import FeedbackSpec
from simfleet.domain.mechanisms.fields.after import After
from simfleet.domain.mechanisms.fields.entity import Openings, Peak
from simfleet.domain.mechanisms.fields.pareto import Pareto
from simfleet.domain.mechanisms.journeys import DwellSpec, JourneySpec, Span
from simfleet.domain.mechanisms.label_noise import LabelNoiseSpec
from simfleet.domain.mechanisms.localtime import LocalTimeSpec
from simfleet.domain.mechanisms.processes import ProcessSpec
from simfleet.domain.mechanisms.stocks import StockSpec, StockUse
from simfleet.scenarios import DurationMs

__all__ = [
    "After",
    "AggregateSpec",
    "ByAttr",
    "CausalEdge",
    "Chain",
    "CycleSpec",
    "DelayBy",
    "DelaySpec",
    "DomainSpec",
    "DwellSpec",
    "EntitySpec",
    "EpisodeSpec",
    "FieldSpec",
    "FloorSpec",
    "JoinedSpec",
    "JourneySpec",
    "MetricSpec",
    "Openings",
    "Pareto",
    "Peak",
    "ProcessSpec",
    "ProfileSpec",
    "RelationSpec",
    "SignedDurationMs",
    "Span",
    "SpikeSpec",
    "StockSpec",
    "StockUse",
    "StreamSpec",
]


class StreamSpec(Spec):
    """One event type: one topic, one schema, one rate, one generator recipe."""

    description: str = ""
    cadence: Literal["high", "medium", "low"] | None = Field(
        None,
        description="fleet-wide update frequency: high = seconds-minutes, medium = "
        "minutes-hours, low = hours-daily (metadata for docs and tests)",
    )
    key: str = Field(description="the field whose entity id is the Kafka key")
    rate: float | None = Field(
        None,
        ge=0,
        description="mean events per sim-second fleet-wide at scale 1; "
        "none for streams only reached through chains",
    )
    profile: str = "flat"
    partitions: int = 3
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    then: tuple[Chain, ...] = ()
    activates: str | None = Field(
        None, description="an entity field whose entity becomes active from this event on"
    )
    retires: str | None = Field(
        None, description="an entity field whose entity is drawn by no new event from now on"
    )
    record: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="entity field -> instant fields of the event kept on that entity (a "
        "show's openings), which `openings` weights read",
    )
    at_start: dict[str, FieldSpec] | None = Field(
        None,
        description="with `activates`: at a run's first instant, one event per initially "
        "active entity (those announced before the run), with these generators over the "
        "stream's own",
    )
    aggregate: AggregateSpec | None = None
    stock: tuple[StockUse, ...] = Field(
        (), description="stocks these events fill, consume or restore, in this order"
    )
    label_of: str | None = Field(
        None,
        description="the stream whose events this one labels, published when the label becomes "
        "known (reached by chains only, with the label's delay); `simctl generate` writes the "
        "labels known inside its window, all of them with `--labels-until all`",
    )

    @model_validator(mode="after")
    def _aggregate_has_no_rate(self) -> StreamSpec:
        if self.at_start is not None and self.activates is None:
            raise ValueError(
                "`at_start` makes one event per initially active entity of the `activates` "
                "field: give `activates`"
            )
        if self.aggregate is not None and self.rate is not None:
            raise ValueError("an aggregate stream fires at period boundaries; drop its `rate`")
        if self.label_of is not None and (self.rate or self.then or self.aggregate):
            raise ValueError(
                "a label stream is reached by chains only and chains to nothing: drop its "
                "`rate`, `then` and `aggregate`"
            )
        return self


class RelationSpec(Spec):
    """An entity's standing link to one entity of another kind (a student's regular tutor).

    Each active target holds between ``per[0]`` and ``per[1]`` of them: links are dealt so at
    the start, and a link whose target is no longer active moves, at its next use, to an
    active target below ``per[0]`` (a newly approved tutor), else below ``per[1]``."""

    relation: str = Field(description="the entity kind linked to")
    per: tuple[int, int] = Field(description="how many link to one target: min, max")

    @model_validator(mode="after")
    def _bounds(self) -> RelationSpec:
        if not 0 <= self.per[0] <= self.per[1] or self.per[1] < 1:
            raise ValueError(f"`per` must be [min, max] with 0 <= min <= max, max >= 1: {self.per}")
        return self


class JoinedSpec(Spec):
    """When the entity joined, as its cohort: the month (``YYYY-MM``). Initially active
    entities joined ``joined_before_start`` before the run; the others when a stream
    ``activates`` them (the activating event itself already carries the new cohort)."""

    joined: Literal["month"]


class EntitySpec(Spec):
    """A population: made once per shard from the seed; Faker fills its attributes."""

    count: int = Field(gt=0, description="fleet-wide at scale 1")
    prefix: str
    activity_sigma: float = Field(1.0, ge=0, description="lognormal spread of how active each is")
    initial_active: float = Field(
        1.0, gt=0, le=1, description="share active at the start; streams `activates` the rest"
    )
    reserve: float = Field(
        0.0,
        ge=0,
        description="entities beyond `count` that only `pick: inactive` draws reach (the "
        "applicants and sign-ups of a long run), as a share of `count`",
    )
    joined_before_start: tuple[DurationMs, DurationMs] = Field(
        (0, 0), description="how long before the run the initially active joined (uniform)"
    )
    attributes: dict[
        str,
        Annotated[
            FieldSpec | RelationSpec | JoinedSpec | dict[str, str],
            Field(union_mode="left_to_right"),  # {joined: month} is also a dict[str, str]
        ],
    ] = Field(default_factory=dict)


class CalendarRule(Spec):
    """A calendar multiplier: by months, or by a day-of-year range (MM-DD, inclusive)."""

    months: tuple[int, ...] | None = None
    start: str | None = Field(None, alias="from")
    end: str | None = Field(None, alias="to")
    factor: float = Field(gt=0)
    name: str = ""


class SpikeSpec(Spec):
    """Variance spikes: in a share of intervals a stream's rate is x (1 +- U(magnitude))."""

    share: float = Field(ge=0, le=1)
    magnitude: tuple[float, float]
    interval: DurationMs = Field(3_600_000, gt=0)

    @model_validator(mode="after")
    def _range(self) -> SpikeSpec:
        lo, hi = self.magnitude
        if not 0 <= lo <= hi < 1:
            raise ValueError("`magnitude: [lo, hi]` needs 0 <= lo <= hi < 1")
        return self


class CycleSpec(Spec):
    """A sine on a rate: x (1 + amplitude x sin(2 pi (t - reference - phase) / period)), with
    t from the pack's ``growth_reference`` (a 30-day usage cycle)."""

    period: DurationMs = Field(gt=0)
    amplitude: float | str = Field(
        description="a number in [0, 1) or a parameter path (a scenario switches it on)"
    )
    phase: DurationMs = 0


class ProfileSpec(Spec):
    """Time shape of a rate: diurnal x weekly x calendar x growth (each averages to 1)."""

    diurnal: tuple[float, ...] = (1.0,) * 24
    weekly: tuple[float, ...] = (1.0,) * 7
    calendar: tuple[CalendarRule, ...] = ()
    growth_per_month: float = 0.0
    spikes: SpikeSpec | None = None
    cycles: tuple[CycleSpec, ...] = Field((), description="sines over days or weeks")
    strength: str | None = Field(
        None,
        description="a parameter: diurnal x weekly x calendar is raised to its power (0 flat, "
        "1 as declared), so a scenario can sharpen or flatten the shape",
    )
    local: LocalTimeSpec | None = Field(
        None,
        description="hours and days in each entity's own timezone (none: UTC for everyone)",
    )

    @model_validator(mode="after")
    def _lengths(self) -> ProfileSpec:
        if len(self.diurnal) != 24 or len(self.weekly) != 7:
            raise ValueError("`diurnal` needs 24 hourly values and `weekly` 7 (Monday first)")
        return self


class CausalEdge(Spec):
    """to = base(to) x (from(t - lag) / default(from)) ^ elasticity."""

    source: str = Field(alias="from")
    target: str = Field(alias="to")
    elasticity: float
    lag: DurationMs = 0


class DomainSpec(Spec):
    """A pack of related streams sharing entities.

    This model checks structure only; the names it uses (profiles, entities, parameters, chain
    targets, ...) are checked by ``simfleet.domain.checks``, which reports every problem at once
    and which ``load_pack`` runs: load packs with it, not with ``model_validate``."""

    domain: str
    description: str = ""
    growth_reference: str = "2026-01-01T00:00:00Z"
    entities: dict[str, EntitySpec]
    profiles: dict[str, ProfileSpec] = Field(default_factory=dict)
    parameters: dict[str, float] = Field(default_factory=dict)
    causal: tuple[CausalEdge, ...] = ()
    stocks: dict[str, StockSpec] = Field(default_factory=dict)
    processes: dict[str, ProcessSpec] = Field(
        default_factory=dict, description="random processes per entity (prices)"
    )
    tags: tuple[str, ...] = Field(
        (),
        description="fields a scenario's campaign may set on its events (is_fraud, pattern): "
        "carried along every chain, they replace the generated value in any follow-up whose "
        "schema has them",
    )
    streams: dict[str, StreamSpec]
    episodes: dict[str, EpisodeSpec] = Field(
        default_factory=dict, description="per-entity episodes (bursts, churn)"
    )
    floors: dict[str, FloorSpec] = Field(
        default_factory=dict, description="least events per entity and period"
    )
    journeys: dict[str, JourneySpec] = Field(
        default_factory=dict, description="per-episode state machines (web sessions)"
    )
    label_noise: LabelNoiseSpec | None = Field(
        None, description="friendly and unreported fraud: labels that differ from the truth"
    )
    feedback: FeedbackSpec | None = Field(
        None, description="the closed loop: how a model's decisions steer the campaigns"
    )

    def param_path(self, name: str) -> str:
        """`tutor.supply` -> `marketplace.tutor.supply`. Names in a pack are always relative to
        it: a domain with an entity of its own name (kiosk.kiosk.status) is no exception."""
        return f"{self.domain}.{name}"

    def topic(self, stream: str) -> str:
        """`booking.requested` -> `marketplace.booking.requested`."""
        return f"{self.domain}.{stream}"
