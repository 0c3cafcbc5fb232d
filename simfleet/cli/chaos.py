"""`simctl chaos`: faults done to the infrastructure itself (chaos in the records is declared
in scenarios, see `chaos:`)."""

from __future__ import annotations

from typing import Annotated

import typer

from simfleet.broker import pause_broker
from simfleet.cli.options import duration_ms

app = typer.Typer(
    help="Faults done to the infrastructure: `simctl chaos pause-broker --for 10s`.",
    no_args_is_help=True,
)


@app.command("pause-broker")
def pause(
    for_: Annotated[
        int,
        typer.Option(
            "--for",
            parser=duration_ms,
            metavar="DURATION",
            help="How long the embedded broker hangs: 10s, 2m.",
        ),
    ],
) -> None:
    """Freeze the embedded broker (SIGSTOP), then resume it (SIGCONT): clients see it hang."""
    info = pause_broker(for_ / 1000)
    typer.echo(f"embedded broker {info.bootstrap} (pid {info.pid}) paused {for_ / 1000:g} s")
