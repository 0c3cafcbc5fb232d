"""The pack language's registry is the one list of field generators: a generator written in
one module and registered with one line is parsed, checked, listed in errors and the JSON
Schema, and drawn by the engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from simfleet.domain import mechanisms
from simfleet.domain.checks import Schemas, check_pack, stream_problems
from simfleet.domain.mechanisms import base
from simfleet.domain.pack import Project
from simfleet.domain.spec import DomainSpec, FieldSpec
from tests.unit.pack_helpers import run_pack, write_pack
from tests.unit.toy_generator import WaveField

H = 3_600_000
START = 1_772_409_600_000  # 2026-03-02T00:00:00Z


@pytest.fixture
def wave() -> Iterator[None]:
    """The toy generator registered for one test, and unregistered after it."""
    mechanisms.register(WaveField)  # the one registry line
    yield
    del base._REGISTRY["wave"]
    base._option_defaults.cache_clear()


def _pack(tmp_path: Path, amplitude: str = "level") -> Path:
    streams = {
        "entities": {"sensor": {"count": 5, "prefix": "SEN"}},
        "parameters": {"level": 2.0},
        "streams": {
            "reading.taken": {
                "key": "sensor_id",
                "rate": 0.5,
                "fields": {
                    "sensor_id": {"entity": "sensor"},
                    "value": {"wave": {"period_s": 3600, "amplitude": amplitude}, "round": 6},
                },
            }
        },
    }
    return write_pack(
        tmp_path, "toyland", streams, {"reading.taken": {"sensor_id": "string", "value": "double"}}
    )


def test_every_generator_is_registered_once_with_its_key() -> None:
    """The registry lists each built-in generator, whose model's field is its key."""
    gens = mechanisms.generators()
    assert list(gens)[:3] == ["entity", "attr", "seq"]
    assert {"bernoulli", "after", "product", "sum_of", "process"} <= set(gens)
    for key, model in gens.items():
        assert model.key == key and key in model.model_fields
        assert model.why, f"{key} says why it exists"


def test_an_unregistered_key_is_refused_with_the_known_generators() -> None:
    """The error lists every registered generator (sum_of among them) and suggests one."""
    with pytest.raises(ValidationError) as err:
        FieldSpec.model_validate({"unifrom": [1, 2]})
    text = str(err.value)
    assert "sum_of" in text and "bernoulli" in text
    assert "did you mean `uniform`" in text


def test_a_toy_generator_validates_and_generates(tmp_path: Path, wave: None) -> None:
    """One module and one register line: the pack loads, its names are checked, the stream
    checks against its Avro schema, the engine draws it vectorised, and the JSON Schema and
    error messages list it."""
    folder = _pack(tmp_path)
    check = check_pack(folder)
    assert check.problems == [] and isinstance(check.spec, DomainSpec)
    field = check.spec.streams["reading.taken"].fields["value"]
    assert isinstance(field, WaveField)
    entries = list(Project(roots=[tmp_path], own=False).schemas())
    schemas = Schemas(fields={e.topic: e.fields for e in entries}, files={})
    assert stream_problems(check.spec, folder / "streams.yaml", schemas) == []
    out = run_pack(tmp_path, "toyland", START, START + 6 * H)["reading.taken"]
    assert len(out["value"]) > 20
    expected = np.round(np.sin(2 * np.pi * out["occurred_at"] / (3600 * 1000.0)) * 2.0, 6)
    np.testing.assert_allclose(out["value"], expected)
    schema = DomainSpec.model_json_schema()
    variants = schema["$defs"]["FieldSpec"]["oneOf"]
    assert {"$ref": "#/$defs/WaveField"} in variants
    assert schema["$defs"]["WaveField"]["required"] == ["wave"]
    with pytest.raises(ValidationError, match="wave"):
        FieldSpec.model_validate({})


def test_a_toy_generators_own_check_runs(tmp_path: Path, wave: None) -> None:
    """The generator's ``problems`` is called by the pack checks, with the field's path."""
    problems = check_pack(_pack(tmp_path, amplitude="levle")).problems
    assert [p.path for p in problems] == ["streams.reading.taken.fields.value.wave.amplitude"], (
        problems
    )
    assert "did you mean `level`" in problems[0].message


def test_a_misspelt_option_names_its_generators_options() -> None:
    """`pik` on an entity field: the bad key echoed, the near option suggested, and the
    options of that generator (not of every generator) listed."""
    with pytest.raises(ValidationError) as err:
        FieldSpec.model_validate({"entity": "user", "pik": "inactive"})
    text = str(err.value)
    assert "`pik` is no option of an `entity` field (did you mean `pick`?)" in text
    assert "it takes entity, pick, weight, openings" in text and "uniform" not in text
