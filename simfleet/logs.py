"""structlog configuration: called once, by the entry point of each process."""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable

import structlog

__all__ = ["RepeatFilter", "configure_logging", "librdkafka_logger"]

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


def librdkafka_logger() -> logging.Logger:
    """The logger handed to librdkafka clients (their ``logger`` setting): one line per kind
    of complaint every few seconds on stderr, never a flood."""
    log = logging.getLogger("simfleet.librdkafka")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("kafka: %(message)s"))
        handler.addFilter(RepeatFilter())
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


def configure_logging(level: str = "info", json: bool = False) -> None:
    """Log to stderr: key=value lines for people, JSON lines with ``json=True``."""
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
