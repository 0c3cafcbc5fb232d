"""`settings_options`: a command names the settings options it takes, declared once in
simfleet.cli.options, and receives them as one mapping keyed by Settings field."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from simfleet.cli.options import NO_FLAGS, Flags, settings_options


def _app(seen: dict[str, Any]) -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @app.command()
    @settings_options("config", "bootstrap", "pack_dir")
    def probe(
        name: Annotated[str, typer.Argument()],
        flags: Flags = NO_FLAGS,
        loud: Annotated[bool, typer.Option("--loud")] = False,
    ) -> None:
        seen.update(flags, name=name, loud=loud)

    return app


def test_the_options_arrive_keyed_by_settings_field() -> None:
    seen: dict[str, Any] = {}
    args = ["x", "-b", "h:9092", "--pack-dir", "a", "--pack-dir", "b", "--config", "c.yaml"]
    result = CliRunner().invoke(_app(seen), [*args, "--loud"])
    assert result.exit_code == 0, result.output
    assert seen == {
        "config": Path("c.yaml"),
        "bootstrap_servers": "h:9092",
        "pack_dirs": [Path("a"), Path("b")],
        "name": "x",
        "loud": True,
    }


def test_options_not_given_arrive_as_none_and_stand_where_flags_was() -> None:
    seen: dict[str, Any] = {}
    app = _app(seen)
    assert CliRunner().invoke(app, ["x"]).exit_code == 0
    assert seen == {
        "config": None,
        "bootstrap_servers": None,
        "pack_dirs": None,
        "name": "x",
        "loud": False,
    }
    params = [p.name for p in typer.main.get_command(app).params]
    assert params == ["name", "config", "bootstrap", "pack_dir", "loud"]


def test_an_unknown_option_name_is_refused_when_declared() -> None:
    with pytest.raises(ValueError, match="no settings option"):
        settings_options("bootstrapp")
