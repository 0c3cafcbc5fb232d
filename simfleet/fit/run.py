"""`simctl fit` end to end: read, fit, write, validate, report."""

from __future__ import annotations

from pathlib import Path

import typer

from simfleet.domain.pack import Project
from simfleet.errors import ConfigError
from simfleet.fit.build import Fitted, fit_topics
from simfleet.fit.report import write_report
from simfleet.fit.source import Topic, read_source
from simfleet.fit.write import Validate, check_domain_name, write_pack
from simfleet.topology import key_fields

__all__ = ["known_keys", "run_fit"]


def known_keys(topics: list[Topic]) -> dict[str, str]:
    """Topic -> key field for topics of the project's own domains (a generate folder)."""
    project = Project()
    domains = {t.name.split(".", 1)[0] for t in topics} & set(project.domains())
    return dict(key_fields(project, tuple(sorted(domains)))) if domains else {}


def run_fit(
    source: Path,
    domain: str,
    out: Path,
    time_field: str | None,
    key_field: str | None,
    min_count: int,
    validate: Validate,
) -> tuple[Fitted, list[Topic]]:
    """Fit SOURCE into a pack under ``out``; a ConfigError if the pack does not validate."""
    check_domain_name(domain, out)
    topics = read_source(source, time_field)
    fitted = fit_topics(topics, domain, min_count, key_field, known_keys(topics))
    header = (
        "# yaml-language-server: $schema=https://simfleet.invalid/pack.schema.json\n"
        f"# Fitted by `simctl fit {source} --domain {domain}`: see fit-report.json beside it.\n"
    )
    write_pack(out, domain, fitted.pack, fitted.schemas, fitted.scenarios, header)
    problems = validate(out)
    js, page = write_report(out, fitted.report)
    if problems:
        listed = " ".join(f"({i}) {p.line()};" for i, p in enumerate(problems, 1))
        raise ConfigError(
            f"the fitted pack in {out} does not validate ({len(problems)} problem(s)): {listed} "
            "this is a gap of `simctl fit`; edit the pack as the problems say."
        )
    n_links = sum(1 for s in fitted.report["streams"].values() if "follows" in s)
    typer.echo(
        f"fitted {len(fitted.pack['streams'])} streams, {len(fitted.pack['entities'])} entity "
        f"kinds and {n_links} follow-up chains into {out}/producers/{domain}/streams.yaml "
        f"(report: {js}, {page})",
        err=True,
    )
    for note in fitted.notes:
        typer.echo(f"  note: {note}", err=True)
    return fitted, topics
