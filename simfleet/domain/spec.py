"""Domain specifications: a domain's entities, parameters, causal graph, profiles and streams,
declared in ``producers/<domain>/streams.yaml``; their structure is validated here, the names
they use by ``simfleet.domain.checks``.

Nothing about a particular stream lives in code: the engine interprets these models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from simfleet.domain.mechanisms import ByAttr, FieldSpec, Number, SignedDurationMs, Spec
from simfleet.domain.mechanisms.episodes import EpisodeSpec, FloorSpec
from simfleet.domain.mechanisms.fields.after import After
from simfleet.domain.mechanisms.fields.entity import Openings, Peak
from simfleet.domain.mechanisms.fields.pareto import Pareto
from simfleet.domain.mechanisms.journeys import DwellSpec, JourneySpec, Span
from simfleet.domain.mechanisms.processes import ProcessSpec
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


class DelaySpec(Spec):
    """The delay law of a follow-up."""

    uniform: tuple[DurationMs, DurationMs] | None = None
    exponential: DurationMs | None = Field(None, description="mean delay")
    lognormal: tuple[DurationMs, float] | None = Field(
        None,
        description="[median, sigma]: most arrive near the median, a long tail later "
        "(chargebacks: median 2w, within [1d, 120d] with min and max)",
    )
    min: DurationMs = 0
    max: DurationMs | None = None
    prefer: str | None = Field(
        None,
        description="a profile: due times are drawn within the delay law with density "
        "proportional to that profile (sessions happen when students prefer)",
    )
    within_hours: tuple[float, float] | None = Field(
        None,
        description="UTC hours [lo, hi): the due time's time of day is mapped into them, "
        "shifted by whole days to stay within the delay law's bounds",
    )

    within_share: float = Field(
        1.0,
        ge=0,
        le=1,
        description="the share of due times mapped into `within_hours`; the rest keep the "
        "law's time of day (a few sessions at night: minimal, not none)",
    )

    @model_validator(mode="after")
    def _one_law(self) -> DelaySpec:
        laws = [k for k in ("uniform", "exponential", "lognormal") if getattr(self, k) is not None]
        if len(laws) != 1:
            raise ValueError(
                "a delay is one of `uniform: [lo, hi]`, `exponential: mean` or "
                f"`lognormal: [median, sigma]`; found {laws or 'none'}"
            )
        if self.lognormal is not None and not (self.lognormal[0] > 0 and self.lognormal[1] >= 0):
            raise ValueError("`lognormal: [median, sigma]` needs median > 0 and sigma >= 0")
        if self.within_share < 1.0 and self.within_hours is None:
            raise ValueError("`within_share` applies to `within_hours` only")
        if self.within_hours is not None and not (
            0 <= self.within_hours[0] < self.within_hours[1] <= 24
        ):
            raise ValueError("`within_hours: [lo, hi]` needs 0 <= lo < hi <= 24")
        return self

    def bounds(self) -> tuple[int, int | None]:
        """The least and the greatest delay this law gives (None: unbounded)."""
        if self.uniform is not None:
            lo, hi = max(self.min, self.uniform[0]), self.uniform[1]
            return lo, hi if self.max is None else min(hi, self.max)
        return self.min, self.max


class DelayBy(Spec):
    """Delay laws by an entity's drawn attribute: the law of the attribute's value of the entity
    in field ``of``; values not listed keep the chain's ``delay``.

    YAML: ``{by: persona, of: user_id, laws: {fraudster: {lognormal: [2w, 0.8], ...}}}``."""

    by: str
    of: str
    laws: dict[str, DelaySpec]


class Chain(Spec):
    """Follow-ups an event schedules on the same entities.

    Either ``one_of`` (exactly one target per event, weights are numbers or parameter paths)
    or ``to`` with a ``probability`` (a number or a parameter path).
    """

    one_of: dict[str, Number] | None = None
    to: str | None = None
    probability: Number | None = None
    delay: DelaySpec
    delay_by: DelayBy | None = Field(
        None, description="other delay laws for entities of some attribute values"
    )
    rename: dict[str, str] = Field(
        default_factory=dict, description="target field <- source field, beyond same names"
    )
    fresh: tuple[str, ...] = Field(
        (), description="same-named fields the target draws anew (a retry's transaction id)"
    )
    set: dict[str, str | int | float] = Field(
        default_factory=dict, description="target fields given a constant by this chain"
    )
    delay_field: str | None = Field(
        None,
        description="a target field (in targets whose schema has it) that receives the "
        "delay, in `delay_unit`s: resolution times, session lengths",
    )
    delay_unit: DurationMs = Field(60_000, gt=0)

    @model_validator(mode="after")
    def _shape(self) -> Chain:
        if (self.one_of is None) == (self.to is None):
            raise ValueError("a chain has either `one_of: {stream: weight}` or `to: stream`")
        if self.to is not None and self.probability is None:
            raise ValueError("a chain with `to` needs a `probability` (number or parameter)")
        for b in self.by_tables():
            if b.of is None:
                raise ValueError(f"a `by: {b.by}` table needs `of`: the field holding the entity")
        return self

    def targets(self) -> list[str]:
        """The streams this chain can emit."""
        return list(self.one_of) if self.one_of is not None else [self.to or ""]

    def by_tables(self) -> list[ByAttr]:
        """Every `by` table of the chain."""
        found = [self.probability, *(self.one_of or {}).values()]
        return [t for b in found if isinstance(b, ByAttr) for t in b.tables()]


_METRIC_OPS = ("count", "sum", "mean", "min", "max", "distinct")


def _metric_short_forms(schema: dict[str, Any]) -> None:
    """The JSON Schema of a metric: its short forms (what packs write) or the long one."""
    long = dict(schema)
    schema.clear()
    rest = {"source": {"type": "string"}, "round": {"type": "integer"}}
    short = [
        {
            "type": "object",
            "properties": {op: {"type": "string"}, **rest},
            "required": [op],
            "additionalProperties": False,
        }
        for op in _METRIC_OPS
    ]
    schema["anyOf"] = [{"const": "count"}, *short, long]


class MetricSpec(Spec):
    """One column of an aggregate: ``count`` (of a stream's events) or an op over a field.

    YAML: ``count`` (events of the aggregate's source), ``{count: <stream>}``,
    ``{sum: <field>}``, ``{mean: ...}``, ``{min: ...}``, ``{max: ...}``, ``{distinct: <field>}``,
    each optionally with ``source: <stream>`` (default: the aggregate's source) and ``round``.
    """

    model_config = ConfigDict(json_schema_extra=_metric_short_forms)

    op: Literal["count", "sum", "mean", "min", "max", "distinct"]
    field: str | None = None
    source: str | None = None
    round: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, raw: object) -> object:
        if raw == "count":
            return {"op": "count"}
        if isinstance(raw, dict) and "op" not in raw:
            ops = [k for k in raw if k in _METRIC_OPS]
            if len(ops) != 1:
                raise ValueError(f"a metric names exactly one of {_METRIC_OPS}; found {ops}")
            rest = {k: v for k, v in raw.items() if k != ops[0]}
            if ops[0] == "count":
                return {"op": "count", "source": raw["count"], **rest}
            return {"op": ops[0], "field": raw[ops[0]], **rest}
        return raw

    @model_validator(mode="after")
    def _needs_field(self) -> MetricSpec:
        if self.op != "count" and self.field is None:
            raise ValueError(f"metric `{self.op}` needs a field")
        return self


class AggregateSpec(Spec):
    """A low-frequency stream that summarises what the shard's source stream(s) emitted.

    At each period boundary b (multiples of ``every`` since the epoch, UTC) plus a per-stream
    offset (jitter, so aggregates never fire in lockstep) it emits, for the period [b - every,
    b): one event per value of ``group_by`` seen in the source, or one event per shard
    (field ``shard_id``) without ``group_by``. ``period_start`` holds b - every.
    """

    every: DurationMs = Field(gt=0)
    source: str
    group_by: str | None = None
    metrics: dict[str, MetricSpec]
    jitter: DurationMs | None = Field(
        None, description="greatest offset after the boundary; default min(every / 6, 30m)"
    )

    def sources(self) -> list[str]:
        """Every stream the aggregate reads."""
        return list(
            dict.fromkeys([self.source, *(m.source or self.source for m in self.metrics.values())])
        )


class StockSpec(Spec):
    """A finite stock per entity and level (a show's seats per tier), filled by one stream's
    events and consumed by another's; it never goes below zero.

    YAML: ``{entity: show, levels: {Standard: 0.6, Premium: 0.3, VIP: 0.1}}``: a fill of amount
    a gives each level ``floor(a x share)``; levels are tried in this order when one runs out."""

    entity: str = Field(description="the entity kind that holds the stock")
    levels: dict[str, float] = Field(min_length=1, description="level -> share of a fill")

    @model_validator(mode="after")
    def _shares(self) -> StockSpec:
        if any(v < 0 for v in self.levels.values()) or sum(self.levels.values()) > 1 + 1e-9:
            raise ValueError("`levels` shares must be >= 0 and add up to at most 1")
        return self


class StockUse(Spec):
    """How a stream's events touch a stock: ``fill`` it (``amount``: the entity's total),
    ``consume`` from it (``amount`` units of level ``level``) or ``restore`` to it.

    A consumption that finds its level short moves to the next level with room
    (``on_empty: next``) or is not emitted at all (``drop``): a sold-out tier takes no more
    orders. ``sold`` and ``remaining`` name the columns, after each event, that its chains
    carry to their targets (inventory events)."""

    stock: str
    op: Literal["fill", "consume", "restore"]
    of: str = Field(description="the field holding the entity id")
    amount: str = Field(description="the numeric field: units (or the total, for a fill)")
    level: str | None = Field(None, description="the field holding the level (not for fill)")
    on_empty: Literal["next", "drop"] = "drop"
    sold: str | None = None
    remaining: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> StockUse:
        if (self.op == "fill") != (self.level is None):
            raise ValueError("`fill` takes no `level`; `consume` and `restore` need one")
        return self

    def reported(self) -> list[str]:
        """The columns this use adds to its events for their chains."""
        return [c for c in (self.sold, self.remaining) if c is not None]


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

    def param_path(self, name: str) -> str:
        """`tutor.supply` -> `marketplace.tutor.supply`. Names in a pack are always relative to
        it: a domain with an entity of its own name (kiosk.kiosk.status) is no exception."""
        return f"{self.domain}.{name}"

    def topic(self, stream: str) -> str:
        """`booking.requested` -> `marketplace.booking.requested`."""
        return f"{self.domain}.{stream}"
