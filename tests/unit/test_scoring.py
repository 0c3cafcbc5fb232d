"""The scorecard on a small fixed case computed by hand, average precision against
scikit-learn, the decision records `simctl score` accepts, and its bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from simfleet.cli.score import label_plan, load_targets, parse_decision
from simfleet.domain.pack import Project
from simfleet.errors import ConfigError
from simfleet.scoring import Decision, Label, Subject, Targets, average_precision, scorecard


def _case() -> dict[str, object]:
    subjects = [
        Subject(f"t{i}", f"e{i}", occurred_at=10 * i, produced_at=1000 * i) for i in range(1, 9)
    ]
    labels = [
        Label("t1", True, "card_testing", 100),
        Label("t2", True, "card_testing", 200),
        Label("t3", True, "account_takeover", 300),
        Label("t4", False, "none", 150),
        Label("t5", False, "none", 250),
        Label("t6", False, "none", 900),  # known after the window: not scored
        Label("t8", True, "bot_scalping", 400),  # never decided: missing, a miss
    ]
    said = {"t1": (0.9, None), "t2": (0.4, "allow"), "t3": (0.7, None), "t4": (0.6, None),
            "t5": (0.1, None), "t6": (0.95, None), "t7": (None, "review")}  # fmt: skip
    decisions = [
        Decision(k, None, s, d, at=1000 * int(k[1]) + 40 + 10 * int(k[1]))
        for k, (s, d) in said.items()
    ]
    decisions += [
        Decision("t1", None, 0.0, None, at=99_999),  # a second answer: only the first counts
        Decision(None, "nope", 0.5, None, at=1),  # names nothing read
    ]
    return {
        "subjects": subjects,
        "labels": labels,
        "decisions": decisions,
        "until": 500,
        "chaos_events": {"e3", "e4"},
        "malformed": 1,
    }


def test_the_fixed_case_matches_the_hand_computation() -> None:
    card = scorecard(**_case())  # type: ignore[arg-type]
    c = card.confusion
    # labelled by 500: t1 t2 t3 t8 fraud, t4 t5 legit; alerts: t1 t3 (fraud), t4 (legit)
    assert (c.tp, c.fn, c.fp, c.tn) == (2, 2, 1, 1)
    assert c.recall == pytest.approx(0.5)
    assert c.precision == pytest.approx(2 / 3)
    assert c.f1 == pytest.approx(4 / 7)
    assert card.alert_rate == pytest.approx(5 / 7)  # t1 t3 t4 t6 t7 of the 7 answered
    assert card.by_pattern == {
        "card_testing": (1, 2),
        "account_takeover": (1, 1),
        "bot_scalping": (0, 1),
    }
    assert (card.chaos.tp, card.chaos.fp) == (1, 1)  # e3 caught, e4 a false alarm
    assert (card.missing, card.unknown, card.malformed, card.duplicates) == (1, 1, 1, 1)
    assert card.error_rate == pytest.approx(3 / 8)
    # ranked .9 .7 .6 .4 .1 0 with fraud at ranks 1 2 4 6: AP = (1 + 1 + 3/4 + 4/6) / 4
    assert card.pr_auc == pytest.approx((1 + 1 + 0.75 + 4 / 6) / 4)
    assert card.latencies == [50, 60, 70, 80, 90, 100, 110]
    assert card.latency_ms == {"p50": 80, "p95": 110, "p99": 110, "max": 110}
    assert card.verdicts == {
        "recall": False,
        "precision": False,
        "latency_p99_ms": True,
        "error_rate": False,
    }
    assert not card.passed
    last = card.prequential[-1]
    assert (last["labelled"], last["recall"]) == (6, 0.5)
    seen = [r["labelled"] for r in card.prequential]
    assert seen == sorted(seen) and seen[0] >= 1


def test_a_perfect_model_passes_and_the_json_round_trips() -> None:
    subjects = [Subject(f"t{i}", f"e{i}", i, produced_at=0) for i in range(100)]
    labels = [
        Label(f"t{i}", i % 10 == 0, "card_testing" if i % 10 == 0 else "none", 5)
        for i in range(100)
    ]
    decisions = [
        Decision(f"t{i}", None, 1.0 if i % 10 == 0 else 0.0, None, at=20) for i in range(100)
    ]
    card = scorecard(subjects, labels, decisions)
    assert card.passed
    assert card.pr_auc == pytest.approx(1.0)
    figures = json.loads(json.dumps(card.as_dict()))
    assert figures["recall"] == 1.0 and figures["passed"] is True
    # the same model, slower than the target: the latency verdict alone fails
    late = [Decision(d.key, None, d.score, None, at=250) for d in decisions]
    slow = scorecard(subjects, labels, late)
    assert slow.verdicts["latency_p99_ms"] is False and slow.verdicts["recall"] is True


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_average_precision_equals_scikit_learns(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.random(500) < 0.1
    scores = np.round(np.where(y, rng.random(500) * 0.7 + 0.3, rng.random(500) * 0.8), 2)  # ties
    assert average_precision(y.tolist(), scores.tolist()) == pytest.approx(
        average_precision_score(y, scores)
    )


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (b'{"transaction_id": "t1", "score": 0.3}', True),
        (b'{"event_id": "e1", "decision": "block"}', True),
        (b'{"transaction_id": "t1", "score": 0.3, "decision": "review"}', True),
        (b'{"transaction_id": "t1", "score": 1.5}', False),
        (b'{"transaction_id": "t1", "score": true}', False),
        (b'{"transaction_id": "t1", "decision": "deny"}', False),
        (b'{"transaction_id": "t1"}', False),
        (b'{"score": 0.3}', False),
        (b"[1, 2]", False),
        (b"\x00\x01not json", False),
    ],
)
def test_decision_records(value: bytes, ok: bool) -> None:
    assert (parse_decision(value, 5, "transaction_id") is not None) is ok


def test_the_label_plan_comes_from_the_pack() -> None:
    plan = label_plan(Project(), "ticketing")
    assert (plan.subject_topic, plan.labels_topic, plan.key) == (
        "ticketing.payment.attempted",
        "ticketing.labels",
        "transaction_id",
    )
    assert label_plan(Project(), None).domain == "ticketing"  # the only domain with labels
    with pytest.raises(ConfigError, match="no label stream"):
        label_plan(Project(), "marketplace")
    with pytest.raises(ConfigError, match="did you mean `ticketing`"):
        label_plan(Project(), "tickting")


def test_targets_files(tmp_path: Path) -> None:
    good = tmp_path / "t.yaml"
    good.write_text("recall: 0.8\nlatency_p99_ms: 500\n")
    assert load_targets(good) == Targets(recall=0.8, latency_p99_ms=500)
    bad = tmp_path / "bad.yaml"
    bad.write_text("recal: 0.8\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: field `recal`"):
        load_targets(bad)
