"""The JSON Schemas of a pack's ``streams.yaml`` and of a scenario file, generated from their
models (``simctl schema pack|scenario``).

Editors read them through a first line ``# yaml-language-server: $schema=../pack.schema.json``
(``../scenario.schema.json``): they complete keys, show each field's description and mark an
unknown generator. The files beside the data are this module's output, kept equal by a test.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from simfleet.domain.spec import DomainSpec
from simfleet.scenarios import ScenarioSpec

__all__ = [
    "PACK_SCHEMA_FILE",
    "SCENARIO_SCHEMA_FILE",
    "pack_schema",
    "render",
    "scenario_schema",
]

PACK_SCHEMA_FILE = "pack.schema.json"  # in the packs folder (producers/)
SCENARIO_SCHEMA_FILE = "scenario.schema.json"  # in the scenarios folder
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


# parsers in front of an integer that also take text: the text they take, for editors
_TEXT_FORMS = {
    "_duration": "a duration in milliseconds, or text such as 90s, 15m, 2h, 7d or 2w",
    "_signed_duration": "a duration in milliseconds, or text such as 15m or 7d (-14d: before)",
}


class _Generator(GenerateJsonSchema):
    """Pydantic's schema, where a value parsed from text (a duration) also allows the text."""

    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> JsonSchemaValue:
        """The inner schema, or a string too where the parser takes text."""
        inner = super().function_before_schema(schema)
        name = getattr(schema["function"].get("function"), "__name__", "")
        text = _TEXT_FORMS.get(name)
        if text is None:
            return inner
        return {"anyOf": [inner, {"type": "string"}], "description": text}


def pack_schema() -> dict[str, Any]:
    """The JSON Schema of a pack's ``streams.yaml``."""
    schema = DomainSpec.model_json_schema(schema_generator=_Generator)
    # a pack's domain defaults to its folder name (simfleet.domain.checks), so it may be left out
    schema["required"] = [r for r in schema.get("required", []) if r != "domain"]
    return {"$schema": _DIALECT, "title": "simfleet pack (streams.yaml)", **_untitled(schema)}


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file."""
    schema = ScenarioSpec.model_json_schema(schema_generator=_Generator)
    return {"$schema": _DIALECT, "title": "simfleet scenario", **_untitled(schema)}


def render(schema: dict[str, Any]) -> str:
    """The schema as the committed files hold it: indented, sorted keys, a final newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _untitled(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != "title"}
