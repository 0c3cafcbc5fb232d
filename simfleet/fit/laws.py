"""One field's law, fitted from its values: what kind of field it is, its generator in the
pack language, its Avro type and what the fit report says about it.

Privacy: an identifier or a free-text value is never written; a categorical value is written
only when seen at least ``k`` times (rarer ones fall into ``other``); free text and contact
fields are drawn from a fixed Faker list made here, never from the data.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from faker import Faker

from simfleet.fit.numeric import ks_one, norm_cdf

__all__ = ["OTHER", "FieldFit", "fit_field", "id_prefix", "is_id_name", "made_up"]

OTHER = "other"  # the value rare categories become: generated anew, never copied
_ID_NAME = re.compile(r"(^id$|_id$|[a-z]Id$|_key$|uuid|guid|_ref$|^key$)")
_ID_VALUE = re.compile(r"^[A-Za-z]{0,8}[-_:.]?[0-9A-Za-z][0-9A-Za-z_:.-]*$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_MAX_CATEGORIES = 200
_QUANTILE_POINTS = 41


@dataclass
class FieldFit:
    """A field's fitted law: ``kind``, its generator (None: given by the build), Avro type."""

    name: str
    kind: str  # id | categorical | bool | numeric | text | time | null | skipped
    gen: dict[str, Any] | None
    avro: Any
    report: dict[str, Any] = field(default_factory=dict)
    distinct_share: float = 0.0  # distinct values / non-null values (ids: seq-like near 1)


def is_id_name(name: str) -> bool:
    """Whether a field's name says it holds an identifier (user_id, orderId, uuid...)."""
    return bool(_ID_NAME.search(name))


def id_prefix(values: list[str], fallback: str) -> str:
    """The letters every id starts with (``cus`` of cus_0042), else ``fallback``'s first
    three: a shared prefix names the kind, not an entity, so it is no recorded id."""
    m = [re.match(r"^([A-Za-z]{2,8})[-_:]", v) for v in values[:500]]
    heads = {x.group(1) for x in m if x is not None}
    if len(heads) == 1 and all(x is not None for x in m):
        return heads.pop().lower()
    letters = re.sub(r"[^a-z]", "", fallback.lower())
    return (letters or "id")[:3]


def made_up(kind: str, n: int = 20, seed: int = 0) -> list[str]:
    """``n`` values made by Faker (seeded): what free text and contact fields are drawn
    from, so no recorded value reaches the pack."""
    fake = Faker()
    fake.seed_instance(seed)
    makers: dict[str, Callable[[], Any]] = {
        "email": fake.email,
        "ip": fake.ipv4_public,
        "url": fake.url,
        "name": fake.name,
        "phone": fake.phone_number,
        "user_agent": fake.user_agent,
        "country": fake.country_code,
        "city": fake.city,
    }
    make = makers.get(kind, lambda: fake.sentence(nb_words=6))
    return sorted({str(make()) for _ in range(n * 2)})[:n]


def _avro(base: Any, nullable: bool) -> Any:
    return ["null", base] if nullable else base


def _text_kind(name: str, values: list[str]) -> str:
    low = name.lower()
    sample = values[:200]
    if all(_EMAIL.match(v) for v in sample) or "email" in low:
        return "email"
    if all(_IPV4.match(v) for v in sample) or low.endswith("ip") or "ip_address" in low:
        return "ip"
    for word in ("url", "user_agent", "phone", "name", "city", "country"):
        if word in low:
            return word
    return "text"


def _numeric(name: str, x: npt.NDArray[np.float64], is_int: bool, null_rate: float) -> FieldFit:
    """lognormal, normal, or (neither fits) the empirical quantile law."""
    n = len(x)
    rep: dict[str, Any] = {"n": n, "min_seen_share": 0.0}
    base: dict[str, Any]
    # a named law only when it is as close as a sample of it would be (KS at ~25 %): a
    # near miss costs more in a regenerated marginal than the quantile law does
    crit = 1.0 / math.sqrt(max(n, 1)) + 0.01
    ks_ln = ks_n = 1.0
    if n >= 20 and np.all(x > 0):
        lx = np.log(x)
        mu, sd = float(lx.mean()), float(lx.std()) or 1e-6
        ks_ln = ks_one(lx, lambda v: norm_cdf((v - mu) / sd))
    if n >= 20:
        m, s = float(x.mean()), float(x.std()) or 1e-6
        ks_n = ks_one(x, lambda v: norm_cdf((v - m) / s))
    distinct = len(np.unique(x))
    if is_int and distinct <= 3:
        ks_ln = ks_n = 1.0  # a flag or a tiny count: the quantile law keeps its steps
    if ks_ln <= crit and ks_ln <= ks_n:
        lx = np.log(x)
        base = {"lognormal": [round(float(lx.mean()), 6), round(float(lx.std()), 6)]}
        rep.update(law="lognormal", ks=round(ks_ln, 4))
    elif ks_n <= crit:
        base = {"normal": [_sig(float(x.mean())), _sig(float(x.std()))]}
        rep.update(law="normal", ks=round(ks_n, 4))
    else:
        probs = np.linspace(0.0, 1.0, _QUANTILE_POINTS)
        # the ends at 0.5 % and 99.5 %: no single extreme value is written
        probs[0], probs[-1] = 0.005, 0.995
        q = np.quantile(x, probs)
        if is_int:
            # a count's steps: each integer owns [v - 0.5, v + 0.5) of the interpolated law
            q = q + np.linspace(-0.5, 0.5, len(q)) * (q[-1] > q[0])
        base = {"quantiles": [_sig(float(v)) for v in np.maximum.accumulate(q)]}
        rep.update(law="quantiles", ks_lognormal=round(ks_ln, 4), ks_normal=round(ks_n, 4))
    if not is_int:
        dec = _decimals(x)
        if dec is not None:
            base["round"] = dec
    if np.all(x >= 0) and "normal" in base:
        base["min"] = 0
    if null_rate > 0:
        base["null_rate"] = round(null_rate, 4)
    rep["deciles_seen"] = [_sig(float(v)) for v in np.quantile(x, np.linspace(0.1, 0.9, 9))]
    return FieldFit(
        name,
        "numeric",
        base,
        _avro("long" if is_int else "double", null_rate > 0),
        rep,
        distinct / max(n, 1),
    )


def _sig(v: float) -> float:
    return float(f"{v:.6g}")


def _decimals(x: npt.NDArray[np.float64]) -> int | None:
    for d in range(0, 5):
        if np.allclose(np.round(x[:1000], d), x[:1000], rtol=0, atol=1e-9):
            return d
    return None


def fit_field(name: str, values: list[Any], k: int, seed: int = 0) -> FieldFit:  # noqa: PLR0911 - one return per kind of field, read top to bottom
    """The law of one field from its values across a topic's records (None: null)."""
    n = len(values)
    present = [v for v in values if v is not None]
    null_rate = 1 - len(present) / n if n else 1.0
    nullable = null_rate > 0
    if not present:
        return FieldFit(
            name,
            "null",
            {"const": None, "null_rate": 1.0},
            ["null", "string"],
            {"law": "always null"},
        )
    if any(isinstance(v, dict | list) for v in present):
        return FieldFit(name, "skipped", None, None, {"law": "nested: not generated"})
    if all(isinstance(v, bool) for v in present):
        p = sum(present) / len(present)
        gen: dict[str, Any] = {"bernoulli": round(p, 4)}
        if nullable:
            gen["null_rate"] = round(null_rate, 4)
        return FieldFit(name, "bool", gen, _avro("boolean", nullable), {"law": "bernoulli", "p": p})
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        x = np.asarray(present, dtype=np.float64)
        is_int = all(isinstance(v, int) for v in present)
        return _numeric(name, x, is_int, null_rate)
    strings = [str(v) for v in present]
    counts = Counter(strings)
    distinct_share = len(counts) / len(strings)
    sample = strings[:500]
    id_like = is_id_name(name) or (
        len(counts) > 50
        and all(
            _UUID.match(v) or (_ID_VALUE.match(v) and any(c.isdigit() for c in v)) for v in sample
        )
    )
    if id_like:
        return FieldFit(
            name,
            "id",
            None,
            _avro("string", nullable),
            {"law": "identifier", "distinct": len(counts), "format": _format(sample)},
            distinct_share,
        )
    kept = {v: c for v, c in counts.items() if c >= k}
    covered = sum(kept.values()) / len(strings)
    if kept and len(kept) <= _MAX_CATEGORIES and covered >= 0.5:
        values_out = sorted(kept, key=lambda v: (-kept[v], v))
        weights = [kept[v] / len(strings) for v in values_out]
        rest = 1 - covered
        if rest > 0:
            values_out.append(OTHER)
            weights.append(rest)
        gen = {"choice": values_out, "weights": [round(w, 5) for w in weights]}
        if len(values_out) == 1:
            gen = {"const": values_out[0]}
        if nullable:
            gen["null_rate"] = round(null_rate, 4)
        return FieldFit(
            name,
            "categorical",
            gen,
            _avro("string", nullable),
            {
                "law": "choice",
                "kept": len(kept),
                "dropped_rare": len(counts) - len(kept),
                "other_share": round(rest, 5),
            },
            distinct_share,
        )
    kind = _text_kind(name, strings)
    made = made_up(kind, seed=seed)
    gen = {"choice": made}
    if nullable:
        gen["null_rate"] = round(null_rate, 4)
    return FieldFit(
        name,
        "text",
        gen,
        _avro("string", nullable),
        {
            "law": f"free text ({kind}): drawn from {len(made)} made-up values",
            "distinct": len(counts),
        },
        distinct_share,
    )


def _format(sample: list[str]) -> str:
    """A recorded id's shape without its characters: uuid, or letters-digits lengths."""
    if all(_UUID.match(v) for v in sample):
        return "uuid"
    lengths = sorted({len(v) for v in sample})
    shape = re.sub(r"[0-9]", "9", re.sub(r"[A-Za-z]", "a", sample[0]))
    return f"like {shape!r}, {lengths[0]}-{lengths[-1]} characters"
