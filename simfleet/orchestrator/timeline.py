"""The sim timeline of world happenings: which external events happen when, which scenarios
act, and the records (public and ground truth) they put on the domains' topics.

One timeline for every consumer of it: the live orchestrator publishes from it as sim time
passes (``transitions.advance``), and ``simctl generate`` and ``simctl baseline`` lay it over
a whole window at once. Both call the same functions here, so a live run and a generated one
with the same seed and commands see the same events and labels.

Every function is pure: (project, seed, window, scenario instances) in, records out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from simfleet.domain.pack import Project
from simfleet.external import DAY_MS, Injection, for_scenario, schedule_day
from simfleet.scenarios import CampaignWindow, ScenarioInstance, ScenarioSpec, campaign_windows
from simfleet.topology import external_topic, truth_topic

__all__ = [
    "Outgoing",
    "acting",
    "campaign_truth",
    "drift_truth",
    "due",
    "scenario_context",
    "scenario_domains",
    "scenario_truth",
    "scheduled",
]

Outgoing = tuple[str, dict[str, Any]]  # (topic, record)


def scheduled(
    project: Project, domains: Iterable[str], seed: int, start: int, end: int
) -> list[Injection]:
    """Every scheduled external event of ``domains`` with ``start <= at < end``, in time order.

    Each domain's schedule depends only on (its library, seed, day): adding a domain to a run
    changes nothing in another's."""
    out: list[Injection] = []
    if end <= start:
        return out
    for d in domains:
        lib = project.library(d)
        if not lib.templates:
            continue
        for day in range(start // DAY_MS, (end - 1) // DAY_MS + 1):
            out.extend(i for i in schedule_day(lib, seed, day) if start <= i.at < end)
    out.sort(key=lambda i: (i.at, i.domain, i.event_id))
    return out


def scenario_domains(
    project: Project, spec: ScenarioSpec, running: Sequence[str]
) -> tuple[str, ...]:
    """The running domains a scenario concerns: its own, and each whose parameters it moves."""
    targets = [m.target for p in spec.phases for m in p.modifiers]
    if spec.settle.backlog is not None:
        targets += [m.target for m in spec.settle.backlog.modifiers]
    out = [spec.domain] if spec.domain in running else []
    for d in running:
        if d not in out and not all(t in project.graph(d).unknown_targets([t]) for t in targets):
            out.append(d)
    return tuple(out)


def scenario_context(project: Project, inst: ScenarioInstance) -> list[Injection]:
    """The context external events a scenario instance publishes (non-causal, labelled)."""
    spec = inst.spec
    if not spec.external_events:
        return []
    lib = project.library(spec.domain)
    return [
        for_scenario(lib, e.template, inst.started_at + e.offset, spec.id)
        for e in spec.external_events
    ]


def scenario_truth(inst: ScenarioInstance, label: str, at: int, domain: str) -> dict[str, Any]:
    """The ground-truth record of a scenario's start or stop, on ``domain``'s truth topic."""
    targets = sorted({m.target for p in inst.spec.phases for m in p.modifiers})
    return {
        "event_id": f"truth-{inst.spec.id}-{label}-{at}",
        "occurred_at": at,
        "domain": domain,
        "kind": "scenario",
        "subject_id": inst.spec.id,
        "label": label,
        "moved_parameters": ",".join(targets),
        "moved_streams": ",".join(e.stream for e in inst.spec.expected_effects),
        "window_start": inst.started_at,
        "window_end": (inst.end_ms or at) + inst.spec.settle.duration,
        "action": "",
        "topic": "",
        "detail": "",
    }


def campaign_truth(inst: ScenarioInstance, w: CampaignWindow) -> dict[str, Any]:
    """The ground-truth record of a campaign, at its start: its pattern, window, streams and
    actors per entity kind (fleet-wide at scale 1; ``detail``, JSON)."""
    c = w.campaign
    domain = inst.spec.domain
    detail = {
        "scenario": inst.spec.id,
        "actors": {kind: a.count for kind, a in c.actors.items()},
        "new_actors": sorted(kind for kind, a in c.actors.items() if a.new),
        "rates": {f"{domain}.{s}": cs.rate for s, cs in c.streams.items()},
        "tags": {k: v for k, v in c.set.items()},
    }
    return {
        "event_id": f"truth-{inst.spec.id}-campaign-{c.name}-{w.start}",
        "occurred_at": w.start,
        "domain": domain,
        "kind": "campaign",
        "subject_id": f"{inst.spec.id}/{c.name}",
        "label": c.pattern,
        "moved_parameters": "",
        "moved_streams": ",".join(f"{domain}.{s}" for s in c.streams),
        "window_start": w.start,
        "window_end": w.end,
        "detail": json.dumps(detail, sort_keys=True, separators=(",", ":")),
    }


def drift_truth(inst: ScenarioInstance) -> list[dict[str, Any]]:
    """The drift manifest of a scenario instance: one ground-truth record per drift, at its
    onset (``detail``: onset, width, type, features)."""
    out = []
    for i, d in enumerate(inst.spec.drift):
        onset = inst.started_at + d.onset
        detail = {
            "scenario": inst.spec.id,
            "onset": onset,
            "width": d.width,
            "type": d.type,
            "features": list(d.features),
        }
        out.append(
            {
                "event_id": f"truth-{inst.spec.id}-drift-{i}-{onset}",
                "occurred_at": onset,
                "domain": inst.spec.domain,
                "kind": "drift",
                "subject_id": inst.spec.id,
                "label": d.type,
                "moved_parameters": ",".join(
                    sorted({m.target for p in inst.spec.phases for m in p.modifiers})
                ),
                "moved_streams": ",".join(sorted({f.rsplit(".", 1)[0] for f in d.features})),
                "window_start": onset,
                "window_end": onset + d.width,
                "detail": json.dumps(detail, sort_keys=True, separators=(",", ":")),
            }
        )
    return out


def due(
    project: Project,
    running: Sequence[str],
    injections: Iterable[Injection],
    scenarios: Iterable[ScenarioInstance],
    lo: int,
    hi: int,
) -> list[Outgoing]:
    """The records whose instant falls in ``[lo, hi)``: each external event on its domain's
    topic with its label on ground truth, and each scenario's start and stop on the ground
    truth of every running domain it concerns."""
    out: list[tuple[int, str, Outgoing]] = []
    for inj in injections:
        if lo <= inj.at < hi and inj.domain in running:
            out.append((inj.at, inj.event_id, (external_topic(inj.domain), inj.public_record())))
            out.append((inj.at, inj.event_id + "~", (truth_topic(inj.domain), inj.truth_record())))
    for inst in scenarios:
        marks = [("started", inst.started_at)]
        if inst.end_ms is not None:
            marks.append(("stopped", inst.end_ms))
        for label, at in marks:
            if lo <= at < hi:
                for d in scenario_domains(project, inst.spec, running):
                    rec = scenario_truth(inst, label, at, d)
                    out.append((at, rec["event_id"] + d, (truth_topic(d), rec)))
        if inst.spec.domain in running:
            for w in campaign_windows(inst):
                if lo <= w.start < hi:
                    rec = campaign_truth(inst, w)
                    out.append((w.start, rec["event_id"], (truth_topic(inst.spec.domain), rec)))
            for rec in drift_truth(inst):
                if lo <= rec["occurred_at"] < hi:
                    topic = truth_topic(inst.spec.domain)
                    out.append((rec["occurred_at"], rec["event_id"], (topic, rec)))
    out.sort(key=lambda x: (x[0], x[1]))
    return [o for _, _, o in out]


def acting(
    scenarios: Iterable[ScenarioInstance], injections: Iterable[Injection]
) -> list[ScenarioInstance]:
    """Everything that applies modifiers: the scenarios and the causal external events."""
    out = list(scenarios)
    out += [i for i in (inj.instance() for inj in injections) if i is not None]
    return out
