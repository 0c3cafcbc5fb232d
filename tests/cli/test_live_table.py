"""`simctl up`'s live table fits the terminal: every topic while they fit, else a row per
domain (its sums) with its busiest streams under it."""

from __future__ import annotations

from rich.console import Console

from simfleet.cli.up import _fold, _Rates, _table
from simfleet.control import Heartbeat, StreamCounters

DOMAINS = {"marketplace": 50, "ticketing": 12, "clickstream": 10, "ai_usage": 6, "markets": 6}


def _fleet() -> tuple[dict[str, Heartbeat], _Rates]:
    topics = {f"{d}.s{i:02d}.event": StreamCounters(produced=10 * i, delivered=10 * i)
              for d, n in DOMAINS.items() for i in range(n)}  # fmt: skip
    hb = Heartbeat(worker_id="w", host="h", pid=1, wall_ms=0, sim_ms=0, shards=(0,),
                   control_version=1, topics=topics)  # fmt: skip
    rates = _Rates()
    rates.rates = {t: float(i % 17) for i, t in enumerate(topics)}
    return {"w": hb}, rates


def test_eighty_four_topics_fold_into_domains_to_fit_thirty_lines() -> None:
    workers, rates = _fleet()
    console = Console(width=140, height=30, record=True)
    console.print(_table(None, workers, rates, None, 30))
    lines = console.export_text().splitlines()
    assert len(lines) <= 30
    text = "\n".join(lines)
    for domain in DOMAINS:
        assert domain in text
    assert "marketplace (+" in text


def test_a_domain_row_sums_its_streams_and_the_busiest_come_first() -> None:
    workers, rates = _fleet()
    totals = {t: (c.produced, c.delivered, c.failed) for t, c in workers["w"].topics.items()}
    rows = _fold(totals, rates.rates, 30)
    at = next(i for i, r in enumerate(rows) if r[0].startswith("marketplace"))
    _, topics, bold = rows[at]
    assert bold and len(topics) == 50
    first = rows[at + 1]
    assert not first[2] and first[0].startswith("  ")
    assert rates.rates[first[1][0]] == max(rates.rates[t] for t in topics)


def test_every_topic_shows_when_they_fit() -> None:
    workers, rates = _fleet()
    totals = {t: (1, 1, 0) for t in workers["w"].topics}
    assert [r[0] for r in _fold(totals, rates.rates, None)] == sorted(totals)
    assert len(_fold(totals, rates.rates, 200)) == len(totals)
