"""structlog configuration: called once, by the entry point of each process."""

from __future__ import annotations

import json as jsonlib
import logging
import re
import sys
import threading
import time
from collections.abc import Callable

import structlog

__all__ = [
    "JsonLineFormatter",
    "RepeatFilter",
    "configure_logging",
    "librdkafka_logger",
    "logs_json",
    "uvicorn_log_config",
]

# what differs between two repeats of one librdkafka complaint: the client's name and numbers
_VARYING = re.compile(r"rdkafka#\w+-\d+|\d+")
REPEAT_WINDOW_S = 10.0


class RepeatFilter(logging.Filter):
    """Lets a message through once per window; a repeat within it is counted, not shown, and
    the next one shown says how many were held back. librdkafka retries a refused connection
    every few dozen milliseconds and logs each: 36 lines a second from one process."""

    def __init__(
        self, window_s: float = REPEAT_WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        """True to show the record (with the count of repeats held back since the last one)."""
        key = _VARYING.sub("#", record.getMessage())
        now = self._clock()
        with self._lock:
            shown_at, held = self._seen.get(key, (float("-inf"), 0))
            if now - shown_at < self.window_s:
                self._seen[key] = (shown_at, held + 1)
                return False
            self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.getMessage()} (and {held} more like it)"
            record.args = ()
        return True


class JsonLineFormatter(logging.Formatter):
    """A stdlib log record as one JSON line with structlog's keys (event, level, timestamp),
    so that librdkafka's and uvicorn's lines read like the rest under --log-json."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object on one line."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return jsonlib.dumps(
            {
                "event": record.getMessage(),
                "logger": record.name,
                "level": record.levelname.lower(),
                "timestamp": f"{stamp}.{int(record.msecs):03d}Z",
            }
        )


# the one switch configure_logging sets: stdlib loggers made later follow it
_JSON = {"on": False}


def logs_json() -> bool:
    """True when this process logs JSON lines (``configure_logging(json=True)``)."""
    return _JSON["on"]


def _kafka_formatter() -> logging.Formatter:
    return JsonLineFormatter() if _JSON["on"] else logging.Formatter("kafka: %(message)s")


def librdkafka_logger() -> logging.Logger:
    """The logger handed to librdkafka clients (their ``logger`` setting): one line per kind
    of complaint every few seconds on stderr, never a flood."""
    log = logging.getLogger("simfleet.librdkafka")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_kafka_formatter())
        handler.addFilter(RepeatFilter())
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


def uvicorn_log_config() -> dict[str, object]:
    """uvicorn's ``log_config`` writing JSON lines to stderr (the admin server's --log-json)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "simfleet.logs.JsonLineFormatter"}},
        "handlers": {"default": handler},
        "loggers": {
            name: {"handlers": ["default"], "level": "WARNING", "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure_logging(level: str = "info", json: bool = False) -> None:
    """Log to stderr: key=value lines for people, JSON lines with ``json=True`` (librdkafka's
    lines too)."""
    _JSON["on"] = json
    for handler in logging.getLogger("simfleet.librdkafka").handlers:
        handler.setFormatter(_kafka_formatter())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
