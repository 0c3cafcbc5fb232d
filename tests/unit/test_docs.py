"""The README is a door: short, with a table of contents, and every link and command in the docs
leads somewhere real (files, headings, simctl commands and their options)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_README_LINES = 300
# documented commands that a build may not register yet; each is checked once it is
NOT_YET_REGISTERED = {"schema"}

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```")
# a fence that opens shell commands (no info string, or a shell); ```text and others are not
_SHELL_FENCE = re.compile(r"^```(sh|bash|shell|console)?$")


def _pages() -> list[Path]:
    """README.md, docs/*.md and each domain's page beside its pack."""
    pages = [README, *sorted((ROOT / "docs").glob("*.md"))]
    pages += sorted((ROOT / "producers").glob("*/README.md"))
    return pages


def _prose(text: str) -> str:
    """The text outside fenced code blocks (a `#` line in a block is no heading)."""
    out, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return "\n".join(out)


def _slug(heading: str) -> str:
    """The anchor a Markdown renderer gives a heading (GitHub's rule)."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#{1,6}\s+(.+)$", _prose(page.read_text()), flags=re.M)
    return {_slug(h) for h in headings}


def _links(page: Path) -> list[str]:
    return _LINK.findall(_prose(page.read_text()))


def test_readme_is_at_most_300_lines() -> None:
    n = len(README.read_text().splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines; move detail to docs/ (at most 300)"


def test_readme_has_a_table_of_contents_whose_links_reach_headings() -> None:
    text = README.read_text()
    match = re.search(r"^## Contents\n\n((?:- \[.+\]\(#.+\)\n)+)", text, flags=re.M)
    assert match, "README.md needs a '## Contents' list of '- [Title](#anchor)' lines"
    targets = re.findall(r"\]\(#([^)]+)\)", match.group(1))
    anchors = _anchors(README)
    missing = [t for t in targets if t not in anchors]
    assert not missing, f"table of contents entries with no heading: {missing}"
    sections = [_slug(h) for h in re.findall(r"^## (.+)$", _prose(text), flags=re.M)]
    unlisted = [s for s in sections if s not in targets and s != "contents"]
    assert not unlisted, f"sections missing from the table of contents: {unlisted}"


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for link in _links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", link):  # http:, https:, mailto:
            continue
        path_part, _, anchor = link.partition("#")
        # a page reached through the top-level producers link resolves from where it really is
        target = (page.resolve().parent / path_part).resolve() if path_part else page.resolve()
        if not target.exists():
            broken.append(f"{link} (no file {target})")
        elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
            broken.append(f"{link} (no heading #{anchor} in {target.name})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


def _commands(page: Path) -> list[str]:
    """The simctl command lines of a page's code blocks, continuation lines joined."""
    lines, fenced, shell, pending = [], False, False, ""
    for raw in page.read_text().splitlines():
        if _FENCE.match(raw):
            fenced, shell = not fenced, not fenced and bool(_SHELL_FENCE.match(raw.strip()))
            continue
        if not shell:
            continue
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        line = line.split(" # ")[0].split("&")[0].strip()
        words = line.split()
        while words and re.match(r"^[A-Z_]+=", words[0]):  # SIMCTL_SPEED=600 simctl ...
            words.pop(0)
        if words and words[0] == "simctl":
            lines.append(" ".join(words))
    return lines


def _cli() -> Any:
    from simfleet.cli.main import app

    return typer.main.get_command(app)


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_documented_simctl_command_and_option_exists(page: Path) -> None:
    root = _cli()
    wrong = []
    for line in _commands(page):
        words = shlex.split(line)[1:]
        cmd, path = root, ["simctl"]
        while words and hasattr(cmd, "commands") and not words[0].startswith("-"):
            name = words.pop(0)
            if name not in cmd.commands:
                if name not in NOT_YET_REGISTERED:
                    wrong.append(f"{line}: no command {' '.join([*path, name])!r}")
                cmd = None
                break
            cmd, path = cmd.commands[name], [*path, name]
        if cmd is None:
            continue
        known = {"--help"}
        for p in cmd.params:
            known.update(p.opts)
            known.update(p.secondary_opts)
        for w in words:
            flag = w.split("=")[0]
            if flag.startswith("-") and flag != "-" and flag not in known:
                wrong.append(f"{line}: {' '.join(path)} has no option {flag}")
    assert not wrong, f"{page.relative_to(ROOT)}: " + "; ".join(wrong)
