"""A JSON Schema checker for the keywords pydantic writes (draft 2020-12 subset), for tests:
the environment has no ``jsonschema`` package, and the committed schemas must be checked as
an editor reads them, not through pydantic."""

from __future__ import annotations

from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list, tuple),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is(value: Any, name: str) -> bool:
    if name in ("number", "integer") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[name])


def errors(value: Any, schema: dict[str, Any], root: dict[str, Any], at: str = "") -> list[str]:
    """Every violation of ``schema`` by ``value`` (``root`` holds the ``$defs``)."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return errors(value, root["$defs"][name], root, at)
    out: list[str] = []
    t = schema.get("type")
    if t is not None and not any(_is(value, x) for x in (t if isinstance(t, list) else [t])):
        return [f"{at or '/'}: {value!r} is not of type {t}"]
    if "const" in schema and value != schema["const"]:
        out.append(f"{at}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{at}: {value!r} is not one of {schema['enum']}")
    for key, op in (("minimum", "lt"), ("exclusiveMinimum", "le"), ("maximum", "gt")):
        if key in schema and _is(value, "number"):
            bound = schema[key]
            bad = {"lt": value < bound, "le": value <= bound, "gt": value > bound}[op]
            if bad:
                out.append(f"{at}: {value!r} breaks {key} {bound}")
    if (
        "exclusiveMaximum" in schema
        and _is(value, "number")
        and value >= schema["exclusiveMaximum"]
    ):
        out.append(f"{at}: {value!r} breaks exclusiveMaximum")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out += [f"{at}: lacks {r!r}" for r in schema.get("required", []) if r not in value]
        extra = schema.get("additionalProperties", True)
        for k, v in value.items():
            if k in props:
                out += errors(v, props[k], root, f"{at}/{k}")
            elif extra is False:
                out.append(f"{at}: unknown key {k!r}")
            elif isinstance(extra, dict):
                out += errors(v, extra, root, f"{at}/{k}")
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            out.append(f"{at}: fewer than {schema['minProperties']} keys")
    if isinstance(value, list | tuple):
        prefix = schema.get("prefixItems", [])
        for i, v in enumerate(value):
            if i < len(prefix):
                out += errors(v, prefix[i], root, f"{at}/{i}")
            elif isinstance(schema.get("items"), dict):
                out += errors(v, schema["items"], root, f"{at}/{i}")
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", 1e9):
            out.append(f"{at}: {len(value)} items, outside [minItems, maxItems]")
    for sub in schema.get("allOf", []):
        out += errors(value, sub, root, at)
    if "anyOf" in schema and all(errors(value, s, root, at) for s in schema["anyOf"]):
        out.append(f"{at or '/'}: {value!r} matches none of anyOf")
    if "oneOf" in schema:
        matched = [s for s in schema["oneOf"] if not errors(value, s, root, at)]
        if len(matched) != 1:
            out.append(f"{at or '/'}: {value!r} matches {len(matched)} of oneOf, not 1")
    return out
