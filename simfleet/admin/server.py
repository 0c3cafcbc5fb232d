"""Running the admin server with uvicorn."""

from __future__ import annotations

import uvicorn

from simfleet.admin.app import AdminApp, create_app
from simfleet.admin.security import check_bind
from simfleet.domain.pack import Project
from simfleet.errors import ConfigError
from simfleet.orchestrator.baseline import BaselineStats
from simfleet.settings import KafkaSettings

__all__ = ["serve"]


def serve(
    kafka: KafkaSettings,
    project: Project,
    host: str = "127.0.0.1",
    port: int = 8321,
    stats: BaselineStats | None = None,
) -> None:
    """Serve until interrupted; refuse a non-loopback host without SIMCTL_ADMIN_TOKEN."""
    token = check_bind(host)
    app = create_app(AdminApp(kafka, project, token=token, stats=stats))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
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
