"""Problem details (RFC 9457): how the admin server answers every error."""

from __future__ import annotations

from fastapi.responses import JSONResponse

__all__ = ["Problem", "problem_response"]


class Problem(Exception):  # noqa: N818 (it is the RFC's name)
    """An error answered as ``application/problem+json``."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


def problem_response(status: int, title: str, detail: str, instance: str) -> JSONResponse:
    """The ``application/problem+json`` response of one error."""
    return JSONResponse(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": instance,
        },
        status_code=status,
        media_type="application/problem+json",
    )
