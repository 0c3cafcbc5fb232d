"""Who may talk to the admin server: loopback by default, a bearer token anywhere else."""

from __future__ import annotations

import hmac
import ipaddress
import os

from simfleet.errors import ConfigError

__all__ = ["TOKEN_ENV", "authorized", "check_bind"]

TOKEN_ENV = "SIMCTL_ADMIN_TOKEN"  # noqa: S105 (the variable's name, not a secret)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None = None) -> str | None:
    """The token the server requires (None: none), or a ConfigError when ``host`` is not
    loopback and no token is set."""
    token = token if token is not None else os.environ.get(TOKEN_ENV) or None
    if token is None and not _loopback(host):
        raise ConfigError(
            f"--admin-host {host}: the admin server starts and stops scenarios, so it listens "
            f"beyond this machine only behind a bearer token, and {TOKEN_ENV} is not set. Set "
            f"it (e.g. `export {TOKEN_ENV}=$(openssl rand -hex 24)`) and send "
            "`Authorization: Bearer <token>`, or keep the default --admin-host 127.0.0.1."
        )
    return token


def authorized(expected: str | None, header: str | None, query: str | None) -> bool:
    """True when no token is required, or the bearer header (or ``access_token`` query
    parameter, for the page and the WebSocket, which browsers cannot give headers) holds it."""
    if expected is None:
        return True
    given = None
    if header and header.lower().startswith("bearer "):
        given = header[7:].strip()
    elif query:
        given = query
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
