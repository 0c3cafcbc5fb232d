"""Parameters: weighted modifiers on one value, and the causal graph carrying them with lags."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from structlog.testing import capture_logs

from simfleet.domain.pack import load_domain, load_pack
from simfleet.domain.params import ParamGraph, apply_modifiers
from simfleet.domain.spec import DomainSpec
from simfleet.errors import DomainError
from simfleet.paths import packs_dir
from simfleet.scenarios import Modifier

MIN = 60_000
T = 1_772_409_600_000 + 6 * 3_600_000  # the modifier starts here

Weighted = Sequence[tuple[Modifier, float]]


def mod(op: str, value: float, target: str = "x", precedence: int = 0) -> Modifier:
    """A modifier on a throwaway target."""
    return Modifier(target=target, op=op, value=value, precedence=precedence)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("default", "mods", "expected"),
    [
        (10.0, [], 10.0),
        (10.0, [(mod("multiply", 0.5), 1.0)], 5.0),
        (10.0, [(mod("multiply", 0.5), 0.5)], 7.5),  # halfway between x1 and x0.5
        (10.0, [(mod("multiply", 0.5), 0.0)], 10.0),
        (10.0, [(mod("multiply", 2.0), 1.0), (mod("multiply", 0.5), 1.0)], 10.0),
        (1.0, [(mod("set", 3.0), 1.0)], 3.0),
        (1.0, [(mod("set", 3.0), 0.5)], 2.0),
        (1.0, [(mod("set", 3.0, precedence=0), 1.0), (mod("set", 7.0, precedence=1), 1.0)], 7.0),
        (1.0, [(mod("set", 7.0, precedence=1), 1.0), (mod("set", 3.0, precedence=0), 1.0)], 7.0),
        (1.0, [(mod("set", 10.0), 1.0), (mod("multiply", 0.5), 1.0)], 5.0),  # set, then multiply
        (1.0, [(mod("add", 2.0), 1.0)], 3.0),
        (1.0, [(mod("add", 2.0), 0.5)], 2.0),
        (2.0, [(mod("multiply", 2.0), 1.0), (mod("add", 1.0), 1.0)], 5.0),  # multiply, then add
        (0.8, [(mod("shift", 0.5), 1.0)], 1.0),  # shift is a probability: clipped to 1
        (0.8, [(mod("shift", 0.5), 0.2)], 0.9),
        (0.8, [(mod("add", 0.5), 1.0)], 1.3),  # add is not clipped
        (1.0, [(mod("add", -5.0), 1.0)], 0.0),  # never below 0
        (0.3, [(mod("shift", -0.5), 1.0)], 0.0),
        (1.0, [(mod("set", -4.0), 1.0)], 0.0),
    ],
)
def test_apply_modifiers(default: float, mods: Weighted, expected: float) -> None:
    """set (highest precedence), then multiply, then add/shift; weights interpolate; >= 0."""
    assert apply_modifiers(default, mods) == pytest.approx(expected)


def test_equal_precedence_sets_keep_the_last_and_log_the_conflict() -> None:
    """Two sets of one precedence: the last wins and a modifier_conflict is logged."""
    with capture_logs() as logs:
        value = apply_modifiers(1.0, [(mod("set", 3.0), 1.0), (mod("set", 5.0), 1.0)])
    assert value == 5.0
    assert [e["event"] for e in logs] == ["modifier_conflict"]


@pytest.fixture(scope="module")
def graph() -> ParamGraph:
    """The marketplace's parameter graph."""
    return ParamGraph.from_domain(load_domain("marketplace"))


def no_mods(_t: int) -> list[tuple[Modifier, float]]:
    """No scenario in force."""
    return []


def supply_x04(t: int) -> list[tuple[Modifier, float]]:
    """tutor.supply x0.4 from T on, at full weight."""
    return [(mod("multiply", 0.4, "marketplace.tutor.supply"), 1.0)] if t >= T else []


def test_defaults_at_baseline_equal_the_domain_file(graph: ParamGraph) -> None:
    """Without modifiers every parameter and stream rate is the value written in the yaml."""
    raw = yaml.safe_load((packs_dir() / "marketplace" / "streams.yaml").read_text(encoding="utf-8"))
    expected = {f"marketplace.{k}": float(v) for k, v in raw["parameters"].items()}
    expected.update(
        {f"marketplace.{k}.rate": float(s.get("rate") or 0.0) for k, s in raw["streams"].items()}
    )
    values = graph.evaluate(T, no_mods)
    assert values == pytest.approx(expected)
    assert graph.defaults == pytest.approx(expected)


@pytest.mark.parametrize(
    ("param", "lag_min", "direction"),
    [
        ("marketplace.booking.confirm", 30, "down"),
        ("marketplace.booking.decline", 30, "up"),
        ("marketplace.booking.expire", 30, "up"),
        ("marketplace.tutor.availability", 0, "down"),
        ("marketplace.customer.search.rate", 90, "up"),  # 30 min to confirm, then 1 h
        ("marketplace.support.ticket_created.rate", 150, "up"),  # 30 min, then 2 h
    ],
)
def test_supply_drop_moves_downstream_after_its_lag(
    graph: ParamGraph, param: str, lag_min: int, direction: str
) -> None:
    """supply x0.4: each downstream parameter is baseline until its lag has passed, then moves."""
    base = graph.defaults[param]
    if lag_min:
        before = graph.evaluate(T + lag_min * MIN - 1, supply_x04)[param]
        assert before == pytest.approx(base)
    after = graph.evaluate(T + lag_min * MIN, supply_x04)[param]
    assert (after < base * 0.9) if direction == "down" else (after > base * 1.1)


def test_supply_drop_values_follow_the_elasticities(graph: ParamGraph) -> None:
    """to = base x (from / default) ^ elasticity, chained: confirm, then searches from confirm."""
    v = graph.evaluate(T + 2 * 60 * MIN, supply_x04)
    assert v["marketplace.tutor.supply"] == pytest.approx(0.4)
    assert v["marketplace.booking.confirm"] == pytest.approx(0.75 * 0.4**0.7)
    assert v["marketplace.booking.decline"] == pytest.approx(0.15 * 0.4**-1.2)
    assert v["marketplace.booking.expire"] == pytest.approx(0.10 * 0.4**-1.5)
    assert v["marketplace.customer.search.rate"] == pytest.approx(1.0 * (0.4**0.7) ** -1.2)
    # parameters off the supply path do not move
    assert v["marketplace.payment.failure"] == pytest.approx(0.04)
    assert v["marketplace.booking.requested.rate"] == pytest.approx(0.2)


def test_modifier_on_a_downstream_parameter_does_not_move_its_cause(graph: ParamGraph) -> None:
    """Edges carry effects forward only: moving booking.confirm leaves tutor.supply alone."""

    def confirm_down(_t: int) -> list[tuple[Modifier, float]]:
        return [(mod("multiply", 0.5, "marketplace.booking.confirm"), 1.0)]

    v = graph.evaluate(T, confirm_down)
    assert v["marketplace.booking.confirm"] == pytest.approx(0.375)
    assert v["marketplace.tutor.supply"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("marketplace.tutor.supply", {"marketplace.tutor.supply"}),
        (
            "marketplace.booking.*",
            {
                "marketplace.booking.confirm",
                "marketplace.booking.decline",
                "marketplace.booking.expire",
                "marketplace.booking.requested.rate",
                "marketplace.booking.confirmed.rate",
                "marketplace.booking.declined.rate",
                "marketplace.booking.expired.rate",
            },
        ),
        ("marketplace.payment.?ailure", {"marketplace.payment.failure"}),
        ("marketplace.tutor.suply", set()),
        ("MARKETPLACE.tutor.supply", set()),  # case-sensitive
    ],
)
def test_glob_targets_match_parameter_paths(
    graph: ParamGraph, target: str, expected: set[str]
) -> None:
    """A modifier target is a path or an fnmatch glob over the full parameter paths."""
    assert set(graph.matching(target)) == expected
    assert graph.unknown_targets([target]) == ([] if expected else [target])


def test_glob_modifier_applies_to_every_match(graph: ParamGraph) -> None:
    """`marketplace.*.rate x2` doubles every stream rate (all other parameters at baseline)."""

    def rates_x2(_t: int) -> list[tuple[Modifier, float]]:
        return [(mod("multiply", 2.0, "marketplace.*.rate"), 1.0)]

    v = graph.evaluate(T, rates_x2)
    rates = [p for p in graph.defaults if p.endswith(".rate")]
    assert len(rates) == len(load_domain("marketplace").streams)
    for p in rates:
        assert v[p] == pytest.approx(2 * graph.defaults[p]), p
    assert v["marketplace.tutor.supply"] == pytest.approx(1.0)


def tiny_domain(causal: list[dict[str, object]], parameters: dict[str, float]) -> DomainSpec:
    """A domain with parameters and edges only."""
    return DomainSpec.model_validate(
        {
            "domain": "tiny",
            "entities": {},
            "parameters": parameters,
            "causal": causal,
            "streams": {},
        }
    )


@pytest.mark.parametrize(
    "causal",
    [
        [{"from": "a", "to": "b", "elasticity": 1.0}, {"from": "b", "to": "a", "elasticity": 1.0}],
        [
            {"from": "a", "to": "b", "elasticity": 1.0},
            {"from": "b", "to": "c", "elasticity": 1.0, "lag": "1h"},
            {"from": "c", "to": "a", "elasticity": -1.0},
        ],
        [{"from": "a", "to": "a", "elasticity": 0.5, "lag": "30m"}],
    ],
)
def test_cycles_in_the_causal_graph_raise_domain_error(causal: list[dict[str, object]]) -> None:
    """A cycle (lagged or not) is rejected at load time, naming the loop."""
    spec = tiny_domain(causal, {"a": 1.0, "b": 1.0, "c": 1.0})
    with pytest.raises(DomainError, match=r"cycle: .*a"):
        ParamGraph.from_domain(spec)


def test_edge_from_a_zero_default_is_rejected() -> None:
    """A ratio against a zero default is undefined: from_domain names the edge."""
    spec = tiny_domain([{"from": "a", "to": "b", "elasticity": 1.0}], {"a": 0.0, "b": 1.0})
    with pytest.raises(DomainError, match="a -> b"):
        ParamGraph.from_domain(spec)


def test_unknown_parameter_in_an_edge_names_it(tmp_path: Path) -> None:
    """load_domain reports an edge to a missing parameter with the file and the name."""
    path = tmp_path / "tiny" / "streams.yaml"
    path.parent.mkdir()
    path.write_text(
        "domain: tiny\nentities: {}\nstreams: {}\nparameters: {a: 1.0}\n"
        "causal: [{from: a, to: nope, elasticity: 1.0}]\n"
    )
    with pytest.raises(DomainError, match="nope") as info:
        load_pack(path.parent)
    assert str(path) in str(info.value)


def test_a_relation_to_an_unknown_entity_names_the_file_and_the_attribute(tmp_path: Path) -> None:
    """load_domain rejects `relation:` to an entity the domain does not declare."""
    path = tmp_path / "tiny" / "streams.yaml"
    path.parent.mkdir()
    path.write_text(
        "domain: tiny\nstreams: {}\nparameters: {}\n"
        "entities: {student: {count: 10, prefix: s, attributes: {tutor: {relation: teacher, "
        "per: [1, 8]}, cohort: {joined: month}}}}\n"
    )
    with pytest.raises(DomainError, match="teacher") as info:
        load_pack(path.parent)
    assert str(path) in str(info.value) and "tutor" in str(info.value)
