"""The fit report: ``fit-report.json`` and a one-page HTML view of it."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

__all__ = ["write_report"]


def _row(cells: list[str]) -> str:
    return "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"


def write_report(out: Path, report: dict[str, Any]) -> tuple[Path, Path]:
    """Write the report as JSON and HTML beside the pack; their paths."""
    js = out / "fit-report.json"
    js.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    rows = []
    for s, r in report.get("streams", {}).items():
        follows = r.get("follows")
        how = (
            f"follows {follows['parent']} (p {follows['probability']}, "
            f"median {follows.get('median_delay_ms', '-')} ms)"
            if follows
            else f"{r['rate']['rate_per_s']:.4g}/s"
        )
        rows.append(_row([s, how, "", ""]))
        for f, fr in r["fields"].items():
            fit = fr.get("ks", fr.get("ks_lognormal", ""))
            rows.append(_row(["", f, f"{fr['kind']}: {fr.get('law', '')}", str(fit)]))
    check = report.get("check")
    verdict = ""
    if check:
        verdict = (
            "<h2>Check</h2><ul>"
            + "".join(f"<li>{html.escape(p)}</li>" for p in check.get("problems", []))
            + "</ul>"
            + ("<p>passed</p>" if check.get("passed") else "")
        )
    page = (
        "<!doctype html><meta charset=utf-8><title>fit report</title>"
        "<style>body{font:14px sans-serif;margin:2em}td{padding:2px 8px;border-bottom:1px solid"
        " #ddd}</style>"
        f"<h1>simctl fit: {html.escape(str(report.get('domain')))}</h1>"
        f"<p>{html.escape(json.dumps(report.get('span')))}</p>"
        "<table><tr><th>stream</th><th>field</th><th>law</th><th>KS</th></tr>"
        + "".join(rows)
        + "</table>"
        + verdict
    )
    page_path = out / "fit-report.html"
    page_path.write_text(page, encoding="utf-8")
    return js, page_path
