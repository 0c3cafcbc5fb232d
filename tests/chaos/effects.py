"""What each chaos action of ``all-actions.yaml`` must have done to the records a run wrote (to
files or to Kafka), checked against the ground truth: the effect at the declared rate, and one
truth record per application."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCENARIO = Path(__file__).with_name("all-actions.yaml")
H = 3_600_000

DROP = "marketplace.customer.search"
DUPLICATE = "marketplace.booking.requested"
DELAY = "marketplace.marketing.email.sent"
REORDER = "marketplace.customer.tutor_profile_viewed"
CORRUPT = "marketplace.tutor.availability_changed"
POISON = "marketplace.system.api.request"
MODIFY = "marketplace.support.chat.message"
INJECT_TRIGGER = "marketplace.system.payment_gateway.latency"
INJECT = "marketplace.payment.failed"


@dataclass
class Observed:
    """Records as a consumer saw them: per topic, sequences in arrival order (one per
    partition; one for a file), the count of values that did not decode, the chaos truth."""

    sequences: dict[str, list[list[dict[str, Any]]]]
    corrupt: dict[str, int]
    truth: list[dict[str, Any]]
    eligible_reorder_groups: int | None = None  # known for files: (tick, key) groups of >= 2
    notes: dict[str, Any] = field(default_factory=dict)

    def records(self, topic: str) -> list[dict[str, Any]]:
        """Every decoded record of a topic."""
        return [r for seq in self.sequences.get(topic, []) for r in seq]

    def applied(self, action: str) -> list[dict[str, Any]]:
        """The truth records of one action."""
        return [t for t in self.truth if t["kind"] == "chaos" and t["action"] == action]


def assert_rate(k: int, n: int, p: float, what: str, min_n: int = 40) -> None:
    """``k`` of ``n`` within 4 binomial sigmas of ``p``, on enough records to mean something."""
    assert n >= min_n, f"{what}: only {n} records, too few to judge a rate"
    sigma = math.sqrt(n * p * (1 - p))
    assert abs(k - n * p) <= 4 * sigma + 1, f"{what}: {k}/{n} = {k / n:.3f}, declared {p}"


def check_drop(o: Observed) -> None:
    """Dropped records are absent, each has its truth record, about 10 % of them."""
    truth = o.applied("drop")
    ids = {t["subject_id"] for t in truth}
    seen = {r["event_id"] for r in o.records(DROP)}
    assert {t["topic"] for t in truth} == {DROP}
    assert not ids & seen
    assert len(ids) == len(truth)
    assert_rate(len(ids), len(seen) + len(ids), 0.1, "drop")


def check_duplicate(o: Observed) -> None:
    """Each duplicated record is there 3 times (same event_id and value), the others once."""
    truth = o.applied("duplicate")
    per = Counter(t["subject_id"] for t in truth)
    assert set(per.values()) == {2}  # copies 2 and 3 of each
    recs = o.records(DUPLICATE)
    seen = Counter(r["event_id"] for r in recs)
    for eid, n in seen.items():
        assert n == (3 if eid in per else 1), eid
    firsts: dict[str, dict[str, Any]] = {}
    for r in recs:
        assert firsts.setdefault(r["event_id"], r) == r  # the same record, not a look-alike
    assert set(per) <= set(seen)
    assert_rate(len(per), len(seen), 0.2, "duplicate")


def check_delay(o: Observed) -> None:
    """Delayed records arrive once, behind records 1 h or more younger than they are."""
    truth = o.applied("delay")
    ids = {t["subject_id"] for t in truth}
    assert len(ids) == len(truth)
    seen = Counter(r["event_id"] for r in o.records(DELAY))
    assert all(seen[i] == 1 for i in ids)
    late = judged = 0
    for seq in o.sequences[DELAY]:
        last = seq[-1]["occurred_at"] if seq else 0
        newest = 0
        for r in seq:
            if r["event_id"] in ids and r["occurred_at"] + 2 * H <= last:
                judged += 1
                late += newest >= r["occurred_at"] + H
            newest = max(newest, r["occurred_at"])
    assert judged >= 10 and late == judged, f"{late} of {judged} delayed records landed late"
    assert_rate(len(ids), len(seen), 0.3, "delay")


def check_reorder(o: Observed) -> None:
    """The records of each reordered key come newest first."""
    truth = o.applied("reorder")
    ids = {t["subject_id"] for t in truth}
    groups: dict[str, list[int]] = {}
    for seq in o.sequences[REORDER]:
        for r in seq:
            if r["event_id"] in ids:
                groups.setdefault(r["student_id"], []).append(r["occurred_at"])
    assert len(ids) == len(truth) and len(groups) >= 20
    inverted = sum(any(b < a for a, b in itertools.pairwise(g)) for g in groups.values())
    assert inverted >= 0.95 * len(groups), f"{inverted} of {len(groups)} keys out of order"
    if o.eligible_reorder_groups is not None:
        first = sum("position=1/" in t["detail"] for t in truth)  # one per reordered group
        assert_rate(first, o.eligible_reorder_groups, 0.5, "reorder")


def check_corrupt(o: Observed) -> None:
    """Corrupted values do not decode; one truth record each; about 20 %; every mode seen."""
    truth = o.applied("corrupt")
    assert o.corrupt.get(CORRUPT, 0) == len(truth)
    ids = {t["subject_id"] for t in truth}
    assert not ids & {r["event_id"] for r in o.records(CORRUPT)}
    modes = Counter(t["detail"].split("mode=")[1] for t in truth)
    assert set(modes) == {"append", "truncate", "magic", "schema_id"}
    assert_rate(len(truth), len(o.records(CORRUPT)) + len(truth), 0.2, "corrupt")


def _broken(r: dict[str, Any]) -> str | None:
    if r["event_id"] == "":
        return "empty_id"
    if r["occurred_at"] < 365 * 24 * H:
        return "epoch"
    if any(isinstance(v, str) and len(v) >= 100_000 for v in r.values()):
        return "huge_string"
    if any(isinstance(v, int | float) and not isinstance(v, bool) and v < 0 for v in r.values()):
        return "negative"
    return None


def check_poison(o: Observed) -> None:
    """Poisoned records decode but break a rule; as many as truth says; about 5 %."""
    truth = o.applied("poison")
    recs = o.records(POISON)
    broken = Counter(k for k in map(_broken, recs) if k)
    told = Counter(t["detail"].split(";")[1].split("=")[1] for t in truth)
    assert broken == told and len(told) == 4, (broken, told)
    assert_rate(len(truth), len(recs), 0.05, "poison")


def check_modify(o: Observed) -> None:
    """Modified records carry the value set; exactly those truth names; about 30 %."""
    truth = o.applied("modify")
    recs = o.records(MODIFY)
    changed = {r["event_id"] for r in recs if r["agent_id"] == "chaos"}
    assert changed == {t["subject_id"] for t in truth}
    assert_rate(len(changed), len(recs), 0.3, "modify")


def check_inject(o: Observed) -> None:
    """One failure event per picked trigger, on the emit topic; about 10 % of triggers."""
    truth = o.applied("inject")
    made = [r for r in o.records(INJECT) if r["failure_code"] == "chaos"]
    assert {t["topic"] for t in truth} == {INJECT}
    assert {r["event_id"] for r in made} == {t["subject_id"] for t in truth}
    triggers = {r["event_id"]: r for r in o.records(INJECT_TRIGGER)}
    for t in truth:
        assert t["detail"].split("trigger=")[1] in triggers
    assert_rate(len(made), len(triggers), 0.1, "inject")


CHECKS = {
    "drop": check_drop,
    "duplicate": check_duplicate,
    "delay": check_delay,
    "reorder": check_reorder,
    "corrupt": check_corrupt,
    "poison": check_poison,
    "modify": check_modify,
    "inject": check_inject,
}
