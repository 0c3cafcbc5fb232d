"""`simctl fit`: a pack, its schemas, a `normal` scenario and a fit report from a source.

Per stream: the rate by hour of week (``rates``), each field's law (``laws``); across
streams: entity pools for id fields drawn again and again (``entities``) and follow-up chains
(``links``). Rates are the parameters ``<domain>.<stream>.rate`` and each chain's
probability a parameter ``<parent>.to.<child>``, so scenarios move both.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simfleet.fit.entities import fit_pool
from simfleet.fit.laws import FieldFit, fit_field, id_prefix
from simfleet.fit.links import Link, find_links, prefer_shape
from simfleet.fit.rates import fit_rate
from simfleet.fit.source import MIN_MS, SHARED_STREAMS, Topic, as_ms
from simfleet.fit.write import record_name
from simfleet.timeutil import format_ms

__all__ = ["Fitted", "fit_topics"]

_UNIQUE = 0.9  # distinct ids / events at or above which an id names the event itself
_TIME_NAME = re.compile(r"(_at$|_time$|_ts$|^ts$|time$|date$)")


@dataclass
class Fitted:
    """A fitted pack: the streams.yaml document, schemas, scenarios and the report."""

    pack: dict[str, Any]
    schemas: dict[str, dict[str, Any]]
    scenarios: dict[str, dict[str, Any]]
    report: dict[str, Any]
    start: int
    end: int
    notes: list[str] = field(default_factory=list)


def stream_names(topics: list[Topic]) -> dict[str, str]:
    """Topic -> stream: a prefix every topic shares (``shop.``) is the old domain's, dropped."""
    names = [t.name for t in topics]
    heads = {n.split(".", 1)[0] for n in names}
    strip = len(names) > 1 and len(heads) == 1 and all("." in n for n in names)
    out = {}
    for n in names:
        s = n.split(".", 1)[1] if strip else n
        out[n] = re.sub(r"[^A-Za-z0-9_.]+", "_", s).strip("._") or "events"
    return out


def _instants(fit: FieldFit, values: list[Any], times: np.ndarray, avro: Any) -> bool:
    """Whether a field holds instants (a name like *_at, or a timestamp logical type)."""
    logical = isinstance(avro, dict) and "timestamp" in str(avro.get("logicalType", ""))
    logical = logical or (
        isinstance(avro, list)
        and any(isinstance(b, dict) and "timestamp" in str(b.get("logicalType", "")) for b in avro)
    )
    present = [v for v in values[:500] if v is not None]
    if not present or not all(as_ms(v) is not None for v in present):
        return False
    # epoch-ms numbers (2000-2096) are instants whatever the name; text and seconds by name
    ms = all(isinstance(v, int) and MIN_MS <= v < 4e12 for v in present)
    return logical or ms or bool(_TIME_NAME.search(fit.name))


def _after_law(values: list[Any], times: np.ndarray) -> dict[str, Any]:
    off = np.array(
        [
            as_ms(v) - t
            for v, t in zip(values, times.tolist(), strict=True)
            if v is not None and as_ms(v) is not None
        ],
        dtype=np.float64,
    )
    lo, hi = np.quantile(off, [0.05, 0.95]) if len(off) else (0.0, 0.0)
    return {"after": {"uniform": [_signed(lo), _signed(max(hi, lo))]}}


def _signed(ms: float) -> str:
    v = round(float(ms))
    return f"-{-v}ms" if v < 0 else f"{v}ms"


def _schema_fields(topic: Topic) -> dict[str, Any]:
    if topic.schema is None:
        return {}
    return {f["name"]: f["type"] for f in topic.schema.get("fields", [])}


def fit_topics(
    topics: list[Topic],
    domain: str,
    k: int = 5,
    key_field: str | None = None,
    known_keys: dict[str, str] | None = None,
) -> Fitted:
    """Fit every topic (but the shared ones every simfleet domain has) into one pack."""
    names = stream_names(topics)
    notes: list[str] = []
    kept = []
    for t in topics:
        if names[t.name] in SHARED_STREAMS:
            notes.append(f"{t.name}: skipped (a topic every simfleet domain has)")
        else:
            kept.append(t)
    topics = kept
    start = int(min(int(t.times[0]) for t in topics)) // 1000 * 1000
    end = int(max(int(t.times[-1]) for t in topics)) + 1
    span_s = (end - start) / 1000
    fits: dict[str, dict[str, FieldFit]] = {}
    values: dict[str, dict[str, list[Any]]] = {}
    streams: dict[str, Topic] = {}
    for t in topics:
        s = names[t.name]
        streams[s] = t
        order = list(dict.fromkeys(k2 for r in t.records[:2000] for k2 in r))
        skip = {"event_id", "occurred_at"}
        values[s] = {f: [r.get(f) for r in t.records] for f in order if f not in skip}
        avro = _schema_fields(t)
        fits[s] = {}
        for f, vals in values[s].items():
            ff = fit_field(f, vals, k)
            recorded_text = "string" in json.dumps(avro.get(f, ""))  # a schema says text
            if (
                not recorded_text
                and ff.kind in ("numeric", "text", "categorical")
                and _instants(ff, vals, t.times, avro.get(f))
            ):
                nullable = any(v is None for v in vals)
                gen = _after_law(vals, t.times)
                if f == t.time_field:
                    gen = {"after": {"uniform": ["0ms", "0ms"]}}
                ts = {"type": "long", "logicalType": "timestamp-millis"}
                ff = FieldFit(
                    f,
                    "time",
                    gen,
                    ["null", ts] if nullable else ts,
                    {"law": "instant after occurred_at"},
                )
                if nullable:
                    ff.gen = {**gen, "null_rate": round(vals.count(None) / len(vals), 4)}
            fits[s][f] = ff
    # id fields: one id per event (it names the event: a seq, or what a follow-up points to)
    ids = {
        s: {f: values[s][f] for f, ff in fs.items() if ff.kind == "id"} for s, fs in fits.items()
    }
    unique = {
        s: {f for f, ff in fs.items() if ff.kind == "id" and ff.distinct_share >= _UNIQUE}
        for s, fs in fits.items()
    }
    links = find_links({s: streams[s].times for s in streams}, ids, unique, end)
    parent_of = {ln.child: ln for ln in links}
    repeated = {
        f
        for s, fs in fits.items()
        for f, ff in fs.items()
        if ff.kind == "id" and ff.distinct_share < _UNIQUE
    }
    via_fields = {ln.via for ln in links}
    kinds = {f: _kind_name(f) for f in repeated - via_fields}
    # entity pools: every id field drawn again and again (the same name is one population)
    entities: dict[str, Any] = {}
    pools_report: dict[str, Any] = {}
    for f, kind in sorted(kinds.items()):
        counts: Counter[Any] = Counter()
        samples: list[str] = []
        for s in fits:
            if f in ids[s] and not _carried(s, f, parent_of, fits):
                vals = [v for v in ids[s][f] if v is not None]
                counts.update(vals)
                samples += [str(v) for v in vals[:200]]
        if not counts:
            continue
        pool = fit_pool(np.array(list(counts.values()), dtype=np.int64))
        entities[kind] = {
            "count": int(pool.count),
            "prefix": id_prefix(samples, kind),
            "activity_sigma": pool.sigma,
        }
        pools_report[kind] = {
            "field": f,
            "seen": pool.seen,
            "count": pool.count,
            "activity_sigma": pool.sigma,
            "top10_share": round(pool.top10_share, 4),
        }
    parameters: dict[str, float] = {}
    profiles: dict[str, Any] = {}
    pack_streams: dict[str, Any] = {}
    report_streams: dict[str, Any] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for s, t in streams.items():
        link = parent_of.get(s)
        own_rate = link is None or link.residual >= max(k, 0.02 * len(t.records))
        rf = fit_rate(t.times, start, end)
        body: dict[str, Any] = {"description": f"fitted from topic {t.name}"}
        key = _key(s, t, fits[s], key_field, known_keys, link)
        body["key"] = key
        if own_rate:
            share = 1.0 if link is None else link.residual / len(t.records)
            body["rate"] = float(f"{rf.rate * share:.6g}")
            profiles[s] = {"diurnal": rf.diurnal, "weekly": rf.weekly}
            if rf.growth_per_month:
                profiles[s]["growth_per_month"] = rf.growth_per_month
            body["profile"] = s
        gens: dict[str, Any] = {}
        parent_fields = set(fits[link.parent]) if link is not None else set()
        for f, ff in fits[s].items():
            if ff.kind == "skipped":
                continue
            if not own_rate and (f in parent_fields or f == link.via):  # type: ignore[union-attr]
                continue  # carried from the cause
            if ff.kind == "id":
                if f in kinds and kinds[f] in entities:
                    gens[f] = {"entity": kinds[f]}
                else:
                    gens[f] = {"seq": id_prefix([str(v) for v in ids[s][f][:200] if v], f)}
                if any(v is None for v in ids[s][f]):
                    share = sum(v is None for v in ids[s][f]) / len(ids[s][f])
                    gens[f]["null_rate"] = round(share, 4)
            elif ff.gen is not None:
                gens[f] = ff.gen
        body["fields"] = gens
        pack_streams[s] = body
        schemas[s] = _schema(domain, s, t, fits[s])
        report_streams[s] = {
            "topic": t.name,
            "rate": rf.report,
            "own_rate": own_rate,
            "key": key,
            "fields": {f: {"kind": ff.kind, **ff.report} for f, ff in fits[s].items()},
        }
    for ln in links:
        param = f"{ln.parent}.to.{ln.child}"
        parameters[param] = round(ln.probability, 4)
        delay = dict(ln.delay)
        shape = prefer_shape(streams[ln.parent].times, ln, streams[ln.child].times, start, end)
        if shape is not None:
            name = f"{ln.child}.hours"
            profiles[name] = {"diurnal": shape[0], "weekly": shape[1]}
            delay["prefer"] = name
            parameters[param] = round(min(1.0, ln.probability * shape[2]), 4)
            report_streams[ln.child].setdefault("notes", []).append(
                f"delay prefers the hours of {name}; probability x {shape[2]:.3f} to keep the "
                "count seen within the window"
            )
        pack_streams[ln.parent].setdefault("then", []).append(
            {"to": ln.child, "probability": param, "delay": delay}
        )
        report_streams[ln.child]["follows"] = {
            "parent": ln.parent,
            "probability": round(ln.probability, 4),
            **ln.report,
        }
    pack: dict[str, Any] = {
        "domain": domain,
        "description": f"Fitted by simctl fit from {len(streams)} topics, "
        f"{format_ms(start)[:19]}Z to {format_ms(end)[:19]}Z.",
        "growth_reference": format_ms(start)[:19] + "Z",
        "entities": entities or {"event": {"count": 1, "prefix": "evt", "activity_sigma": 0.0}},
        "profiles": profiles,
        "parameters": parameters,
        "streams": pack_streams,
    }
    report = {
        "domain": domain,
        "span": {
            "start": format_ms(start)[:23] + "Z",
            "end": format_ms(end)[:23] + "Z",
            "seconds": span_s,
        },
        "privacy": {
            "min_count": k,
            "note": "no id or free-text value is written; categorical "
            f"values seen fewer than {k} times became `other`",
        },
        "entities": pools_report,
        "streams": report_streams,
        "notes": notes,
    }
    return Fitted(pack, schemas, scenarios_for(domain, pack_streams), report, start, end, notes)


def _kind_name(f: str) -> str:
    base = re.sub(r"(_id|Id|_key|_ref)$", "", f) or f
    return re.sub(r"[^a-z0-9_]", "_", base.lower())


def _carried(
    s: str, f: str, parent_of: dict[str, Link], fits: dict[str, dict[str, FieldFit]]
) -> bool:
    link = parent_of.get(s)
    return link is not None and f in fits[link.parent]


def _key(
    s: str,
    t: Topic,
    fits: dict[str, FieldFit],
    given: str | None,
    known: dict[str, str] | None,
    link: Link | None,
) -> str:
    if given and given in fits:
        return given
    if known and t.name in known and known[t.name] in fits:
        return known[t.name]
    if t.keys is not None:
        for f in fits:
            vals = [t.records[i].get(f) for i in range(min(500, len(t.records)))]
            if all(str(v) == kk for v, kk in zip(vals, t.keys[:500], strict=False)):
                return f
    if link is not None:
        return link.via
    idf = [f for f, ff in fits.items() if ff.kind == "id"]
    return idf[0] if idf else "event_id"


def _schema(domain: str, s: str, t: Topic, fits: dict[str, FieldFit]) -> dict[str, Any]:
    """The recorded schema (retargeted) or one inferred from the fitted fields."""
    fields: list[dict[str, Any]] = [
        {"name": "event_id", "type": "string"},
        {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ]
    recorded = _schema_fields(t)
    for f, ff in fits.items():
        if ff.kind == "skipped":
            continue
        typ = recorded.get(f, ff.avro)
        entry: dict[str, Any] = {"name": f, "type": typ}
        if isinstance(typ, list) and typ and typ[0] == "null":
            entry["default"] = None
        fields.append(entry)
    return {
        "type": "record",
        "name": record_name(s),
        "namespace": f"simfleet.{domain}",
        "doc": f"fitted from topic {t.name}",
        "simfleet.topic": f"{domain}.{s}",
        "fields": fields,
    }


def scenarios_for(domain: str, streams: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A `normal` scenario (moves nothing) and a `surge` that triples every own rate."""
    sid = domain.replace("_", "-")  # scenario ids are lower-case letters, digits and dashes
    normal: dict[str, Any] = {
        "id": f"{sid}-normal",
        "name": f"Normal {domain} traffic",
        "description": "The fitted traffic as recorded; no parameter moves.",
        "domain": domain,
        "phases": [{"name": "normal", "duration": "1d"}],
    }
    rated = [s for s, b in streams.items() if "rate" in b]
    surge: dict[str, Any] = {
        "id": f"{sid}-surge",
        "name": f"{domain} surge",
        "description": "Every stream with a rate of its own at three times its fitted rate for "
        "two hours; follow-ups follow.",
        "domain": domain,
        "phases": [
            {
                "name": "surge",
                "duration": "2h",
                "ramp": "10m",
                "modifiers": [
                    {"target": f"{domain}.{s}.rate", "op": "multiply", "value": 3} for s in rated
                ],
            }
        ],
        "expected_effects": [
            {"stream": f"{domain}.{s}", "direction": "increase", "magnitude": 1.0}
            for s in rated[:3]
        ],
    }
    return {normal["id"]: normal, surge["id"]: surge}
