"""Campaigns: a scenario brings a group of actors (new accounts, a few devices, many cards)
with their own rate, field laws and velocity bursts for a window, through the domain's own
streams; their tags reach the labels; ground truth records each campaign. The usual traffic is
the same with or without it. Checked at load."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pack_helpers import run_pack, write_pack

from simfleet.domain.pack import Project
from simfleet.orchestrator.timeline import due
from simfleet.producers.backfill import LABELS_ALL
from simfleet.scenario_check import campaign_problems
from simfleet.scenarios import ScenarioInstance, ScenarioSpec

DAY = 86_400_000
MIN = 60_000
START = 1_772_409_600_000  # 2026-03-02T00:00:00Z
AT = START + DAY + 3 * 3_600_000  # the campaign starts 27 h into the run, lasts 12 h
LENGTH = 12 * 3_600_000

STREAMS: dict[str, Any] = {
    "entities": {
        "user": {
            "count": 400,
            "prefix": "u",
            "reserve": 0.1,
            "attributes": {"persona": {"choice": ["casual", "fraudster"], "weights": [0.97, 0.03]}},
        },
        "card": {"count": 2000, "prefix": "c"},
        "device": {"count": 600, "prefix": "d"},
    },
    "tags": ["is_fraud", "pattern"],
    "streams": {
        "payment.attempted": {
            "key": "transaction_id",
            "rate": 0.02,
            "fields": {
                "transaction_id": {"seq": "tx"},
                "user_id": {"entity": "user"},
                "card_id": {"entity": "card"},
                "device_id": {"entity": "device"},
                "amount": {"lognormal": [4.5, 0.6], "round": 2},
            },
            "then": [
                {
                    "to": "labels",
                    "probability": 1,
                    "delay": {"uniform": ["1d", "3d"]},
                    "rename": {"subject_event_id": "event_id"},
                }
            ],
        },
        "labels": {
            "key": "transaction_id",
            "label_of": "payment.attempted",
            "fields": {
                "is_fraud": {
                    "bernoulli": {
                        "by": "persona",
                        "of": "user_id",
                        "values": {"casual": 0, "fraudster": 1},
                    }
                },
                "pattern": {"choice": ["none"]},
            },
        },
    },
}
FIELDS = {
    "payment.attempted": {
        "transaction_id": "string",
        "user_id": "string",
        "card_id": "string",
        "device_id": "string",
        "amount": "double",
    },
    "labels": {
        "transaction_id": "string",
        "user_id": "string",
        "subject_event_id": "string",
        "is_fraud": "boolean",
        "pattern": "string",
    },
}
SCENARIO: dict[str, Any] = {
    "id": "card-test",
    "name": "Card testing",
    "description": "A few new accounts test many cards from two devices.",
    "domain": "cmp",
    "phases": [{"name": "attack", "duration": "12h"}],
    "campaigns": [
        {
            "name": "testers",
            "pattern": "card_testing",
            "duration": "12h",
            "actors": {
                "user": {"count": 4, "new": True, "attributes": {"persona": "fraudster"}},
                "card": {"count": 300},
                "device": {"count": 2},
            },
            "streams": {
                "payment.attempted": {
                    "rate": 0.05,  # ~2,200 in 12 h
                    "fields": {"amount": {"uniform": [1, 3], "round": 2}},
                    "burst": {"every": "10m", "length": "1m"},
                }
            },
            "set": {"is_fraud": True, "pattern": "card_testing"},
        }
    ],
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pack's folder."""
    root = tmp_path_factory.mktemp("campaigns")
    write_pack(root, "cmp", STREAMS, FIELDS)
    return root


def _instance(raw: dict[str, Any] = SCENARIO) -> ScenarioInstance:
    return ScenarioInstance(spec=ScenarioSpec.model_validate(raw), started_at=AT)


@pytest.fixture(scope="module")
def runs(root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Three days without and with the campaign, every label written."""
    end = START + 3 * DAY
    base = run_pack(root, "cmp", START, end, labels_until=LABELS_ALL)
    hit = run_pack(root, "cmp", START, end, scenarios=[_instance()], labels_until=LABELS_ALL)
    return base, hit


def test_the_usual_traffic_is_the_same_with_the_campaign(
    runs: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """Every event of the run without it is in the run with it, unchanged; the rest are the
    campaign's, inside its window, some 2,200 of them."""
    base, hit = runs[0]["payment.attempted"], runs[1]["payment.attempted"]
    seen = dict(zip(hit["event_id"], hit["amount"], strict=True))
    assert all(seen.get(e) == a for e, a in zip(base["event_id"], base["amount"], strict=True))
    extra = ~np.isin(hit["event_id"], base["event_id"])
    assert 1_800 < extra.sum() < 2_600
    t = hit["occurred_at"][extra]
    assert t.min() >= AT and t.max() < AT + LENGTH


def test_campaign_events_come_from_its_few_actors_in_bursts_with_its_laws(
    runs: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """New accounts (never seen in the usual traffic), 2 devices, at most 300 cards, small
    amounts, and every event within the first minute of a ten-minute period."""
    base, hit = runs[0]["payment.attempted"], runs[1]["payment.attempted"]
    extra = ~np.isin(hit["event_id"], base["event_id"])
    users = set(hit["user_id"][extra])
    assert 2 <= len(users) <= 4 and not users & set(base["user_id"])
    assert len(set(hit["device_id"][extra])) == 2
    assert 150 < len(set(hit["card_id"][extra])) <= 300
    amounts = hit["amount"][extra]
    assert amounts.min() >= 1 and amounts.max() <= 3
    assert np.all((hit["occurred_at"][extra] - AT) % (10 * MIN) < MIN)


def test_the_campaigns_tags_reach_its_labels(runs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Its attempts are labelled fraud with its pattern; the usual ones keep their laws."""
    hit, labels = runs[1]["payment.attempted"], runs[1]["labels"]
    base = runs[0]["payment.attempted"]
    campaign = set(hit["transaction_id"][~np.isin(hit["event_id"], base["event_id"])])
    mine = np.isin(labels["transaction_id"], list(campaign))
    assert mine.sum() == len(campaign)
    assert labels["is_fraud"][mine].all()
    assert set(labels["pattern"][mine]) == {"card_testing"}
    assert set(labels["pattern"][~mine]) == {"none"}
    assert 0.01 < labels["is_fraud"][~mine].mean() < 0.06  # the 3 % fraudsters


def test_ground_truth_records_the_campaign(root: Path) -> None:
    """One record at its start: pattern, window, streams and actors per kind."""
    project = Project(roots=[root], own=False)
    inst = _instance()
    out = due(project, ["cmp"], [], [inst], START, START + 3 * DAY)
    recs = [r for topic, r in out if topic == "cmp.ground_truth" and r["kind"] == "campaign"]
    assert len(recs) == 1
    rec = recs[0]
    assert (rec["label"], rec["subject_id"]) == ("card_testing", "card-test/testers")
    assert (rec["window_start"], rec["window_end"]) == (AT, AT + LENGTH)
    detail = json.loads(rec["detail"])
    assert detail["actors"] == {"user": 4, "card": 300, "device": 2}


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        ("actors/shopper", {"count": 1}, "campaigns.0.actors.shopper"),
        ("actors/user/attributes/persona", "robot", "campaigns.0.actors.user.attributes.persona"),
        ("streams/payment.attemptd", {"rate": 1}, "campaigns.0.streams.payment.attemptd"),
        (
            "streams/payment.attempted/fields/ip",
            {"const": "x"},
            "campaigns.0.streams.payment.attempted.fields.ip",
        ),
        ("set/risk", 1, "campaigns.0.set.risk"),
    ],
)
def test_a_campaign_that_does_not_fit_its_domain_is_refused(
    root: Path, path: str, value: Any, where: str
) -> None:
    """Unknown entity kind, attribute value, stream, field, or a tag the pack has not."""
    raw = copy.deepcopy(SCENARIO)
    node = raw["campaigns"][0]
    *head, last = path.split("/")
    for k in head:
        node = node[k]
    node[last] = value
    spec = ScenarioSpec.model_validate(raw)
    problems = campaign_problems(Project(roots=[root], own=False).spec("cmp"), spec.campaigns, root)
    assert any(p.path == where for p in problems), [p.line() for p in problems]
