"""The per-shard engine: turns (sim window, parameter values) into columnar batches.

One ``ShardEngine`` owns one shard: its entity pools, one random stream per (seed, shard,
stream), id counters, and the queue of pending follow-ups. ``tick(t0, t1, params)`` draws a
Poisson count per rate-driven stream, fills each field with one vectorised draw, schedules
chained follow-ups, releases those due before ``t1``, emits the aggregates whose period
boundary (plus the stream's jitter) falls in the tick, and returns one batch per stream sorted
by ``occurred_at``. It reads no clock and no global randomness: the same inputs give the same
output.

The concerns live beside this module: field generation in ``fields``, chained follow-ups in
``chains``, aggregates in ``aggregates``, the entity lifecycle (why retiring streams are
drawn first in a tick) in ``lifecycle``, and per-entity episodes and floors in ``episodes``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from simfleet.codec.catalog import FieldType, SchemaSet
from simfleet.columns import (
    TRUTH_STREAM,
    Batch,
    Column,
    StrTable,
    TableStrings,
    concat_columns,
    take_column,
)
from simfleet.domain.pack import Project
from simfleet.domain.spec import DomainSpec, RelationSpec, StreamSpec
from simfleet.errors import DomainError
from simfleet.producers.engine import lifecycle
from simfleet.producers.engine.aggregates import agg_runtime, aggregate
from simfleet.producers.engine.campaigns import CampaignRun, as_tag, burst_times, start_campaign
from simfleet.producers.engine.chains import IMPLICIT, Edge, FollowUps
from simfleet.producers.engine.episodes import Episodes
from simfleet.producers.engine.feedback import Decisions, Feedback
from simfleet.producers.engine.fields import FieldMaker, StreamRuntime
from simfleet.producers.engine.journeys import Journeys
from simfleet.producers.engine.label_noise import LabelNoise
from simfleet.producers.engine.localtime import LocalClock
from simfleet.producers.engine.processes import Override, Process
from simfleet.producers.engine.stock import Stock, apply_stock
from simfleet.producers.pools import EntityPool, Relation, stable_hash
from simfleet.producers.profiles import RateProfile
from simfleet.scenarios import CampaignWindow
from simfleet.topology import truth_topic

__all__ = ["ShardEngine"]


class ShardEngine:
    """Generates the events of one shard of one domain."""

    def __init__(
        self,
        domain: DomainSpec,
        shard: int,
        shards: int,
        seed: int,
        scale: float = 1.0,
        max_pending: int = 2_000_000,
        schemas: SchemaSet | None = None,
        feedback: str | Decisions | None = None,
    ) -> None:
        """``feedback``: the decider of the closed loop (`reference`, or a model's decisions),
        when the run closes it and the pack declares one; None leaves the output as without
        it."""
        if schemas is None:
            schemas = Project().schemas()
        self.domain = domain
        self.shard = shard
        self.shards = shards
        self.seed = seed
        self.scale = scale
        self._share = scale / shards
        self.pools = {
            kind: EntityPool(kind, spec, shard, shards, seed, scale, domain.domain)
            for kind, spec in domain.entities.items()
        }
        profiles = {
            k: RateProfile(v, domain.growth_reference, domain.domain)
            for k, v in domain.profiles.items()
        }
        self._profiles = profiles
        # profiles read in each entity's own timezone (`local`), by profile name
        self._local = {
            k: LocalClock(k, v.local, self.pools[v.local.entity], seed, shard, domain.domain)
            for k, v in domain.profiles.items()
            if v.local is not None
        }
        self._pool_of_table = {id(p.ids): p for p in self.pools.values()}
        for kind, spec in domain.entities.items():
            for aname, attr in spec.attributes.items():
                if isinstance(attr, RelationSpec):
                    rng = np.random.default_rng(
                        [seed, shard, stable_hash("relation", domain.domain, kind, aname)]
                    )
                    owner = self.pools[kind]
                    owner.relations[aname] = Relation(
                        owner, self.pools[attr.relation], attr.per[0], attr.per[1], rng
                    )
        self._start: int | None = None
        # per stream: (entity field, its pool, the instants kept on it) of its `record`
        self._record: dict[str, list[tuple[str, EntityPool, tuple[str, ...]]]] = {}
        for name, s in domain.streams.items():
            for fname, kept in s.record.items():
                pool = self.pools[s.fields[fname].entity or ""]
                pool.keep_instants(list(kept))
                self._record.setdefault(name, []).append((fname, pool, kept))
        self._fields = FieldMaker(domain, shard, self.pools)
        self.processes = {
            name: Process(name, ps, self.pools[ps.entity], domain, seed, shard)
            for name, ps in domain.processes.items()
        }
        self._fields.processes = self.processes
        self.streams: dict[str, StreamRuntime] = {}
        for name, s in domain.streams.items():
            types = self._types(schemas, domain.topic(name))
            self._check_fields(name, s, types)
            rt = StreamRuntime(
                name=name,
                topic=domain.topic(name),
                spec=s,
                types=types,
                rng=np.random.default_rng([seed, shard, stable_hash(domain.domain, name)]),
                profile=profiles.get(s.profile),
                rate_param=f"{domain.topic(name)}.rate",
            )
            for fname, f in s.fields.items():
                if f.choice is not None or isinstance(f.const, str):
                    values = f.choice if f.choice is not None else (f.const,)
                    rt.tables[fname] = StrTable(tuple(str(v) for v in values))
            self.streams[name] = rt
        self._aggs = {
            name: agg_runtime(name, s.aggregate, self.streams, seed, shard)
            for name, s in domain.streams.items()
            if s.aggregate is not None
        }
        # rate-driven streams, the retiring ones first (see producers.engine.lifecycle)
        self._rated = sorted(
            (n for n, s in domain.streams.items() if s.rate),
            key=lambda n: domain.streams[n].retires is None,
        )
        self._chains = FollowUps(domain, self.streams, profiles, self._pool_of_table, max_pending)
        self._chains.fields = self._fields
        self._campaigns: dict[str, CampaignRun] = {}
        self.stocks = {
            name: Stock(name, st, self.pools[st.entity]) for name, st in domain.stocks.items()
        }
        self.label_streams = frozenset(n for n, s in domain.streams.items() if s.label_of)
        truth = schemas.get(truth_topic(domain.domain))
        self._journeys = Journeys(
            domain, self.streams, seed, shard, truth.fields if truth is not None else None
        )
        self._episodes = Episodes(
            domain,
            self.pools,
            seed,
            shard,
            truth_topic(domain.domain),
            truth.fields if truth is not None else None,
        )
        self._feedback: Feedback | None = None
        if feedback is not None and domain.feedback is not None:
            self._feedback = Feedback(
                domain.feedback,
                domain,
                seed,
                shard,
                feedback,
                truth.fields if truth is not None else None,
            )
        if domain.label_noise is not None:
            self._chains.noise = LabelNoise(
                domain.label_noise, domain, seed, shard, truth.fields if truth is not None else None
            )

    def _types(self, schemas: SchemaSet, topic: str) -> dict[str, FieldType]:
        entry = schemas.get(topic)
        if entry is None:
            raise DomainError(
                f"stream {topic} has no Avro schema: add schemas/{self.domain.domain}/"
                f'{topic.split(".", 1)[1]}.avsc with "simfleet.topic": "{topic}".'
            )
        return entry.fields

    def _check_fields(self, name: str, s: StreamSpec, types: dict[str, FieldType]) -> None:
        for implicit in IMPLICIT:
            if implicit not in types:
                raise DomainError(
                    f"schemas/{self.domain.domain}/{name}.avsc lacks the field `{implicit}`; every "
                    "event carries event_id (string) and occurred_at (timestamp-millis long)."
                )
        for fname in s.fields:
            if fname not in types:
                raise DomainError(
                    f"domains/{self.domain.domain}.yaml: stream {name} generates field `{fname}` "
                    f"that its schema schemas/{self.domain.domain}/{name}.avsc does not declare; "
                    "add it to the schema or remove it from the stream."
                )
        if s.key not in types:
            raise DomainError(f"stream {name}: key field `{s.key}` is not in its schema")
        picks = [f for f, fs in s.fields.items() if fs.pick != "active"]
        if picks and not s.rate:
            raise DomainError(
                f"stream {name}: fields {picks} pick inactive or idle entities, which caps the "
                "event count; only rate-driven streams can do that."
            )
        if s.aggregate is not None:
            agg = s.aggregate
            need = ["period_start", agg.group_by or "shard_id", *agg.metrics]
            lacking = [f for f in need if f not in types]
            if lacking:
                raise DomainError(
                    f"schemas/{self.domain.domain}/{name}.avsc lacks {lacking}: an aggregate "
                    "carries period_start, its group field (shard_id without group_by) and "
                    "one field per metric."
                )

    def rebind(self) -> None:
        """Rebuild what is keyed by object identity, after a checkpoint was loaded (the
        objects are new, their ids too)."""
        by_table = {id(p.ids): p for p in self.pools.values()}
        for d in (self._pool_of_table, self._fields.pool_of_table, self._chains.pool_of_table):
            d.clear()  # type: ignore[attr-defined]
            d.update(by_table)  # type: ignore[attr-defined]
        for pool in self.pools.values():
            pool._weighted.clear()
            pool._tilted.clear()
        for stock in self.stocks.values():
            stock._lookup.clear()

    @property
    def pending(self) -> int:
        """Follow-ups waiting in this shard."""
        return self._chains.pending

    @property
    def max_pending(self) -> int:
        """Past this many waiting follow-ups, new ones are dropped."""
        return self._chains.max_pending

    @property
    def dropped_followups(self) -> int:
        """Follow-ups dropped so far because ``max_pending`` were waiting."""
        return self._chains.dropped

    @property
    def edges(self) -> dict[str, list[Edge]]:
        """The chain edges by source stream, with their queues."""
        return self._chains.edges

    @property
    def pending_labels(self) -> int:
        """Follow-ups that may still settle a label (all of them, when the domain has labels)."""
        return self._chains.pending if self.label_streams else 0

    def labels(self, t0: int, t1: int, params: Mapping[str, float]) -> list[Batch]:
        """The labels that become known in ``[t0, t1)`` and nothing else: after a window's
        end, so an offline training set gets every label without new traffic. The outcomes
        and chargebacks that settle them are followed, not written."""
        out: dict[str, list[dict[str, Column]]] = {}
        if not self.label_streams:
            return []
        subjects = {self.domain.streams[n].label_of for n in self.label_streams}
        for proc in self.processes.values():
            proc.advance(t0, t1, params)  # outcomes followed after the window may read them
        for target, due, carried in self._chains.release(t1):
            if target in subjects:
                continue  # a new attempt (a retry) after the window: not in the data set
            rt = self.streams[target]
            cols = self._fields.make(rt, due, carried, params, t0)
            if target in self.label_streams:
                out.setdefault(target, []).append(cols)
            else:
                # after the window: an outcome or a chargeback that settles a label later;
                # it is not written, only followed
                if rt.spec.stock:
                    cols = apply_stock(rt.spec.stock, self.stocks, cols)
                self._chains.schedule(target, cols, len(cols["occurred_at"]), params)
        batches = [self._batch(name, parts) for name, parts in out.items()]
        return batches + self._own_truth()

    def _own_truth(self) -> list[Batch]:
        """The ground truth of label noise (and of the closed loop) since the last call."""
        found = []
        noise, fb = self._chains.noise, self._feedback
        topic = truth_topic(self.domain.domain)
        for cols in (
            noise.take_truth() if noise is not None else None,
            fb.take_truth() if fb is not None else None,
        ):
            if cols is not None:
                n = len(cols["occurred_at"])
                found.append(Batch(TRUTH_STREAM, topic, n, cols, "event_id"))
        return found

    # -- the tick -----------------------------------------------------------------------

    def tick(
        self,
        t0: int,
        t1: int,
        params: Mapping[str, float],
        campaigns: Sequence[CampaignWindow] = (),
    ) -> list[Batch]:
        """Events with ``t0 <= occurred_at < t1``, one batch per stream that has any
        (``campaigns``: those of the domain acting in the tick)."""
        out: dict[str, list[dict[str, Column]]] = {}
        span = t1 - t0
        if span <= 0:
            return []
        activations: lifecycle.Activations = []
        if self._start is None:
            self._start = t0
            for pool in self.pools.values():
                pool.begin(t0)
            self._at_start(t0, params, out, activations)
        if self.processes:
            self._advance_processes(t0, t1, params, campaigns)
        mid = t0 + span // 2
        episodes = self._episodes
        if episodes.active:
            episodes.start_tick(t0, t1, params)
        for name in self._rated:
            rt = self.streams[name]
            factor = 1.0
            clock = self._local.get(rt.spec.profile)
            if clock is not None and rt.profile is not None:
                # the zones' mix; each event's entity drawn by its zone's hour (localtime)
                zf = clock.factors(rt.profile, mid, params)
                spike = rt.profile.spike(self.seed, rt.topic, mid)
                factor = float(clock.shares() @ zf) * spike
                self._fields.tilts = {clock.entity: clock.tilt(rt.profile, mid, params)}
            elif rt.profile is not None:
                factor = rt.profile.factor(mid, params) * rt.profile.spike(self.seed, rt.topic, mid)
            if episodes.modulates(name):  # drawn per entity (producers.engine.episodes)
                per_ms = params[rt.rate_param] * self._share * factor / 1000.0
                times, carried = episodes.draw(rt, per_ms, t0, t1, params)
                self._fields.tilts = {}  # episodes draw their entities themselves
                if len(times):
                    cols = self._fields.make(rt, times, carried, params, t0)
                    self._emit(rt, cols, out, activations, params)
                continue
            lam = params[rt.rate_param] * self._share * factor * span / 1000.0
            n = int(rt.rng.poisson(lam))
            for f in rt.spec.fields.values():
                if f.entity is not None and f.pick != "active":
                    n = min(n, len(self.pools[f.entity].candidates(f.pick, t0)))
            if n == 0:
                self._fields.tilts = {}
                continue
            times = t0 + np.sort(rt.rng.integers(0, span, n, dtype=np.int64))
            cols = self._fields.make(rt, times, {}, params, t0)
            self._fields.tilts = {}
            self._emit(rt, cols, out, activations, params)
        for w in campaigns:
            self._campaign_events(w, t0, t1, params, out, activations)
        self._journey_events(t0, t1, params, out, activations)
        # each released batch is made and scheduled before the next is popped (see release)
        for target, due, carried in self._chains.release(t1):
            rt = self.streams[target]
            cols = self._fields.make(rt, due, carried, params, t0)
            self._emit(rt, cols, out, activations, params)
        self._journey_events(t0, t1, params, out, activations)  # of chained start events
        if episodes.active:
            # episode events after the rated streams (an emit may retire its entity), floors
            # once every event of the tick is known
            for target, due, carried in episodes.emitted():
                self._emit_made(target, due, carried, params, t0, out, activations)
            for target, due, carried in episodes.floors(out, t0, t1, params):
                self._emit_made(target, due, carried, params, t0, out, activations)
        lifecycle.activate(self._pool_of_table, self.streams, activations)
        if self._feedback is not None and self._campaigns:
            subject = out.get(self._feedback.spec.subject, [])
            self._feedback.observe(subject, t0, t1, params, self._campaigns, self._pool_of_table)
        start = self._start if self._start is not None else t0
        for name, agg in self._aggs.items():
            rt = self.streams[name]
            # make every period's events before scheduling any: both draw from the stream's rng
            made = [
                self._fields.make(rt, at, summary, params, t0)
                for at, summary in aggregate(name, agg, out, t0, t1, start, rt.types)
            ]
            for cols in made:
                out.setdefault(name, []).append(cols)
                self._chains.schedule(name, cols, len(cols["occurred_at"]), params)
        batches = [self._batch(name, parts) for name, parts in out.items()]
        truth = episodes.truth() if episodes.active else None
        if truth is not None:
            batches.append(truth)
        journeyed = self._journeys.take_truth()
        if journeyed is not None:
            topic = truth_topic(self.domain.domain)
            n = len(journeyed["label"])
            batches.append(Batch(TRUTH_STREAM, topic, n, journeyed, "event_id"))
        return batches + self._own_truth()

    def _at_start(
        self,
        t0: int,
        params: Mapping[str, float],
        out: dict[str, list[dict[str, Column]]],
        activations: lifecycle.Activations,
    ) -> None:
        """At the run's first instant, the `at_start` events: one per initially active entity
        of the stream's `activates` field (the shows announced before the run)."""
        for name, s in self.domain.streams.items():
            if s.at_start is None or s.activates is None:
                continue
            pool = self.pools[s.fields[s.activates].entity or ""]
            idx = np.flatnonzero(pool.initially_active).astype(np.int64)
            if len(idx) == 0:
                continue
            rt = self.streams[name]
            carried: dict[str, Column] = {s.activates: TableStrings(pool.ids, idx)}
            times = np.full(len(idx), t0, dtype=np.int64)
            cols = self._fields.make(rt, times, carried, params, t0, None, s.at_start)
            self._emit(rt, cols, out, activations, params)

    def _journey_events(
        self,
        t0: int,
        t1: int,
        params: Mapping[str, float],
        out: dict[str, list[dict[str, Column]]],
        activations: lifecycle.Activations,
    ) -> None:
        """The events of journeys due in the tick (see ``producers.engine.journeys``)."""
        for target, due, carried in self._journeys.release(t1):
            self._emit_made(target, due, carried, params, t0, out, activations)

    def _emit_made(
        self,
        target: str,
        due: npt.NDArray[np.int64],
        carried: dict[str, Column],
        params: Mapping[str, float],
        t0: int,
        out: dict[str, list[dict[str, Column]]],
        activations: lifecycle.Activations,
    ) -> None:
        """Events of ``target`` at ``due`` with ``carried`` columns, made and emitted."""
        rt = self.streams[target]
        self._emit(rt, self._fields.make(rt, due, carried, params, t0), out, activations, params)

    def _campaign_run(self, w: CampaignWindow, t0: int) -> CampaignRun:
        """The campaign's run in this shard, started at its first tick."""
        run = self._campaigns.get(w.key)
        if run is None:
            run = start_campaign(
                w,
                self.domain,
                self.streams,
                self.pools,
                self.seed,
                self.shard,
                self.shards,
                self.scale,
                t0,
            )
            self._campaigns[w.key] = run
        return run

    def _advance_processes(
        self, t0: int, t1: int, params: Mapping[str, float], campaigns: Sequence[CampaignWindow]
    ) -> None:
        """Draw every process up to ``t1``; campaigns naming a process give its actors their
        numbers within their window."""
        overrides: dict[str, list[Override]] = {}
        for w in campaigns:
            for pname, numbers in w.campaign.processes.items():
                run = self._campaign_run(w, t0)
                kind = self.processes[pname].spec.entity
                actors = run.actors.get(kind, np.empty(0, dtype=np.int64))
                overrides.setdefault(pname, []).append(Override(actors, w.start, w.end, numbers))
        for name, proc in self.processes.items():
            proc.advance(t0, t1, params, overrides.get(name, ()))

    def _campaign_events(
        self,
        w: CampaignWindow,
        t0: int,
        t1: int,
        params: Mapping[str, float],
        out: dict[str, list[dict[str, Column]]],
        activations: lifecycle.Activations,
    ) -> None:
        """A campaign's events in the tick, with its actors, generators and tags."""
        run = self._campaign_run(w, t0)
        lo, hi = max(t0, w.start), min(t1, w.end)
        if hi <= lo or any(len(a) == 0 for a in run.actors.values()):
            return  # a shard without actors (`where` found none) leaves it to the others
        for sname, cs in w.campaign.streams.items():
            crt = run.runtimes[sname]
            share = self._share * run.effort
            times = burst_times(cs, w, crt.rng, lo, hi, share, run.schedule(sname, cs))
            if len(times) == 0:
                continue
            override = run.overrides[sname]
            cols = self._fields.make(crt, times, {}, params, t0, run.actors, override)
            for f in override:
                if f not in self.streams[sname].types:  # a hidden tag: carried only
                    cols[f] = as_tag(cols[f])
            zeros = np.zeros(len(times), dtype=np.int64)
            for k, tag in run.tags.items():
                cols[k] = TableStrings(tag.table, zeros)
            self._emit(self.streams[sname], cols, out, activations, params, crt.rng)

    def _emit(
        self,
        rt: StreamRuntime,
        cols: dict[str, Column],
        out: dict[str, list[dict[str, Column]]],
        activations: lifecycle.Activations,
        params: Mapping[str, float],
        rng: np.random.Generator | None = None,
    ) -> None:
        """Events made: through their stocks (a consumption may drop some), into the tick's
        output, the lifecycle and the chains."""
        held = rt.name in self._journeys.serial
        if held:  # one episode at a time per entity: some starts wait (journeys.hold)
            cols = self._journeys.hold(rt.name, cols, params)
        if rt.spec.stock:
            cols = apply_stock(rt.spec.stock, self.stocks, cols)
        n = len(cols["occurred_at"])
        if n == 0:
            if held:
                self._journeys.flush(rt.name)
            return
        out.setdefault(rt.name, []).append(cols)
        for fname, pool, kept in self._record.get(rt.name, ()):
            ent = lifecycle.entity_col(self._pool_of_table, rt.name, fname, cols).idx
            for instant in kept:
                at = cols[instant]
                assert isinstance(at, np.ndarray)
                pool.record(instant, ent, at)
        lifecycle.lifecycle(self._pool_of_table, rt, cols, activations)
        self._chains.schedule(rt.name, cols, n, params, rng)
        if rt.name in self._journeys.starts:
            self._journeys.begin(rt.name, cols, params)
        if held:
            self._journeys.flush(rt.name)

    def _batch(self, name: str, parts: list[dict[str, Column]]) -> Batch:
        """One stream's parts of this tick as one batch, rows sorted by ``occurred_at`` and
        columns in schema order."""
        rt = self.streams[name]
        order_names = list(rt.types)
        if len(parts) == 1:
            cols = parts[0]
        else:
            cols = {k: concat_columns([p[k] for p in parts]) for k in order_names}
            times = cols["occurred_at"]
            assert isinstance(times, np.ndarray)
            order = np.argsort(times, kind="stable")
            cols = {k: take_column(c, order) for k, c in cols.items()}
        n = len(cols["occurred_at"])
        missing = [k for k in order_names if k not in cols]
        if missing:
            raise DomainError(
                f"stream {name}: no generator and nothing carried for field(s) {missing}; add a "
                f"generator in domains/{self.domain.domain}.yaml or carry them through a chain."
            )
        return Batch(name, rt.topic, n, {k: cols[k] for k in order_names}, rt.spec.key)
