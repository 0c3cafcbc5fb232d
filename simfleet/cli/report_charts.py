"""The report's time charts: counts per interval (zeros where nothing happened), an overview of
each domain under a lane of labelled scenario and external-event marks, and one small chart per
stream with its own scale. The scenario windows are shaded on every one of them.

Plotly traces carry their counts only (``x0`` and ``dx``, no x array): a day of a 58-stream
domain is a few hundred kB, not megabytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from simfleet.timeutil import format_duration_ms, format_ms

__all__ = ["Bins", "Mark", "bins_for", "marks_of", "overview_chart", "run_span", "streams_chart"]

MINUTE = 60_000
DAY = 86_400_000
# the interval is the first of these that draws the run in at most MAX_BINS points
STEPS = (MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, 60 * MINUTE,
         3 * 60 * MINUTE, 6 * 60 * MINUTE, DAY, 7 * DAY)  # fmt: skip
MAX_BINS = 400
COLUMNS = 3
SCENARIO_FILL = "rgba(230, 140, 20, 0.13)"
SCENARIO_EDGE = "rgba(200, 110, 0, 0.9)"


def run_span(stamps: Sequence[int]) -> tuple[int, int]:
    """The first and last record of the run. A poisoned timestamp (1970) or a far future one
    lies days away from the bulk of the records and is left out; the run's own first and last
    records are not (a quantile alone would cut a quiet night's start)."""
    s = np.sort(np.asarray(stamps, dtype=np.int64))
    cut = len(s) // 200  # the bulk: 0.5 % each side
    lo, hi = int(s[cut]) - DAY, int(s[-1 - cut]) + DAY
    inside = s[(s >= lo) & (s <= hi)]
    return int(inside[0]), int(inside[-1])


@dataclass(frozen=True)
class Bins:
    """Intervals of ``step`` ms from ``start``, ``n`` of them, covering the run."""

    start: int
    step: int
    n: int

    def counts(self, stamps: Sequence[int]) -> list[int]:
        """Records per interval, 0 where none was."""
        a = np.asarray(stamps, dtype=np.int64)
        idx = (a - self.start) // self.step
        idx = idx[(idx >= 0) & (idx < self.n)]
        return [int(v) for v in np.bincount(idx, minlength=self.n)]

    @property
    def end(self) -> int:
        return self.start + self.n * self.step

    @property
    def label(self) -> str:
        """`5 min`, `1 h`: the interval as a y axis says it."""
        text = format_duration_ms(self.step)
        return text.replace("m", " min").replace("h", " h").replace("d", " d").replace("w", " wk")


def bins_for(lo: int, hi: int) -> Bins:
    """The smallest interval of ``STEPS`` that draws [lo, hi] in at most ``MAX_BINS`` points."""
    for step in STEPS:
        start = lo - lo % step
        n = (hi - start) // step + 1
        if n <= MAX_BINS or step == STEPS[-1]:
            return Bins(start, step, int(n))
    raise AssertionError("unreachable: the last step always fits")


@dataclass(frozen=True)
class Mark:
    """A scenario window (a bar) or an external event (a point) in the overview's lane."""

    start: int
    end: int
    text: str
    scenario: bool


def marks_of(
    truth: Sequence[Mapping[str, Any]], titles: Mapping[str, str], lo: int, hi: int
) -> list[Mark]:
    """The scenarios' windows and the external events of ground truth, clipped to [lo, hi]."""
    out: list[Mark] = []
    for t in truth:
        if t.get("kind") not in ("scenario", "external_event") or t.get("label") == "stopped":
            continue
        if t["kind"] == "scenario":
            # clipped to the records: a scenario may run on long after the data ends
            x0, x1 = max(int(t["window_start"]), lo), min(int(t["window_end"]), hi)
            if x1 > x0:
                out.append(Mark(x0, x1, f"scenario {t['subject_id']}", True))
        else:
            at = int(t["occurred_at"])
            if lo <= at <= hi:
                title = titles.get(str(t["subject_id"]), str(t["subject_id"]))
                out.append(Mark(at, at, title, False))
    return sorted(out, key=lambda m: (m.start, not m.scenario))


def _lanes(marks: Sequence[Mark], lo: int, hi: int, width_px: int = 1100) -> list[int | None]:
    """A lane per mark so that no two labels share a lane where they would touch (labels run
    right of their mark, about 6.5 px a character on a chart ``width_px`` wide); None: no lane
    was free within eight, the mark is drawn and its label left to its hover text."""
    per_px = max(1, hi - lo) / width_px
    ends: list[float] = []
    out: list[int | None] = []
    for m in marks:
        right = max(m.end, m.start + (len(m.text) * 6.5 + 14) * per_px)
        lane = next((i for i, e in enumerate(ends) if m.start >= e), None)
        if lane is None and len(ends) < 8:
            lane = len(ends)
            ends.append(0)
        if lane is not None:
            ends[lane] = right
        out.append(lane)
    return out


def _shade(fig: go.Figure, marks: Sequence[Mark], **where: Any) -> None:
    """The scenario windows: a light fill with firm edges, so the window shows under lines."""
    for m in marks:
        if m.scenario:
            fig.add_vrect(
                x0=format_ms(m.start),
                x1=format_ms(m.end),
                fillcolor=SCENARIO_FILL,
                line={"color": SCENARIO_EDGE, "width": 1, "dash": "dot"},
                layer="below",
                **where,
            )


def _line(bins: Bins, counts: list[int], name: str, **kw: Any) -> go.Scatter:
    return go.Scatter(
        x0=format_ms(bins.start),
        dx=bins.step,
        y=counts,
        mode="lines",
        line={"width": 1.2, "shape": "hv"},
        name=name,
        hovertemplate=f"%{{x}}<br>%{{y:,}} events per {bins.label}<extra>{name}</extra>",
        **kw,
    )


def overview_chart(
    per_domain: Mapping[str, list[int]], bins: Bins, marks: Sequence[Mark]
) -> go.Figure:
    """Events per interval of each domain, under a lane of the scenarios and external events."""
    lanes = _lanes(marks, bins.start, bins.end)
    used = max((x for x in lanes if x is not None), default=-1) + 1
    lane_px = 30 + 22 * max(1, used)
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[lane_px, 320],
        vertical_spacing=0.03,
    )
    for d, counts in per_domain.items():
        fig.add_trace(_line(bins, counts, d), row=2, col=1)
    # lane k spans [k - 0.5, k + 0.5] (the axis runs downwards): its bar or dot above, its
    # label under it; a mark with no free lane is drawn in the first lane, labelled on hover
    hidden = 0
    for m, lane in zip(marks, lanes, strict=True):
        y = (lane if lane is not None else 0) - 0.18
        hidden += lane is None
        color = SCENARIO_EDGE if m.scenario else "royalblue"
        fig.add_trace(
            go.Scatter(
                x=[format_ms(m.start), format_ms(m.end)] if m.scenario else [format_ms(m.start)],
                y=[y, y] if m.scenario else [y],
                mode="lines" if m.scenario else "markers",
                line={"color": color, "width": 6},
                marker={"color": color, "size": 8},
                hovertemplate=f"{m.text}<br>%{{x}}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=1,
        )
    labelled = [(m, lane) for m, lane in zip(marks, lanes, strict=True) if lane is not None]
    fig.add_trace(
        go.Scatter(
            x=[format_ms(m.start) for m, _ in labelled],
            y=[lane + 0.2 for _, lane in labelled],
            text=[m.text for m, _ in labelled],
            mode="text",
            textposition="middle right",
            textfont={"size": 11},
            hoverinfo="skip",
            showlegend=False,
        ),
        row=1,
        col=1,
    )
    _shade(fig, marks, row="all", col=1)
    fig.update_yaxes(row=1, col=1, visible=False, range=[max(1, used) - 0.5, -0.5])
    fig.update_yaxes(
        row=2, col=1, title=f"events per {bins.label}", rangemode="tozero", tickformat=",d"
    )
    fig.update_xaxes(range=[format_ms(bins.start), format_ms(bins.end)])
    fig.update_xaxes(row=2, col=1, title="sim time (UTC)")
    note = f"; {hidden} label(s) only on hover" if hidden else ""
    fig.update_layout(
        title=f"Events per {bins.label} per domain (shaded: scenario windows; above: "
        f"scenarios and external events{note})",
        height=lane_px + 320 + 130,
        template="plotly_white",
        margin={"t": 60, "b": 40},
        legend={"orientation": "h", "y": -0.12},
    )
    return fig


def streams_chart(
    per_stream: Mapping[str, list[int]], bins: Bins, marks: Sequence[Mark]
) -> go.Figure:
    """One small chart per stream, each on its own scale, the same sim time on every one."""
    names = list(per_stream)
    rows = max(1, math.ceil(len(names) / COLUMNS))
    row_px = 170
    height = rows * row_px + 80
    fig = make_subplots(
        rows=rows,
        cols=COLUMNS,
        shared_xaxes="all",
        subplot_titles=names,
        vertical_spacing=min(55 / height, 0.9 / max(1, rows - 1)) if rows > 1 else 0.0,
        horizontal_spacing=0.06,
    )
    fig.update_yaxes(rangemode="tozero", tickformat=",d", tickfont={"size": 9})
    for i, name in enumerate(names):
        where = {"row": i // COLUMNS + 1, "col": i % COLUMNS + 1}
        counts = per_stream[name]
        fig.add_trace(_line(bins, counts, name, showlegend=False, line_color="#2860c8"), **where)
        if max(counts, default=0) <= 4:
            fig.update_yaxes(dtick=1, **where)  # whole events: no tick at 0.5 printed as "1"
    _shade(fig, marks, row="all", col="all")
    fig.update_xaxes(showticklabels=True, tickfont={"size": 9})
    fig.update_xaxes(range=[format_ms(bins.start), format_ms(bins.end)])
    fig.update_annotations(font={"size": 11})
    fig.update_layout(
        title=f"Events per {bins.label}, one chart per stream (each on its own scale; shaded: "
        "scenario windows)",
        height=height,
        margin={"t": 70, "b": 30},
        template="plotly_white",
    )
    return fig
