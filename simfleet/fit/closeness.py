"""`simctl fit --check`: generate from the fitted pack over the source's span and compare,
per stream, the count, the rate by hour of week, each fitted field's marginal (the distances
of `simctl diff`) and each chain's probability and median delay."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simfleet.compare import ks_distance, tv_distance
from simfleet.errors import ConfigError
from simfleet.fit.build import Fitted
from simfleet.fit.links import link_stats
from simfleet.fit.rates import how_counts
from simfleet.fit.report import write_report
from simfleet.fit.source import Topic, read_source
from simfleet.timeutil import format_ms

__all__ = ["Tolerance", "check_fit", "compare_fit"]


@dataclass(frozen=True)
class Tolerance:
    """How far the regenerated traffic may be from the source."""

    count: float = 0.10  # relative, and beyond 3 Poisson standard deviations
    how_corr: float = 0.8  # hour-of-week rate correlation (hours with >= 20 events on average)
    tv: float = 0.1
    ks: float = 0.1
    probability: float = 0.05
    delay: float = 0.2  # relative median delay
    min_samples: int = 200


def generate_from(out: Path, domain: str, start: int, end: int, seed: int, into: Path) -> None:
    """Run `simctl generate` on the fitted pack over [start, end) into ``into``."""
    cmd = [
        sys.executable, "-m", "simfleet.cli.main", "generate",
        "--pack-dir", str(out), "--domain", domain, "--seed", str(seed),
        "--no-external-events", "--start", format_ms(start)[:19] + "Z",
        "--duration", f"{end - start}ms", "--out", str(into),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(
            f"--check: `simctl generate` on the fitted pack failed: {done.stderr.strip()[-600:]}"
        )


def _how_rates(t: Topic, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    counts, exposure = how_counts(t.times, start, end)
    return counts, exposure


def compare_fit(
    source: list[Topic],
    generated: list[Topic],
    fitted: Fitted,
    domain: str,
    tol: Tolerance | None = None,
) -> dict[str, Any]:
    """Stream by stream, what is off between the source and a run of the fitted pack."""
    tol = tol or Tolerance()
    src = {t.name: t for t in source}
    gen = {t.name: t for t in generated}
    problems: list[str] = []
    streams: dict[str, Any] = {}
    for s, rep in fitted.report["streams"].items():
        a = src[rep["topic"]]
        b = gen.get(f"{domain}.{s}")
        na, nb = len(a.records), 0 if b is None else len(b.records)
        out: dict[str, Any] = {"count": [na, nb]}
        streams[s] = out
        if abs(na - nb) > max(tol.count * na, 3 * np.sqrt(na + nb)):
            problems.append(f"{s}: count {nb} vs {na} in the source")
        if b is None:
            continue
        ca, ea = _how_rates(a, fitted.start, fitted.end)
        cb, _ = _how_rates(b, fitted.start, fitted.end)
        cover = ea > 0
        rates_a = ca[cover] / ea[cover]
        # a shape only where it stands out of the Poisson noise (not a periodic snapshot)
        shaped = float(np.var(ca[cover])) > 2 * float(np.mean(ca[cover]))
        if cover.sum() >= 24 and na / cover.sum() >= 20 and shaped:
            r = float(np.corrcoef(rates_a, cb[cover] / ea[cover])[0, 1])
            out["hour_of_week_corr"] = round(r, 4)
            if r < tol.how_corr:
                problems.append(f"{s}: rate by hour of week correlates {r:.2f} < {tol.how_corr}")
        enough = min(na, nb) >= tol.min_samples
        fields: dict[str, Any] = {}
        for f, fr in rep["fields"].items():
            kind = fr["kind"]
            va = [r.get(f) for r in a.records if r.get(f) is not None]
            vb = [r.get(f) for r in b.records if r.get(f) is not None]
            if kind in ("categorical", "bool"):
                d = tv_distance(Counter(_cat(v, fr) for v in va), Counter(_cat(v, fr) for v in vb))
                fields[f] = {"tv": round(d, 4)}
                # sampling noise of a TV distance grows with the categories over the events
                cats = len(set(va) | set(vb))
                noise = 1.5 * np.sqrt(cats / max(min(len(va), len(vb)), 1))
                if enough and d > max(tol.tv, noise):
                    problems.append(f"{s}.{f}: TV distance {d:.3f} > {tol.tv}")
            elif kind == "numeric":
                d = ks_distance(np.asarray(va, float), np.asarray(vb, float))
                fields[f] = {"ks": round(d, 4)}
                # the two-sample KS critical value at 1 %: below it, chance alone
                n1, n2 = max(len(va), 1), max(len(vb), 1)
                noise = 1.63 * np.sqrt((n1 + n2) / (n1 * n2))
                if enough and d > max(tol.ks, noise):
                    problems.append(f"{s}.{f}: KS distance {d:.3f} > {tol.ks}")
        out["fields"] = fields
        follows = rep.get("follows")
        if follows and b is not None:
            out["chain"] = _chain(s, follows, a, b, src, gen, fitted, domain, tol, problems)
    return {"passed": not problems, "problems": problems, "streams": streams}


def _cat(v: Any, fr: dict[str, Any]) -> Any:
    return v


def _chain(
    s: str,
    follows: dict[str, Any],
    a: Topic,
    b: Topic,
    src: dict[str, Topic],
    gen: dict[str, Topic],
    fitted: Fitted,
    domain: str,
    tol: Tolerance,
    problems: list[str],
) -> dict[str, Any]:
    """A chain as the window shows it on both sides: the share of causes followed within
    it and the median delay of those seen (what a fitted law must reproduce)."""
    p = src[fitted.report["streams"][follows["parent"]]["topic"]]
    q = gen.get(f"{domain}.{follows['parent']}")
    via = follows["via"]
    if q is None or len(p.records) < tol.min_samples:
        return {}
    pa, ma, na, sa = link_stats(
        p.times, [r.get(via) for r in p.records], a.times, [r.get(via) for r in a.records]
    )
    pb, mb, nb, sb = link_stats(
        q.times, [r.get(via) for r in q.records], b.times, [r.get(via) for r in b.records]
    )
    noise = 3 * float(np.sqrt(pa * (1 - pa) / max(na, 1) + pb * (1 - pb) / max(nb, 1)))
    if abs(pa - pb) > max(tol.probability, noise):
        problems.append(f"{s}: followed within the window {pb:.3f} vs {pa:.3f} in the source")
    # a median of n delays moves by about 1.25 sigma / sqrt(n) in log terms
    sigma = float(follows.get("sigma", 1.0))
    slack = max(tol.delay, 3 * 1.25 * sigma / np.sqrt(max(min(sa, sb), 1)))
    if min(sa, sb) >= 30 and ma > 0 and abs(mb - ma) / ma > slack:
        problems.append(f"{s}: median delay seen {mb:.0f} ms vs {ma:.0f} ms in the source")
    return {"followed_share": [round(pa, 4), round(pb, 4)], "median_delay_ms": [ma, mb]}


def check_fit(
    source: list[Topic], fitted: Fitted, domain: str, out: Path, seed: int
) -> dict[str, Any]:
    """Generate, compare, add the result to the report; the result."""
    into = out / ".check"
    shutil.rmtree(into, ignore_errors=True)
    generate_from(out, domain, fitted.start, fitted.end, seed, into)
    try:
        generated = read_source(into, "occurred_at")
    finally:
        shutil.rmtree(into, ignore_errors=True)  # the regenerated run is as large as the source
    result = compare_fit(source, generated, fitted, domain)
    fitted.report["check"] = result
    write_report(out, fitted.report)
    return result
