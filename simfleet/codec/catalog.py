"""The schema catalog: every Avro record schema of the project, by topic, name and fingerprint.

Schemas live in ``<root>/schemas/<domain>/*.avsc``, one top-level record per file. Each file
names the topic it serves with a top-level property ``"simfleet.topic": "<topic>"`` (Avro
ignores unknown properties, and the Parsing Canonical Form strips them, so the property changes
neither the bytes nor the fingerprint). A file is self-contained: named types it uses are
defined inside it.

``schemas/_shared/*.avsc`` hold the records every domain has (ground truth, external events,
metrics); their topic property is a template, ``{domain}.ground_truth``, instantiated once per
domain. This catalog is the one way to find a schema: the encoder, the decoder and the engine
(which takes its field types from here) all ask it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from simfleet.errors import SchemaError

__all__ = [
    "SHARED_DIR",
    "TOPIC_PROPERTY",
    "FieldType",
    "SchemaEntry",
    "SchemaSet",
    "field_type",
    "schema_fingerprint",
]

TOPIC_PROPERTY = "simfleet.topic"
SHARED_DIR = "_shared"


def canonical_fingerprint(canonical: str) -> bytes:
    """The 8-byte CRC-64-AVRO fingerprint of a Parsing Canonical Form, as framing writes it."""
    # fastavro's CRC-64-AVRO hex is already the little-endian byte order of the spec.
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


def schema_fingerprint(schema: Any) -> bytes:
    """The CRC-64-AVRO fingerprint of a schema (a dict, or fastavro's parsed form)."""
    return canonical_fingerprint(to_parsing_canonical_form(fastavro.parse_schema(schema)))


@dataclass(frozen=True, slots=True)
class FieldType:
    """What the Avro schema says a field is: kind int | float | bool | str, and nullability."""

    kind: str
    nullable: bool


_KINDS = {
    "long": "int",
    "int": "int",
    "double": "float",
    "float": "float",
    "boolean": "bool",
    "string": "str",
}


def field_type(avro_type: Any) -> FieldType:
    """The kind of a (parsed) Avro field type; a SchemaError for kinds streams cannot hold."""
    nullable = False
    if isinstance(avro_type, list):
        branches = [b for b in avro_type if b != "null"]
        nullable = len(branches) < len(avro_type)
        avro_type = branches[0] if branches else "null"
    if isinstance(avro_type, dict):
        avro_type = "string" if avro_type.get("type") == "enum" else avro_type.get("type")
    kind = _KINDS.get(str(avro_type))
    if kind is None:
        raise SchemaError(f"type {avro_type!r} is not one a generated field can hold")
    return FieldType(kind, nullable)


@dataclass(frozen=True)
class SchemaEntry:
    """One record schema of the set: where it came from, its topic and its identities."""

    name: str
    topic: str
    domain: str
    path: Path
    raw: str
    parsed: Any
    canonical: str
    fingerprint: bytes
    shared: bool = False

    @property
    def subject(self) -> str:
        """Schema registry subject of the topic's values (TopicNameStrategy)."""
        return f"{self.topic}-value"

    @property
    def fields(self) -> dict[str, FieldType]:
        """Field name -> type, in schema order."""
        out: dict[str, FieldType] = {}
        for f in self.parsed["fields"]:
            try:
                out[f["name"]] = field_type(f["type"])
            except SchemaError:
                out[f["name"]] = FieldType("other", False)
        return out


def _parse_error(path: Path, schema: Mapping[str, Any], exc: Exception) -> SchemaError:
    """A SchemaError naming the file and, when it can be found, the first field at fault."""
    field_hint = ""
    fields = schema.get("fields")
    if isinstance(fields, list):
        # Re-parse growing prefixes of the field list: the first one to fail names the field.
        for k, fld in enumerate(fields):
            trial = dict(schema, fields=fields[: k + 1])
            try:
                fastavro.parse_schema(trial)
            except Exception:  # noqa: BLE001 - any failure of the trial parse marks the field
                name = fld.get("name", f"#{k}") if isinstance(fld, dict) else f"#{k}"
                field_hint = f" in field {name!r}"
                break
    return SchemaError(
        f"cannot parse Avro schema {path}{field_hint}: {exc}. Fix the schema file so that it "
        "follows the Avro specification (https://avro.apache.org/docs/current/specification/)."
    )


def load_entry(path: Path, domain: str) -> SchemaEntry:
    """Read, check and parse one ``.avsc`` file."""
    try:
        text = path.read_text(encoding="utf-8")
        doc = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaError(
            f"cannot read Avro schema {path}: {exc}. Fix the file so that it holds one JSON "
            "object describing an Avro record."
        ) from exc
    if not isinstance(doc, dict) or doc.get("type") != "record":
        raise SchemaError(
            f"Avro schema {path} is not a record schema. Each .avsc file must hold one "
            'top-level {"type": "record", ...} object.'
        )
    topic = doc.get(TOPIC_PROPERTY)
    if not isinstance(topic, str) or not topic:
        raise SchemaError(
            f"Avro schema {path} has no {TOPIC_PROPERTY!r} property. Add a top-level "
            f'"{TOPIC_PROPERTY}": "<topic name>" naming the Kafka topic the record is '
            "produced to."
        )
    try:
        parsed: Any = fastavro.parse_schema(doc)
    except Exception as exc:
        raise _parse_error(path, doc, exc) from exc
    canonical = to_parsing_canonical_form(parsed)
    fp = canonical_fingerprint(canonical)
    return SchemaEntry(
        name=parsed["name"],
        topic=topic,
        domain=domain,
        path=path,
        raw=text,
        parsed=parsed,
        canonical=canonical,
        fingerprint=fp,
        shared=domain == SHARED_DIR,
    )


class SchemaSet:
    """Record schemas indexed by full name, topic and fingerprint; loaded once."""

    def __init__(self, entries: Iterable[SchemaEntry]) -> None:
        self._by_name: dict[str, SchemaEntry] = {}
        self._by_topic: dict[str, SchemaEntry] = {}
        self._by_fp: dict[bytes, SchemaEntry] = {}
        for e in entries:
            other = self._by_topic.get(e.topic)
            if other is not None:
                raise SchemaError(
                    f"Avro schemas {other.path} and {e.path} both serve topic {e.topic!r}. "
                    "Give each record schema its own topic."
                )
            self._by_topic[e.topic] = e
            named = self._by_name.get(e.name)
            if named is not None and not (named.shared and e.shared):
                raise SchemaError(
                    f"Avro schemas {named.path} and {e.path} share the full name {e.name!r}. "
                    "Give each record schema its own name (or namespace)."
                )
            self._by_name.setdefault(e.name, e)
            self._by_fp.setdefault(e.fingerprint, e)

    @classmethod
    def load(cls, roots: Path | Sequence[Path], domains: Iterable[str] | None = None) -> SchemaSet:
        """Read ``<root>/<domain>/*.avsc`` of every root; instantiate ``_shared`` schemas for
        ``domains`` (default: every domain folder found); a domain's own schema on a shared topic
        (its ground truth with more fields) replaces the template."""
        root_list = [roots] if isinstance(roots, Path) else list(roots)
        if not any(r.is_dir() for r in root_list):
            raise SchemaError(
                f"schema folder {root_list[0]} does not exist. Point SIMCTL_HOME at a folder "
                "holding schemas/<domain>/*.avsc."
            )
        entries: list[SchemaEntry] = []
        shared: dict[str, SchemaEntry] = {}
        found: list[str] = []
        for root in root_list:
            if not root.is_dir():
                continue
            for domain_dir in sorted(p for p in root.iterdir() if p.is_dir()):
                for path in sorted(domain_dir.glob("*.avsc")):
                    entry = load_entry(path, domain_dir.name)
                    if entry.shared:
                        shared.setdefault(path.name, entry)
                    else:
                        entries.append(entry)
                if domain_dir.name != SHARED_DIR and domain_dir.name not in found:
                    found.append(domain_dir.name)
        own = {e.topic for e in entries}
        for domain in domains if domains is not None else found:
            for template in shared.values():
                topic = template.topic.format(domain=domain)
                if topic in own:
                    continue  # the domain's own version (a ground truth with more fields)
                entries.append(replace(template, topic=topic, domain=domain))
        return cls(entries)

    def __iter__(self) -> Iterator[SchemaEntry]:
        return iter(self._by_topic.values())

    def __len__(self) -> int:
        return len(self._by_topic)

    def __contains__(self, topic: object) -> bool:
        return topic in self._by_topic

    @property
    def topics(self) -> list[str]:
        """Every topic served by a schema of the set."""
        return list(self._by_topic)

    def by_name(self, name: str) -> SchemaEntry:
        """The schema of a full record name."""
        try:
            return self._by_name[name]
        except KeyError:
            raise SchemaError(
                f"no Avro schema named {name!r}; known: {sorted(self._by_name)}"
            ) from None

    def for_topic(self, topic: str) -> SchemaEntry:
        """The schema of the records produced to ``topic``."""
        try:
            return self._by_topic[topic]
        except KeyError:
            raise SchemaError(
                f"no Avro schema serves topic {topic!r}; add {TOPIC_PROPERTY!r} to its .avsc "
                f"file. Known topics: {sorted(self._by_topic)}"
            ) from None

    def get(self, topic: str) -> SchemaEntry | None:
        """The schema of ``topic``, or None."""
        return self._by_topic.get(topic)

    def by_fingerprint(self, fp: bytes) -> SchemaEntry | None:
        """The schema of an 8-byte CRC-64-AVRO fingerprint (little-endian), if known."""
        return self._by_fp.get(bytes(fp))
