"""Many domains in one run: the kiosk test pack (tests/packs) beside marketplace.

Pins that a domain is data (a second one runs through the same engine, timeline and CLI), that
each domain has its own ground truth and external events, and that adding a domain changes
nothing in another's output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from simfleet.cli.main import app
from simfleet.control import Command
from simfleet.domain.pack import Project
from simfleet.orchestrator.catalog import get_scenario
from simfleet.orchestrator.timeline import due, scheduled
from simfleet.orchestrator.transitions import advance, apply_command, initial_state

PACKS = Path(__file__).resolve().parents[1] / "packs"
START = "2026-03-02T00:00:00Z"
START_MS = 1_772_409_600_000
H = 3_600_000
DAY = 24 * H


@pytest.fixture(scope="module")
def project() -> Project:
    """The repository's project plus the kiosk pack."""
    return Project(roots=[PACKS])


def generate(out: Path, *extra: str) -> Result:
    """`simctl generate` of one sim day, 2 shards, seed 5, with the kiosk pack available."""
    args = [
        "generate",
        "--pack-dir",
        str(PACKS),
        "--start",
        START,
        "--duration",
        "1d",
        "--scale",
        "0.2",
        "--shards",
        "2",
        "--seed",
        "5",
        "--out",
        str(out),
        *extra,
    ]
    return CliRunner().invoke(app, args)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both domains (no --domain: every domain of the project) and marketplace alone."""
    both = tmp_path_factory.mktemp("both")
    alone = tmp_path_factory.mktemp("alone")
    r = generate(both)
    assert r.exit_code == 0, r.output
    r = generate(alone, "--domain", "marketplace")
    assert r.exit_code == 0, r.output
    return {"both": both, "alone": alone}


def test_project_lists_both_domains(project: Project) -> None:
    """A pack folder given with --pack-dir joins the project's domains."""
    own = Project().domains()
    assert "kiosk" not in own and {"marketplace", "ticketing"} <= set(own)
    assert project.domains() == sorted([*own, "kiosk"])
    assert "kiosk.session.started" in project.schemas()
    assert "kiosk.ground_truth" in project.schemas()


def test_marketplace_output_is_byte_identical_with_and_without_the_second_domain(
    runs: dict[str, Path],
) -> None:
    """Every marketplace file of a two-domain run equals the marketplace-only run's."""
    alone = sorted(p.name for p in runs["alone"].iterdir())
    assert alone and all(n.startswith("marketplace.") for n in alone)
    for name in alone:
        assert (runs["both"] / name).read_bytes() == (runs["alone"] / name).read_bytes(), name


def test_each_domain_has_its_own_truth_and_external_events(runs: dict[str, Path]) -> None:
    """kiosk.* and marketplace.* each get ground truth and external events naming their domain."""
    for domain in ("kiosk", "marketplace"):
        for kind in ("ground_truth", "external_events"):
            path = runs["both"] / f"{domain}.{kind}.jsonl"
            rows = [json.loads(x) for x in path.read_text().splitlines()]
            assert rows, path.name
            assert {r["domain"] for r in rows} == {domain}, path.name
    streams = {p.name for p in runs["both"].iterdir() if p.name.startswith("kiosk.")}
    for stream in ("session.started", "ticket.purchased", "session.abandoned", "kiosk.status"):
        assert f"kiosk.{stream}.jsonl" in streams


def test_a_scenario_of_the_second_domain_works_in_generate(tmp_path: Path) -> None:
    """kiosk-rush (from tests/packs/scenarios) moves kiosk sessions; its truth is on kiosk's."""
    base, rush = tmp_path / "base", tmp_path / "rush"
    assert generate(base, "--domain", "kiosk").exit_code == 0
    at = "2026-03-02T06:00:00Z"
    r = generate(rush, "--domain", "kiosk", "--scenario", "kiosk-rush", "--scenario-at", at)
    assert r.exit_code == 0, r.output

    def sessions(folder: Path, lo: int, hi: int) -> int:
        rows = (folder / "kiosk.session.started.jsonl").read_text().splitlines()
        return sum(lo <= json.loads(x)["occurred_at"] < hi for x in rows)

    peak = (START_MS + 7 * H, START_MS + 9 * H)  # demand x3 after the 30 min ramp
    assert sessions(rush, *peak) > 2 * sessions(base, *peak)
    before = (START_MS, START_MS + 6 * H)
    assert sessions(rush, *before) == sessions(base, *before)
    truth = [json.loads(x) for x in (rush / "kiosk.ground_truth.jsonl").read_text().splitlines()]
    assert any(t["kind"] == "scenario" and t["subject_id"] == "kiosk-rush" for t in truth)


def test_a_scenario_file_given_by_path_works_in_generate(tmp_path: Path) -> None:
    """--scenario takes the path of a user's own scenario file."""
    src = PACKS / "scenarios" / "kiosk" / "rush-hour.yaml"
    mine = tmp_path / "my-rush.yaml"
    mine.write_text(src.read_text().replace("id: kiosk-rush", "id: my-rush"))
    r = generate(tmp_path / "out", "--domain", "kiosk", "--scenario", str(mine))
    assert r.exit_code == 0, r.output
    truth = (tmp_path / "out" / "kiosk.ground_truth.jsonl").read_text()
    assert '"subject_id":"my-rush"' in truth


def test_schedules_are_per_domain_and_independent(project: Project) -> None:
    """Adding a domain to the timeline leaves another's schedule exactly as it was."""
    both = scheduled(project, ("kiosk", "marketplace"), 5, START_MS, START_MS + 3 * DAY)
    alone = scheduled(project, ("marketplace",), 5, START_MS, START_MS + 3 * DAY)
    assert [i for i in both if i.domain == "marketplace"] == alone
    assert any(i.domain == "kiosk" for i in both)


def test_live_transitions_route_injections_and_truth_to_their_domain(project: Project) -> None:
    """In a two-domain control state an injected kiosk template lands on kiosk's topics, a
    marketplace scenario's truth on marketplace's, and scheduled events on their own."""
    domains = ("kiosk", "marketplace")
    s0 = initial_state(
        0, START_MS, 60.0, seed=5, scale=1.0, shards=2, domains=domains, project=project
    )
    inj = Command(request_id="r1", action="inject", template="rail-strike")
    s1 = apply_command(s0, inj, offset=0, wall=0, project=project)
    assert s1.rejected is None
    assert s1.injections[-1].domain == "kiosk"
    crisis = get_scenario("supply-crisis", project)
    start = Command(
        request_id="r2", action="scenario.start", scenario=crisis.model_dump(mode="json")
    )
    s2 = apply_command(s1, start, offset=1, wall=1_000, project=project)
    moved = advance(s2, 2 * DAY // 60, project)  # two sim days at 60x
    assert moved is not None
    topics = {topic for topic, _ in moved[1]}
    assert {"kiosk.external_events", "kiosk.ground_truth"} <= topics
    assert {"marketplace.external_events", "marketplace.ground_truth"} <= topics
    for topic, record in moved[1]:
        assert record["domain"] == topic.split(".", 1)[0]
    scen = [r for t, r in moved[1] if r.get("kind") == "scenario"]
    assert scen and {r["domain"] for r in scen} == {"marketplace"}


def test_an_unknown_template_names_the_templates_of_the_running_domains(
    project: Project,
) -> None:
    """`inject rail-strik`: rejected with did-you-mean across domains."""
    s0 = initial_state(
        0, START_MS, 60.0, seed=5, scale=1.0, shards=2, domains=("kiosk",), project=project
    )
    bad = Command(request_id="r1", action="inject", template="rail-strik")
    s1 = apply_command(s0, bad, offset=0, wall=0, project=project)
    assert s1.rejected is not None
    assert "did you mean `rail-strike`?" in s1.rejected.reason


def test_due_names_each_records_domain(project: Project) -> None:
    """The one timeline function used live and in generate: records carry their domain."""
    inj = scheduled(project, ("kiosk", "marketplace"), 9, START_MS, START_MS + DAY)
    out = due(project, ("kiosk", "marketplace"), inj, (), START_MS, START_MS + DAY)
    assert len(out) == 2 * len(inj)
    assert all(rec["domain"] == topic.split(".", 1)[0] for topic, rec in out)
