"""The one scenario validator: ``simctl validate``, the orchestrator on ``scenario start`` (so
the admin server's start route too), ``up``, ``generate`` and the catalog all check a scenario
here, and find the same problems in the same words.

It reports every problem of a scenario at once, each naming the file, the field path, the bad
value and the fix; a problem is reported once, never again as a consequence of itself (a
phase list "too short" because a phase of it failed, a template unknown because the domain is).
Names are checked even when the structure is not, and templates even when the domain is
unknown. A file too large or with too many phases is refused before it is parsed.

    limits      size and phase caps, reading the file         (Refusal: exit 2)
    structure   the model (pydantic) and zero lengths
    names       domain, modifier targets, templates, expected effects, drift features
    chaos       chaos stream globs, emitted topics, fields set; assertion topics
    campaigns   campaigns against the pack of the scenario's domain
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from simfleet.errors import ScenarioError
from simfleet.problems import Problem
from simfleet.scenario_check.campaigns import campaign_problems, raw_campaign_problems
from simfleet.scenario_check.chaos import chaos_problems
from simfleet.scenario_check.limits import (
    MAX_BYTES,
    MAX_PHASES,
    Refusal,
    phases_refusal,
    read_scenario_file,
)
from simfleet.scenario_check.names import Known, name_problems
from simfleet.scenario_check.structure import lengths_problems, spec_problems
from simfleet.scenarios import ScenarioSpec

__all__ = [
    "MAX_BYTES",
    "MAX_PHASES",
    "Known",
    "Refusal",
    "campaign_problems",
    "chaos_problems",
    "file_problems",
    "load_checked",
    "read_scenario_file",
    "refusal_error",
    "scenario_problems",
    "structure_problems",
]


def structure_problems(
    raw: object, file: Path | None = None, written: bool = True
) -> list[Problem]:
    """The problems a scenario has on its own, without the project: caps, model, lengths.
    ``written``: ``raw`` is a file's content (not a model's dump; see ``lengths_problems``)."""
    refused = phases_refusal(raw, file)
    if refused is not None:
        return [refused]
    _spec, out = spec_problems(raw, file)
    return out + lengths_problems(raw, file, written)


def scenario_problems(
    raw: object, known: Known, file: Path | None = None, written: bool = True
) -> list[Problem]:
    """Every problem of one scenario (a file's content, or a mapping sent to the fleet)."""
    out = structure_problems(raw, file, written)
    if not isinstance(raw, dict) or any(isinstance(p, Refusal) for p in out):
        return out
    out += name_problems(raw, known, file)
    if known.fields is not None:
        out += chaos_problems(raw, known.fields, file)
    domain = raw.get("domain")
    if isinstance(domain, str) and domain in known.specs:
        out += raw_campaign_problems(known.specs[domain], raw.get("campaigns"), file)
    return list(dict.fromkeys(out))


def file_problems(path: Path, known: Known) -> list[Problem]:
    """Every problem of one scenario file."""
    raw, problems = read_scenario_file(path)
    return problems or scenario_problems(raw, known, path)


def refusal_error(what: str, problems: Sequence[Problem]) -> ScenarioError:
    """One paragraph listing every problem: ``<what> is invalid (2 problems): (1) ...; (2) ...``."""
    listed = " ".join(f"({i}) {p.sentence()};" for i, p in enumerate(problems, 1))
    return ScenarioError(
        f"{what} is invalid ({len(problems)} problem(s)): {listed} fix them; `simctl validate "
        "FILE` lists them with the file."
    )


def load_checked(path: Path) -> ScenarioSpec:
    """A scenario file read within the caps and validated on its own (the names it uses are
    checked against a project by ``scenario_problems``); a ScenarioError lists every problem."""
    raw, unread = read_scenario_file(path)
    if unread and not isinstance(unread[0], Refusal):
        p = unread[0]
        raise ScenarioError(f"Cannot read scenario file {path}: it {p.message} ({p.fix}).")
    problems = unread or structure_problems(raw, path)
    if problems:
        raise refusal_error(f"Scenario file {path}", problems)
    return ScenarioSpec.model_validate(raw)
