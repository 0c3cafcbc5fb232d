"""The stream- and pack-level mechanisms of the pack language: where each is written, its
model, its load-time checks and the engine module that runs it (named, not imported: the
shared core never imports the producers). With the field generators (``generators()``) this
is the whole language; ``docs/PACKS.md`` is generated from both."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from simfleet.domain.mechanisms.chains import Requires
from simfleet.domain.mechanisms.episodes import EpisodeSpec, FloorSpec
from simfleet.domain.mechanisms.feedback import FeedbackSpec
from simfleet.domain.mechanisms.journeys import JourneySpec
from simfleet.domain.mechanisms.label_noise import LabelNoiseSpec
from simfleet.domain.mechanisms.processes import ProcessSpec
from simfleet.domain.spec import (
    AggregateSpec,
    CausalEdge,
    Chain,
    DelayBy,
    DelaySpec,
    DomainSpec,
    EntitySpec,
    JoinedSpec,
    ProfileSpec,
    RelationSpec,
    StockSpec,
    StockUse,
    StreamSpec,
)
from simfleet.scenarios import Burst, Campaign

__all__ = ["MECHANISMS", "Mechanism", "mechanism"]

_VOLATILITY = ("clustering", "jumps", "spread_follows", "tick")  # a process's stylized facts


@dataclass(frozen=True)
class Mechanism:
    """One mechanism of the pack language beyond a field's generator."""

    name: str
    where: str  # where a pack (or a scenario) writes it
    model: type[BaseModel]
    keys: tuple[str, ...]  # the model's keys it owns (empty: all of them)
    why: str  # the realism property it gives that no composition of others gives
    checks: str  # "module:function" of its load-time checks
    engine: str  # the module that runs it

    def fields(self) -> dict[str, Any]:
        """The model's fields this mechanism owns, by name."""
        own = self.model.model_fields
        return {k: own[k] for k in (self.keys or tuple(own))}

    def check_function(self) -> Callable[..., Any]:
        """Its checks, imported."""
        module, _, name = self.checks.partition(":")
        fn: Callable[..., Any] = getattr(importlib.import_module(module), name)
        return fn


_C = "simfleet.domain.checks"
_S = "simfleet.domain.stream_checks"
_E = "simfleet.producers.engine"

MECHANISMS: tuple[Mechanism, ...] = (
    Mechanism(
        "entities",
        "entities.<kind>",
        EntitySpec,
        (),
        "A finite population per kind with lognormal activity, attributes drawn once, a share "
        "active at the start and a reserve: every stream names the same entities, so joins, "
        "per-entity histories and heavy-tailed activity exist.",
        f"{_C}:_entity_problems",
        "simfleet.producers.pools",
    ),
    Mechanism(
        "relations",
        "entities.<kind>.attributes.<name>: {relation, per}",
        RelationSpec,
        (),
        "A standing link from one entity to another (a student's regular tutor) that "
        "survives across events and is repaired when the target leaves: repeated pairs, "
        "which independent draws of two entity fields never give.",
        f"{_C}:_entity_problems",
        "simfleet.producers.pools",
    ),
    Mechanism(
        "cohorts",
        "entities.<kind>.attributes.<name>: {joined: month}",
        JoinedSpec,
        (),
        "The month an entity joined, consistent with when it was activated: cohort analyses "
        "need a join date that agrees with the entity's first events.",
        f"{_C}:_entity_problems",
        "simfleet.producers.pools",
    ),
    Mechanism(
        "profiles",
        "profiles.<name>",
        ProfileSpec,
        (),
        "The time shape of a rate (diurnal, weekly, calendar, growth, variance spikes, "
        "cycles, a strength a scenario moves): seasonality is a property of rates over time, "
        "not of any one event.",
        f"{_C}:reference_problems",
        "simfleet.producers.profiles",
    ),
    Mechanism(
        "causal",
        "causal: [{from, to, elasticity, lag}]",
        CausalEdge,
        (),
        "Parameters that drive others with an elasticity and a lag (demand -> searches -> "
        "bookings a day later): a scenario moves a root cause and the effects follow, "
        "correlated across streams.",
        f"{_C}:_causal_problems",
        "simfleet.domain.params",
    ),
    Mechanism(
        "chains",
        "streams.<s>.then: [{one_of | to + probability, delay, ...}]",
        Chain,
        (),
        "Follow-up events on the same entities after a delay (a booking's outcome, a "
        "payment's chargeback): causality in time, exactly one outcome per request, fields "
        "carried from cause to effect. A rate per stream cannot give ordered pairs.",
        "simfleet.domain.mechanisms.chains:problems",
        f"{_E}.chains",
    ),
    Mechanism(
        "delay laws",
        "streams.<s>.then.<i>.delay",
        DelaySpec,
        (),
        "How long a follow-up waits: uniform, exponential or lognormal, bounded, in "
        "preferred hours or by a profile: real delays have long tails and office hours.",
        "simfleet.domain.mechanisms.chains:problems",
        f"{_E}.chains",
    ),
    Mechanism(
        "delay_by",
        "streams.<s>.then.<i>.delay_by",
        DelayBy,
        (),
        "Other delay laws for entities of some attribute values (fraudsters' chargebacks "
        "come later): the delay depends on who acts.",
        "simfleet.domain.mechanisms.chains:problems",
        f"{_E}.chains",
    ),
    Mechanism(
        "requires",
        "streams.<s>.then.<i>.requires: {any_of, key, within}",
        Requires,
        (),
        "A follow-up only for causes preceded by an event of another stream with the same "
        "key (a refund only for a booking whose payment went through): consistency across "
        "branches of a chain that independent probabilities cannot give.",
        "simfleet.domain.mechanisms.chains:problems",
        f"{_E}.chains",
    ),
    Mechanism(
        "aggregates",
        "streams.<s>.aggregate",
        AggregateSpec,
        (),
        "A low-frequency stream summarising what a source emitted per period (daily usage, "
        "hourly snapshots), exact to the cent: the summary agrees with the detail.",
        "simfleet.domain.mechanisms.aggregates:problems",
        f"{_E}.aggregates",
    ),
    Mechanism(
        "stocks",
        "stocks.<name>",
        StockSpec,
        (),
        "A finite quantity per entity and level (a show's seats per tier) that never goes "
        "below zero: sell-outs, and orders that stop when nothing is left.",
        "simfleet.domain.mechanisms.stocks:problems",
        f"{_E}.stock",
    ),
    Mechanism(
        "stock uses",
        "streams.<s>.stock: [{stock, op, of, amount, level, ...}]",
        StockUse,
        (),
        "Which events fill, consume or restore a stock, in time order, with the remaining "
        "units carried to inventory events.",
        "simfleet.domain.mechanisms.stocks:problems",
        f"{_E}.stock",
    ),
    Mechanism(
        "lifecycle",
        "streams.<s>.activates | retires; fields: {entity, pick: inactive | idle}",
        StreamSpec,
        ("activates", "retires"),
        "Entities that arrive and leave over a run (sign-ups, churn, approvals): populations "
        "change, and a churned customer never acts again.",
        f"{_S}:stream_problems",
        f"{_E}.lifecycle",
    ),
    Mechanism(
        "record",
        "streams.<s>.record",
        StreamSpec,
        ("record",),
        "Instants of an event kept on its entity (a show's presale, general sale, start), "
        "which `openings` weights read later: demand that clusters after announced instants.",
        f"{_C}:_record_problems",
        "simfleet.producers.pools",
    ),
    Mechanism(
        "at_start",
        "streams.<s>.at_start",
        StreamSpec,
        ("at_start",),
        "One event per entity active when a run starts (the shows already on sale), so "
        "every later event about it has its announcement.",
        f"{_C}:_record_problems",
        f"{_E}.tick",
    ),
    Mechanism(
        "labels",
        "streams.<s>.label_of",
        StreamSpec,
        ("label_of",),
        "A stream that labels another when the label becomes known (a chargeback marks a "
        "payment weeks later): the delayed, partial ground truth a fraud model trains on.",
        f"{_C}:_label_refs",
        f"{_E}.chains",
    ),
    Mechanism(
        "processes",
        "processes.<name>",
        ProcessSpec,
        tuple(k for k in ProcessSpec.model_fields if k not in _VOLATILITY),
        "A value per entity evolving continuously in sim time (geometric Brownian motion, "
        "exact in the step), read by `process` fields: prices whose volatility does not "
        "depend on the tick, and quotes and trades that agree.",
        "simfleet.domain.mechanisms.processes:problems",
        f"{_E}.processes",
    ),
    Mechanism(
        "volatility",
        "processes.<name>.clustering|jumps|spread_follows|tick",
        ProcessSpec,
        _VOLATILITY,
        "The stylized facts of prices: volatility in calm and stormy spells (a "
        "stochastic-volatility factor) and jumps, so returns are fat-tailed and their sizes "
        "cluster while the long-run volatility stays the parameter; a spread that widens "
        "with the volatility; prices on a tick grid.",
        "simfleet.domain.mechanisms.processes:problems",
        f"{_E}.volatility",
    ),
    Mechanism(
        "journeys",
        "journeys.<name>",
        JourneySpec,
        (),
        "A per-episode state machine (a web session's pages, dwell times, actions, end by "
        "close or timeout): ordered, gated sequences within a session that no rate or chain "
        "gives.",
        "simfleet.domain.mechanisms.journeys:problems",
        f"{_E}.journeys",
    ),
    Mechanism(
        "episodes",
        "episodes.<name>",
        EpisodeSpec,
        (),
        "Periods in which one entity's own rate is multiplied (a customer's burst, a churn): "
        "per-entity regime changes, which a stream-wide rate cannot give.",
        "simfleet.domain.mechanisms.episodes:problems",
        f"{_E}.episodes",
    ),
    Mechanism(
        "floors",
        "floors.<name>",
        FloorSpec,
        (),
        "At least N events per active entity and period (a daily heartbeat): no entity "
        "silently vanishes from a stream.",
        "simfleet.domain.mechanisms.episodes:problems",
        f"{_E}.episodes",
    ),
    Mechanism(
        "tags",
        "tags: [...] (pack); campaigns.<i>.set (scenario)",
        DomainSpec,
        ("tags",),
        "Fields a scenario's campaign sets on its events that ride along every chain and "
        "replace the generated value in follow-ups (is_fraud, pattern): ground truth that "
        "follows an attack through its consequences.",
        f"{_C}:reference_problems",
        f"{_E}.campaigns",
    ),
    Mechanism(
        "campaigns",
        "campaigns: [...] (scenario)",
        Campaign,
        (),
        "Coordinated actors with their own rates, generators and velocity bursts inside a "
        "scenario's window (a card-testing ring): adversarial traffic drawn from its own "
        "random streams, so the usual traffic is unchanged beside it.",
        "simfleet.scenario_check.campaigns:campaign_problems",
        f"{_E}.campaigns",
    ),
    Mechanism(
        "bursts",
        "campaigns.<i>.streams.<s>.burst (scenario)",
        Burst,
        (),
        "When a campaign's bursts come: on the clock, or from a jittered or self-exciting "
        "(Hawkes) point process begun at a random instant, so that `every` is a mean and no "
        "minute of a cycle after the scenario's start gives the attack away.",
        "simfleet.scenario_check.campaigns:campaign_problems",
        f"{_E}.campaigns",
    ),
    Mechanism(
        "label_noise",
        "label_noise",
        LabelNoiseSpec,
        (),
        "Labels that differ from what happened in declared shares: friendly fraud (a "
        "legitimate buyer's chargeback) and unreported fraud (no chargeback ever comes), each "
        "a ground-truth record, so a model is scored against what a bank sees or what was.",
        "simfleet.domain.mechanisms.label_noise:problems",
        f"{_E}.label_noise",
    ),
    Mechanism(
        "feedback",
        "feedback",
        FeedbackSpec,
        (),
        "The closed loop: a model's decisions burn the identities it blocks and move each "
        "ring's effort toward the tactics that pass, each adaptation on ground truth; the "
        "fraud a model meets depends on the model, as it does in production.",
        "simfleet.domain.mechanisms.feedback:problems",
        f"{_E}.feedback",
    ),
)


def mechanism(name: str) -> Mechanism:
    """The mechanism called ``name``."""
    return next(m for m in MECHANISMS if m.name == name)
