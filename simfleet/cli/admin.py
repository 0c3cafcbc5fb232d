"""`simctl admin run`: the admin web page, HTTP API, WebSocket and /metrics of a running fleet.

`simctl up` serves it too (--admin-port, --no-admin); run it by hand against any fleet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simfleet.cli.options import (
    CONNECTION,
    NO_FLAGS,
    AdminHostOpt,
    AdminPortOpt,
    Flags,
    build_settings,
    kafka_of,
    project_of,
    settings_options,
)

app = typer.Typer(
    help="The admin server: web page, HTTP API (/docs), WebSocket /ws, Prometheus /metrics.",
    no_args_is_help=True,
)


@app.command("run")
@settings_options(*CONNECTION, "pack_dir", "scenarios_dir")
def admin_run(
    admin_port: AdminPortOpt = 8321,
    admin_host: AdminHostOpt = "127.0.0.1",
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="Baseline from `simctl baseline`: /api/history then normalises counts 0-100."
        ),
    ] = None,
    flags: Flags = NO_FLAGS,
) -> None:
    """Serve the admin page and API of the fleet on --bootstrap-servers (Ctrl-C stops it)."""
    from simfleet.admin.security import check_bind
    from simfleet.admin.server import serve
    from simfleet.orchestrator.baseline import BaselineStats

    check_bind(admin_host)  # before any broker: a refused bind fails fast
    settings = build_settings(**flags)
    stats = BaselineStats.from_json(baseline) if baseline is not None else None
    kafka = kafka_of(settings)
    typer.echo(f"admin server on http://{admin_host}:{admin_port}/ (API docs at /docs)", err=True)
    serve(kafka, project_of(settings), admin_host, admin_port, stats)
