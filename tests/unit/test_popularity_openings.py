"""Numeric entity attributes drawn from a power law (a show's popularity) that pick weights and
multipliers read, instants an event records on its entity (a show's openings), pick weights
by the time since them, and a stream's events for the entities active at a run's start; with
their load-time checks."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pack_helpers import run_pack, write_pack
from pydantic import ValidationError

from simfleet.domain.checks import check_pack
from simfleet.domain.spec import EntitySpec, FieldSpec, Openings, StreamSpec
from simfleet.producers.laws import bounded_pareto
from simfleet.producers.pools import EntityPool

H = 3_600_000
DAY = 24 * H
START = 1_772_409_600_000  # 2026-03-02T00:00:00Z
SHOWS = 400
PEAK = 20.0

STREAMS: dict[str, Any] = {
    "parameters": {"peak": PEAK},
    "entities": {
        "show": {
            "count": SHOWS,
            "prefix": "sh",
            "activity_sigma": 0.0,
            "initial_active": 0.25,
            "attributes": {"popularity": {"pareto": {"alpha": 1.1, "min": 1, "max": 1000}}},
        },
    },
    "streams": {
        "show.announced": {
            "key": "show_id",
            "rate": 0.0015,  # ~130 a day
            "activates": "show_id",
            "record": {"show_id": ["opens_at", "ends_at"]},
            "at_start": {"opens_at": {"after": {"uniform": ["-2d", "1d"]}}},
            "fields": {
                "show_id": {"entity": "show", "pick": "inactive"},
                "popularity": {"attr": "popularity", "of": "show_id"},
                "capacity": {
                    "uniform": [1000, 1000],
                    "times": {"by": "popularity", "of": "show_id", "power": 0.5},
                },
                "opens_at": {"after": {"uniform": ["1d", "2d"]}},
                "ends_at": {"after": {"of": "opens_at", "uniform": ["2d", "3d"]}},
            },
        },
        "cart.added": {
            "key": "show_id",
            "rate": 0.2,
            "fields": {
                "show_id": {
                    "entity": "show",
                    "weight": {"by": "popularity"},
                    "openings": {
                        "closed_until": "opens_at",
                        "closed_after": "ends_at",
                        "peaks": {"opens_at": {"peak": "peak", "half_life": "3h"}},
                    },
                },
                "price": {
                    "uniform": [10, 10],
                    "times": [{"by": "popularity", "of": "show_id", "power": 0.1}, 2],
                },
            },
        },
    },
}
TS = {"type": "long", "logicalType": "timestamp-millis"}
FIELDS = {
    "show.announced": {
        "show_id": "string",
        "popularity": "double",
        "capacity": "long",
        "opens_at": TS,
        "ends_at": TS,
    },
    "cart.added": {"show_id": "string", "price": "double"},
}


def test_bounded_pareto_has_the_laws_quantiles_and_stays_in_its_bounds() -> None:
    """Empirical CDF at a few points within 0.005 of ``(1 - x^-a) / (1 - 1000^-a)``."""
    x = bounded_pareto(np.random.default_rng(5), 1.1, 1.0, 1000.0, 200_000)
    assert x.min() >= 1.0 and x.max() <= 1000.0
    for q in (1.5, 3.0, 10.0, 100.0):
        cdf = (1 - q**-1.1) / (1 - 1000.0**-1.1)
        assert abs(np.mean(x <= q) - cdf) < 0.005, q


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, np.ndarray]]:
    """Five days of the pack: shows announced (and those active at the start), carts."""
    root = tmp_path_factory.mktemp("pop")
    write_pack(root, "pop", STREAMS, FIELDS)
    return run_pack(root, "pop", START, START + 5 * DAY)


def test_the_shows_active_at_the_start_are_announced_at_its_first_instant(
    run: dict[str, dict[str, np.ndarray]],
) -> None:
    """One event per initially active show at the start, with the `at_start` law (opening
    from 2 days before to 1 day after it); the later ones by the stream's own law."""
    shows = run["show.announced"]
    first = shows["occurred_at"] == START
    assert 0.2 * SHOWS < first.sum() < 0.3 * SHOWS
    assert len(set(shows["show_id"])) == len(shows["show_id"])
    lead = shows["opens_at"] - shows["occurred_at"]
    assert lead[first].min() >= -2 * DAY and lead[first].max() <= DAY and lead[first].min() < 0
    assert lead[~first].min() >= DAY and lead[~first].max() <= 2 * DAY


def test_pick_weights_multipliers_and_reads_follow_the_numeric_attribute(
    run: dict[str, dict[str, np.ndarray]],
) -> None:
    """The field reads the drawn popularity; capacity is 1000 x popularity^0.5, the price
    10 x popularity^0.1 x 2; a show's carts per open hour grow in proportion to popularity."""
    shows, carts = run["show.announced"], run["cart.added"]
    pop = shows["popularity"].astype(float)
    assert np.array_equal(shows["capacity"], np.rint(1000 * np.sqrt(pop)).astype(np.int64))
    of = dict(zip(shows["show_id"], pop, strict=True))
    assert np.allclose(carts["price"], [20 * of[s] ** 0.1 for s in carts["show_id"]])
    # log carts against log popularity over shows open the whole of days 3-4: slope about 1
    open_all = (shows["opens_at"] <= START + 2 * DAY) & (shows["ends_at"] >= START + 4 * DAY)
    late = (carts["occurred_at"] >= START + 3 * DAY) & (carts["occurred_at"] < START + 4 * DAY)
    ids = shows["show_id"][open_all]
    n = np.asarray([np.sum(carts["show_id"][late] == s) for s in ids])
    p = pop[open_all]
    slope = np.polyfit(np.log(p[n > 0]), np.log(n[n > 0]), 1)[0]
    assert 0.75 < slope < 1.25, slope


def test_no_pick_outside_the_opening_and_a_spike_just_after_it(
    run: dict[str, dict[str, np.ndarray]],
) -> None:
    """No cart before a show opens or after it ends; in the first 3 h after the opening a
    show takes carts at about (1 + 20 x 0.72) / (1 + 20 x 0.034) = 8.6 times its rate 12-18 h
    later (the spike's means with a 3 h half-life); a little less in fact (6.8 here), since a
    popular show's own spike raises the total weight it is a share of."""
    shows, carts = run["show.announced"], run["cart.added"]
    at = {k: dict(zip(shows["show_id"], shows[k], strict=True)) for k in ("opens_at", "ends_at")}
    t = carts["occurred_at"]
    opens = np.asarray([at["opens_at"][s] for s in carts["show_id"]])
    ends = np.asarray([at["ends_at"][s] for s in carts["show_id"]])
    assert np.all(t >= opens) and np.all(t < ends)
    age = t - opens
    ok = (opens >= START) & (opens + DAY <= START + 5 * DAY)
    spike = np.sum(ok & (age < 3 * H)) / 3
    later = np.sum(ok & (age >= 12 * H) & (age < 18 * H)) / 6
    # the mean of 2^(-age / 3h) over ages 0-3 h and 12-18 h
    expected = (1 + PEAK * 0.5 / np.log(2)) / (1 + PEAK * 0.5 / np.log(2) * (2**-4 - 2**-6))
    assert 0.55 * expected < spike / later < 1.05 * expected, (spike / later, expected)


def test_sample_open_never_draws_a_closed_entity_and_falls_back_when_all_are() -> None:
    """Direct on a pool: events at instants before an entity's opening never draw it; a step
    where everything is closed draws by the other weights; a draw per event, vectorised."""
    pool = EntityPool(
        "show", EntitySpec(count=50, prefix="s", activity_sigma=0.0), 0, 1, 1, 1.0, "d"
    )
    pool.keep_instants(["opens_at"])
    idx = np.arange(50, dtype=np.int64)
    pool.record("opens_at", idx, START + idx * H)  # show k opens k hours after START
    openings = Openings(closed_until="opens_at", step=60_000)
    rng = np.random.default_rng(1)
    times = START + rng.integers(0, 50 * H, 20_000)
    got = pool.sample_open(rng, times, None, openings, {})
    assert np.all(START + got * H <= times)
    early = pool.sample_open(rng, np.full(1000, START - H), None, openings, {})
    assert len(np.unique(early)) > 40  # nobody open: every entity by activity


def _patched(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(STREAMS)
    for path, value in changes.items():
        node = out
        *head, last = path.split("/")
        for k in head:
            node = node[k]
        node[last] = value
    return out


CART = "streams/cart.added/fields"


@pytest.mark.parametrize(
    ("changes", "where", "says"),
    [
        (
            {f"{CART}/show_id/openings": {"closed_until": "presale_at"}},
            "streams.cart.added.fields.show_id.openings.closed_until",
            "record",
        ),
        (
            {f"{CART}/show_id/weight": {"by": "popularity", "values": {"a": 1}}},
            "streams.cart.added.fields.show_id.weight.values",
            "numeric attribute",
        ),
        (
            {f"{CART}/show_id/openings": {"peaks": {"opens_at": {"peak": "pk", "half_life": 1}}}},
            "streams.cart.added.fields.show_id.openings.peaks.opens_at.peak",
            "parameter",
        ),
        (
            {"streams/show.announced/record": {"show_id": ["capacity"]}},
            "streams.show.announced.record.show_id.0",
            "instant",
        ),
        (
            {"streams/show.announced/record": {"capacity": ["opens_at"]}},
            "streams.show.announced.record.capacity",
            "entity field",
        ),
        (
            {
                "entities/show/attributes/popularity": {
                    "pareto": {"alpha": 1, "min": 1, "max": 9},
                    "times": "peak",
                }
            },
            "entities.show.attributes.popularity",
            "numeric law",
        ),
    ],
)
def test_load_time_checks_name_the_place_and_the_fix(
    tmp_path: Path, changes: dict[str, Any], where: str, says: str
) -> None:
    """An instant no stream records, `values` over a numeric attribute, an unknown parameter,
    a recorded field that is no instant or no entity field, a law with `times` as an
    attribute: each a problem at its place, naming the fix."""
    pack = write_pack(tmp_path, "pop", _patched(**changes), FIELDS)
    problems = check_pack(pack).problems
    assert any(p.path == where and says in str(p) for p in problems), problems


def test_the_spec_refuses_misshapen_declarations() -> None:
    """`at_start` without `activates`, `openings` on a non-entity field, a Pareto law with
    max <= min, `power` with `values`."""
    with pytest.raises(ValidationError, match="activates"):
        StreamSpec(key="k", at_start={})
    with pytest.raises(ValidationError, match="openings"):
        FieldSpec(uniform=(0, 1), openings=Openings())
    with pytest.raises(ValidationError, match="max > min"):
        FieldSpec(pareto={"alpha": 1, "min": 5, "max": 5})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="power"):
        FieldSpec(entity="s", weight={"by": "x", "values": {"a": 1}, "power": 2})  # type: ignore[arg-type]
