"""The Grafana dashboard as the tests read it: its panels and the metric names its queries use."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "simfleet.json"
_METRIC = re.compile(r"\bsimfleet_[a-z_]+\b")


def load() -> dict[str, Any]:
    """The dashboard JSON."""
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def exprs(dash: dict[str, Any]) -> list[str]:
    """Every PromQL expression: panel targets, template variables, annotations."""
    out = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    for var in dash["templating"]["list"]:
        q = var.get("query")
        if isinstance(q, dict):
            out.append(q["query"])
    out += [a["expr"] for a in dash["annotations"]["list"] if "expr" in a]
    return out


def metric_names(dash: dict[str, Any]) -> set[str]:
    """The sample names the dashboard queries (counters with their ``_total``)."""
    return {m for e in exprs(dash) for m in _METRIC.findall(e)}
