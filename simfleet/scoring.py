"""The scorecard of a downstream model: its decisions joined with the labels that arrived.

A decision names a subject (a payment attempt, by the label stream's key or by the subject's
``event_id``) and carries a ``score`` in 0-1, a ``decision`` (block | review | allow), or both.
A decision alerts when it says block or review, or when its score reaches the threshold.

Only subjects labelled by the end of the window are scored: labels arrive late (a chargeback
weeks after the payment), so the figures are those of what is known, and ``prequential`` shows
how they moved as labels arrived. Latency is the decision record's timestamp minus the wall
clock instant the subject record was handed to Kafka (the ``simfleet-produced-at`` header).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ALERTS",
    "Decision",
    "Label",
    "Scorecard",
    "Subject",
    "Targets",
    "average_precision",
    "ground_truth_labels",
    "scorecard",
]

ALERTS = frozenset({"block", "review"})
DECISIONS = frozenset({"block", "review", "allow"})


@dataclass(frozen=True, slots=True)
class Subject:
    """A record a model decides on: its key, event id, sim time and wall-clock produce time."""

    key: str
    event_id: str
    occurred_at: int
    produced_at: int | None = None


@dataclass(frozen=True, slots=True)
class Label:
    """What became known about a subject, and when (sim time)."""

    key: str
    is_fraud: bool
    pattern: str
    known_at: int


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision record: whom it names (key or event id), what it says, when (wall ms)."""

    key: str | None
    event_id: str | None
    score: float | None
    decision: str | None
    at: int

    def alerts(self, threshold: float) -> bool:
        """block or review, or a score at or above the threshold."""
        if self.decision is not None:
            return self.decision in ALERTS
        return self.score is not None and self.score >= threshold


class Targets(BaseModel):
    """Pass marks; the defaults are the seed's (recall 0.95, precision 0.90, p99 200 ms, 1 %)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recall: float = Field(0.95, ge=0, le=1)
    precision: float = Field(0.90, ge=0, le=1)
    latency_p99_ms: float = Field(200.0, gt=0)
    error_rate: float = Field(0.01, ge=0, le=1)


@dataclass
class Confusion:
    """Counts over labelled subjects; a subject without a decision counts as not alerted."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, fraud: bool, alerted: bool) -> None:
        if fraud and alerted:
            self.tp += 1
        elif fraud:
            self.fn += 1
        elif alerted:
            self.fp += 1
        else:
            self.tn += 1

    @property
    def recall(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def precision(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None
        return 2 * p * r / (p + r)

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


@dataclass
class Scorecard:
    """Every figure `simctl score` shows, and the verdict of each target."""

    subjects: int
    labelled: int
    decisions: int
    confusion: Confusion
    alert_rate: float | None
    pr_auc: float | None
    by_pattern: dict[str, tuple[int, int]]  # pattern -> (caught, frauds)
    chaos: Confusion
    missing: int
    unknown: int
    malformed: int
    duplicates: int
    latency_ms: dict[str, float]  # p50, p95, p99, max (empty without produce-time headers)
    latencies: list[float]
    prequential: list[dict[str, float | int | None]]
    targets: Targets
    verdicts: dict[str, bool | None] = field(default_factory=dict)

    @property
    def error_rate(self) -> float | None:
        """Subjects the model did not answer, plus answers it should not have given."""
        return _ratio(self.missing + self.unknown + self.malformed, self.subjects)

    @property
    def passed(self) -> bool:
        """Every target that could be judged passed (one that could not is not a pass)."""
        return all(v is True for v in self.verdicts.values())

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready figures."""
        c = self.confusion
        return {
            "subjects": self.subjects,
            "labelled": self.labelled,
            "decisions": self.decisions,
            "confusion": {"tp": c.tp, "fp": c.fp, "fn": c.fn, "tn": c.tn},
            "recall": c.recall,
            "precision": c.precision,
            "f1": c.f1,
            "alert_rate": self.alert_rate,
            "pr_auc": self.pr_auc,
            "recall_by_pattern": {
                p: {"caught": k, "frauds": n, "recall": _ratio(k, n)}
                for p, (k, n) in sorted(self.by_pattern.items())
            },
            "chaos": {
                "labelled": self.chaos.n,
                "recall": self.chaos.recall,
                "precision": self.chaos.precision,
            },
            "missing": self.missing,
            "unknown": self.unknown,
            "malformed": self.malformed,
            "duplicates": self.duplicates,
            "error_rate": self.error_rate,
            "latency_ms": self.latency_ms,
            "prequential": self.prequential,
            "targets": self.targets.model_dump(),
            "verdicts": self.verdicts,
            "passed": self.passed,
        }


def ground_truth_labels(
    labels: Iterable[Label], noise: Mapping[str, tuple[str, str]]
) -> list[Label]:
    """The labels as what happened rather than what a bank saw: ``noise`` maps a subject's key
    to the kind of its wrong label (``friendly``: a legitimate buyer's chargeback, so not fraud;
    ``unreported``: fraud never charged back) and the pattern it truly had (may be empty)."""
    out = []
    for seen in labels:
        kind, pattern = noise.get(seen.key, ("", ""))
        if kind == "friendly":
            out.append(Label(seen.key, False, "none", seen.known_at))
        elif kind == "unreported":
            out.append(Label(seen.key, True, pattern or "unreported", seen.known_at))
        else:
            out.append(seen)
    return out


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def average_precision(y: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the precision-recall curve as average precision: the mean over the
    positives, ranked by score, of the precision at each one's rank (ties share a rank)."""
    yy = np.asarray(y, dtype=bool)
    if not yy.any():
        return None
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    ys, ss = yy[order], s[order]
    tp = np.cumsum(ys)
    # a threshold between distinct scores only: the last index of each run of equal scores
    last = np.r_[np.flatnonzero(np.diff(ss) != 0), len(ss) - 1]
    tps = tp[last]
    precision = tps / (last + 1)
    recall_gain = np.diff(np.r_[0, tps]) / tp[-1]
    return float(np.sum(precision * recall_gain))


def _percentile(xs: np.ndarray, q: float) -> float:
    return float(np.percentile(xs, q, method="higher"))


def scorecard(
    subjects: Iterable[Subject],
    labels: Iterable[Label],
    decisions: Iterable[Decision],
    until: int | None = None,
    threshold: float = 0.5,
    chaos_events: Iterable[str] = (),
    malformed: int = 0,
    targets: Targets | None = None,
    steps: int = 8,
) -> Scorecard:
    """Join, count and judge. ``until``: the window's end in sim time (labels known later are
    not used; default: every label given); ``chaos_events``: event ids chaos touched."""
    targets = targets or Targets()
    by_key: dict[str, Subject] = {}
    by_event: dict[str, Subject] = {}
    for s in subjects:
        by_key.setdefault(s.key, s)
        by_event.setdefault(s.event_id, s)
    known = {
        lb.key: lb
        for lb in sorted(labels, key=lambda x: x.known_at)
        if until is None or lb.known_at <= until
    }
    chosen: dict[str, Decision] = {}  # the first decision per subject is the model's answer
    unknown = duplicates = 0
    n_decisions = 0
    for d in decisions:
        n_decisions += 1
        subj = by_key.get(d.key) if d.key is not None else None
        if subj is None and d.event_id is not None:
            subj = by_event.get(d.event_id)
        if subj is None:
            unknown += 1
        elif subj.key in chosen:
            duplicates += 1
        else:
            chosen[subj.key] = d
    confusion, chaos = Confusion(), Confusion()
    touched = set(chaos_events)
    by_pattern: dict[str, tuple[int, int]] = {}
    ys: list[bool] = []
    scores: list[float] = []
    have_scores = any(d.score is not None for d in chosen.values())
    for key, lb in known.items():
        if key not in by_key:
            continue  # a label of a subject outside the window read
        answer = chosen.get(key)
        alerted = answer is not None and answer.alerts(threshold)
        confusion.add(lb.is_fraud, alerted)
        if by_key[key].event_id in touched:
            chaos.add(lb.is_fraud, alerted)
        if lb.is_fraud:
            caught, n = by_pattern.get(lb.pattern, (0, 0))
            by_pattern[lb.pattern] = (caught + alerted, n + 1)
        if have_scores:
            ys.append(lb.is_fraud)
            given = answer.score if answer is not None else None
            scores.append(given if given is not None else 0.0)
    latencies = sorted(
        float(d.at - by_key[k].produced_at)  # type: ignore[operator]
        for k, d in chosen.items()
        if by_key[k].produced_at is not None
    )
    lat = np.asarray(latencies)
    latency_ms = (
        {
            "p50": _percentile(lat, 50),
            "p95": _percentile(lat, 95),
            "p99": _percentile(lat, 99),
            "max": float(lat.max()),
        }
        if len(lat)
        else {}
    )
    n_subjects = len(by_key)
    card = Scorecard(
        subjects=n_subjects,
        labelled=confusion.n,
        decisions=n_decisions,
        confusion=confusion,
        alert_rate=_ratio(sum(d.alerts(threshold) for d in chosen.values()), len(chosen)),
        pr_auc=average_precision(ys, scores) if have_scores else None,
        by_pattern=by_pattern,
        chaos=chaos,
        missing=n_subjects - len(chosen),
        unknown=unknown,
        malformed=malformed,
        duplicates=duplicates,
        latency_ms=latency_ms,
        latencies=latencies,
        prequential=_prequential(known, by_key, chosen, threshold, steps),
        targets=targets,
    )
    card.verdicts = _verdicts(card, targets)
    return card


def _prequential(
    known: Mapping[str, Label],
    by_key: Mapping[str, Subject],
    chosen: Mapping[str, Decision],
    threshold: float,
    steps: int,
) -> list[dict[str, float | int | None]]:
    """Recall and precision as they would have read at successive instants of label arrival."""
    arrived = sorted((lb for k, lb in known.items() if k in by_key), key=lambda lb: lb.known_at)
    if not arrived:
        return []
    first, last = arrived[0].known_at, arrived[-1].known_at
    cuts = sorted({first + (last - first) * (i + 1) // steps for i in range(steps)})
    out: list[dict[str, float | int | None]] = []
    c = Confusion()
    i = 0
    for cut in cuts:
        while i < len(arrived) and arrived[i].known_at <= cut:
            lb = arrived[i]
            d = chosen.get(lb.key)
            c.add(lb.is_fraud, d is not None and d.alerts(threshold))
            i += 1
        out.append({"known_by": cut, "labelled": c.n, "recall": c.recall, "precision": c.precision})
    return out


def _verdicts(card: Scorecard, t: Targets) -> dict[str, bool | None]:
    """Each target: True, False, or None when the data cannot judge it."""

    def at_least(x: float | None, mark: float) -> bool | None:
        return None if x is None or math.isnan(x) else x >= mark

    p99 = card.latency_ms.get("p99")
    err = card.error_rate
    return {
        "recall": at_least(card.confusion.recall, t.recall),
        "precision": at_least(card.confusion.precision, t.precision),
        "latency_p99_ms": None if p99 is None else p99 < t.latency_p99_ms,
        "error_rate": None if err is None else err < t.error_rate,
    }
