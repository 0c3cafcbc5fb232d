"""WebSocket fan-out: one feed of decoded events, many clients, each with its subscriptions.

The Kafka side calls ``Hub.publish`` from its thread; everything else runs on the server's
event loop. Every ``batch_s`` the loop moves what arrived into a 60 s rolling buffer (and the
last 10 events of every stream), stamps each event with a ``cursor`` (strictly increasing
microseconds) and queues one batch per client with the events it subscribed to.

Protocol (JSON text frames):
- client -> server: ``{"type": "subscribe", "streams": [...], "lastTimestamp": cursor?,
  "maxRate": events/s?}``; ``{"type": "pong"}``; ``{"type": "ping"}``.
- server -> client: ``subscribed``, ``catchup`` (events after ``lastTimestamp`` from the buffer,
  or the last 10 per stream), ``events`` (a batch, with the per-stream ``counts`` the server saw
  in that window whether or not the client's rate let them through), ``dropped`` (how many
  events the client missed since the last notice), ``ping``, ``pong``, ``error``.

A client that reads too slowly never grows a queue without bound: once ``max_pending`` batches
wait, new ones are dropped and counted; so are events beyond its rate. Silent clients are
pinged every ``ping_s`` and dropped after ``stale_s`` without a word from them.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

__all__ = ["ANOMALIES", "GROUPS", "Client", "Hub", "matches"]

ANOMALIES = "anomalies"
GROUPS = {"high-frequency": "high", "medium-frequency": "medium", "low-frequency": "low"}


def matches(pattern: str, stream: str, cadence: dict[str, str]) -> bool:
    """Whether a subscription pattern covers a stream."""
    if stream == ANOMALIES:
        return pattern == ANOMALIES
    if pattern == "*":
        return True
    if pattern in GROUPS:
        return cadence.get(stream) == GROUPS[pattern]
    return fnmatchcase(stream, pattern)


@dataclass(slots=True)
class _Event:
    cursor: int
    at: float  # monotonic seconds, for the 60 s window
    stream: str
    frag: str  # the whole event as JSON


@dataclass(eq=False)
class Client:
    """One connection: its subscriptions, its bounded outbox, its rate budget."""

    send: Callable[[str], Awaitable[None]]
    close: Callable[[], Awaitable[None]]
    last_seen: float
    rate: float
    tokens: float
    patterns: tuple[str, ...] = ()
    matched: dict[str, bool] = field(default_factory=dict)
    outbox: deque[str] = field(default_factory=deque)
    dropped: int = 0
    dropped_total: int = 0
    sent_events: int = 0
    refilled: float = 0.0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def wants(self, stream: str, cadence: dict[str, str]) -> bool:
        """Whether any of its patterns covers ``stream`` (cached per stream)."""
        hit = self.matched.get(stream)
        if hit is None:
            hit = self.matched[stream] = any(matches(p, stream, cadence) for p in self.patterns)
        return hit


class Hub:
    """Fans events out to WebSocket clients."""

    def __init__(
        self,
        cadence: dict[str, str] | None = None,
        *,
        window_s: float = 60.0,
        per_stream: int = 10,
        batch_s: float = 0.1,
        ping_s: float = 30.0,
        stale_s: float = 90.0,
        max_pending: int = 50,
        max_rate: float = 5000.0,
        max_catchup: int = 20_000,
        monotonic: Callable[[], float] = time.monotonic,
        wall_us: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        self.cadence = dict(cadence or {})
        self.window_s = window_s
        self.per_stream = per_stream
        self.batch_s = batch_s
        self.ping_s = ping_s
        self.stale_s = stale_s
        self.max_pending = max_pending
        self.max_rate = max_rate
        self.max_catchup = max_catchup
        self.monotonic = monotonic
        self.wall_us = wall_us
        self.clients: set[Client] = set()
        self.buffer: deque[_Event] = deque()
        self.latest: dict[str, deque[_Event]] = {}
        self.purged_upto = 0  # the newest cursor that left the buffer
        self.cursor = 0
        self.published = 0
        self._intake: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        self._last_ping = monotonic()

    # -- the Kafka side (any thread) -------------------------------------------------------
    def publish(self, stream: str, data_json: str | None) -> None:
        """Queue one decoded event (its record already serialised) for the next batch; None
        counts an event the feed did not decode (beyond its per-stream budget)."""
        with self._lock:
            self._intake.append((stream, data_json))

    def set_cadence(self, cadence: dict[str, str]) -> None:
        """The streams' cadence groups (known once the fleet's domains are)."""
        self.cadence = dict(cadence)
        for c in self.clients:
            c.matched.clear()

    # -- the event loop --------------------------------------------------------------------
    def connect(
        self, send: Callable[[str], Awaitable[None]], close: Callable[[], Awaitable[None]]
    ) -> Client:
        """Register a connection (it receives nothing until it subscribes)."""
        now = self.monotonic()
        c = Client(
            send=send,
            close=close,
            last_seen=now,
            rate=self.max_rate,
            tokens=self.max_rate,
            refilled=now,
        )
        self.clients.add(c)
        return c

    def disconnect(self, c: Client) -> None:
        """Forget a connection."""
        c.closed = True
        c.wake.set()
        self.clients.discard(c)

    def _queue(self, c: Client, message: str, events: int) -> None:
        if len(c.outbox) >= self.max_pending:
            c.dropped += events
            c.dropped_total += events
            return
        c.outbox.append(message)
        c.sent_events += events
        c.wake.set()

    def received(self, c: Client, text: str) -> None:
        """A frame from a client: any frame proves it alive."""
        c.last_seen = self.monotonic()
        try:
            msg: Any = json.loads(text)
        except ValueError:
            msg = None
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "pong":
            return
        if kind == "ping":
            self._queue(c, json.dumps({"type": "pong"}), 0)
            return
        if kind == "subscribe" and isinstance(msg, dict):
            streams = msg.get("streams")
            last = msg.get("lastTimestamp")
            rate = msg.get("maxRate")
            if (
                isinstance(streams, list)
                and all(isinstance(s, str) for s in streams)
                and (last is None or isinstance(last, int))
                and (rate is None or (isinstance(rate, int | float) and rate > 0))
            ):
                self.subscribe(c, tuple(streams), last, None if rate is None else float(rate))
                return
        self._queue(
            c,
            json.dumps(
                {
                    "type": "error",
                    "detail": 'send {"type": "subscribe", "streams": ["*"], "lastTimestamp": '
                    '<cursor of the last event you got>, "maxRate": <events/s>}, '
                    '{"type": "pong"} or {"type": "ping"}',
                }
            ),
            0,
        )

    def subscribe(
        self, c: Client, patterns: tuple[str, ...], last: int | None, rate: float | None
    ) -> None:
        """Set a client's subscriptions and send its catch-up: the buffered events after
        ``last``, or the last few of every subscribed stream. Runs between two flushes, so
        the catch-up and the batches after it neither overlap nor leave a gap."""
        c.patterns = patterns
        c.matched.clear()
        c.rate = min(rate or self.max_rate, self.max_rate)
        c.tokens = min(c.tokens, c.rate)
        known = sorted({*self.latest, *self.cadence})
        self._queue(
            c,
            json.dumps(
                {
                    "type": "subscribed",
                    "streams": list(patterns),
                    "matched": [s for s in known if c.wants(s, self.cadence)],
                    "maxRate": c.rate,
                }
            ),
            0,
        )
        if last is not None:
            picked = [e for e in self.buffer if e.cursor > last and c.wants(e.stream, self.cadence)]
            complete = last >= self.purged_upto
        else:
            picked = sorted(
                (e for s, q in self.latest.items() if c.wants(s, self.cadence) for e in q),
                key=lambda e: e.cursor,
            )
            complete = True
        if len(picked) > self.max_catchup:
            complete = False
            picked = picked[-self.max_catchup :]
        body = ",".join(e.frag for e in picked)
        self._queue(
            c,
            f'{{"type":"catchup","complete":{json.dumps(complete)},"events":[{body}]}}',
            len(picked),
        )

    def flush(self) -> int:
        """Move what arrived into the buffer and the clients' outboxes; the events moved."""
        with self._lock:
            intake, self._intake = self._intake, []
        now = self.monotonic()
        fresh: list[_Event] = []
        counts: dict[str, int] = {}
        for stream, data in intake:
            counts[stream] = counts.get(stream, 0) + 1
            if data is None:
                continue
            self.cursor = max(self.wall_us(), self.cursor + 1)
            frag = f'{{"stream":{json.dumps(stream)},"cursor":{self.cursor},"data":{data}}}'
            ev = _Event(self.cursor, now, stream, frag)
            fresh.append(ev)
            self.buffer.append(ev)
            q = self.latest.get(stream)
            if q is None:
                q = self.latest[stream] = deque(maxlen=self.per_stream)
            q.append(ev)
        self.published += len(fresh)
        while self.buffer and now - self.buffer[0].at > self.window_s:
            self.purged_upto = self.buffer.popleft().cursor
        if not counts:
            return 0
        for c in list(self.clients):
            if not c.patterns:
                continue
            seen = {s: n for s, n in counts.items() if c.wants(s, self.cadence)}
            if not seen:
                continue
            mine = [e for e in fresh if c.wants(e.stream, self.cadence)]
            c.tokens = min(c.rate, c.tokens + (now - c.refilled) * c.rate)
            c.refilled = now
            allowed = max(0, min(len(mine), int(c.tokens)))
            c.tokens -= allowed
            if allowed < len(mine):
                c.dropped += len(mine) - allowed
                c.dropped_total += len(mine) - allowed
                mine = mine[:allowed]
            body = ",".join(e.frag for e in mine)
            self._queue(
                c,
                f'{{"type":"events","counts":{json.dumps(seen)},"events":[{body}]}}',
                len(mine),
            )
        return len(fresh)

    async def check_liveness(self) -> None:
        """Ping every client each ``ping_s``; close those silent for ``stale_s``."""
        now = self.monotonic()
        for c in list(self.clients):
            if now - c.last_seen > self.stale_s:
                self.disconnect(c)
                await c.close()
        if now - self._last_ping >= self.ping_s:
            self._last_ping = now
            for c in self.clients:
                self._queue(c, json.dumps({"type": "ping", "cursor": self.cursor}), 0)

    async def run(self) -> None:
        """The loop's side: flush every ``batch_s`` until cancelled."""
        while True:
            self.flush()
            await self.check_liveness()
            await asyncio.sleep(self.batch_s)  # the batching cadence itself

    async def pump(self, c: Client) -> None:
        """Send a client's outbox as it fills; a drop notice goes before the next message."""
        while not c.closed:
            await c.wake.wait()
            c.wake.clear()
            while c.outbox and not c.closed:
                if c.dropped:
                    n, c.dropped = c.dropped, 0
                    await c.send(
                        json.dumps({"type": "dropped", "count": n, "total": c.dropped_total})
                    )
                await c.send(c.outbox.popleft())
