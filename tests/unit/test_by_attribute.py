"""Numbers that depend on an entity's drawn attribute (`by` tables): per-entity draw weights,
bernoulli probabilities, multipliers, choice weights and chain probabilities, and their
load-time checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from simfleet.columns import Batch, TableStrings
from simfleet.domain.checks import check_pack, stream_problems
from simfleet.domain.pack import Project
from simfleet.producers.engine import ShardEngine

DAY = 86_400_000
START = 1_772_409_600_000  # 2026-03-02T00:00:00Z
PERSONAS = {"casual": 0.6, "scalper": 0.4}
BY = {"by": "persona", "of": "user_id"}

STREAMS: dict[str, Any] = {
    "domain": "persona",
    "entities": {
        "user": {
            "count": 2000,
            "prefix": "u",
            "activity_sigma": 0.0,
            "attributes": {
                "persona": {"choice": list(PERSONAS), "weights": list(PERSONAS.values())}
            },
        }
    },
    "streams": {
        "cart.added": {
            "key": "user_id",
            "rate": 0.5,
            "fields": {
                "user_id": {
                    "entity": "user",
                    "weight": {"by": "persona", "values": {"casual": 1, "scalper": 10}},
                },
                "persona_seen": {"attr": "persona", "of": "user_id"},
                "is_bulk": {"bernoulli": {**BY, "values": {"casual": 0.1, "scalper": 0.8}}},
                "quantity": {
                    "normal": [1.0, 0.3],
                    "times": {**BY, "values": {"casual": 2, "scalper": 8}},
                },
                "tier": {
                    "choice": ["vip", "standard"],
                    "weights": [
                        {**BY, "values": {"casual": 1, "scalper": 9}},
                        {**BY, "values": {"scalper": 1}, "default": 9},
                    ],
                },
            },
            "then": [
                {
                    "to": "cart.abandoned",
                    "probability": {**BY, "values": {"casual": 0.4, "scalper": 0.05}},
                    "delay": {"uniform": ["1m", "10m"]},
                }
            ],
        },
        "cart.abandoned": {"key": "user_id"},
    },
}

FIELDS = {
    "cart.added": {
        "user_id": "string",
        "persona_seen": "string",
        "is_bulk": "boolean",
        "quantity": "double",
        "tier": "string",
    },
    "cart.abandoned": {"user_id": "string", "persona_seen": "string"},
}


def write_pack(root: Path, streams: dict[str, Any]) -> Path:
    """A pack `persona` under ``root`` laid out like the project, with its schemas."""
    pack = root / "producers" / "persona"
    pack.mkdir(parents=True)
    (pack / "streams.yaml").write_text(yaml.safe_dump(streams, sort_keys=False))
    schemas = root / "schemas" / "persona"
    schemas.mkdir(parents=True)
    for name, fields in FIELDS.items():
        record = {
            "type": "record",
            "name": name.replace(".", "_"),
            "namespace": "simfleet.persona",
            "simfleet.topic": f"persona.{name}",
            "fields": [
                {"name": "event_id", "type": "string"},
                {
                    "name": "occurred_at",
                    "type": {"type": "long", "logicalType": "timestamp-millis"},
                },
                *({"name": k, "type": v} for k, v in fields.items()),
            ],
        }
        (schemas / f"{name}.avsc").write_text(json.dumps(record))
    return pack


def strings(col: Any) -> np.ndarray:
    """A string column as a numpy array of str."""
    assert isinstance(col, TableStrings)
    return np.asarray(col.table.values, dtype=object)[col.idx]


@pytest.fixture(scope="module")
def batches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Batch]]:
    """Two sim days of the pack, in hourly ticks."""
    root = tmp_path_factory.mktemp("by")
    write_pack(root, STREAMS)
    project = Project(roots=[root], own=False)
    spec = project.spec("persona")
    engine = ShardEngine(spec, 0, 1, seed=7, schemas=project.schemas())
    params = project.graph("persona").defaults
    out: dict[str, list[Batch]] = {}
    for h in range(48):
        t0 = START + h * 3_600_000
        for b in engine.tick(t0, t0 + 3_600_000, params):
            out.setdefault(b.stream, []).append(b)
    return out


def column(batches: dict[str, list[Batch]], stream: str, name: str) -> np.ndarray:
    """One field of a stream over the run (strings as str)."""
    parts = []
    for b in batches[stream]:
        c = b.columns[name]
        parts.append(strings(c) if isinstance(c, TableStrings) else np.asarray(c))
    return np.concatenate(parts)


def test_entity_weight_scales_each_personas_share_of_draws(
    batches: dict[str, list[Batch]],
) -> None:
    """Scalpers (40 % of users, weight 10) make 10 x 0.4 / (10 x 0.4 + 0.6) = 87 % of carts."""
    persona = column(batches, "cart.added", "persona_seen")
    share = float(np.mean(persona == "scalper"))
    assert share == pytest.approx(4.0 / 4.6, abs=0.02)


def test_bernoulli_and_multiplier_follow_the_persona(batches: dict[str, list[Batch]]) -> None:
    """P(bulk) is 0.1 vs 0.8, and quantity is about 2 vs 8 (sd 30 % of the mean)."""
    persona = column(batches, "cart.added", "persona_seen")
    bulk = column(batches, "cart.added", "is_bulk").astype(bool)
    qty = column(batches, "cart.added", "quantity")
    for p, prob, mean in (("casual", 0.1, 2.0), ("scalper", 0.8, 8.0)):
        mask = persona == p
        assert bulk[mask].mean() == pytest.approx(prob, abs=0.04)
        assert qty[mask].mean() == pytest.approx(mean, rel=0.05)
        assert qty[mask].std() == pytest.approx(0.3 * mean, rel=0.1)


def test_choice_weights_by_persona(batches: dict[str, list[Batch]]) -> None:
    """VIP tier: 1/(1+9) of casual carts, 9/(9+1) of scalper carts."""
    persona = column(batches, "cart.added", "persona_seen")
    vip = column(batches, "cart.added", "tier") == "vip"
    assert vip[persona == "casual"].mean() == pytest.approx(0.1, abs=0.04)
    assert vip[persona == "scalper"].mean() == pytest.approx(0.9, abs=0.03)


def test_chain_probability_by_persona(batches: dict[str, list[Batch]]) -> None:
    """Abandonment follows 40 % of casual carts and 5 % of scalper carts."""
    added = column(batches, "cart.added", "persona_seen")
    abandoned = column(batches, "cart.abandoned", "persona_seen")
    for p, prob in (("casual", 0.4), ("scalper", 0.05)):
        rate = np.sum(abandoned == p) / np.sum(added == p)
        assert rate == pytest.approx(prob, abs=0.04)


def with_field(**overrides: Any) -> dict[str, Any]:
    """The pack with fields of cart.added replaced."""
    raw = json.loads(json.dumps(STREAMS))
    raw["streams"]["cart.added"]["fields"].update(overrides)
    return raw


@pytest.mark.parametrize(
    ("override", "where", "says"),
    [
        (
            {"is_bulk": {"bernoulli": {"by": "persnoa", "of": "user_id", "values": {}}}},
            "fields.is_bulk.bernoulli.by",
            "persona",
        ),
        (
            {"is_bulk": {"bernoulli": {**BY, "values": {"casual": 0.1, "scalpr": 0.8}}}},
            "fields.is_bulk.bernoulli.values.scalpr",
            "scalper",
        ),
        (
            {"is_bulk": {"bernoulli": {**BY, "values": {"casual": 0.1}}}},
            "fields.is_bulk.bernoulli.values",
            "default",
        ),
    ],
)
def test_load_time_checks_name_the_place_and_the_fix(
    tmp_path: Path, override: dict[str, Any], where: str, says: str
) -> None:
    """A misspelt attribute or value, or an unlisted value without default, is a problem."""
    pack = write_pack(tmp_path, with_field(**override))
    problems = check_pack(pack).problems
    assert any(p.path.endswith(where) and says in str(p) for p in problems), problems


def test_of_must_be_an_entity_field_made_before(tmp_path: Path) -> None:
    """`of` naming a plain field, or an entity field listed later, is reported with the schema."""
    raw = with_field(
        is_bulk={"bernoulli": {"by": "persona", "of": "tier", "values": PERSONAS}},
    )
    write_pack(tmp_path, raw)
    project = Project(roots=[tmp_path], own=False)
    check = check_pack(tmp_path / "producers" / "persona")
    assert check.problems == []
    assert check.spec is not None
    from simfleet.domain.checks import Schemas

    schemas = project.schemas()
    topics = {t: schemas.get(t) for t in (f"persona.{s}" for s in FIELDS)}
    given = Schemas(
        {t: e.fields for t, e in topics.items() if e is not None},
        {t: e.path for t, e in topics.items() if e is not None},
    )
    problems = stream_problems(check.spec, check.streams_file, given)
    assert [p.path for p in problems] == ["streams.cart.added.fields.is_bulk.of"], problems


def test_a_weight_names_no_of_and_applies_to_entity_fields_only() -> None:
    """`weight` with `of`, or on a non-entity field, is refused by the spec."""
    from pydantic import ValidationError

    from simfleet.domain.spec import FieldSpec

    with pytest.raises(ValidationError, match="weight"):
        FieldSpec.model_validate({"const": 1, "weight": {"by": "p", "values": {}}})
    with pytest.raises(ValidationError, match="weight"):
        FieldSpec.model_validate({"entity": "u", "weight": {**BY, "values": {}}})
    with pytest.raises(ValidationError, match="needs `of`"):
        FieldSpec.model_validate({"bernoulli": {"by": "p", "values": {}}})


def test_a_table_falls_back_to_a_default_or_to_another_table_not_both() -> None:
    """`otherwise` (a table for the values not listed) and `default` exclude each other."""
    from pydantic import ValidationError

    from simfleet.domain.spec import ByAttr

    inner = {**BY, "values": {"casual": 0.1}, "default": 0.5}
    fallback = ByAttr.model_validate({"by": "value", "of": "tier", "values": {"vip": 1}})
    assert fallback.tables() == [fallback]
    both = ByAttr.model_validate({"by": "value", "of": "tier", "values": {}, "otherwise": inner})
    assert [t.by for t in both.tables()] == ["value", "persona"]
    with pytest.raises(ValidationError, match="not both"):
        ByAttr.model_validate(
            {"by": "value", "of": "tier", "values": {}, "default": 0, "otherwise": inner}
        )


def test_a_chain_reads_a_table_over_a_choice_field_then_its_fallback(tmp_path: Path) -> None:
    """VIP carts are always abandoned; the others by the persona table they fall back to."""
    raw = json.loads(json.dumps(STREAMS))
    raw["streams"]["cart.added"]["then"][0]["probability"] = {
        "by": "value",
        "of": "tier",
        "values": {"vip": 1},
        "otherwise": {**BY, "values": {"casual": 0.4, "scalper": 0.05}},
    }
    pack = write_pack(tmp_path, raw)
    assert check_pack(pack).problems == []
    project = Project(roots=[tmp_path], own=False)
    engine = ShardEngine(project.spec("persona"), 0, 1, seed=7, schemas=project.schemas())
    params = project.graph("persona").defaults
    got: dict[str, list[Batch]] = {}
    for h in range(24):
        t0 = START + h * 3_600_000
        for b in engine.tick(t0, t0 + 3_600_000, params):
            got.setdefault(b.stream, []).append(b)
    tier = column(got, "cart.added", "tier")
    persona = column(got, "cart.added", "persona_seen")
    ab = column(got, "cart.abandoned", "persona_seen")
    # casual: 10 % VIP (all abandoned) + 90 % x 0.4; scalper: 90 % VIP + 10 % x 0.05
    for p, prob in (("casual", 0.1 + 0.9 * 0.4), ("scalper", 0.9 + 0.1 * 0.05)):
        rate = np.sum(ab == p) / np.sum(persona == p)
        assert rate == pytest.approx(prob, abs=0.04), (
            p,
            rate,
            np.mean(tier[persona == p] == "vip"),
        )
