"""The admin server's gate: every request and WebSocket passes it before any route.

In order: the ``Host`` (403, DNS rebinding), the token (401), then for a state-changing request
the ``Origin`` (403, CSRF), the body's size (413, from ``Content-Length`` and while reading a
chunked body), its type (415 unless ``application/json``; a request with no body may omit it)
and that it parses as JSON (422). The body is read here, at most ``max_body`` bytes, and handed
on to the route, so no route ever takes a body this gate has not measured. The WebSocket gets
the Host, token and Origin checks before the upgrade (closed with 1008: the client sees 403).
Every refusal is a problem detail (RFC 9457). The rules are in ``simfleet.admin.security``.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from simfleet.admin.problems import problem_response
from simfleet.admin.security import HOSTS_ENV, ORIGINS_ENV, TOKEN_ENV, Access, authorized

__all__ = ["Guard"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class _Refused(Exception):  # noqa: N818 (a refusal, answered as a problem)
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


def _host_refused(host: str | None) -> _Refused:
    return _Refused(
        403,
        "Host not allowed",
        f"Host {host!r} is not a name of this admin server, so the request may come from a web "
        "page that pointed its own name at this machine (DNS rebinding). Reach the server as "
        "localhost or by its address, or allow the name with --admin-allowed-host NAME (or "
        f"{HOSTS_ENV}).",
    )


def _origin_refused(origin: str, host: str | None) -> _Refused:
    return _Refused(
        403,
        "Cross-origin request refused",
        f"Origin {origin!r} is not this server ({host}): a page of another site may not change "
        "the fleet (CSRF). Use the admin page itself; from a script send no Origin or "
        f"`Authorization: Bearer <{TOKEN_ENV}>`; or allow the origin with "
        f"--admin-allowed-origin (or {ORIGINS_ENV}).",
    )


def _too_large(limit: int) -> _Refused:
    return _Refused(
        413,
        "Request body too large",
        f"The body is over {limit:,} bytes, more than any request of this API needs. Send the "
        "JSON object the route documents (/docs).",
    )


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


class Guard:
    """ASGI middleware applying an ``Access`` to every request and WebSocket."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse what ``access`` forbids; pass the rest on (a state-changing body read)."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            self._check_peer(scope, headers)
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
                return
            self._check_length(headers)
            if scope["method"] in SAFE_METHODS:
                await self.app(scope, receive, send)
                return
            body = await self._read_body(headers, receive)
        except _Refused as no:
            await self._refuse(scope, receive, send, no)
            return
        if body is None:
            return  # the client went away while sending
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # http.disconnect, when it comes

        await self.app(scope, replay, send)

    def _check_peer(self, scope: Scope, headers: Headers) -> None:
        """Host, token, and (state-changing requests and WebSockets) Origin."""
        hosts = headers.getlist("host")
        if len(hosts) > 1:  # RFC 9112 3.2: a request with two Hosts is bad; either may lie
            raise _Refused(400, "Bad Host", f"{len(hosts)} Host headers ({', '.join(hosts)}).")
        host = hosts[0] if hosts else None
        if not self.access.host_allowed(host):
            raise _host_refused(host)
        path: str = scope["path"]
        query = QueryParams(scope.get("query_string", b"")).get("access_token")
        auth = headers.get("authorization")
        if not path.startswith("/static/") and not authorized(self.access.token, auth, query):
            raise _Refused(
                401,
                "Unauthorized",
                f"This admin server requires `Authorization: Bearer <{TOKEN_ENV}>` "
                "(or ?access_token=<token> for the page).",
            )
        origin = headers.get("origin")
        changes = scope["type"] == "websocket" or scope["method"] not in SAFE_METHODS
        if (
            changes
            and origin is not None
            and not self.access.token_in_header(auth)
            and not self.access.origin_allowed(origin, host)
        ):
            raise _origin_refused(origin, host)

    def _check_length(self, headers: Headers) -> None:
        length = headers.get("content-length")
        if length is None:
            return
        try:
            n = int(length)
        except ValueError:
            raise _Refused(400, "Bad Content-Length", f"Content-Length {length!r}.") from None
        if n > self.access.max_body:
            raise _too_large(self.access.max_body)

    async def _read_body(self, headers: Headers, receive: Receive) -> bytes | None:
        """The whole body, at most ``max_body`` bytes, of JSON type; None if the client left."""
        content_type = headers.get("content-type")
        if content_type is not None and _media_type(content_type) != "application/json":
            raise _unsupported(content_type)
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.access.max_body:
                raise _too_large(self.access.max_body)
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if body and content_type is None:
            raise _unsupported(None)
        if body:
            try:
                json.loads(body)
            except ValueError as exc:
                raise _Refused(
                    422, "Invalid request", f"body: not a JSON document ({exc})."
                ) from None
        return body

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, no: _Refused) -> None:
        if scope["type"] == "websocket":
            # closed before the upgrade: the client's handshake gets 403
            await WebSocket(scope, receive, send).close(code=1008, reason=no.title)
            return
        response = problem_response(no.status, no.title, no.detail, scope["path"])
        if no.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)


def _unsupported(content_type: str | None) -> _Refused:
    given = "no Content-Type" if content_type is None else f"Content-Type {content_type!r}"
    return _Refused(
        415,
        "Unsupported media type",
        f"This route takes a JSON body and got {given}. Send `Content-Type: application/json` "
        "(a body-less request may leave it out); forms and text are refused so that a page of "
        "another site cannot submit one here.",
    )
