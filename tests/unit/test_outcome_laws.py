"""Laws that depend on an outcome: a `cases` field draws the law of the value another field of
the event holds; a chain's `requires` follows up only causes preceded by a matching event
(an unmet one is a load error); a follow-up's declared law of its delay field gives the
delay; an episode's `gamma` factor overdisperses per-entity counts and keeps the total."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from simfleet.domain.checks import check_pack
from simfleet.domain.mechanisms.fields.cases import CasesField, case_codes
from simfleet.domain.pack import load_pack
from simfleet.domain.spec import FieldSpec
from simfleet.errors import DomainError
from tests.unit.pack_helpers import run_pack, write_pack

H = 3_600_000
DAY = 24 * H
START = 1_772_409_600_000  # 2026-03-02T00:00:00Z

LATENCY = {
    "cases": "status",
    "when": {
        "timeout": {"normal": [30000, 100], "min": 29500, "max": 30500},
        "limited": {"const": 25},
    },
    "otherwise": {"lognormal": [6.0, 0.3], "min": 20},
}


def _calls(tmp_path: Path, latency: dict[str, Any], **extra: Any) -> Path:
    streams = {
        "entities": {"client": {"count": 20, "prefix": "CLI"}},
        "streams": {
            "call.made": {
                "key": "client_id",
                "rate": 2.0,
                "fields": {
                    "client_id": {"entity": "client"},
                    "status": {"choice": ["ok", "timeout", "limited"], "weights": [0.6, 0.2, 0.2]},
                    "latency_ms": latency,
                    "tokens": {
                        "cases": "status",
                        "when": {"ok": {"integers": [10, 20]}},
                        "otherwise": {"const": 0},
                    },
                },
            }
        },
        **extra,
    }
    fields = {
        "call.made": {
            "client_id": "string",
            "status": "string",
            "latency_ms": "long",
            "tokens": "long",
        }
    }
    return write_pack(tmp_path, "calls", streams, fields)


def test_cases_draw_each_events_law_by_the_value_it_holds(tmp_path: Path) -> None:
    """Timeouts sit at the 30 s timeout, limited calls at their constant, the rest take the
    otherwise law; tokens only on successes; the events keep their order."""
    _calls(tmp_path, LATENCY)
    out = run_pack(tmp_path, "calls", START, START + 2 * H)["call.made"]
    status, lat, tok = out["status"], out["latency_ms"], out["tokens"]
    assert len(status) > 10_000
    assert set(status) == {"ok", "timeout", "limited"}
    assert np.all((lat[status == "timeout"] >= 29500) & (lat[status == "timeout"] <= 30500))
    assert np.all(lat[status == "limited"] == 25)
    ok = status == "ok"
    assert 200 < np.median(lat[ok]) < 600 and lat[ok].max() < 29500
    assert np.all((tok[ok] >= 10) & (tok[ok] <= 20)) and np.all(tok[~ok] == 0)
    assert np.all(np.diff(out["occurred_at"]) >= 0)


def test_case_codes_match_strings_numbers_and_flags() -> None:
    """The first listed value an event holds picks its law; none listed: the last index."""
    from simfleet.columns import StrTable, TableStrings

    col = TableStrings(StrTable(("a", "b", "c")), np.asarray([0, 1, 2, -1], np.int64))
    assert case_codes(col, ["b", "a"], 4).tolist() == [1, 0, 2, 2]
    assert case_codes(np.asarray([1, 2, 3]), ["3", "x"], 3).tolist() == [2, 2, 0]
    assert case_codes(np.asarray([True, False]), ["false"], 2).tolist() == [1, 0]


def test_a_value_no_choice_holds_is_named_with_a_suggestion(tmp_path: Path) -> None:
    """`when: timeuot` on a `choice` of ok|timeout|limited: the path, the value and the fix."""
    bad = {**LATENCY, "when": {"timeuot": {"const": 1}}, "otherwise": {"const": 2}}
    problems = check_pack(_calls(tmp_path, bad)).problems
    assert [p.path for p in problems] == ["streams.call.made.fields.latency_ms.when.timeuot"]
    assert "did you mean `timeout`" in problems[0].message


def test_values_not_listed_need_otherwise(tmp_path: Path) -> None:
    """Without `otherwise`, every value of the choice read must be listed."""
    bad = {"cases": "status", "when": {"ok": {"const": 1}}}
    problems = check_pack(_calls(tmp_path, bad)).problems
    assert [p.path for p in problems] == ["streams.call.made.fields.latency_ms.otherwise"]
    assert "timeout, limited" in problems[0].message


def test_cases_refuse_modifiers_they_would_not_apply() -> None:
    """Nulls inside a law and bounds around the cases are refused with where to write them."""
    with pytest.raises(ValidationError, match="write them on the `cases` field"):
        FieldSpec.model_validate({"cases": "s", "when": {"x": {"const": 0, "null_rate": 0.5}}})
    with pytest.raises(ValidationError, match="in each law of `cases`"):
        FieldSpec.model_validate({"cases": "s", "when": {"x": {"const": 0}}, "max": 3})
    f = FieldSpec.model_validate(LATENCY)
    assert isinstance(f, CasesField) and ("cases", "status") in f.reads()


# -- requires -------------------------------------------------------------------------------


def _orders(tmp_path: Path, requires: dict[str, Any], paid_rate: float = 0.5) -> Path:
    """Orders are paid (half of them) or not; cancellations refund only the paid ones."""
    streams = {
        "entities": {"buyer": {"count": 50, "prefix": "BUY"}},
        "streams": {
            "order.placed": {
                "key": "buyer_id",
                "rate": 1.0,
                "fields": {"order_id": {"seq": "ord"}, "buyer_id": {"entity": "buyer"}},
                "then": [
                    {
                        "to": "order.paid",
                        "probability": paid_rate,
                        "delay": {"uniform": ["1s", "60s"]},
                    },
                    {
                        "to": "order.cancelled",
                        "probability": 0.5,
                        "delay": {"uniform": ["5m", "10m"]},
                    },
                ],
            },
            "order.paid": {"key": "buyer_id"},
            "order.cancelled": {
                "key": "buyer_id",
                "then": [
                    {
                        "to": "refund.issued",
                        "probability": 1.0,
                        "delay": {"uniform": ["1m", "2m"]},
                        "requires": requires,
                    }
                ],
            },
            "refund.issued": {"key": "buyer_id"},
            "order.audited": {"key": "buyer_id"},  # nothing emits it
        },
    }
    ids = {"order_id": "string", "buyer_id": "string"}
    names = ("order.placed", "order.paid", "order.cancelled", "refund.issued", "order.audited")
    fields = {s: dict(ids) for s in names}
    return write_pack(tmp_path, "orders", streams, fields)


def test_a_refund_follows_only_a_paid_order(tmp_path: Path) -> None:
    """Every refund's order was paid before; about every paid cancelled order is refunded."""
    _orders(tmp_path, {"any_of": ["order.paid"], "key": "order_id"})
    out = run_pack(tmp_path, "orders", START, START + 6 * H)
    paid = set(out["order.paid"]["order_id"].tolist())
    refunded = out["refund.issued"]["order_id"].tolist()
    cancelled = set(out["order.cancelled"]["order_id"].tolist())
    assert len(refunded) > 1000
    assert all(o in paid for o in refunded)
    assert len(refunded) == pytest.approx(len(cancelled & paid), rel=0.02)


def test_a_requires_on_an_unknown_stream_fails_at_load(tmp_path: Path) -> None:
    """A misspelt required stream: a load error naming the path and a suggestion."""
    folder = _orders(tmp_path, {"any_of": ["order.payed"], "key": "order_id"})
    with pytest.raises(DomainError) as err:
        load_pack(folder)
    text = str(err.value)
    assert "streams.order.cancelled.then.0.requires.any_of.0" in text
    assert "order.payed" in text and "did you mean" in text


def test_a_requires_nothing_emits_fails_at_load(tmp_path: Path) -> None:
    """A required stream that nothing in the pack emits could never be met: a load error."""
    folder = _orders(tmp_path, {"any_of": ["order.audited"], "key": "order_id"})
    with pytest.raises(DomainError, match=r"nothing in the pack emits order\.audited"):
        load_pack(folder)


def test_a_requires_key_a_schema_lacks_fails_when_the_engine_starts(tmp_path: Path) -> None:
    """A key field the required stream's schema lacks: a clear error naming both."""
    _orders(tmp_path, {"any_of": ["order.paid"], "key": "payment_id"})
    with pytest.raises(DomainError, match=r"field `payment_id`, which stream order\.cancelled"):
        run_pack(tmp_path, "orders", START, START + H)


# -- a declared law of the delay field ------------------------------------------------------


def test_a_followups_declared_law_gives_the_delay(tmp_path: Path) -> None:
    """The target declares minutes in {30, 45, 60}: every follow-up has one of them, and it
    is exactly the time since its cause (the chain's uniform delay is not used)."""
    streams = {
        "entities": {"room": {"count": 5, "prefix": "ROOM"}},
        "streams": {
            "meeting.started": {
                "key": "room_id",
                "rate": 0.2,
                "fields": {"meeting_id": {"seq": "mtg"}, "room_id": {"entity": "room"}},
                "then": [
                    {
                        "to": "meeting.ended",
                        "probability": 1.0,
                        "delay": {"uniform": ["30m", "90m"]},
                        "delay_field": "minutes",
                    }
                ],
            },
            "meeting.ended": {
                "key": "room_id",
                "fields": {"minutes": {"choice": [30, 45, 60], "weights": [0.2, 0.3, 0.5]}},
            },
        },
    }
    ids = {"meeting_id": "string", "room_id": "string"}
    write_pack(
        tmp_path,
        "rooms",
        streams,
        {"meeting.started": ids, "meeting.ended": {**ids, "minutes": "long"}},
    )
    out = run_pack(tmp_path, "rooms", START, START + 12 * H)
    started = dict(
        zip(
            out["meeting.started"]["meeting_id"], out["meeting.started"]["occurred_at"], strict=True
        )
    )
    ended = out["meeting.ended"]
    assert len(ended["minutes"]) > 1000
    assert set(ended["minutes"].tolist()) == {30, 45, 60}
    assert np.mean(ended["minutes"] == 60) == pytest.approx(0.5, abs=0.05)
    for mid, at, minutes in zip(
        ended["meeting_id"], ended["occurred_at"], ended["minutes"], strict=True
    ):
        assert at - started[mid] == minutes * 60_000


# -- gamma activity factors -----------------------------------------------------------------


def test_a_gamma_factor_overdisperses_counts_and_keeps_the_total(tmp_path: Path) -> None:
    """Daily counts per entity: var/mean near 1 + mean/k with the factor (about 1 without),
    and the stream's total as declared either way."""

    def day_counts(gamma: float | None, root: Path) -> np.ndarray:
        episode: dict[str, Any] = {
            "entity": "device",
            "field": "device_id",
            "every": "1d",
            "probability": 1.0,
            "streams": ["ping.sent"],
        }
        if gamma is not None:
            episode["gamma"] = gamma
        streams = {
            "entities": {"device": {"count": 40, "prefix": "DEV", "activity_sigma": 0.0}},
            "episodes": {"activity": episode},
            "streams": {
                "ping.sent": {
                    "key": "device_id",
                    "rate": 0.01,
                    "fields": {"device_id": {"entity": "device"}},
                }
            },
        }
        write_pack(root, "pings", streams, {"ping.sent": {"device_id": "string"}})
        out = run_pack(root, "pings", START, START + 20 * DAY, shards=1)["ping.sent"]
        who = np.unique(out["device_id"], return_inverse=True)[1]
        day = (out["occurred_at"] - START) // DAY
        tab = np.zeros((who.max() + 1, 20))
        np.add.at(tab, (who, day), 1)
        return tab

    plain = day_counts(None, tmp_path / "plain")
    mixed = day_counts(4.0, tmp_path / "mixed")
    mean = mixed.mean()  # ~21.6 pings per device and day
    ratio = np.median(mixed.var(axis=1, ddof=1) / mixed.mean(axis=1))
    assert ratio == pytest.approx(1 + mean / 4.0, rel=0.35)
    assert np.median(plain.var(axis=1, ddof=1) / plain.mean(axis=1)) < 1.6
    assert mixed.sum() == pytest.approx(plain.sum(), rel=0.03)
    assert mixed.sum(axis=0).std() / mixed.sum(axis=0).mean() < 0.06  # totals stay smooth
