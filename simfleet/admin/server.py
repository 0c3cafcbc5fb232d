"""Running the admin server with uvicorn."""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence

import uvicorn
import uvicorn.config

from simfleet.admin.app import AdminApp, create_app
from simfleet.admin.security import Access, check_bind
from simfleet.domain.pack import Project
from simfleet.errors import ConfigError
from simfleet.logs import uvicorn_log_config
from simfleet.orchestrator.baseline import BaselineStats
from simfleet.settings import KafkaSettings

__all__ = ["check_port", "serve"]


def check_port(host: str, port: int) -> None:
    """A ConfigError when ``host:port`` cannot be listened on (another server holds it), so
    nobody announces someone else's server as theirs."""
    # bound as uvicorn binds: same family, SO_REUSEADDR (a port in TIME_WAIT is free)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise ConfigError(
                    f"--admin-host {host} --admin-port {port}: cannot listen there "
                    f"({exc.strerror}). Give an address of this machine with --admin-host and "
                    "a free port with --admin-port, or turn the server off with --no-admin."
                ) from exc
            raise ConfigError(
                f"--admin-port {port}: {host}:{port} is already in use, by another fleet's "
                "admin server or another program, and this one will not be announced in its "
                "place. Pick a free port with --admin-port, stop what holds it, or turn the "
                "admin server off with --no-admin."
            ) from exc


def serve(
    kafka: KafkaSettings,
    project: Project,
    host: str = "127.0.0.1",
    port: int = 8321,
    stats: BaselineStats | None = None,
    allowed_hosts: Sequence[str] = (),
    allowed_origins: Sequence[str] = (),
    *,
    log_json: bool = False,
) -> None:
    """Serve until interrupted; refuse a non-loopback host without SIMCTL_ADMIN_TOKEN.
    ``log_json``: uvicorn's lines as JSON lines too."""
    token = check_bind(host)
    access = Access.build(token, host, allowed_hosts, allowed_origins)
    app = create_app(AdminApp(kafka, project, token=token, stats=stats), access)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        log_config=uvicorn_log_config() if log_json else uvicorn.config.LOGGING_CONFIG,
        # protocol pings every 30 s; a client that has not answered 60 s later (90 s of
        # silence in all) is dropped
        ws_ping_interval=30.0,
        ws_ping_timeout=60.0,
    )
    server = uvicorn.Server(config)
    try:
        server.run()
    except OSError as exc:
        raise ConfigError(
            f"--admin-port {port}: cannot listen on {host}:{port} ({exc.strerror}). Pick a free "
            "port with --admin-port, or turn the server off with --no-admin."
        ) from exc
    if not server.started:
        raise ConfigError(
            f"--admin-port {port}: the admin server could not listen on {host}:{port} (is the "
            "port taken?). Pick a free port with --admin-port, or turn it off with --no-admin."
        )
