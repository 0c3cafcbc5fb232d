"""docs/PACKS.md documents the pack language the registry defines: its generated section is
what the registry prints, every registered mechanism has its entry and every entry is
registered."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from simfleet.domain.mechanisms import FieldSpec, generators
from simfleet.domain.mechanisms.docs import BEGIN, END, reference
from simfleet.domain.mechanisms.pack import MECHANISMS

PACKS = Path(__file__).resolve().parents[2] / "docs" / "PACKS.md"


def _generated() -> str:
    text = PACKS.read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    return text.partition(BEGIN)[2].partition(END)[0]


def test_the_generated_section_is_the_registrys_reference() -> None:
    """Regenerate with `python -m simfleet.domain.mechanisms.docs docs/PACKS.md`."""
    assert _generated().strip() == reference().strip()


def test_every_mechanism_is_documented_and_every_documented_one_registered() -> None:
    """Headings of the generated section: one per generator and per mechanism, no more."""
    section = _generated()
    gens = section.partition("## Stream- and pack-level mechanisms")[0]
    rest = section.partition("## Stream- and pack-level mechanisms")[2]
    assert re.findall(r"^### `(\w+)`$", gens, re.M) == list(generators())
    assert re.findall(r"^### (.+)$", rest, re.M) == [m.name for m in MECHANISMS]


def test_every_option_and_mechanism_says_what_it_is_and_why() -> None:
    """The reference is generated from descriptions: none is missing."""
    for key, model in generators().items():
        assert model.why and model.__doc__, key
        for name, f in model.model_fields.items():
            assert f.description, f"{key}.{name} has no description"
    for name, f in FieldSpec.model_fields.items():
        assert f.description, name
    for m in MECHANISMS:
        assert m.why and m.fields(), m.name
        m.check_function()  # its checks exist
        assert importlib.util.find_spec(m.engine) is not None, m.engine
