"""Shell completion of the names a command takes: domains, scenario ids, topics.

Read from the project on this machine (its packs and scenario files), never from a broker, so
that a Tab answers at once. Each function takes what has been typed and returns the matches.
"""

from __future__ import annotations

__all__ = ["domains", "scenario_ids", "topics"]


def domains(incomplete: str) -> list[str]:
    """The project's domains starting with ``incomplete``."""
    from simfleet.domain.pack import Project

    return [d for d in Project().domains() if d.startswith(incomplete)]


def scenario_ids(incomplete: str) -> list[str]:
    """The catalog's scenario ids starting with ``incomplete``."""
    from simfleet.domain.pack import Project
    from simfleet.orchestrator.catalog import list_scenarios

    return sorted(i for i in list_scenarios(Project()) if i.startswith(incomplete))


def topics(incomplete: str) -> list[str]:
    """Every topic the project's domains produce to, starting with ``incomplete``."""
    from simfleet.domain.pack import Project
    from simfleet.topology import domain_topics

    project = Project()
    names = {t.name for d in project.domains() for t in domain_topics(project, d)}
    return sorted(n for n in names if n.startswith(incomplete))
