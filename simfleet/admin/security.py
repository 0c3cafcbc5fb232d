"""Who may talk to the admin server, and from which page.

- **Bind**: loopback by default; anywhere else only behind a bearer token (``check_bind``).
- **Host** (DNS rebinding): every request's ``Host`` must name this server: ``localhost``, a
  loopback address, the bound address, or a name allowed with ``--admin-allowed-host``. A
  server bound to every interface (``0.0.0.0``, ``::``) also answers to any IP address, since
  a rebinding attack needs a name of its own; other names must be listed (``*``: any).
- **Origin** (CSRF): a state-changing request (anything but GET, HEAD, OPTIONS) and the
  WebSocket carrying an ``Origin`` must come from the server's own origin, or an origin allowed
  with ``--admin-allowed-origin``, unless it holds the token in its ``Authorization`` header.
- **Body**: a state-changing request's body is JSON (``Content-Type: application/json``) of at
  most ``max_body`` bytes. ``simfleet.admin.guard`` applies all of it.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass

from simfleet.errors import ConfigError

__all__ = [
    "HOSTS_ENV",
    "MAX_BODY",
    "ORIGINS_ENV",
    "TOKEN_ENV",
    "Access",
    "authorized",
    "bearer",
    "check_bind",
]

TOKEN_ENV = "SIMCTL_ADMIN_TOKEN"  # noqa: S105 (the variable's name, not a secret)
HOSTS_ENV = "SIMCTL_ADMIN_ALLOWED_HOSTS"
ORIGINS_ENV = "SIMCTL_ADMIN_ALLOWED_ORIGINS"
MAX_BODY = 64 * 1024  # the largest body the API takes is a scenario id and a few params
WILDCARDS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 (names, not a bind)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    ip = _ip(host)
    return ip is not None and ip.is_loopback


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


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if that is what it holds."""
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def authorized(expected: str | None, header: str | None, query: str | None) -> bool:
    """True when no token is required, or the bearer header (or ``access_token`` query
    parameter, for the page and the WebSocket, which browsers cannot give headers) holds it."""
    if expected is None:
        return True
    given = bearer(header)
    if given is None and query:
        given = query
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def host_name(header: str) -> str:
    """The host of a ``Host`` header, without port or IPv6 brackets, lower case."""
    h = header.strip().lower()
    if h.startswith("["):
        end = h.find("]")
        return h[1:end] if end > 0 else h
    name, sep, port = h.rpartition(":")
    if sep and ":" not in name and port.isdigit():
        h = name
    return h.rstrip(".")


def _check_host(value: str) -> str:
    name = host_name(value)
    if not name or "/" in value or "://" in value or (name != "*" and "*" in name):
        raise ConfigError(
            f"--admin-allowed-host {value!r}: give a host name or address the admin server "
            "is reached by, without scheme or path (e.g. fleet.example.org or 192.168.1.20), "
            "or * to accept any Host."
        )
    return name


def _check_origin(value: str) -> str:
    origin = value.strip().lower().rstrip("/")
    scheme, sep, netloc = origin.partition("://")
    if not sep or scheme not in ("http", "https") or not netloc or "/" in netloc:
        raise ConfigError(
            f"--admin-allowed-origin {value!r}: give an origin as a browser sends it, "
            "scheme://host[:port] with no path (e.g. https://dashboards.example.org)."
        )
    return origin


def _split(values: Iterable[str]) -> list[str]:
    return [v for value in values for v in value.replace(",", " ").split()]


@dataclass(frozen=True)
class Access:
    """Who may reach the admin server and change the fleet through it (see the module)."""

    token: str | None = None
    bind_host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    max_body: int = MAX_BODY

    @classmethod
    def build(
        cls,
        token: str | None,
        bind_host: str,
        hosts: Iterable[str] = (),
        origins: Iterable[str] = (),
    ) -> Access:
        """Checked settings (a ConfigError names a bad value); each of ``hosts`` and
        ``origins`` may hold several, comma or space separated (as an environment variable
        gives them)."""
        return cls(
            token=token,
            bind_host=host_name(bind_host),
            allowed_hosts=tuple(_check_host(h) for h in _split(hosts)),
            allowed_origins=tuple(_check_origin(o) for o in _split(origins)),
        )

    def host_allowed(self, header: str | None) -> bool:
        """Whether a request's ``Host`` names this server (see the module docstring)."""
        if header is None:
            return True  # only non-browser HTTP/1.0 clients omit it: no rebinding there
        name = host_name(header)
        if "*" in self.allowed_hosts or name in ("localhost", self.bind_host):
            return True
        if name in self.allowed_hosts:
            return True
        ip = _ip(name)
        if ip is None:
            return False
        bound = _ip(self.bind_host)
        return ip.is_loopback or ip == bound or self.bind_host in WILDCARDS

    def origin_allowed(self, origin: str, host: str | None) -> bool:
        """Whether an ``Origin`` is this server's own (scheme://<the Host it was reached by>)
        or an allowed one. ``null`` (a sandboxed or privacy-masked page) is not."""
        o = origin.strip().lower().rstrip("/")
        if o in self.allowed_origins:
            return True
        scheme, sep, netloc = o.partition("://")
        if not sep or scheme not in ("http", "https") or host is None:
            return False
        return netloc == host.strip().lower()

    def token_in_header(self, header: str | None) -> bool:
        """A token is required and the ``Authorization`` header holds it (a script, not a
        page: pages of other sites cannot know it, and cannot set headers without CORS)."""
        given = bearer(header)
        return (
            self.token is not None
            and given is not None
            and hmac.compare_digest(given.encode(), self.token.encode())
        )
