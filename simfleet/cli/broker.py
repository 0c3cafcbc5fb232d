"""`simctl broker`: run the embedded Tansu broker in the foreground or in the background."""

from __future__ import annotations

import json
import signal
from types import FrameType
from typing import Annotated

import typer

from simfleet.broker import (
    EmbeddedBroker,
    broker_status,
    record_foreground,
    start_detached,
    stop_detached,
)
from simfleet.errors import BrokerError

app = typer.Typer(
    help=(
        "Run the embedded Kafka broker (a memory-only Tansu process shipped with simfleet).\n\n"
        "`simctl broker up` runs it in this terminal until Ctrl-C; `--detach` leaves it "
        "running in the background, recorded in .simfleet/broker.json (or $SIMCTL_STATE_DIR) "
        "so that other simctl commands find it without --bootstrap-servers. Data lives in "
        "memory only: stopping the broker discards every topic."
    ),
    no_args_is_help=True,
)

_PortOption = Annotated[
    int | None,
    typer.Option(
        "--port",
        "-p",
        min=1,
        max=65535,
        help="Port to listen on at 127.0.0.1. Leave it out to let the OS pick a free one.",
    ),
]


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@app.command()
def up(
    port: _PortOption = None,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            "-d",
            help=(
                "Start it in the background and return; stop it later with "
                "`simctl broker down`. Without it the broker runs until Ctrl-C."
            ),
        ),
    ] = False,
) -> None:
    """Start the embedded broker and print its bootstrap address."""
    if detach:
        info = start_detached(port)
        typer.echo(info.bootstrap)
        typer.echo(
            f"Embedded broker running in the background (pid {info.pid}, log {info.log_path}). "
            "Stop it with `simctl broker down`.",
            err=True,
        )
        return
    existing, alive, _ = broker_status()
    if existing is not None and alive:
        raise BrokerError(
            f"An embedded broker is already running at {existing.bootstrap} "
            f"(pid {existing.pid}). Use it, or stop it first with `simctl broker down`."
        )
    # SIGTERM gets the same clean stop as Ctrl-C: the broker lives in its own session and
    # would otherwise outlive simctl.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    broker = EmbeddedBroker()
    try:
        broker.start(port=port)
        forget = record_foreground(broker)
        try:
            typer.echo(broker.bootstrap)
            typer.echo("Embedded broker running; press Ctrl-C to stop it.", err=True)
            status = broker.wait()
        finally:
            forget()
        raise BrokerError(
            f"The embedded broker exited on its own with status {status}; see its log "
            f"{broker.log_path}."
        )
    except KeyboardInterrupt:
        typer.echo("Stopping the embedded broker.", err=True)
    finally:
        broker.stop()
        signal.signal(signal.SIGTERM, previous)


@app.command()
def down() -> None:
    """Stop the background broker started with `simctl broker up --detach`."""
    if stop_detached():
        typer.echo("Embedded broker stopped.")
    else:
        typer.echo("No embedded broker was running.")


@app.command()
def status(
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help=(
                "Print one JSON object (running, reachable, pid, port, bootstrap, log_path, "
                "started_at) for scripts."
            ),
        ),
    ] = False,
) -> None:
    """Show whether the recorded embedded broker runs and answers Kafka requests."""
    info, alive, reachable = broker_status()
    if as_json:
        payload: dict[str, object] = {"running": alive, "reachable": reachable}
        if info is not None:
            payload.update(info.model_dump(mode="json"))
        typer.echo(json.dumps(payload, sort_keys=True))
        return
    if info is None:
        typer.echo("No embedded broker recorded. Start one with `simctl broker up --detach`.")
        return
    if not alive:
        typer.echo(
            f"The recorded embedded broker (pid {info.pid}) is not running; its log is "
            f"{info.log_path}. Start a new one with `simctl broker up --detach`."
        )
        return
    state = "reachable" if reachable else "NOT answering metadata requests"
    typer.echo(
        f"Embedded broker at {info.bootstrap}: pid {info.pid}, {state}, started "
        f"{info.started_at.isoformat(timespec='seconds')}, log {info.log_path}."
    )
