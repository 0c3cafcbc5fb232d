"""The clickstream figures of a `simctl generate` folder (Avro or JSON lines), as
producers/clickstream/README.md quotes them: event shares, pages and clicks, dwell, session
durations, journeys, commerce, and the stylized facts (bounces, tails, overlapping sessions,
each country's busiest local hour, read in the country's most populous zone).

    simctl generate --domain clickstream --start 2026-03-02T00:00:00Z --duration 1d \\
        --scale 0.05 --seed 5 --format avro --out cs/
    python bench/clickstream_figures.py cs/
"""

from __future__ import annotations

import itertools
import json
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from fastavro import reader

STREAMS = (
    "session.started",
    "page.viewed",
    "page.closed",
    "button.clicked",
    "link.clicked",
    "cart.item_added",
    "checkout.completed",
    "session.ended",
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# each country's most populous zone: where an outside reader reads its local hours
MAIN_ZONE = {
    "US": "America/New_York",
    "GB": "Europe/London",
    "DE": "Europe/Berlin",
    "FR": "Europe/Paris",
    "IN": "Asia/Kolkata",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "AU": "Australia/Sydney",
}


def rows(folder: Path, name: str) -> list[dict[str, Any]]:
    """The records of one topic file (timestamps as epoch ms)."""
    avro = folder / f"clickstream.{name}.avro"
    if avro.exists():
        with avro.open("rb") as fh:
            out = list(reader(fh))
        for r in out:
            for k, v in r.items():
                if isinstance(v, datetime):
                    r[k] = (v - EPOCH) // timedelta(milliseconds=1)
        return out  # type: ignore[return-value]
    path = folder / f"clickstream.{name}.jsonl"
    with path.open() as fh:
        return [json.loads(line) for line in fh]


def main(folder: Path) -> None:
    """Print the figures."""
    data = {n: rows(folder, n) for n in (*STREAMS, "ground_truth")}
    total = sum(len(data[n]) for n in STREAMS)
    print(f"events: {total}")
    for n in STREAMS:
        print(f"  share {n}: {100 * len(data[n]) / total:.2f} %")
    ended = {r["session_id"]: r for r in data["session.ended"]}
    pages = Counter(r["session_id"] for r in data["page.viewed"])
    done = [s for s in (r["session_id"] for r in data["session.started"]) if s in ended]
    pp = np.asarray([pages[s] for s in done])
    print(f"sessions: {len(data['session.started'])} ({len(done)} ended in the window)")
    spread = f"median {np.median(pp):.0f}, {pp.min()}-{pp.max()}"
    print(f"pages per session: mean {pp.mean():.2f}, {spread}")
    adds, buys = len(data["cart.item_added"]), len(data["checkout.completed"])
    clicks = len(data["button.clicked"]) + len(data["link.clicked"]) - adds - buys
    print(f"clicks per page: {clicks / len(data['page.viewed']):.2f}")
    dwell = np.asarray([r["duration_ms"] for r in data["page.closed"]]) / 1000
    print(f"dwell s: mean {dwell.mean():.1f}, median {np.median(dwell):.1f}, max {dwell.max():.1f}")
    minutes = np.asarray([ended[s]["duration_ms"] for s in done]) / 60_000
    inside = ((minutes >= 1) & (minutes <= 10)).mean()
    print(f"session min: mean {minutes.mean():.2f}, max {minutes.max():.2f}, 1-10 min {inside:.1%}")
    reasons = Counter(r["end_reason"] for r in data["session.ended"])
    print(f"ended: {dict(reasons)}")
    journeys = Counter(r["label"] for r in data["ground_truth"] if r["kind"] == "journey")
    n = sum(journeys.values())
    print("journeys: " + ", ".join(f"{k} {v / n:.1%}" for k, v in sorted(journeys.items())))
    added = {r["session_id"] for r in data["cart.item_added"]}
    bought = {r["session_id"] for r in data["checkout.completed"]}
    starts = len(data["session.started"])
    print(
        f"add to cart {len(added) / starts:.1%} of sessions, conversion "
        f"{len(bought) / starts:.1%}, carts abandoned {1 - len(bought) / len(added):.1%}"
    )

    stylized(data)


def stylized(data: dict[str, list[dict[str, Any]]]) -> None:
    """Print the stylized facts: bounces, dwell and session tails, overlapping sessions per
    user, and each country's busiest local hour."""
    ended = {r["session_id"]: r for r in data["session.ended"]}
    pages = Counter(r["session_id"] for r in data["page.viewed"])
    done = [s for s in (r["session_id"] for r in data["session.started"]) if s in ended]
    pp = np.asarray([pages[s] for s in done])
    print(f"bounce (one-page sessions): {(pp == 1).mean():.1%}")
    print(f"pages: p90 {np.percentile(pp, 90):.0f}, p99 {np.percentile(pp, 99):.0f}")
    dwell = np.asarray([r["duration_ms"] for r in data["page.closed"]]) / 1000
    print(
        f"dwell: min {dwell.min():.1f} s, under 5 s {(dwell < 5).mean():.1%}, "
        f"over 300 s {(dwell > 300).mean():.2%}, max {dwell.max():.0f} s"
    )
    minutes = np.asarray([ended[s]["duration_ms"] for s in done]) / 60_000
    print(f"sessions over 30 min: {(minutes > 30).mean():.2%}, max {minutes.max():.0f} min")
    by_user: dict[str, list[tuple[int, int]]] = {}
    start = {r["session_id"]: r for r in data["session.started"]}
    for s in done:
        by_user.setdefault(start[s]["user_id"], []).append(
            (start[s]["occurred_at"], ended[s]["occurred_at"])
        )
    later = overlapping = 0
    for spans in by_user.values():
        spans.sort()
        for (_, end), (begin, _) in itertools.pairwise(spans):
            later += 1
            overlapping += begin < end
    print(f"overlapping sessions per user: {overlapping / max(later, 1):.2%} of {later}")
    hours: dict[str, Counter[int]] = {}
    for r in data["session.started"]:
        at = datetime.fromtimestamp(r["occurred_at"] / 1000, tz=UTC)
        local = at.astimezone(ZoneInfo(MAIN_ZONE.get(r["country"], "UTC")))
        hours.setdefault(r["country"], Counter())[local.hour] += 1
    peaks = {c: h.most_common(1)[0][0] for c, h in sorted(hours.items())}
    print("busiest local hour: " + ", ".join(f"{c} {h}:00" for c, h in peaks.items()))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
