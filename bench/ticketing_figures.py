"""The ticketing popularity and opening figures of a `simctl generate` folder (JSON lines), as
producers/ticketing/README.md quotes them: popularity's tail, the top shows' share of cart
adds, capacity and price against popularity, sell-outs, and the cart rate just after a show's
openings.

    simctl generate --domain ticketing --start 2026-03-02T00:00:00Z --duration 14d \\
        --scale 0.6 --seed 11 --shards 4 --out tk/
    python bench/ticketing_figures.py tk/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

H = 3_600_000
DAY = 24 * H
Columns = dict[str, np.ndarray]


def read(folder: Path, name: str) -> Columns:
    """One topic file's records as columns."""
    with (folder / f"ticketing.{name}.jsonl").open() as fh:
        rows = [json.loads(line) for line in fh]
    return {k: np.asarray([r.get(k) for r in rows]) for k in rows[0]}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation."""
    return float(np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1])


def main(folder: Path) -> None:
    """Print the figures."""
    shows, carts = read(folder, "show.announced"), read(folder, "cart.item_added")
    inv = read(folder, "inventory.changed")
    t0 = int(shows["occurred_at"].min())
    end = t0 + int(np.ceil((int(carts["occurred_at"].max()) - t0) / DAY)) * DAY
    pop = shows["popularity"].astype(float)
    n = len(pop)
    top = np.sort(pop)[::-1]
    hill = 1 / np.mean(np.log(top[: n // 10] / top[n // 10]))
    print(f"shows {n} ({np.sum(shows['occurred_at'] == t0)} announced at the start)")
    print(f"popularity: median {np.median(pop):.2f}, max {pop.max():.0f}, Hill index {hill:.2f}")
    of_show = {s: i for i, s in enumerate(shows["show_id"])}
    idx = np.asarray([of_show[s] for s in carts["show_id"]])
    adds = np.bincount(idx, minlength=n)
    order = np.argsort(-pop)
    for share in (0.01, 0.05):
        k = max(1, int(n * share))
        print(f"top {share:.0%} of shows: {adds[order[:k]].sum() / adds.sum():.1%} of cart adds")
    print(f"Spearman(capacity, popularity) {spearman(shows['capacity'].astype(float), pop):.2f}")
    std = carts["tier"] == "Standard"
    total = np.bincount(idx[std], weights=carts["unit_price"][std].astype(float), minlength=n)
    count = np.bincount(idx[std], minlength=n)
    seen = count >= 20
    rho = spearman(total[seen] / count[seen], pop[seen])
    print(f"Spearman(mean Standard price, popularity) {rho:.2f} over {seen.sum()} shows")
    gone = inv["remaining"] == 0
    print(f"shows with a sold-out tier {len(set(inv['show_id'][gone]))}")
    t = carts["occurred_at"].astype(np.int64)
    presale, general, starts = (
        shows[k].astype(np.int64) for k in ("presale_at", "general_sale_at", "starts_at")
    )
    early = int(np.sum(t < presale[idx]) + np.sum(t >= starts[idx]))
    print(f"cart adds before a presale or after a show started: {early}")
    open_ = ~np.isin(shows["show_id"], inv["show_id"][gone])
    late = np.bincount(idx[t >= general[idx] + 2 * DAY], minlength=n)
    hours = (end - general - 2 * DAY) / H
    for label, opened in (("general sale", general), ("presale", presale)):
        ok = open_ & (opened >= t0) & (general + 3 * DAY <= end)
        first = np.bincount(idx[(t >= opened[idx]) & (t < opened[idx] + DAY)], minlength=n)
        ratio = (first[ok] / 24).sum() / (late[ok] / hours[ok]).sum()
        print(
            f"carts per hour in the 24 h after the {label} / from 2 days after the general "
            f"sale on: {ratio:.1f} ({ok.sum()} shows)"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
