"""The report's time charts without a browser: the run's span, the intervals, zeros where
nothing came, and lanes that keep labels apart."""

from __future__ import annotations

from simfleet.cli.report_charts import (
    DAY,
    MINUTE,
    Mark,
    _lanes,
    bins_for,
    marks_of,
    run_span,
    streams_chart,
)

T0 = 1_772_409_600_000  # 2026-03-02T00:00:00Z
H = 3_600_000


def test_the_span_is_the_first_and_last_record_not_a_quantile() -> None:
    # a quiet night: a handful of records in the first hours, the bulk in the afternoon
    night = [T0 + 5_000 + i * H for i in range(4)]
    day = [T0 + 12 * H + i * 1_000 for i in range(10_000)]
    assert run_span(night + day) == (T0 + 5_000, day[-1])


def test_poisoned_timestamps_do_not_stretch_the_span() -> None:
    stamps = [T0 + i * MINUTE for i in range(1_000)]
    poisoned = [0, 1, T0 + 400 * DAY]  # 1970, and a year ahead
    assert run_span(stamps + poisoned) == (T0, stamps[-1])


def test_the_interval_draws_the_run_in_at_most_400_points() -> None:
    six_hours = bins_for(T0 + 4_000, T0 + 6 * H - 1)
    assert (six_hours.start, six_hours.step, six_hours.n) == (T0, MINUTE, 360)
    assert six_hours.label == "1 min"
    day = bins_for(T0, T0 + DAY - 1)
    assert day.step == 5 * MINUTE and day.n == 288 and day.label == "5 min"
    month = bins_for(T0, T0 + 30 * DAY)
    assert month.n <= 400 and month.label == "3 h"


def test_counts_are_per_interval_with_zeros_where_none_came() -> None:
    bins = bins_for(T0, T0 + 10 * MINUTE - 1)
    counts = bins.counts([T0 + 10, T0 + 20, T0 + 7 * MINUTE + 5, T0 - 5, T0 + 99 * MINUTE])
    assert counts == [2, 0, 0, 0, 0, 0, 0, 1, 0, 0]  # the two outside the run are left out


def test_every_stream_has_its_own_chart_and_every_chart_the_scenario_window() -> None:
    bins = bins_for(T0, T0 + 2 * H - 1)
    per = {f"d.s{i}": bins.counts([T0 + i * MINUTE]) for i in range(7)}
    window = Mark(T0 + 30 * MINUTE, T0 + 90 * MINUTE, "scenario x", True)
    fig = streams_chart(per, bins, [window])
    assert [t.name for t in fig.data] == list(per)
    assert all(t.x0 and t.dx == MINUTE and len(t.y) == 120 for t in fig.data)
    assert len(fig.layout.shapes) == 7  # one per stream's chart (the two empty cells: none)
    assert fig.layout.yaxis.dtick == 1  # one event at most: whole ticks


def test_lanes_keep_labels_apart_and_marks_come_from_ground_truth() -> None:
    truth = [
        {"kind": "scenario", "subject_id": "x", "label": "started",
         "window_start": T0 + H, "window_end": T0 + 50 * H, "occurred_at": T0 + H},
        {"kind": "scenario", "subject_id": "x", "label": "stopped",
         "window_start": T0 + 2 * H, "window_end": T0 + 3 * H, "occurred_at": T0 + 2 * H},
        *({"kind": "external_event", "subject_id": f"e{i}", "label": "causal",
           "window_start": 0, "window_end": 0, "occurred_at": T0 + 2 * H + i} for i in range(12)),
        {"kind": "chaos", "subject_id": "c", "occurred_at": T0},
    ]  # fmt: skip
    titles = {"e0": "A competitor raises a large round"}
    marks = marks_of(truth, titles, T0, T0 + 6 * H)
    assert marks[0] == Mark(T0 + H, T0 + 6 * H, "scenario x", True)  # clipped to the run
    assert marks[1].text == "A competitor raises a large round" and len(marks) == 13
    lanes = _lanes(marks, T0, T0 + 6 * H)
    # twelve events in one millisecond: eight lanes, the scenario's bar in the first; the
    # rest labelled on hover only
    assert lanes[:9] == [0, 1, 2, 3, 4, 5, 6, 7, None]
    assert lanes.count(None) == 5
