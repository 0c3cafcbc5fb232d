"""The full marketplace domain, statistically: 50+ correlated streams from one engine.

Three backfills are made once per module and every test reads them:

- ``main``: 50 sim hours from Tuesday 2026-03-03T00:00Z, seed 11, scale 0.5, 4 shards, every
  record kept (two daily aggregate boundaries fall inside it);
- ``long``: 18 sim days from Thursday 2026-03-05, seed 5, scale 0.05, 2 shards, per-day counts of
  every stream and the records of the session streams (weekend ratio, ratings, cadence);
- two 12 h windows (08:00-20:00 UTC) on Wednesday 2026-04-29 and Wednesday 2026-05-06 (exam
  season), scale 0.5, 2 shards, for the academic calendar.

Tolerances are several standard deviations of the sample sizes involved; a generator that drops
the mechanism under test (lifecycle, aggregates, preferred session hours) fails them.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from simfleet.domain.pack import load_domain
from simfleet.domain.params import ParamGraph
from simfleet.domain.spec import DomainSpec
from simfleet.paths import schemas_dir
from simfleet.producers.backfill import backfill
from simfleet.producers.pools import EntityPool
from simfleet.producers.profiles import RateProfile
from simfleet.scenarios import Modifier
from simfleet.timeutil import parse_instant_ms

pytestmark = pytest.mark.slow  # minutes of generation: started first under xdist

H = 3_600_000
DAY = 24 * H
MAIN_START = parse_instant_ms("2026-03-03T00:00:00Z")
MAIN_END = MAIN_START + 50 * H
MAIN = {"seed": 11, "scale": 0.5, "shards": 4}
LONG_START = parse_instant_ms("2026-03-05T00:00:00Z")  # a Thursday
LONG_DAYS = 18
LONG_WARMUP = 4  # sessions come up to ~3 days after their request; day 4 is a Monday
LONG = {"seed": 5, "scale": 0.05, "shards": 2}
LONG_KEEP = (
    "session.completed",
    "rating.submitted",
    "session.started",
    "session.no_show",
    "booking.requested",
)
AREAS = ("customer", "tutor", "session", "support", "marketing", "system")
ROOT_CAUSES = (
    "customer.demand",
    "tutor.supply",
    "payment.gateway_health",
    "session.quality",
    "support.capacity",
    "customer.churn_propensity",
    "tutor.recruiting",
    "competitor.pressure",
    "marketing.spend",
)
SHARD_OF_ID = re.compile(r"^[a-z]+-(\d{3})-")

Record = dict[str, Any]
Records = dict[str, list[Record]]


@dataclass
class LongRun:
    """Per-day counts of every stream, and the records of a few."""

    per_day: dict[str, np.ndarray]
    records: Records = field(default_factory=dict)


def collect(domain: DomainSpec, start: int, end: int, **kw: Any) -> Records:
    """Records by stream of a backfill."""
    out: Records = defaultdict(list)
    for tick in backfill(domain, start, end, **kw):
        for b in tick:
            out[b.stream].extend(b.to_records())
    return dict(out)


@pytest.fixture(scope="module")
def domain() -> DomainSpec:
    """The marketplace domain."""
    return load_domain("marketplace")


@pytest.fixture(scope="module")
def recs(domain: DomainSpec) -> Records:
    """The main run's records by stream."""
    return collect(domain, MAIN_START, MAIN_END, **MAIN)


@pytest.fixture(scope="module")
def long_run(domain: DomainSpec) -> LongRun:
    """18 small days: counts per day of every stream, records of the session streams."""
    run = LongRun(defaultdict(lambda: np.zeros(LONG_DAYS, dtype=np.int64)), defaultdict(list))
    for tick in backfill(domain, LONG_START, LONG_START + LONG_DAYS * DAY, **LONG):
        for b in tick:
            run.per_day[b.stream] += np.bincount(
                (b.occurred_at - LONG_START) // DAY, minlength=LONG_DAYS
            )
            if b.stream in LONG_KEEP:
                run.records[b.stream].extend(b.to_records())
    return run


@pytest.fixture(scope="module")
def pools(domain: DomainSpec) -> dict[str, dict[str, EntityPool]]:
    """The main run's pools as they start (kind -> id -> pool), rebuilt from the same seed."""
    out: dict[str, dict[str, EntityPool]] = {}
    for kind, spec in domain.entities.items():
        out[kind] = {}
        for shard in range(MAIN["shards"]):
            pool = EntityPool(
                kind, spec, shard, MAIN["shards"], MAIN["seed"], MAIN["scale"], "marketplace"
            )
            out[kind].update({i: pool for i in pool.ids.values})
    return out


def initially_active(pools: dict[str, dict[str, EntityPool]], kind: str, eid: str) -> bool:
    """Whether an entity was active when the run began."""
    pool = pools[kind][eid]
    return bool(pool.initially_active[pool.ids.lookup[eid]])


def shard_of(record: Record) -> str:
    """``shard-NNN`` of a record, read from the first shard-scoped id it carries."""
    for v in record.values():
        if isinstance(v, str) and (m := SHARD_OF_ID.match(v)):
            return f"shard-{m.group(1)}"
    raise AssertionError(f"no shard-scoped id in {record}")


# -- catalogue --------------------------------------------------------------------------


def test_fifty_or_more_streams_over_the_six_areas_each_with_its_schema(
    domain: DomainSpec,
) -> None:
    """>= 50 streams; each has schemas/marketplace/<stream>.avsc naming its topic, fields
    event_id and occurred_at first; every area of the seed has streams; cadence declared."""
    assert len(domain.streams) >= 50
    areas = Counter(name.split(".")[0] for name in domain.streams)
    for area in AREAS:
        assert any(a.startswith(area) or a in _AREA_ALIASES.get(area, ()) for a in areas), area
    for name, s in domain.streams.items():
        doc = json.loads((schemas_dir() / "marketplace" / f"{name}.avsc").read_text())
        assert doc["type"] == "record"
        assert doc["simfleet.topic"] == f"marketplace.{name}"
        assert [f["name"] for f in doc["fields"][:2]] == ["event_id", "occurred_at"]
        assert doc["fields"][1]["type"] == {"type": "long", "logicalType": "timestamp-millis"}
        assert s.cadence in ("high", "medium", "low"), name


_AREA_ALIASES = {
    "customer": ("booking", "subscription"),
    "session": ("rating",),
    "support": ("refund",),
    "system": ("payment",),
}


def test_every_stream_has_events_in_a_one_day_run(recs: Records, domain: DomainSpec) -> None:
    """Every stream has events within one sim day - the run's second day, once the chains
    (sessions come up to ~3 days after a request) have warmed up; daily aggregates fire at
    that day's closing boundary (plus their offset, under 30 min)."""
    lo, hi = MAIN_START + DAY, MAIN_START + 2 * DAY
    for name, s in domain.streams.items():
        until = hi + H if s.aggregate is not None else hi
        assert any(lo <= r["occurred_at"] < until for r in recs.get(name, [])), name


# -- relationships ----------------------------------------------------------------------

ENTITY_FIELDS = {"student_id": "student", "tutor_id": "tutor"}
# streams that name an entity before it is active: they are what activates it
PRE_ACTIVE = {"customer.signup", "tutor.applied", "tutor.approved", "tutor.rejected"}


def activation_times(recs: Records) -> dict[str, int]:
    """Entity id -> when it became active in the run (sign-up, approval)."""
    out = {r["student_id"]: r["occurred_at"] for r in recs["customer.signup"]}
    out.update({r["tutor_id"]: r["occurred_at"] for r in recs["tutor.approved"]})
    return out


def test_entity_ids_exist_and_were_active_when_used(
    recs: Records, pools: dict[str, dict[str, EntityPool]]
) -> None:
    """Every student_id / tutor_id is in its pool and, at the event, active: initially, or
    signed up / approved earlier, and not churned earlier."""
    activated = activation_times(recs)
    churned = {r["student_id"]: r["occurred_at"] for r in recs["customer.churned"]}
    assert len(churned) == len(recs["customer.churned"]), "a student churned twice"
    checked = 0
    for stream, rows in recs.items():
        if stream in PRE_ACTIVE:
            continue
        for fname, kind in ENTITY_FIELDS.items():
            for r in rows:
                eid = r.get(fname)
                if eid is None:
                    continue
                assert eid in pools[kind], (stream, eid)
                if not initially_active(pools, kind, eid):
                    assert eid in activated and activated[eid] <= r["occurred_at"], (stream, eid)
                if eid in churned and stream != "customer.churned":
                    assert r["occurred_at"] < churned[eid], (stream, eid)
                checked += 1
    assert checked > 100_000


def test_lifecycle_streams_pick_the_right_entities(
    recs: Records, pools: dict[str, dict[str, EntityPool]]
) -> None:
    """Sign-ups and applications pick entities inactive at the start, each once; approvals
    follow applications; churned students were active; some of each happen."""
    signups = [r["student_id"] for r in recs["customer.signup"]]
    applied = [r["tutor_id"] for r in recs["tutor.applied"]]
    for ids, kind in ((signups, "student"), (applied, "tutor")):
        assert ids
        assert len(set(ids)) == len(ids)
        assert not any(initially_active(pools, kind, i) for i in ids)
    decided = Counter(r["tutor_id"] for s in ("tutor.approved", "tutor.rejected") for r in recs[s])
    assert decided and max(decided.values()) == 1
    assert set(decided) <= set(applied)
    assert recs["customer.churned"]


# child stream, id field, parent streams: the parent holds that id, earlier, same student
PARENTS: list[tuple[str, str, tuple[str, ...]]] = [
    ("booking.confirmed", "booking_id", ("booking.requested",)),
    ("booking.declined", "booking_id", ("booking.requested",)),
    ("booking.expired", "booking_id", ("booking.requested",)),
    ("session.scheduled", "booking_id", ("booking.confirmed",)),
    ("payment.succeeded", "booking_id", ("booking.confirmed",)),
    ("payment.failed", "booking_id", ("booking.confirmed",)),
    ("marketing.promo_code.redeemed", "booking_id", ("booking.confirmed",)),
    ("session.started", "session_id", ("session.scheduled",)),
    ("session.no_show", "session_id", ("session.scheduled",)),
    ("session.student_no_show", "session_id", ("session.scheduled",)),
    ("session.cancelled", "session_id", ("session.scheduled",)),
    ("session.rescheduled", "session_id", ("session.scheduled",)),
    ("session.completed", "session_id", ("session.started",)),
    ("rating.submitted", "session_id", ("session.completed",)),
    ("session.recording_ready", "session_id", ("session.completed",)),
    ("support.session_complaint", "session_id", ("session.completed",)),
    ("refund.issued", "session_id", ("session.no_show",)),
    ("payment.retry_succeeded", "payment_id", ("payment.failed",)),
    ("support.ticket_resolved", "ticket_id", ("support.ticket_created",)),
    ("support.ticket_escalated", "ticket_id", ("support.ticket_created",)),
    ("support.csat_submitted", "ticket_id", ("support.ticket_resolved",)),
    ("tutor.approved", "tutor_id", ("tutor.applied",)),
    ("tutor.rejected", "tutor_id", ("tutor.applied",)),
    ("tutor.onboarding_completed", "tutor_id", ("tutor.approved",)),
    ("marketing.referral.converted", "referral_id", ("marketing.referral.sent",)),
    ("marketing.email.opened", "email_id", ("marketing.email.sent",)),
]


@pytest.mark.parametrize(("child", "key", "parents"), PARENTS, ids=[p[0] for p in PARENTS])
def test_no_orphans_every_follow_up_has_an_earlier_parent(
    recs: Records, child: str, key: str, parents: tuple[str, ...]
) -> None:
    """A follow-up's parent exists, happened no later, and names the same student/tutor."""
    index = {r[key]: r for p in parents for r in recs.get(p, [])}
    rows = recs[child]
    assert rows
    for r in rows:
        parent = index.get(r[key])
        assert parent is not None, (child, r[key])
        assert parent["occurred_at"] <= r["occurred_at"]
        for f in ("student_id", "tutor_id"):
            if f in r and f in parent:
                assert r[f] == parent[f], (child, f)


def test_one_outcome_per_scheduled_session(recs: Records) -> None:
    """A scheduled session ends in exactly one of started / no-shows / cancelled."""
    seen = Counter(
        r["session_id"]
        for s in ("session.started", "session.no_show", "session.student_no_show")
        for r in recs[s]
    )
    seen.update(r["session_id"] for r in recs["session.cancelled"])
    assert max(seen.values()) == 1


OUTCOMES = ("booking.confirmed", "booking.declined", "booking.expired")


def test_booking_outcomes_sum_to_requests_with_70_to_80_percent_confirmed(
    recs: Records,
) -> None:
    """Requests older than 24 h have exactly one outcome, 2-24 h later; 70-80 % confirmed."""
    requested = {r["booking_id"]: r["occurred_at"] for r in recs["booking.requested"]}
    outcome: dict[str, tuple[str, int]] = {}
    for s in OUTCOMES:
        for r in recs[s]:
            assert r["booking_id"] not in outcome
            outcome[r["booking_id"]] = (s, r["occurred_at"])
    old = [b for b, t in requested.items() if t < MAIN_END - DAY]
    assert len(old) > 5_000
    assert all(b in outcome for b in old)
    delays = np.asarray([t - requested[b] for b, (_, t) in outcome.items()])
    assert delays.min() >= 2 * H and delays.max() <= DAY
    share = Counter(outcome[b][0] for b in old)["booking.confirmed"] / len(old)
    assert 0.70 <= share <= 0.80


def test_tutor_no_shows_are_2_to_5_percent_of_sessions(long_run: LongRun) -> None:
    """Scheduled sessions that end in a tutor no-show: 2-5 % (seed)."""
    held = long_run.per_day["session.started"][LONG_WARMUP:].sum()
    no_show = long_run.per_day["session.no_show"][LONG_WARMUP:].sum()
    others = sum(
        long_run.per_day[s][LONG_WARMUP:].sum()
        for s in ("session.student_no_show", "session.cancelled")
    )
    share = no_show / (held + no_show + others)
    assert 0.02 <= share <= 0.05, share


def test_40_to_60_percent_of_sessions_are_rated_within_48h(long_run: LongRun) -> None:
    """Sessions completed at least 48 h before the end: 40-60 % rated, 0-48 h later, once."""
    end = LONG_START + LONG_DAYS * DAY
    sessions = {r["session_id"]: r for r in long_run.records["session.completed"]}
    ratings = long_run.records["rating.submitted"]
    rated = Counter(r["session_id"] for r in ratings)
    assert max(rated.values()) == 1
    old = [s for s, r in sessions.items() if r["occurred_at"] < end - 48 * H]
    assert len(old) > 3_000
    share = sum(1 for s in old if s in rated) / len(old)
    assert 0.40 <= share <= 0.60
    for r in ratings:
        assert 0 <= r["occurred_at"] - sessions[r["session_id"]]["occurred_at"] <= 48 * H


def test_payment_failures_raise_tickets_1_to_6h_later(recs: Records) -> None:
    """Tickets naming a failed payment come 1-6 h after it; about 40 % of old failures."""
    failed = {r["payment_id"]: r["occurred_at"] for r in recs["payment.failed"]}
    linked = [t for t in recs["support.ticket_created"] if t["related_payment_id"] is not None]
    for t in linked:
        assert H <= t["occurred_at"] - failed[t["related_payment_id"]] <= 6 * H
    old = [p for p, at in failed.items() if at < MAIN_END - 6 * H]
    share = len({t["related_payment_id"] for t in linked} & set(old)) / len(old)
    assert 0.25 <= share <= 0.55, (share, len(old))


def test_resolution_minutes_is_the_time_since_the_ticket_opened(recs: Records) -> None:
    """ticket_resolved / escalated carry the elapsed minutes since ticket_created."""
    opened = {r["ticket_id"]: r["occurred_at"] for r in recs["support.ticket_created"]}
    for s in ("support.ticket_resolved", "support.ticket_escalated"):
        for r in recs[s]:
            assert r["resolution_minutes"] == (r["occurred_at"] - opened[r["ticket_id"]]) // 60_000


def test_session_duration_is_the_time_from_start_to_end(recs: Records) -> None:
    """duration_minutes of a completed session is what passed since session.started."""
    started = {r["session_id"]: r["occurred_at"] for r in recs["session.started"]}
    for r in recs["session.completed"]:
        assert r["duration_minutes"] == (r["occurred_at"] - started[r["session_id"]]) // 60_000
        assert 30 <= r["duration_minutes"] <= 90


# -- time patterns ----------------------------------------------------------------------


def test_at_least_85_percent_of_sessions_between_8am_and_10pm_and_a_few_outside(
    recs: Records,
) -> None:
    """Most sessions start 08:00-21:00 UTC (within_hours), but a few percent do not: the
    seed's "minimal" at night, not a rule real traffic never obeys."""
    for stream in ("session.started", "session.completed"):
        hours = np.asarray([(r["occurred_at"] % DAY) / H for r in recs[stream]])
        assert len(hours) > 1_000
        assert ((hours >= 8) & (hours < 22)).mean() >= 0.85, stream
    starts = np.asarray([(r["occurred_at"] % DAY) / H for r in recs["session.started"]])
    outside = ((starts < 8) | (starts >= 22)).mean()
    assert 0.005 <= outside <= 0.08, outside


def test_weekend_days_hold_30_to_50_percent_more_sessions(long_run: LongRun) -> None:
    """Two weeks after warm-up: mean sessions per weekend day / per weekday in 1.3-1.5."""
    per_day = long_run.per_day["session.completed"][LONG_WARMUP:]
    weekday = (np.arange(len(per_day))) % 7  # day LONG_WARMUP is a Monday
    ratio = per_day[weekday >= 5].mean() / per_day[weekday < 5].mean()
    assert 1.3 <= ratio <= 1.5, (ratio, per_day)


def test_exam_season_may_runs_40_to_60_percent_above_april(domain: DomainSpec) -> None:
    """Booking requests 08:00-20:00 on a May Wednesday vs an April Wednesday: x1.4-1.6."""
    counts = []
    for day in ("2026-04-29", "2026-05-06"):
        start = parse_instant_ms(f"{day}T08:00:00Z")
        n = 0
        for tick in backfill(domain, start, start + 12 * H, seed=3, scale=0.5, shards=2):
            n += sum(b.n for b in tick if b.stream == "booking.requested")
        counts.append(n)
    assert counts[0] > 4_000
    assert 1.4 <= counts[1] / counts[0] <= 1.6, counts


def test_about_three_sessions_per_active_tutor_per_day(
    long_run: LongRun, domain: DomainSpec
) -> None:
    """Steady state: completed sessions per day / tutors active at the start is 2.5-3.5."""
    per_day = long_run.per_day["session.completed"][LONG_WARMUP:].mean()
    spec = domain.entities["tutor"]
    tutors = spec.count * LONG["scale"] * spec.initial_active
    assert 2.5 <= per_day / tutors <= 3.5, per_day / tutors


def test_tutors_teach_1_to_8_students_who_book_them(long_run: LongRun) -> None:
    """Students book their regular tutor: over 18 days a tutor sees 1-8 distinct students (a
    student whose tutor left moves to another, so a tutor may briefly pass 8: 1 % slack)."""
    students: defaultdict[str, set[str]] = defaultdict(set)
    tutors: defaultdict[str, set[str]] = defaultdict(set)
    for r in long_run.records["booking.requested"]:
        students[r["tutor_id"]].add(r["student_id"])
        tutors[r["student_id"]].add(r["tutor_id"])
    per_tutor = np.array([len(v) for v in students.values()])
    assert len(per_tutor) > 100
    assert float(((per_tutor >= 1) & (per_tutor <= 8)).mean()) >= 0.99, np.bincount(per_tutor)
    assert 3 <= per_tutor.mean() <= 6  # 20,000 students over 4,000-5,000 active tutors
    per_student = np.array([len(v) for v in tutors.values()])
    assert float((per_student == 1).mean()) >= 0.95


COHORT_STREAMS = (
    "customer.signup",
    "customer.churned",
    "subscription.started",
    "subscription.cancelled",
)


def _month(ms: int) -> str:
    return str(np.datetime64(ms, "ms").astype("datetime64[M]"))


def test_each_student_has_one_cohort_the_month_they_joined(recs: Records) -> None:
    """Sign-ups carry the month they happen in; students active from the start joined up to
    18 months before it; every event of a student carries the same cohort."""
    for r in recs["customer.signup"]:
        assert r["cohort"] == _month(r["occurred_at"]), r
    first, oldest = _month(MAIN_START), _month(MAIN_START - 540 * DAY)
    seen: dict[str, str] = {}
    for stream in COHORT_STREAMS:
        for r in recs[stream]:
            assert oldest <= r["cohort"] <= _month(r["occurred_at"]), (stream, r)
            assert seen.setdefault(r["student_id"], r["cohort"]) == r["cohort"], (stream, r)
    earlier = {c for c in seen.values() if c < first}
    assert len(earlier) >= 10, sorted(earlier)  # 18 months of cohorts among the first students


# -- aggregates -------------------------------------------------------------------------


def recompute(domain: DomainSpec, recs: Records, name: str, row: Record) -> dict[str, float | int]:
    """An aggregate row's metrics, recomputed from the entity-level records."""
    agg = domain.streams[name].aggregate
    assert agg is not None
    lo, hi = row["period_start"], row["period_start"] + agg.every
    out: dict[str, float | int] = {}
    for mname, m in agg.metrics.items():
        rows = [
            r
            for r in recs.get(m.source or agg.source, [])
            if lo <= r["occurred_at"] < hi
            and (
                r[agg.group_by] == row[agg.group_by]
                if agg.group_by
                else shard_of(r) == row["shard_id"]
            )
        ]
        vals = [r[m.field] for r in rows] if m.field else []
        if m.op == "count":
            out[mname] = len(rows)
        elif m.op == "distinct":
            out[mname] = len(set(vals))
        elif m.op == "sum":
            out[mname] = round(sum(vals), m.round) if m.round is not None else sum(vals)
        elif m.op == "mean":
            out[mname] = round(sum(vals) / len(vals), m.round or 6) if vals else 0.0
        else:
            out[mname] = (min if m.op == "min" else max)(vals) if vals else 0.0
    return out


def aggregate_streams(domain: DomainSpec) -> list[str]:
    """Names of the aggregate streams."""
    return [n for n, s in domain.streams.items() if s.aggregate is not None]


def test_aggregates_equal_the_sums_of_the_streams_they_summarise(
    recs: Records, domain: DomainSpec
) -> None:
    """Every metric of every aggregate row equals the same op over the source records of its
    period and group (shard without group_by): counts and distincts exactly, money to the cent."""
    names = aggregate_streams(domain)
    assert len(names) >= 6
    for name in names:
        rows = recs[name]
        sample = rows if len(rows) <= 400 else rows[:: len(rows) // 400]
        for row in sample:
            expected = recompute(domain, recs, name, row)
            for mname, want in expected.items():
                assert row[mname] == pytest.approx(want, abs=1e-6), (name, mname, row)


def test_daily_payouts_cover_every_tutor_and_session(recs: Records) -> None:
    """Per day: payout tutors = tutors with completed sessions; sessions and gross sum up."""
    by_day: dict[int, list[Record]] = defaultdict(list)
    for r in recs["session.completed"]:
        by_day[r["occurred_at"] // DAY * DAY].append(r)
    payouts = defaultdict(list)
    for p in recs["tutor.payout"]:
        payouts[p["period_start"]].append(p)
    assert sorted(payouts) == [MAIN_START, MAIN_START + DAY]
    for day, rows in payouts.items():
        sessions = by_day[day]
        assert {p["tutor_id"] for p in rows} == {s["tutor_id"] for s in sessions}
        assert sum(p["sessions"] for p in rows) == len(sessions)
        cents = sum(round(p["gross_amount"] * 100) for p in rows)
        assert cents == round(sum(s["price"] for s in sessions) * 100)
        for p in rows:
            assert day + DAY <= p["occurred_at"] < day + DAY + 30 * 60_000


def test_aggregates_fire_after_the_boundary_at_distinct_offsets(
    recs: Records, domain: DomainSpec
) -> None:
    """Each aggregate fires once per period and shard/group, at boundary + a per-stream offset
    (< 30 min); no two aggregate streams share an offset, so they never fire in lockstep."""
    offsets = {}
    for name in aggregate_streams(domain):
        agg = domain.streams[name].aggregate
        assert agg is not None
        lag = {r["occurred_at"] - r["period_start"] - agg.every for r in recs[name]}
        assert len(lag) == 1, name
        offsets[name] = lag.pop()
        assert 0 <= offsets[name] < 30 * 60_000
        keys = Counter((r["period_start"], r[agg.group_by or "shard_id"]) for r in recs[name])
        assert max(keys.values()) == 1
    assert len(set(offsets.values())) == len(offsets)


# -- cadence, spikes, root causes -------------------------------------------------------


def test_cadence_groups_match_the_rates(long_run: LongRun, domain: DomainSpec) -> None:
    """Fleet-wide mean interval at scale 1 (steady state): high <= 1 min, medium 1 min - 4 h,
    low >= 1 h; aggregates are low and summarise hours to days."""
    seconds = (LONG_DAYS - LONG_WARMUP) * 86_400
    for name, s in domain.streams.items():
        if s.aggregate is not None:
            assert s.cadence == "low" and s.aggregate.every >= H, name
            continue
        raw = long_run.per_day[name][LONG_WARMUP:].sum()
        assert raw > 0, name
        interval = seconds / (raw / LONG["scale"])
        bands = {"high": (0, 60), "medium": (60, 4 * 3600), "low": (3600, 86_400)}
        lo, hi = bands[s.cadence or ""]
        slack = 1 + 3 / np.sqrt(raw)  # three Poisson standard deviations of the count
        assert lo / slack <= interval <= hi * slack, (name, s.cadence, interval, raw)


def test_spikes_hit_7_percent_of_hours_by_15_to_35_percent(domain: DomainSpec) -> None:
    """Spike multipliers: ~7 % of hours, 1 +- [0.15, 0.35], a pure function of (seed, stream,
    hour) - hence the same on every shard - and different per stream."""
    profile = RateProfile(domain.profiles["browsing"], domain.growth_reference)
    hours = range(20_000)
    m = np.asarray([profile.spike(11, "customer.search", h * H + 5) for h in hours])
    spiked = m[m != 1.0]
    assert 0.06 <= len(spiked) / len(m) <= 0.08
    size = np.abs(spiked - 1)
    assert size.min() >= 0.15 - 1e-9 and size.max() <= 0.35 + 1e-9
    assert 0.3 <= (spiked > 1).mean() <= 0.7
    again = [profile.spike(11, "customer.search", h * H + 1_000) for h in range(200)]
    assert again == list(m[:200])
    other = np.asarray([profile.spike(11, "marketing.ad.impression", h * H) for h in hours])
    assert (other != m).any()


def test_each_root_cause_moves_at_least_three_streams(domain: DomainSpec) -> None:
    """Halving a root cause (after every lag) moves >= 3 stream rates or probabilities."""
    graph = ParamGraph.from_domain(domain)
    t = MAIN_START
    base = graph.evaluate(t, lambda _t: [])
    for root in ROOT_CAUSES:
        path = domain.param_path(root)
        mod = Modifier(target=path, op="multiply", value=0.5)

        def halved(_t: int, mod: Modifier = mod) -> list[tuple[Modifier, float]]:
            return [(mod, 1.0)]

        moved = graph.evaluate(t + 4 * DAY, halved)
        changed = [p for p in base if p != path and abs(moved[p] - base[p]) > 1e-9]
        assert len(changed) >= 3, (root, changed)
