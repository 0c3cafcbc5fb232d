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
    LogJsonOpt,
    build_settings,
    kafka_of,
    project_of,
    settings_options,
)

# defined here, beside the command that serves; `simctl up` takes them too
AdminAllowedHostOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--admin-allowed-host",
        envvar="SIMCTL_ADMIN_ALLOWED_HOSTS",
        metavar="NAME",
        help="Another name the admin server answers to (repeatable; the environment variable "
        "takes several, space separated). It always answers to localhost, loopback addresses "
        "and the address it listens on; any other Host is refused (DNS rebinding). * accepts "
        "any name.",
        show_default=False,
    ),
]
AdminAllowedOriginOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--admin-allowed-origin",
        envvar="SIMCTL_ADMIN_ALLOWED_ORIGINS",
        metavar="ORIGIN",
        help="Another origin (scheme://host[:port]) whose pages may change the fleet through "
        "the admin server (repeatable). By default only the admin page itself may (CSRF).",
        show_default=False,
    ),
]

app = typer.Typer(
    help="The admin server: web page, HTTP API (/docs), WebSocket /ws, Prometheus /metrics.",
    no_args_is_help=True,
)


@app.command("run")
@settings_options(*CONNECTION, "pack_dir", "scenarios_dir")
def admin_run(
    admin_port: AdminPortOpt = 8321,
    admin_host: AdminHostOpt = "127.0.0.1",
    admin_allowed_host: AdminAllowedHostOpt = None,
    admin_allowed_origin: AdminAllowedOriginOpt = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="Baseline from `simctl baseline`: /api/history then normalises counts 0-100."
        ),
    ] = None,
    flags: Flags = NO_FLAGS,
    log_json: LogJsonOpt = False,
) -> None:
    """Serve the admin page and API of the fleet on --bootstrap-servers (Ctrl-C stops it)."""
    from simfleet.admin.security import Access, check_bind
    from simfleet.admin.server import check_port, serve
    from simfleet.logs import configure_logging
    from simfleet.orchestrator.baseline import BaselineStats

    if log_json:
        configure_logging(json=True)
    hosts, origins = admin_allowed_host or [], admin_allowed_origin or []
    # before any broker: a refused bind, a bad name or a taken port fails fast
    Access.build(check_bind(admin_host), admin_host, hosts, origins)
    check_port(admin_host, admin_port)
    settings = build_settings(**flags)
    stats = BaselineStats.from_json(baseline) if baseline is not None else None
    kafka = kafka_of(settings)
    where = f"http://{admin_host}:{admin_port}/"
    if log_json:
        import structlog

        structlog.get_logger().info("admin.serving", url=where)
    else:
        typer.echo(f"admin server on {where} (API docs at /docs)", err=True)
    serve(
        kafka,
        project_of(settings),
        admin_host,
        admin_port,
        stats,
        hosts,
        origins,
        log_json=log_json,
    )
