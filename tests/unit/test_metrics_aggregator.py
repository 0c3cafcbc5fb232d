"""The live metrics' arithmetic: shard tallies per sim minute, and intervals released only
when every shard has covered them contiguously."""

from __future__ import annotations

import numpy as np
import pytest

from simfleet.columns import Batch
from simfleet.control import COUNTS_GRAIN_MS, ShardCounts
from simfleet.errors import ConfigError
from simfleet.orchestrator.metrics import MetricsAggregator
from simfleet.producers.worker import ShardTally

M = COUNTS_GRAIN_MS
H = 60 * M


def report(shard: int, since: int, until: int, **counts: dict[int, int]) -> ShardCounts:
    return ShardCounts(shard=shard, worker_id="w", since=since, until=until, counts=counts)


def test_tally_counts_each_minute_and_hands_over_at_the_cursor() -> None:
    times = np.array([5, 59_999, 60_000, 61_000, 3 * M + 1, 3 * M + 2], dtype=np.int64)
    batch = Batch("s", "d.s", len(times), {"occurred_at": times}, None)
    tally = ShardTally(0)
    tally.add(batch, 0)
    tally.add(Batch("s", "d.s", 1, {"occurred_at": times[:1]}, None), 0)
    r = tally.report(3, "w1", 4 * M)
    assert (r.since, r.until, r.shard) == (0, 4 * M, 3)
    assert r.counts == {"d.s": {0: 3, M: 2, 3 * M: 2}}
    nxt = tally.report(3, "w1", 5 * M)
    assert (nxt.since, nxt.counts) == (4 * M, {})


def test_an_interval_is_released_once_when_every_shard_has_covered_it() -> None:
    agg = MetricsAggregator(H)
    agg.add(report(0, 10 * M, 70 * M, t={10 * M: 1, 65 * M: 2}))
    assert agg.ready(2) == []  # shard 1 has not reported
    agg.add(report(1, 5 * M, 130 * M, t={30 * M: 4, 100 * M: 1}))
    # the first whole interval both cover from its start is [1 h, 2 h); shard 0 is at 70 min
    assert agg.ready(2) == []
    agg.add(report(0, 70 * M, 130 * M, t={119 * M: 5}))
    assert agg.ready(2) == [(H, {"t": 2 + 1 + 5})]
    assert agg.ready(2) == []  # released once
    agg.add(report(1, 130 * M, 190 * M))
    agg.add(report(0, 130 * M, 181 * M))
    assert agg.ready(2) == [(2 * H, {})]  # an interval without events is released, with zeros
    assert agg.skipped == 0


def test_a_shard_that_moved_leaves_a_hole_which_is_skipped_not_published_short() -> None:
    agg = MetricsAggregator(H)
    agg.add(report(0, 0, 2 * H, t={M: 1}))
    agg.add(report(1, 0, 2 * H, t={M: 1}))
    assert [s for s, _ in agg.ready(2)] == [0, H]
    agg.add(report(0, 2 * H, 4 * H, t={2 * H: 1}))
    agg.add(report(1, 2 * H + 20 * M, 4 * H, t={2 * H + 30 * M: 1}))  # new owner, 20 min later
    agg.add(report(1, 90 * M, 2 * H, t={100 * M: 9}))  # the old owner's late last report: stale
    assert agg.ready(2) == [(3 * H, {})]
    assert agg.skipped == 1


def test_a_metric_interval_must_be_whole_minutes() -> None:
    with pytest.raises(ConfigError, match="whole number of sim minutes"):
        MetricsAggregator(90_000)
