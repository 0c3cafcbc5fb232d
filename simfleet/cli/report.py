"""`simctl report`: one self-contained HTML file about a run (a `generate` folder or live topics):
events per interval (zeros where none came) per domain under a lane of the scenarios and
external events, one small chart per stream, the scenario windows shaded on each; chaos counts,
the assertions, the run's settings, and a model's scorecard (latency histogram, confusion
matrix, recall per attack pattern) when one is given. A section with nothing to show is one
line saying why. Plotly with its JavaScript embedded: it opens offline (`--plotly-js` can
share one copy beside several reports, or load it from a CDN).
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import plotly.graph_objects as go
import typer

from simfleet.cli.assertions import Events, Outcome, evaluate, read_folder, read_topics
from simfleet.cli.check import origin_of
from simfleet.cli.options import (
    NO_FLAGS,
    Flags,
    build_settings,
    kafka_of,
    project_of,
    settings_options,
)
from simfleet.cli.report_charts import bins_for, marks_of, overview_chart, run_span, streams_chart
from simfleet.control_io import read_latest_state
from simfleet.errors import ConfigError
from simfleet.orchestrator.catalog import get_scenario
from simfleet.timeutil import format_ms

__all__ = ["build_report", "report"]

MINUTE = 60_000
_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
.pass { color: #17803d; font-weight: bold; } .fail { color: #b3261e; font-weight: bold; }
.hook { color: #666; font-style: italic; border: 1px dashed #bbb; padding: 0.8em; }
.omitted { color: #555; margin: 1.2em 0; }
"""


def _stamps(events: Events) -> dict[str, list[int]]:
    """The sim timestamps of each topic's records."""
    return {t: [int(r["occurred_at"]) for r in rs] for t, rs in events.items() if rs}


def _value(v: Any) -> str:
    """A setting as the report shows it: numbers with thousands separators."""
    if isinstance(v, bool):
        return json.dumps(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,g}"
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v) or "none"
    return v if isinstance(v, str) else json.dumps(v)


def _omitted(section: str, why: str, hook: str) -> str:
    """One line in place of a section with nothing to show."""
    return f"<p class='omitted' id='{hook}'><b>{html.escape(section)}</b>: {why}</p>"


def _chaos_chart(truth: Sequence[dict[str, Any]]) -> go.Figure | None:
    """Chaos applications per action and topic, from ground truth."""
    per = Counter((t["action"], t["topic"]) for t in truth if t.get("kind") == "chaos")
    if not per:
        return None
    fig = go.Figure()
    for topic in sorted({tp for _, tp in per}):
        actions = sorted({a for a, tp in per if tp == topic})
        fig.add_trace(go.Bar(x=actions, y=[per[(a, topic)] for a in actions], name=topic))
    fig.update_layout(
        title="Chaos applications per action (ground truth)",
        barmode="stack",
        yaxis_title="records",
        height=420,
    )
    return fig


def _loop_chart(truth: Sequence[dict[str, Any]]) -> go.Figure | None:
    """The closed loop from ground truth (kind `adaptation`): each tactic's recent pass rate
    (solid) and effort (dotted) over sim time, summed over shards (rates weighted by
    attempts)."""
    rows = [t for t in truth if t.get("kind") == "adaptation"]
    if not rows:
        return None
    by: dict[tuple[str, int], list[float]] = {}
    for t in rows:
        d = json.loads(str(t.get("detail") or "{}"))
        at = int(t["window_end"])
        got = by.setdefault((str(t["label"]), at), [0.0, 0.0, 0.0, 0.0])
        weight = max(1.0, float(d.get("attempts", 0)))
        got[0] += weight * float(d.get("pass_rate", 0.0))
        got[1] += weight
        got[2] += float(d.get("effort", 1.0))
        got[3] += 1
    fig = go.Figure()
    for tactic in sorted({k for k, _ in by}):
        ats = sorted(at for k, at in by if k == tactic)
        x = [format_ms(at)[:19] for at in ats]
        rate = [by[(tactic, at)][0] / by[(tactic, at)][1] for at in ats]
        effort = [by[(tactic, at)][2] / by[(tactic, at)][3] for at in ats]
        fig.add_trace(go.Scatter(x=x, y=rate, mode="lines+markers", name=f"{tactic}: pass rate"))
        fig.add_trace(
            go.Scatter(x=x, y=effort, mode="lines", line={"dash": "dot"}, name=f"{tactic}: effort")
        )
    fig.update_layout(
        title="Closed loop: pass rate and effort per tactic (ground truth `adaptation`)",
        xaxis_title="sim time (UTC)",
        yaxis_title="pass rate (0-1) / effort (mean 1)",
        height=460,
    )
    return fig


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], raw_last: bool = False) -> str:
    out = ["<table><tr>", *(f"<th>{html.escape(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        cells = [html.escape(c) for c in row[:-1]] if raw_last else [html.escape(c) for c in row]
        if raw_last:
            cells.append(row[-1])
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _latency_chart(card: Mapping[str, Any]) -> go.Figure | None:
    """Decision time minus produce time, binned (bars: the counts are the data)."""
    lat = card.get("latencies_ms") or []
    if not lat:
        return None
    counts, edges = np.histogram(np.asarray(lat, dtype=np.float64), bins=min(50, len(lat)))
    fig = go.Figure(go.Bar(x=((edges[:-1] + edges[1:]) / 2).tolist(), y=counts.tolist()))
    q = card.get("latency_ms") or {}
    fig.update_layout(
        title=" / ".join(f"{k} {v:,.0f} ms" for k, v in q.items()),
        xaxis_title="latency (ms)",
        yaxis_title="decisions",
        height=320,
        bargap=0.05,
    )
    return fig


def _confusion_chart(card: Mapping[str, Any]) -> go.Figure:
    c = card["confusion"]
    z = [[c["tp"], c["fn"]], [c["fp"], c["tn"]]]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=["alerted", "not alerted"],
            y=["fraud", "legit"],
            text=[[f"{v:,}" for v in row] for row in z],
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
        )
    )
    fig.update_layout(height=300, yaxis_autorange="reversed", title="labelled subjects")
    return fig


def _recall_chart(card: Mapping[str, Any]) -> go.Figure | None:
    per = card.get("recall_by_pattern") or {}
    if not per:
        return None
    names = sorted(per)
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[per[n]["recall"] or 0.0 for n in names],
            text=[f"{per[n]['caught']}/{per[n]['frauds']}" for n in names],
        )
    )
    fig.update_layout(height=320, yaxis_range=[0, 1], yaxis_title="recall")
    return fig


def build_report(
    title: str,
    events: Events,
    truth: Sequence[dict[str, Any]],
    outcomes: Sequence[Outcome] | None,
    settings: Mapping[str, Any],
    card: Mapping[str, Any] | None = None,
    plotly_js: str = "inline",
) -> str:
    """The report as one HTML document, plotly's JavaScript included once (``inline``), or
    referred to (``directory``: a plotly.min.js beside it; ``cdn``)."""
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    first = True

    def figure(fig: go.Figure, div: str) -> str:
        nonlocal first
        js: bool | str = (True if plotly_js == "inline" else plotly_js) if first else False
        out = fig.to_html(full_html=False, include_plotlyjs=js, div_id=div)
        first = False
        return str(out)

    stamps = _stamps(events)
    lo, hi = run_span([t for ts in stamps.values() for t in ts])
    bins = bins_for(lo, hi)
    titles = {
        str(r.get("event_id")): str(r.get("title") or r.get("event_id"))
        for topic, rs in events.items()
        if topic.endswith(".external_events")
        for r in rs
    }
    marks = marks_of(truth, titles, bins.start, bins.end)
    per_stream = {t: bins.counts(stamps[t]) for t in sorted(stamps)}
    per_domain: dict[str, list[int]] = {}
    for t, counts in per_stream.items():
        d = t.split(".", 1)[0]
        per_domain[d] = [
            a + b for a, b in zip(per_domain.get(d, [0] * bins.n), counts, strict=True)
        ]
    total = sum(len(ts) for ts in stamps.values())
    outside = total - sum(sum(c) for c in per_stream.values())
    parts += [
        "<h2>Events</h2>",
        f"<p id='span'>Sim {format_ms(lo)[:19]}Z to {format_ms(hi)[:19]}Z (the first and last "
        f"record): {total:,} records in {len(stamps):,} streams, counted per {bins.label} "
        "(an interval with none counts 0).</p>",
        figure(overview_chart(per_domain, bins, marks), "overview-chart"),
        figure(streams_chart(per_stream, bins, marks), "events-chart"),
    ]
    if outside:
        parts.append(
            f"<p id='outside'>{outside:,} record(s) with a timestamp far outside the run "
            "(poisoned or corrupt) are left out of these charts.</p>"
        )
    chaos = _chaos_chart(truth)
    if chaos is not None:
        parts += ["<h2>Chaos</h2>", figure(chaos, "chaos-chart")]
    else:
        parts.append(_omitted("Chaos", "none was applied in this run.", "chaos"))
    loop = _loop_chart(truth)
    if loop is not None:
        parts += ["<h2>Closed loop</h2>", figure(loop, "loop-chart")]
    if outcomes is None:
        why = "none were checked (give <code>--check SCENARIO</code>)."
        parts.append(_omitted("Assertions", why, "assertions"))
    elif not outcomes:
        why = f"{html.escape(str(settings.get('checked', 'the scenario')))} declares none."
        parts.append(_omitted("Assertions", why, "assertions"))
    else:
        rows = [
            (
                o.name,
                o.kind,
                o.expected,
                o.actual,
                "<span class='pass'>pass</span>" if o.passed else "<span class='fail'>FAIL</span>",
            )
            for o in outcomes
        ]
        heads = ("assertion", "kind", "expected", "actual", "result")
        parts.append("<h2>Assertions</h2>")
        parts.append(f"<div id='assertions'>{_table(heads, rows, raw_last=True)}</div>")
    if card is None:
        labels = sorted(t for t in events if t.endswith(".labels"))
        why = (
            f"no scorecard was given. This run has labels ({', '.join(labels)}): "
            "<code>simctl score --out score.json</code>, then <code>--score score.json</code>, "
            "puts a model's latency histogram, confusion matrix and recall per attack pattern "
            "here."
            if labels
            else "no scorecard was given, and this run has no labels topic to score a model "
            "against (fraud labels are on <code>ticketing.labels</code>)."
        )
        parts.append(_omitted("Model scorecard", why, "scorecard"))
    else:
        charts = {
            "latency": _latency_chart(card),
            "confusion": _confusion_chart(card),
            "recall": _recall_chart(card),
        }
        for name, what in (
            ("latency", "latency histogram (decision time minus produce time)"),
            ("confusion", "confusion matrix"),
            ("recall", "recall per attack pattern"),
        ):
            fig = charts[name]
            section = what.split(" (")[0].capitalize()
            if fig is not None:
                parts.append(f"<h2>{section}</h2>")
                parts.append(f"<div id='{name}-hook'>{figure(fig, f'{name}-chart')}</div>")
            else:
                parts.append(_omitted(section, "the scorecard holds none.", f"{name}-hook"))
    parts.append("<h2>Run</h2>")
    per_topic = sorted((t, f"{len(r):,}") for t, r in events.items() if r)
    setting_rows = [(k, _value(v)) for k, v in settings.items()]
    parts.append(f"<div id='settings'>{_table(('setting', 'value'), setting_rows)}</div>")
    parts.append("<h3>Records per topic</h3>" + _table(("topic", "records"), per_topic))
    parts.append("</body></html>")
    return "\n".join(parts)


@settings_options("domain", "bootstrap", "properties", "config", "pack_dir", "scenarios_dir")
def report(
    out: Annotated[Path, typer.Option(help="The HTML file to write.")],
    data: Annotated[
        Path | None,
        typer.Option(help="A folder of `simctl generate` output (default: live topics)."),
    ] = None,
    check: Annotated[
        str | None,
        typer.Option(help="Also judge this scenario's assertions (an id or a file)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Origin of the assertions' windows, ISO UTC.")
    ] = None,
    score: Annotated[
        Path | None,
        typer.Option(
            help="A scorecard written by `simctl score --out FILE`: its latency "
            "histogram, confusion matrix and recall per pattern join the report."
        ),
    ] = None,
    plotly_js: Annotated[
        str,
        typer.Option(
            "--plotly-js",
            help="inline (in the file: it opens offline, about 4.8 MB), directory (one "
            "plotly.min.js beside it, shared by the reports of that folder) or cdn.",
        ),
    ] = "inline",
    flags: Flags = NO_FLAGS,
) -> None:
    """Write one self-contained HTML report of a run: events per minute, scenario and external
    event windows, chaos counts, assertions, settings. Opens offline (no CDN).

    Example: simctl report --data out/ --check my-scenario.yaml --score score.json --out r.html
    """
    settings = build_settings(**flags)
    project = project_of(settings)
    run: dict[str, Any] = {}
    if data is not None:
        events = read_folder(data)
        domains = sorted({t.split(".", 1)[0] for t in events})
        run["source"] = str(data)
    else:
        kafka = kafka_of(settings)
        state = read_latest_state(kafka, 5.0)
        domains = list(state.domains if state else project.resolve_domains(settings.domains))
        topics = [e.topic for e in project.schemas() if e.topic.split(".", 1)[0] in domains]
        events = read_topics(kafka, project.schemas(), topics)
        run["source"] = kafka.bootstrap_servers
        if state is not None:
            run |= {
                "seed": state.seed,
                "scale": state.scale,
                "shards": state.shards,
                "speed": state.clock.speed,
                "control version": state.version,
                "scenarios": [i.spec.id for i in state.scenarios],
            }
    if flags["domains"]:
        domains = [d for d in domains if d in flags["domains"]]
    if not any(events.values()):
        raise ConfigError(f"No records to report on in {run['source']}; check --data or -b.")
    truth = [r for d in domains for r in events.pop(f"{d}.ground_truth", [])]
    for d in domains:
        events.pop(f"{d}.metrics", None)
    lo, hi = run_span([t for ts in _stamps(events).values() for t in ts])
    # the minute of the first record (a run starts on one) and the last record
    run |= {"domains": domains, "from": format_ms(lo - lo % MINUTE), "until": format_ms(hi)}
    outcomes = None
    if check is not None:
        spec = get_scenario(check, project)
        all_events = {**events, f"{spec.domain}.ground_truth": truth}
        outcomes = evaluate(spec.assertions, all_events, origin_of(all_events, spec, since))
        run["checked"] = spec.id
    card = _read_score(score) if score is not None else None
    if plotly_js not in ("inline", "directory", "cdn"):
        raise ConfigError(
            f"--plotly-js must be inline, directory or cdn, not {plotly_js!r}: inline puts "
            "plotly's JavaScript in the file (it opens offline), directory writes one "
            "plotly.min.js beside it for every report of that folder, cdn loads it online."
        )
    page = build_report(
        f"simfleet run report: {', '.join(domains)}", events, truth, outcomes, run, card, plotly_js
    )
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write it ({exc.strerror}).") from exc
    if plotly_js == "directory":
        _plotly_beside(out)
    typer.echo(f"wrote {out} ({len(page) // 1024:,} kB)", err=True)


def _plotly_beside(out: Path) -> None:
    """plotly.min.js beside the report (once: reports in one folder share it)."""
    target = out.parent / "plotly.min.js"
    if target.exists():
        return
    from plotly.offline import get_plotlyjs

    try:
        target.write_text(get_plotlyjs(), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"--plotly-js directory: cannot write {target} ({exc.strerror})."
        ) from exc


def _read_score(path: Path) -> dict[str, Any]:
    """A scorecard file of `simctl score --out`, or a clear error."""
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"--score {path}: cannot read it as a scorecard ({exc}). Write one with "
            "`simctl score --decisions TOPIC --out score.json`."
        ) from exc
    if not isinstance(card, dict) or "confusion" not in card:
        raise ConfigError(
            f"--score {path}: no `confusion` in it, so it is not a scorecard. Write one with "
            "`simctl score --decisions TOPIC --out score.json`."
        )
    return card
