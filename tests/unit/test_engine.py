"""The marketplace slice, statistically: three sim days of backfill must look like the domain.

One backfill (2026-03-02T00:00Z, 3 days, seed 7, scale 1, 4 shards) is made per module and
every test reads it; tolerances are several standard deviations of the sample sizes involved.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from simfleet.columns import Batch
from simfleet.domain.pack import load_domain
from simfleet.domain.spec import DomainSpec
from simfleet.producers.backfill import backfill
from simfleet.producers.profiles import RateProfile
from simfleet.timeutil import parse_instant_ms

H = 3_600_000
START = parse_instant_ms("2026-03-02T00:00:00Z")
END = START + 72 * H
OUTCOMES = ("booking.confirmed", "booking.declined", "booking.expired")

Record = dict[str, Any]


@dataclass
class Run:
    """The batches of one backfill, and their records by stream."""

    batches: list[Batch]
    records: dict[str, list[Record]]


def run(
    domain: DomainSpec, start: int, end: int, seed: int, shards: int = 4, scale: float = 1.0
) -> Run:
    """Backfill and keep every batch and record."""
    batches: list[Batch] = []
    records: dict[str, list[Record]] = defaultdict(list)
    for tick in backfill(domain, start, end, seed, scale=scale, shards=shards):
        for b in tick:
            batches.append(b)
            records[b.stream].extend(b.to_records())
    return Run(batches, dict(records))


@pytest.fixture(scope="module")
def domain() -> DomainSpec:
    """The marketplace domain."""
    return load_domain("marketplace")


@pytest.fixture(scope="module")
def sample(domain: DomainSpec) -> Run:
    """Three sim days, seed 7, scale 1, 4 shards."""
    return run(domain, START, END, seed=7)


@pytest.fixture(scope="module")
def recs(sample: Run) -> dict[str, list[Record]]:
    """Records by stream."""
    return sample.records


def by_booking(records: list[Record]) -> dict[str, Record]:
    """Records keyed by booking_id (asserting each id appears once)."""
    out = {r["booking_id"]: r for r in records}
    assert len(out) == len(records), "a booking_id appears twice in one stream"
    return out


def test_every_stream_produces_events(recs: dict[str, list[Record]], domain: DomainSpec) -> None:
    """Three days reach every stream of the domain, chained ones included."""
    assert set(recs) == set(domain.streams)
    assert all(recs[s] for s in domain.streams)


def test_event_ids_are_unique_across_all_streams(recs: dict[str, list[Record]]) -> None:
    """event_id is a v4 uuid, unique fleet-wide over every stream."""
    ids = [r["event_id"] for rs in recs.values() for r in rs]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 36 and i[14] == "4" and i[19] in "89ab" for i in ids[:1000])


def test_occurred_at_lies_in_the_window(recs: dict[str, list[Record]]) -> None:
    """Every event happened inside [start, end)."""
    for stream, rs in recs.items():
        times = np.fromiter((r["occurred_at"] for r in rs), np.int64)
        assert times.min() >= START, stream
        assert times.max() < END, stream


def test_each_outcome_belongs_to_one_request(recs: dict[str, list[Record]]) -> None:
    """Every confirmed/declined/expired booking_id was requested; none has two outcomes."""
    requested = by_booking(recs["booking.requested"])
    seen: Counter[str] = Counter()
    for stream in OUTCOMES:
        for r in recs[stream]:
            assert r["booking_id"] in requested, (stream, r["booking_id"])
            seen[r["booking_id"]] += 1
    assert max(seen.values()) == 1


def test_every_request_whose_window_elapsed_has_one_outcome(
    recs: dict[str, list[Record]],
) -> None:
    """Requests made before end - 24h all resolved (the outcome comes within 24h)."""
    resolved = {r["booking_id"] for s in OUTCOMES for r in recs[s]}
    old = [r["booking_id"] for r in recs["booking.requested"] if r["occurred_at"] < END - 24 * H]
    assert len(old) > 10_000
    missing = [b for b in old if b not in resolved]
    assert missing == []


def test_outcomes_carry_the_request_fields(recs: dict[str, list[Record]]) -> None:
    """An outcome names the same student and tutor as its request."""
    requested = by_booking(recs["booking.requested"])
    for stream in OUTCOMES:
        for r in recs[stream][:2000]:
            req = requested[r["booking_id"]]
            assert (r["student_id"], r["tutor_id"]) == (req["student_id"], req["tutor_id"])


def test_confirm_share_is_between_70_and_80_percent(recs: dict[str, list[Record]]) -> None:
    """booking.confirm 0.75 of (0.75 + 0.15 + 0.10): about 75 % of outcomes are confirmations."""
    counts = {s: len(recs[s]) for s in OUTCOMES}
    share = counts["booking.confirmed"] / sum(counts.values())
    assert 0.70 <= share <= 0.80, counts


def test_outcome_delay_is_2h_to_24h(recs: dict[str, list[Record]]) -> None:
    """Each outcome follows its request by 2h..24h."""
    requested = by_booking(recs["booking.requested"])
    delays = np.asarray(
        [
            r["occurred_at"] - requested[r["booking_id"]]["occurred_at"]
            for s in OUTCOMES
            for r in recs[s]
        ]
    )
    assert delays.min() >= 2 * H
    assert delays.max() <= 24 * H


def test_ratings_for_40_to_60_percent_of_old_sessions(recs: dict[str, list[Record]]) -> None:
    """Sessions completed before end - 48h: 40-60 % rated, 0-48h later, rating in 1..5."""
    sessions = {r["session_id"]: r for r in recs["session.completed"]}
    assert len(sessions) == len(recs["session.completed"])
    ratings = recs["rating.submitted"]
    rated = Counter(r["session_id"] for r in ratings)
    assert max(rated.values()) == 1, "a session was rated twice"
    old = [s for s, r in sessions.items() if r["occurred_at"] < END - 48 * H]
    # sessions come 3h..96h after the request, so day one holds only a couple of hundred
    assert len(old) > 150
    share = sum(1 for s in old if s in rated) / len(old)
    assert 0.40 <= share <= 0.60, (share, len(old))
    for r in ratings:
        session = sessions[r["session_id"]]
        assert 0 <= r["occurred_at"] - session["occurred_at"] <= 48 * H
        assert r["rating"] in {1, 2, 3, 4, 5}
        assert r["student_id"] == session["student_id"]


def test_sessions_follow_confirmed_bookings(recs: dict[str, list[Record]]) -> None:
    """A completed session belongs to a confirmed booking and comes 1h..72h after it."""
    confirmed = by_booking(recs["booking.confirmed"])
    for s in recs["session.completed"]:
        delay = s["occurred_at"] - confirmed[s["booking_id"]]["occurred_at"]
        assert H <= delay <= 72 * H


def test_payment_tickets_point_to_a_failed_payment(recs: dict[str, list[Record]]) -> None:
    """A ticket with related_payment_id: category payment, 1h..6h after that payment.failed."""
    failed = {r["payment_id"]: r for r in recs["payment.failed"]}
    linked = [t for t in recs["support.ticket_created"] if t["related_payment_id"] is not None]
    assert linked
    for t in linked:
        payment = failed[t["related_payment_id"]]
        assert t["category"] == "payment"
        assert t["student_id"] == payment["student_id"]
        assert H <= t["occurred_at"] - payment["occurred_at"] <= 6 * H


def test_share_of_failed_payments_raising_a_ticket(recs: dict[str, list[Record]]) -> None:
    """About 40 % of failed payments old enough (before end - 6h) raise a ticket."""
    linked = {t["related_payment_id"] for t in recs["support.ticket_created"]}
    old = [p["payment_id"] for p in recs["payment.failed"] if p["occurred_at"] < END - 6 * H]
    share = sum(1 for p in old if p in linked) / len(old)
    assert 0.30 <= share <= 0.50


def test_payment_amount_equals_the_booking_price(recs: dict[str, list[Record]]) -> None:
    """Every payment (succeeded or failed) charges its confirmed booking's price, once."""
    confirmed = by_booking(recs["booking.confirmed"])
    requested = by_booking(recs["booking.requested"])
    paid: Counter[str] = Counter()
    for stream in ("payment.succeeded", "payment.failed"):
        for p in recs[stream]:
            assert p["amount"] == confirmed[p["booking_id"]]["price"]
            assert p["amount"] == requested[p["booking_id"]]["price"]
            paid[p["booking_id"]] += 1
    assert max(paid.values()) == 1
    ids = [p["payment_id"] for s in ("payment.succeeded", "payment.failed") for p in recs[s]]
    assert len(set(ids)) == len(ids)


def test_prices_respect_their_bounds(recs: dict[str, list[Record]]) -> None:
    """Prices are clipped to [10, 300] and rounded to cents."""
    prices = np.asarray([r["price"] for r in recs["booking.requested"]])
    assert prices.min() >= 10
    assert prices.max() <= 300
    assert np.allclose(prices, np.round(prices, 2))


def test_keys_are_the_key_field_bytes(sample: Run, domain: DomainSpec) -> None:
    """Batch.keys() is each event's key field (the entity id it is about), as bytes."""
    for b in sample.batches:
        key_field = domain.streams[b.stream].key
        assert key_field in domain.streams[b.stream].fields or key_field.endswith("_id")
        assert b.keys() == [r[key_field].encode() for r in b.to_records()]


def test_occurred_at_is_sorted_within_each_batch(sample: Run) -> None:
    """Every batch's rows are in occurred_at order (Kafka timestamps never go backwards)."""
    for b in sample.batches:
        assert np.all(np.diff(b.occurred_at) >= 0), b.stream
        assert b.n == len(b.occurred_at)


def expected_share_between(profile: RateProfile, lo_h: int, hi_h: int) -> float:
    """Share of a profile's mass in UTC hours [lo_h, hi_h) over the three days (per minute)."""
    minutes = np.arange(START, END, MINUTE)
    factors = np.asarray([profile.factor(int(t)) for t in minutes])
    hours = (minutes // H) % 24
    return float(factors[(hours >= lo_h) & (hours < hi_h)].sum() / factors.sum())


MINUTE = 60_000


def test_booking_requests_follow_the_demand_profile(
    recs: dict[str, list[Record]], domain: DomainSpec
) -> None:
    """The share of requests in 08:00-22:00 UTC matches the demand profile (about 91 %).

    The diurnal curve of `profiles.demand` puts ~90.7 % of its mass in those hours, so the
    brief's "at least 85 %" holds with margin; the test pins the profile's own number.
    """
    profile = RateProfile(domain.profiles["demand"], domain.growth_reference)
    expected = expected_share_between(profile, 8, 22)
    assert 0.89 <= expected <= 0.92
    hours = np.asarray([(r["occurred_at"] // H) % 24 for r in recs["booking.requested"]])
    measured = float(((hours >= 8) & (hours < 22)).mean())
    assert measured >= 0.85
    assert measured == pytest.approx(expected, abs=0.01)


def test_ticket_categories_keep_their_weights(recs: dict[str, list[Record]]) -> None:
    """Rate-driven tickets (no related payment) draw category by the declared weights."""
    cats = Counter(
        t["category"] for t in recs["support.ticket_created"] if t["related_payment_id"] is None
    )
    total = sum(cats.values())
    assert total > 500
    assert cats["scheduling"] / total == pytest.approx(0.35, abs=0.06)
    assert cats["payment"] / total == pytest.approx(0.10, abs=0.04)


@pytest.fixture(scope="module")
def short_a(domain: DomainSpec) -> Run:
    """Twelve sim hours, seed 7."""
    return run(domain, START, START + 12 * H, seed=7)


def test_same_arguments_give_identical_records(domain: DomainSpec, short_a: Run) -> None:
    """Backfill is deterministic: same domain, window, seed, scale and shards -> same events."""
    again = run(domain, START, START + 12 * H, seed=7)
    assert again.records == short_a.records
    assert [b.keys() for b in again.batches] == [b.keys() for b in short_a.batches]


def test_another_seed_gives_different_records(domain: DomainSpec, short_a: Run) -> None:
    """A different seed draws different events (ids, times and counts)."""
    other = run(domain, START, START + 12 * H, seed=8)
    assert other.records != short_a.records
    a_ids = {r["event_id"] for rs in short_a.records.values() for r in rs}
    b_ids = {r["event_id"] for rs in other.records.values() for r in rs}
    assert not a_ids & b_ids


def test_first_window_is_a_prefix_of_a_longer_run(domain: DomainSpec, short_a: Run) -> None:
    """Rate-driven events of the first 12h do not depend on how far the run goes on."""
    longer = run(domain, START, START + 24 * H, seed=7)
    for stream in ("customer.search", "booking.requested"):
        head = [r for r in longer.records[stream] if r["occurred_at"] < START + 12 * H]
        assert head == short_a.records[stream]


def test_a_relation_deals_1_to_max_owners_per_target_and_repairs_links_at_use() -> None:
    """Every active target starts with 1..hi owners; a link to a retired target moves, at its
    next use, to a target below the minimum first (a newly active one); retiring owners free
    their places; no use ever names an inactive target."""
    from simfleet.domain.spec import EntitySpec
    from simfleet.producers.pools import EntityPool, Relation

    students = EntityPool("student", EntitySpec(count=400, prefix="s"), 0, 1, 1, 1.0, "t")
    tutors = EntityPool(
        "tutor", EntitySpec(count=100, prefix="t", initial_active=0.8), 0, 1, 1, 1.0, "t"
    )
    rng = np.random.default_rng(0)
    rel = Relation(students, tutors, 1, 8, rng)
    students.relations["tutor"] = rel
    active = np.flatnonzero(tutors.active)
    assert rel.load[active].min() >= 1 and rel.load.max() <= 8
    assert rel.load[~tutors.active].sum() == 0
    assert rel.load.sum() == int((rel.of >= 0).sum())
    everyone = np.arange(students.size, dtype=np.int64)
    gone = active[:10]
    tutors.retire(gone)
    fresh = np.flatnonzero(~tutors.active & ~tutors.retired)[:3]
    tutors.activate(fresh)
    got = rel.resolve(everyone)
    assert tutors.active[got].all()
    assert rel.load[fresh].min() >= 1  # the newly active got students before anyone else
    assert rel.load.max() <= 8
    assert np.array_equal(rel.load, np.bincount(rel.of[rel.of >= 0], minlength=tutors.size))
    students.retire(everyone[:50])
    assert rel.load.sum() == int((rel.of >= 0).sum()) == students.size - 50
