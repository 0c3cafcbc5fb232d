"""`simctl init`: a starter pack from Avro schemas (a folder, or a schema registry).

One stream per value schema at a flat rate; the key is the key subject's field or the first
id-like field; each field's generator is guessed from its Avro type, logical type and name;
an id field that several schemas share is one entity pool. Every guess is listed.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from simfleet.errors import ConfigError
from simfleet.fit.build import scenarios_for
from simfleet.fit.laws import id_prefix, is_id_name, made_up
from simfleet.fit.write import Validate, check_domain_name, write_pack

__all__ = ["infer_pack", "read_registry", "read_schema_dir", "run_init"]

_COUNTRIES = ["US", "GB", "DE", "FR", "IN", "BR", "SA", "AE", "JP", "CA"]
_CONTACT = ("email", "ip", "user_agent", "phone", "url", "name", "city")
_KINDS = {"long": "int", "int": "int", "double": "float", "float": "float", "boolean": "bool",
          "string": "str"}  # fmt: skip


def read_schema_dir(folder: Path) -> dict[str, tuple[dict[str, Any], str | None]]:
    """Topic -> (value schema, key field) for every .avsc under ``folder``."""
    if not folder.is_dir():
        raise ConfigError(
            f"--from-schemas {folder} is not a folder; give the folder of .avsc files."
        )
    out: dict[str, tuple[dict[str, Any], str | None]] = {}
    for p in sorted(folder.rglob("*.avsc")):
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"{p}: not a JSON Avro schema ({exc}). Fix or remove the file."
            ) from exc
        if not isinstance(doc, dict) or doc.get("type") != "record":
            raise ConfigError(f'{p}: a stream\'s schema is an Avro record (`"type": "record"`).')
        topic = str(doc.get("simfleet.topic") or p.stem)
        out[topic] = (doc, None)
    if not out:
        raise ConfigError(f"--from-schemas {folder} holds no .avsc file.")
    return out


def read_registry(client: Any, subjects: str) -> dict[str, tuple[dict[str, Any], str | None]]:
    """Topic -> (value schema, key field) for the registry's subjects matching ``subjects``."""
    names = sorted(client.get_subjects())
    out: dict[str, tuple[dict[str, Any], str | None]] = {}
    for subj in names:
        if not fnmatch.fnmatchcase(subj, subjects) or not subj.endswith("-value"):
            continue
        topic = subj[: -len("-value")]
        doc = json.loads(client.get_latest_version(subj).schema.schema_str)
        if not isinstance(doc, dict) or doc.get("type") != "record":
            continue
        key = None
        if f"{topic}-key" in names:
            kdoc = json.loads(client.get_latest_version(f"{topic}-key").schema.schema_str)
            if isinstance(kdoc, dict) and len(kdoc.get("fields", [])) == 1:
                key = kdoc["fields"][0]["name"]
        out[topic] = (doc, key)
    if not out:
        raise ConfigError(
            f"--subjects {subjects!r} matches no value subject (<topic>-value with an Avro "
            f"record) of the registry; it holds {', '.join(names[:10]) or 'none'}."
        )
    return out


def _base(t: Any) -> tuple[Any, bool]:
    """The non-null branch of a union, and whether null is allowed."""
    if isinstance(t, list):
        rest = [b for b in t if b != "null"]
        return (rest[0] if len(rest) == 1 else None), len(rest) < len(t)
    return t, False


def _kind(t: Any) -> tuple[str | None, str | None, list[str] | None]:
    """(kind, logical type, enum symbols) of a field type; kind None: not generated."""
    if isinstance(t, dict):
        if t.get("type") == "enum":
            return "str", None, list(t.get("symbols", []))
        return _KINDS.get(str(t.get("type"))), t.get("logicalType"), None
    return _KINDS.get(str(t)) if t is not None else None, None, None


def _contact(name: str) -> str | None:
    low = name.lower()
    if "email" in low:
        return "email"
    if low in ("ip", "ip_address", "client_ip", "remote_ip") or low.endswith("_ip"):
        return "ip"
    return next((w for w in _CONTACT[2:] if w in low), None)


# Guesses by kind: (words any of which the lower-case name holds, generator, why), first match;
# the last rule of a kind has no words and always matches.
_AMOUNT = ("amount", "price", "total", "cost", "revenue", "fee", "value", "balance", "spend")
_RULES: dict[str, list[tuple[tuple[str, ...], dict[str, Any], str]]] = {
    "bool": [((), {"bernoulli": 0.5}, "a flag: half true")],
    "int": [
        (("_at", "_time", "_ts"), {"after": {"uniform": ["0s", "1h"]}},
         "an instant: within an hour after the event"),
        (("quantity", "qty", "count", "items", "num"), {"poisson": 2, "min": 1},
         "a count: Poisson, mean 2, at least 1"),
        (("ms", "duration", "latency", "seconds"), {"lognormal": [5.0, 1.0]},
         "a duration: lognormal, median e^5"),
        (("age",), {"integers": [18, 80]}, "an age: 18-80"),
        ((), {"integers": [0, 100]}, "a number: 0-100"),
    ],
    "float": [
        (_AMOUNT, {"lognormal": [3.5, 0.8], "round": 2}, "an amount: lognormal, median 33"),
        (("latitude",), {"uniform": [-60.0, 70.0]}, "a latitude"),
        (("longitude", "lng"), {"uniform": [-180.0, 180.0]}, "a longitude"),
        (("rate", "ratio", "share", "pct", "percent", "score", "prob"), {"uniform": [0.0, 1.0]},
         "a share: 0-1"),
        ((), {"lognormal": [2.0, 1.0]}, "a positive number: lognormal"),
    ],
    "str": [
        (("country",), {"choice": _COUNTRIES}, "a country code"),
        (("currency",), {"choice": ["USD", "EUR", "GBP"], "weights": [0.6, 0.3, 0.1]},
         "a currency"),
    ],
}  # fmt: skip


def _guess(name: str, kind: str, logical: str | None) -> tuple[dict[str, Any], str]:
    """A generator for a field by its kind, logical type and name, and why."""
    low = name.lower()
    if kind == "int" and logical and "timestamp" in logical:
        low += "_at"  # a timestamp logical type is an instant whatever its name
    for words, gen, why in _RULES.get(kind, []):
        if not words or any(w in low for w in words):
            return json.loads(json.dumps(gen)), why
    return {"choice": [f"{low}_{i}" for i in (1, 2, 3)]}, "a category: three placeholder values"


def infer_pack(
    domain: str, schemas: dict[str, tuple[dict[str, Any], str | None]], rate: float
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[str]]:
    """The pack, its schemas (the user's, retargeted) and the list of guesses."""
    guesses: list[str] = []
    prefix = {t.split(".", 1)[0] for t in schemas}
    strip = len(schemas) > 1 and len(prefix) == 1 and all("." in t for t in schemas)
    streams_of = {t: re.sub(r"[^A-Za-z0-9_.]+", "_", t.split(".", 1)[1] if strip else t)
                  for t in schemas}  # fmt: skip
    seen = Counter(
        f["name"]
        for doc, _ in schemas.values()
        for f in doc.get("fields", [])
        if is_id_name(f["name"]) and _kind(_base(f["type"])[0])[0] == "str"
    )
    entities: dict[str, Any] = {}
    pack_streams: dict[str, Any] = {}
    out_schemas: dict[str, dict[str, Any]] = {}
    for topic, (doc, key_hint) in schemas.items():
        s = streams_of[topic]
        fields = [f for f in doc.get("fields", []) if f["name"] not in ("event_id", "occurred_at")]
        names = [f["name"] for f in fields]
        ids = [n for n in names if is_id_name(n)]
        key = key_hint if key_hint in names else (ids[0] if ids else "event_id")
        gens: dict[str, Any] = {}
        gen: dict[str, Any]
        kept: list[dict[str, Any]] = []
        entity_of: str | None = None
        for f in fields:
            base, nullable = _base(f["type"])
            kind, logical, symbols = _kind(base)
            name = f["name"]
            if kind is None:
                guesses.append(
                    f"{s}.{name}: type {json.dumps(f['type'])} cannot be generated; "
                    "left out of the pack's schema (give it a default in yours)"
                )
                continue
            kept.append(f)
            if symbols is not None:
                gen, why = {"choice": symbols}, "an enum: its symbols, equally likely"
            elif kind == "str" and is_id_name(name) and (seen[name] > 1 or name != key):
                kind_name = re.sub(r"(_id|Id|_key|_ref)$", "", name).lower() or name.lower()
                entities.setdefault(
                    kind_name,
                    {"count": 1000, "prefix": id_prefix([], kind_name), "activity_sigma": 1.0},
                )
                gen, why = {"entity": kind_name}, f"an id: entity pool `{kind_name}` (1,000)"
                entity_of = entity_of or name
            elif kind == "str" and (is_id_name(name) or logical == "uuid"):
                gen, why = {"seq": id_prefix([], name)}, "a new id per event"
            elif kind == "str" and _contact(name):
                gen, why = {"choice": made_up(_contact(name) or "text")}, "made-up values (Faker)"
            else:
                gen, why = _guess(name, kind, logical)
            if nullable:
                gen["null_rate"] = 0.05
                why += ", 5 % null"
            gens[name] = gen
            guesses.append(f"{s}.{name}: {json.dumps(gen)[:70]} ({why})")
        body: dict[str, Any] = {
            "description": str(doc.get("doc") or f"from schema {topic}"),
            "key": key,
            "rate": rate,
            "fields": gens,
        }
        pack_streams[s] = body
        guesses.append(f"{s}: key {key}, {rate:g} event(s) per second")
        schema = {k: v for k, v in doc.items() if k != "fields"}
        schema["simfleet.topic"] = f"{domain}.{s}"
        implicit: list[dict[str, Any]] = [
            {"name": "event_id", "type": "string"},
            {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        ]
        have = {f["name"]: f for f in doc.get("fields", [])}
        schema["fields"] = [have.get(x["name"], x) for x in implicit] + kept
        out_schemas[s] = schema
    pack: dict[str, Any] = {
        "domain": domain,
        "description": f"A starter pack from {len(schemas)} schemas (simctl init): edit it.",
        "entities": entities or {"event": {"count": 1, "prefix": "evt", "activity_sigma": 0.0}},
        "streams": pack_streams,
    }
    return pack, out_schemas, guesses


def _own_names(domain: str, schemas: dict[str, dict[str, Any]]) -> list[str]:
    """Move a record whose full name the project already uses to namespace
    ``simfleet.<domain>``: readers match records by their unqualified name, so the user's
    own schema still reads the records."""
    from simfleet.domain.pack import Project  # noqa: PLC0415 - loads every schema

    taken = {e.name for e in Project().schemas()}
    notes = []
    for s, doc in schemas.items():
        full = f"{doc['namespace']}.{doc['name']}" if doc.get("namespace") else str(doc["name"])
        if full in taken:
            doc["namespace"] = f"simfleet.{domain}"
            notes.append(
                f"{s}: record {full} is already a project schema's name; namespace "
                f"simfleet.{domain} in the pack (your schema still reads the records)"
            )
    return notes


def run_init(
    domain: str,
    out: Path,
    folder: Path | None,
    registry: str | None,
    subjects: str,
    rate: float,
    validate: Validate,
    client: Any = None,
) -> list[str]:
    """Write the starter pack and validate it; the lines to print (the guesses first)."""
    check_domain_name(domain, out)
    if rate <= 0:
        raise ConfigError(f"--rate {rate}: give a rate above 0 (events per second).")
    if folder is not None:
        schemas = read_schema_dir(folder)
    else:
        if client is None:
            from simfleet.codec.encoder import registry_client  # noqa: PLC0415 - heavy import

            client = registry_client(str(registry))
        schemas = read_registry(client, subjects)
    pack, out_schemas, guesses = infer_pack(domain, schemas, rate)
    guesses += _own_names(domain, out_schemas)
    header = f"# A starter pack written by `simctl init --domain {domain}`: edit the guesses.\n"
    write_pack(out, domain, pack, out_schemas, scenarios_for(domain, pack["streams"]), header)
    problems = validate(out)
    if problems:
        listed = " ".join(f"({i}) {p.line()};" for i, p in enumerate(problems, 1))
        raise ConfigError(f"the starter pack in {out} does not validate: {listed} edit it as said.")
    return [
        f"guessed {len(guesses)} things; edit {out}/producers/{domain}/streams.yaml to change "
        "them:",
        *(f"  {g}" for g in guesses),
        f"validated: {len(out_schemas)} streams. Try: simctl generate --pack-dir {out} "
        f"--domain {domain} --start 2026-03-02T00:00:00Z --duration 1h --out gen/",
    ]
