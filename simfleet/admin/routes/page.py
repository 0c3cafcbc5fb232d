"""The web page: ``/`` and its assets under ``/static``."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

__all__ = ["STATIC", "router"]

STATIC = Path(str(files("simfleet.admin") / "static"))

router = APIRouter()


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    """The admin page (its script and styles are under /static)."""
    return FileResponse(STATIC / "index.html")
