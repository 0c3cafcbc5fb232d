"""Comparing two sources topic by topic: counts, keys, exact equality, and distributions.

Per topic (names matched after stripping the given prefixes):

- counts, key overlap (Jaccard of the key sets) and exact equality: the multisets of record
  digests (key, value, headers but the ignored ones, timestamp) are equal;
- per numeric field: mean, std, quantiles and the Kolmogorov-Smirnov distance; per categorical
  field (strings with few distinct values, booleans): the total-variation distance; and the
  KS distance of the inter-arrival times.

A topic fails when its count differs by more than ``count`` (relative) and more than
``count_sigmas`` Poisson standard deviations, when a distance is above
its tolerance (only with ``min_samples`` records on both sides), or, with ``exact``, when it is
not identical. A topic one side lacks counts as empty there. Identical topics are not decoded:
every distance is 0.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from simfleet.errors import ConfigError
from simfleet.recording import WALL_CLOCK_HEADER, Source

__all__ = ["Side", "Tolerance", "compare", "ks_distance", "summarize", "tv_distance"]

_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_MAX_CATEGORIES = 200  # more distinct strings than this: an identifier, not a category


class Tolerance(BaseModel):
    """How far two sources may drift before ``simctl diff`` exits 1 (``--tolerance FILE``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: float = 0.05
    count_sigmas: float = 3.0
    ks: float = 0.1
    tv: float = 0.1
    interarrival_ks: float = 0.1
    min_samples: int = 200
    exact: bool = False
    ignore_topics: tuple[str, ...] = ()
    ignore_headers: tuple[str, ...] = (WALL_CLOCK_HEADER,)

    @classmethod
    def load(cls, path: Path | None) -> Tolerance:
        """The defaults, or the YAML file's values over them; a ConfigError naming the key."""
        if path is None:
            return cls()
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"--tolerance {path}: cannot read it as YAML ({exc}).") from exc
        try:
            return cls.model_validate(doc)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ConfigError(
                f"--tolerance {path}: {where}: {err['msg']}. Known keys: "
                f"{', '.join(cls.model_fields)}; e.g. `count: 0.05` and `ks: 0.1`."
            ) from exc


def ks_distance(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    """The two-sample Kolmogorov-Smirnov statistic: the largest gap between the two ECDFs."""
    if len(a) == 0 or len(b) == 0:
        return 0.0 if len(a) == len(b) else 1.0
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


def tv_distance(a: Counter[Any], b: Counter[Any]) -> float:
    """Total-variation distance of two categorical frequency tables."""
    na, nb = sum(a.values()), sum(b.values())
    if na == 0 or nb == 0:
        return 0.0 if na == nb else 1.0
    return min(1.0, 0.5 * sum(abs(a[k] / na - b[k] / nb) for k in set(a) | set(b)))


@dataclass
class Side:
    """What one source holds for one topic."""

    count: int = 0
    keys: set[bytes | None] = field(default_factory=set)
    digests: Counter[bytes] = field(default_factory=Counter)
    timestamps: list[int] = field(default_factory=list)
    numeric: dict[str, list[float]] = field(default_factory=dict)
    categorical: dict[str, Counter[Any]] = field(default_factory=dict)
    undecoded: int = 0


def summarize(
    source: Source, topic: str, ignore_headers: Iterable[str], decode: bool = True
) -> Side:
    """One topic of a source, read once; values decoded for the statistics if ``decode``."""
    skip = set(ignore_headers)
    side = Side()
    for m in source.messages(topic):
        side.count += 1
        side.keys.add(m.key)
        headers = tuple(h for h in m.headers if h[0] not in skip)
        h = hashlib.blake2b(digest_size=16)
        h.update(repr((m.key, m.value, headers, m.timestamp)).encode())
        side.digests[h.digest()] += 1
        side.timestamps.append(m.timestamp)
        if not decode:
            continue
        rec = None if m.value is None else source.decode(m.value)
        if rec is None:
            side.undecoded += 1
            continue
        for name, v in rec.items():
            if isinstance(v, bool | str):
                side.categorical.setdefault(name, Counter())[v] += 1
            elif isinstance(v, int | float):
                side.numeric.setdefault(name, []).append(float(v))
    return side


def _numeric_stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values)
    q = np.quantile(arr, _QUANTILES) if len(arr) else [float("nan")] * len(_QUANTILES)
    return {
        "mean": float(arr.mean()) if len(arr) else float("nan"),
        "std": float(arr.std()) if len(arr) else float("nan"),
        **{f"p{round(p * 100):02d}": float(v) for p, v in zip(_QUANTILES, q, strict=True)},
    }


def compare_topic(a: Side, b: Side, tol: Tolerance) -> dict[str, Any]:
    """The comparison of one topic: figures and the problems beyond tolerance."""
    problems: list[str] = []
    big = max(a.count, b.count)
    rel = abs(a.count - b.count) / big if big else 0.0
    # a count moves by chance too (Poisson): small topics must also differ by count_sigmas
    noise = tol.count_sigmas * float(np.sqrt(a.count + b.count))
    if rel > tol.count and abs(a.count - b.count) > noise:
        problems.append(f"count {a.count} vs {b.count} ({rel:.1%} > {tol.count:.1%})")
    union = a.keys | b.keys
    identical = a.digests == b.digests
    out: dict[str, Any] = {
        "count_a": a.count,
        "count_b": b.count,
        "count_rel_diff": rel,
        "keys_a": len(a.keys),
        "keys_b": len(b.keys),
        "key_overlap": len(a.keys & b.keys) / len(union) if union else 1.0,
        "identical": identical,
        "numeric": {},
        "categorical": {},
    }
    if tol.exact and not identical:
        problems.append("not identical")
    enough = min(a.count, b.count) >= tol.min_samples
    if enough:
        ia = np.diff(np.sort(np.asarray(a.timestamps, np.int64)))
        ib = np.diff(np.sort(np.asarray(b.timestamps, np.int64)))
        d = ks_distance(ia, ib)
        out["interarrival_ks"] = d
        out["interarrival_mean_ms"] = [float(ia.mean()), float(ib.mean())]
        if d > tol.interarrival_ks:
            problems.append(f"inter-arrival KS {d:.3f} > {tol.interarrival_ks:g}")
    for name in sorted(set(a.numeric) | set(b.numeric)):
        va, vb = a.numeric.get(name, []), b.numeric.get(name, [])
        d = ks_distance(np.asarray(va), np.asarray(vb))
        out["numeric"][name] = {"a": _numeric_stats(va), "b": _numeric_stats(vb), "ks": d}
        if enough and d > tol.ks:
            problems.append(f"{name}: KS {d:.3f} > {tol.ks:g}")
    for name in sorted(set(a.categorical) | set(b.categorical)):
        ca, cb = a.categorical.get(name, Counter()), b.categorical.get(name, Counter())
        distinct = max(len(ca), len(cb))
        if distinct > _MAX_CATEGORIES or distinct > 0.5 * max(a.count, b.count, 1):
            continue  # identifiers: their overlap is the key overlap's business
        d = tv_distance(ca, cb)
        out["categorical"][name] = {"tv": d, "categories": len(set(ca) | set(cb))}
        if enough and d > tol.tv:
            problems.append(f"{name}: TV {d:.3f} > {tol.tv:g}")
    out["problems"] = problems
    return out


def _strip(topic: str, prefixes: Iterable[str]) -> str:
    for p in prefixes:
        if p and topic.startswith(p):
            return topic[len(p) :]
    return topic


def compare(
    a: Source, b: Source, tol: Tolerance, strip_prefixes: Iterable[str] = ()
) -> dict[str, Any]:
    """Every topic of both sources compared; ``passed`` is False if any topic has a problem."""
    prefixes = sorted(strip_prefixes, key=len, reverse=True)
    names_a = {_strip(t, prefixes): t for t in a.topics}
    names_b = {_strip(t, prefixes): t for t in b.topics}
    topics: dict[str, Any] = {}
    for name in sorted(set(names_a) | set(names_b)):
        if any(fnmatch.fnmatchcase(name, g) for g in tol.ignore_topics):
            continue
        # digests first: identical records have identical distributions (every distance 0),
        # so values are decoded only for topics that differ
        side_a = (
            summarize(a, names_a[name], tol.ignore_headers, False) if name in names_a else Side()
        )
        side_b = (
            summarize(b, names_b[name], tol.ignore_headers, False) if name in names_b else Side()
        )
        if side_a.digests != side_b.digests:
            if name in names_a:
                side_a = summarize(a, names_a[name], tol.ignore_headers)
            if name in names_b:
                side_b = summarize(b, names_b[name], tol.ignore_headers)
        res = compare_topic(side_a, side_b, tol)
        if name not in names_a or name not in names_b:
            # a topic one side lacks counts as empty there: the count rule judges it, and it
            # is identical only if the other side's is empty too (a generate folder writes no
            # file for a topic nothing was generated on; a recording lists every topic)
            res["only_in"] = "A" if name in names_a else "B"
        topics[name] = res
    return {
        "a": {"kind": a.kind, "where": a.where},
        "b": {"kind": b.kind, "where": b.where},
        "tolerance": tol.model_dump(mode="json"),
        "identical": all(t["identical"] for t in topics.values()),
        "passed": not any(t["problems"] for t in topics.values()),
        "topics": topics,
    }
