"""The label-noise, burst-phase and closed-loop figures of `simctl generate --domain ticketing
--format avro --labels-until all` folders, as producers/ticketing/README.md quotes them.

    python bench/ticketing_loop_figures.py noise DIR
    python bench/ticketing_loop_figures.py phase DIR 2026-03-02T12:00:00Z 15 48
    python bench/ticketing_loop_figures.py loop OPEN_DIR CLOSED_DIR

`noise`: friendly and unreported fraud against their bases (legitimate and fraudulent
authorized attempts). `phase`: card-testing attempts folded on the cycle of EVERY minutes from
the scenario's start over HOURS: the chi-square p of the bursts' onsets, and of the attempts
with the statistic divided by their dispersion. `loop`: each tactic's share of the campaigns'
fraud attempts per hour without and with `--feedback reference`, and the last efforts.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
from scipy.stats import chi2, chisquare

H = 3_600_000
TACTICS = ("card_testing", "bot_scalping", "account_takeover")


def read(folder: Path, stream: str) -> list[dict[str, Any]]:
    """A topic file's records."""
    with (folder / f"ticketing.{stream}.avro").open("rb") as fh:
        return list(fastavro.reader(fh))


def ms(v: datetime) -> int:
    return int(v.timestamp() * 1000)


def noise(folder: Path) -> None:
    """Friendly and unreported shares."""
    labels = read(folder, "labels")
    truth = [r for r in read(folder, "ground_truth") if r["kind"] == "label_noise"]
    kinds = Counter(r["label"] for r in truth)
    src = Counter((r["label_source"], r["is_fraud"]) for r in labels)
    legit = src[("dispute_window_closed", False)] - kinds["unreported"] + kinds["friendly"]
    fraud = src[("chargeback", True)] - kinds["friendly"] + kinds["unreported"]
    chargebacks = src[("chargeback", True)]
    print(f"attempts {len(labels):,}; authorized legitimate {legit:,}, fraudulent {fraud:,}")
    print(f"friendly   {kinds['friendly']:,} = {kinds['friendly'] / legit:.4f} of legitimate")
    print(f"unreported {kinds['unreported']:,} = {kinds['unreported'] / fraud:.4f} of fraudulent")
    print(f"friendly share of chargebacks {kinds['friendly'] / max(1, chargebacks):.1%}")


def phase(folder: Path, at: str, every: int, hours: int) -> None:
    """Onset and dispersion-scaled chi-square p-values of card-testing attempts."""
    w0 = ms(datetime.fromisoformat(at.replace("Z", "+00:00")))
    t = np.sort(
        [
            ms(r["transaction_occurred_at"])
            for r in read(folder, "labels")
            if r["pattern"] == "card_testing"
        ]
    )
    t = t[(t >= w0) & (t < w0 + hours * H)]
    minute = (t - w0) // 60_000
    onsets = minute[np.r_[True, np.diff(t) > 120_000]]
    folded = np.bincount(minute % every, minlength=every)
    per_minute = np.bincount(minute, minlength=hours * 60)
    dispersion = per_minute.var() / per_minute.mean()
    stat = float(chisquare(folded).statistic)
    print(f"attempts {len(t):,}, onsets {len(onsets):,}, per minute of cycle {folded.tolist()}")
    p_on = chisquare(np.bincount(onsets % every, minlength=every)).pvalue
    print(f"onsets p {p_on:.3g}; attempts p (plain) {chisquare(folded).pvalue:.3g}, ", end="")
    print(f"p (dispersion {dispersion:.1f}) {chi2.sf(stat / dispersion, every - 1):.3g}")


def loop(open_dir: Path, closed_dir: Path) -> None:
    """Tactic shares per hour without and with the loop; the last efforts."""
    for name, folder in (("without", open_dir), ("with", closed_dir)):
        per: dict[int, Counter[str]] = {}
        for r in read(folder, "labels"):
            if r["pattern"] in TACTICS:
                h = ms(r["transaction_occurred_at"]) // H
                per.setdefault(h, Counter())[r["pattern"]] += 1
        print(f"{name} the loop: hour, attempts, " + " / ".join(TACTICS))
        for h in sorted(per):
            c = per[h]
            n = sum(c.values())
            shares = " / ".join(f"{c[k] / n:.2f}" for k in TACTICS)
            print(f"  {h % 24:02d}h {n:5d}  {shares}")
    last: dict[str, dict[str, Any]] = {}
    for r in sorted(read(closed_dir, "ground_truth"), key=lambda r: ms(r["window_end"])):
        if r["kind"] == "adaptation":
            last[r["label"]] = json.loads(r["detail"])
    for k, d in sorted(last.items()):
        print(f"last effort {k}: {d['effort']:.2f} (recent pass rate {d['pass_rate']:.2f})")


def main(argv: list[str]) -> None:
    """Dispatch on the first argument."""
    what, *rest = argv
    if what == "noise":
        noise(Path(rest[0]))
    elif what == "phase":
        phase(Path(rest[0]), rest[1], int(rest[2]), int(rest[3]))
    elif what == "loop":
        loop(Path(rest[0]), Path(rest[1]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
