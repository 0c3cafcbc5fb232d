"""Finite stocks (a show's seats per tier): filled by one stream, consumed and restored by
others, never below zero; a sold-out level moves a request to another level or drops it;
inventory events carry the stock after each change. Checked at load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pack_helpers import run_pack, write_pack

from simfleet.columns import StrTable, TableStrings
from simfleet.domain.checks import check_pack
from simfleet.domain.spec import EntitySpec, StockSpec, StockUse
from simfleet.producers.engine.stock import Stock, apply_stock
from simfleet.producers.pools import EntityPool

DAY = 86_400_000
START = 1_772_409_600_000  # 2026-03-02T00:00:00Z
TIERS = ["Standard", "Premium", "VIP"]
SHARES = {"Standard": 0.6, "Premium": 0.3, "VIP": 0.1}

STREAMS: dict[str, Any] = {
    "entities": {
        "show": {"count": 40, "prefix": "sh", "initial_active": 0.05, "activity_sigma": 1.5},
        "user": {"count": 500, "prefix": "u"},
    },
    "stocks": {"seats": {"entity": "show", "levels": SHARES}},
    "streams": {
        "show.announced": {
            "key": "show_id",
            "rate": 0.0004,  # ~35 a day
            "activates": "show_id",
            "fields": {
                "show_id": {"entity": "show", "pick": "inactive"},
                "capacity": {"integers": [200, 2000]},
            },
            "stock": [{"stock": "seats", "op": "fill", "of": "show_id", "amount": "capacity"}],
        },
        "cart.item_added": {
            "key": "cart_id",
            "rate": 0.1,
            "fields": {
                "cart_id": {"seq": "c"},
                "user_id": {"entity": "user"},
                "show_id": {"entity": "show"},
                "tier": {"choice": TIERS, "weights": [0.6, 0.3, 0.1]},
                "quantity": {"integers": [1, 6]},
            },
            "stock": [
                {
                    "stock": "seats",
                    "op": "consume",
                    "of": "show_id",
                    "amount": "quantity",
                    "level": "tier",
                    "on_empty": "next",
                    "sold": "sold",
                    "remaining": "remaining",
                }
            ],
            "then": [
                {"to": "inventory.changed", "probability": 1, "delay": {"uniform": [0, 0]}},
                {"to": "cart.abandoned", "probability": 0.3, "delay": {"uniform": ["1m", "30m"]}},
            ],
        },
        "cart.abandoned": {
            "key": "cart_id",
            "fields": {},
            "stock": [
                {
                    "stock": "seats",
                    "op": "restore",
                    "of": "show_id",
                    "amount": "quantity",
                    "level": "tier",
                    "sold": "sold",
                    "remaining": "remaining",
                }
            ],
            "then": [{"to": "inventory.changed", "probability": 1, "delay": {"uniform": [0, 0]}}],
        },
        "inventory.changed": {"key": "show_id", "fields": {}},
    },
}
CART = {"cart_id": "string", "user_id": "string", "show_id": "string", "tier": "string"}
FIELDS = {
    "show.announced": {"show_id": "string", "capacity": "long"},
    "cart.item_added": {**CART, "quantity": "long"},
    "cart.abandoned": {**CART, "quantity": "long"},
    "inventory.changed": {
        "show_id": "string",
        "tier": "string",
        "sold": "long",
        "remaining": "long",
    },
}


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, np.ndarray]]:
    """A week of the pack: shows announced, carts taking seats, some given back."""
    root = tmp_path_factory.mktemp("stock")
    write_pack(root, "stk", STREAMS, FIELDS)
    return run_pack(root, "stk", START, START + 7 * DAY)


def _patched(**changes: Any) -> dict[str, Any]:
    import copy

    out = copy.deepcopy(STREAMS)
    for path, value in changes.items():
        node = out
        *head, last = path.split("/")
        for k in head:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[last] = value
    return out


def test_inventory_never_goes_below_zero_and_sold_never_exceeds_a_tiers_share(
    week: dict[str, dict[str, np.ndarray]],
) -> None:
    """Every inventory event: remaining >= 0 and sold + remaining = floor(capacity x share)."""
    inv, shows = week["inventory.changed"], week["show.announced"]
    capacity = dict(zip(shows["show_id"], shows["capacity"], strict=True))
    assert len(inv["show_id"]) > 10_000
    assert inv["remaining"].min() >= 0
    # carts name only announced shows here (the few initially active have no stock)
    total = [
        int(np.floor(capacity[s] * SHARES[t]))
        for s, t in zip(inv["show_id"], inv["tier"], strict=True)
    ]
    assert np.array_equal(inv["sold"] + inv["remaining"], np.asarray(total))


def test_popular_shows_sell_out_and_then_take_no_more_carts(
    week: dict[str, dict[str, np.ndarray]],
) -> None:
    """Some show sells every tier out; a show's carts hold no more seats than it has, net of
    the abandoned carts that gave theirs back."""
    inv, carts, gone = week["inventory.changed"], week["cart.item_added"], week["cart.abandoned"]
    shows = week["show.announced"]
    capacity = dict(zip(shows["show_id"], shows["capacity"], strict=True))
    held: dict[str, int] = {}
    for s, q in zip(carts["show_id"], carts["quantity"], strict=True):
        held[s] = held.get(s, 0) + int(q)
    for s, q in zip(gone["show_id"], gone["quantity"], strict=True):
        held[s] -= int(q)
    assert all(held[s] <= capacity[s] for s in held)
    sold_out = {
        s
        for s in capacity
        if all(
            np.any((inv["show_id"] == s) & (inv["tier"] == t) & (inv["remaining"] == 0))
            for t in TIERS
        )
    }
    assert len(sold_out) >= 3


def test_a_request_moves_to_the_next_level_with_room_or_is_dropped() -> None:
    """Directly: Standard has 3 left, Premium 1; requests of 2, 2, 1, 1 Standard in time
    order: the first fits, the second moves to Premium? no (1 left) then VIP, the rest fill."""
    pool = EntityPool("show", EntitySpec(count=1, prefix="s"), 0, 1, 1, 1.0, "d")
    stock = Stock("seats", StockSpec(entity="show", levels=SHARES), pool)
    stock.fill(np.zeros(1, np.int64), np.asarray([10.0]))  # 6 / 3 / 1
    table = StrTable(tuple(TIERS))
    cols: dict[str, Any] = {
        "occurred_at": np.arange(5, dtype=np.int64),
        "show_id": TableStrings(pool.ids, np.zeros(5, np.int64)),
        "tier": TableStrings(table, np.zeros(5, np.int64)),
        "quantity": np.asarray([4, 3, 2, 1, 1]),
    }
    use = StockUse(
        stock="seats", op="consume", of="show_id", amount="quantity", level="tier",
        on_empty="next", sold="sold", remaining="remaining",
    )  # fmt: skip
    out = apply_stock((use,), {"seats": stock}, dict(cols))
    tiers = [table.values[i] for i in out["tier"].idx]
    # 4 Standard (2 left); 3 > 2 moves to Premium (3: 0 left); 2 Standard (0 left);
    # 1 Standard full -> Premium full -> VIP (0 left); the last one finds nothing: dropped
    assert tiers == ["Standard", "Premium", "Standard", "VIP"]
    assert out["remaining"].tolist() == [2, 0, 0, 0]
    assert stock.remaining.tolist() == [[0, 0, 0]]
    drop = StockUse(**{**use.model_dump(), "on_empty": "drop"})
    stock.fill(np.zeros(1, np.int64), np.asarray([10.0]))
    out = apply_stock((drop,), {"seats": stock}, dict(cols))
    assert out["quantity"].tolist() == [4, 2]  # 3 > 2 left is dropped, then 2 fits, then none


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"stocks/seats/entity": "venue"}, "stocks.seats.entity"),
        (
            {"streams/cart.item_added/stock/0/stock": "seat"},
            "streams.cart.item_added.stock.0.stock",
        ),
        ({"streams/cart.item_added/stock/0/of": "user_id"}, "streams.cart.item_added.stock.0.of"),
        (
            {"streams/cart.item_added/fields/tier/choice": ["Standard", "VIP"],
             "streams/cart.item_added/fields/tier/weights": [1, 1]},
            "streams.cart.item_added.stock.0.level",
        ),
    ],
)  # fmt: skip
def test_a_stock_that_names_what_does_not_exist_is_refused_at_load(
    tmp_path: Path, changes: dict[str, Any], where: str
) -> None:
    """Unknown entity or stock, a field of another kind, a level field missing levels."""
    pack = write_pack(tmp_path, "stk", _patched(**changes), FIELDS)
    problems = check_pack(pack).problems
    assert any(p.path == where for p in problems), [p.line() for p in problems]
