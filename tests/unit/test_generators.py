"""Field generators that read other fields: `after` (an instant after another), `product`
(amount = unit price x quantity), `null_if` (no failure reason on a success); checked at load."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pack_helpers import run_pack, write_pack

from simfleet.domain.checks import check_pack

DAY = 86_400_000
START = 1_772_409_600_000
STREAMS: dict[str, Any] = {
    "entities": {"user": {"count": 50, "prefix": "u"}},
    "streams": {
        "sale": {
            "key": "sale_id",
            "rate": 0.01,
            "fields": {
                "sale_id": {"seq": "s"},
                "opens_at": {"after": {"uniform": ["3d", "14d"]}},
                "closes_at": {"after": {"of": "opens_at", "uniform": ["1d", "7d"]}},
                "unit_price": {"uniform": [5, 50], "round": 2},
                "quantity": {"integers": [1, 6]},
                "amount": {"product": ["unit_price", "quantity"], "round": 2},
                "ok": {"bernoulli": 0.7},
                "reason": {"choice": ["a", "b"], "null_if": "ok"},
            },
        }
    },
}
TS = {"type": "long", "logicalType": "timestamp-millis"}
FIELDS = {
    "sale": {
        "sale_id": "string",
        "opens_at": TS,
        "closes_at": TS,
        "unit_price": "double",
        "quantity": "long",
        "amount": "double",
        "ok": "boolean",
        "reason": ["null", "string"],
    }
}


def test_fields_read_the_fields_made_before_them(tmp_path: Path) -> None:
    """Instants after others by their laws, exact products, nulls exactly where true."""
    write_pack(tmp_path, "gen", STREAMS, FIELDS)
    sale = run_pack(tmp_path, "gen", START, START + 2 * DAY)["sale"]
    assert len(sale["sale_id"]) > 1000
    opens = (sale["opens_at"] - sale["occurred_at"]) / DAY
    closes = (sale["closes_at"] - sale["opens_at"]) / DAY
    assert opens.min() >= 3 and opens.max() <= 14 and 7 < opens.mean() < 10
    assert closes.min() >= 1 and closes.max() <= 7
    assert np.allclose(sale["amount"], np.round(sale["unit_price"] * sale["quantity"], 2))
    ok = sale["ok"].astype(bool)
    assert 0.65 < ok.mean() < 0.75
    assert all(r is None for r in sale["reason"][ok])
    assert set(sale["reason"][~ok]) == {"a", "b"}


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("amount", {"product": ["unit_price", "qty"]}, "streams.sale.fields.amount.product"),
        ("reason", {"choice": ["a"], "null_if": "okay"}, "streams.sale.fields.reason.null_if"),
        (
            "opens_at",
            {"after": {"of": "closes_at", "uniform": [0, 1]}},
            "streams.sale.fields.opens_at.after.of",
        ),
    ],
)  # fmt: skip
def test_a_field_read_before_it_is_made_is_refused(
    tmp_path: Path, field: str, value: dict[str, Any], where: str
) -> None:
    """An unknown field, or one made later."""
    raw = copy.deepcopy(STREAMS)
    raw["streams"]["sale"]["fields"][field] = value
    problems = check_pack(write_pack(tmp_path, "gen", raw, FIELDS)).problems
    assert any(p.path == where for p in problems), [p.line() for p in problems]
