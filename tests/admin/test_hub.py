"""The WebSocket hub on its own: subscriptions, catch-up, slow clients, rate limits, liveness.

Clients are in-memory senders (the hub only sees a send coroutine), the clock is injected;
the server-level tests (tests/admin/test_admin_live.py) drive the same hub through real
WebSockets against a fleet.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from simfleet.admin.hub import ANOMALIES, Hub, matches

CADENCE = {
    "marketplace.customer.search": "high",
    "marketplace.customer.signup": "low",
    "marketplace.booking.requested": "high",
    "marketplace.booking.confirmed": "medium",
    "marketplace.metrics": "medium",
}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Sink:
    """A client's socket: records what it was sent; ``gate`` makes it slow (blocked)."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.closed = False

    async def send(self, text: str) -> None:
        await self.gate.wait()
        self.frames.append(json.loads(text))

    async def close(self) -> None:
        self.closed = True

    def events(self) -> list[dict[str, Any]]:
        return [e for f in self.frames if f["type"] in ("events", "catchup") for e in f["events"]]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == kind]


def feed(hub: Hub, stream: str, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        hub.publish(stream, json.dumps({"i": i}))


async def settle(*tasks: asyncio.Task[None]) -> None:
    """Let the pump tasks send what is queued (no waiting on wall time)."""
    for _ in range(50):
        await asyncio.sleep(0)


def test_patterns_cover_their_streams() -> None:
    assert matches("*", "marketplace.booking.requested", CADENCE)
    assert not matches("*", ANOMALIES, CADENCE)
    assert matches(ANOMALIES, ANOMALIES, CADENCE)
    assert matches("marketplace.customer.*", "marketplace.customer.search", CADENCE)
    assert not matches("marketplace.customer.*", "marketplace.booking.requested", CADENCE)
    assert matches("high-frequency", "marketplace.booking.requested", CADENCE)
    assert not matches("high-frequency", "marketplace.customer.signup", CADENCE)
    assert matches("low-frequency", "marketplace.customer.signup", CADENCE)
    assert matches("marketplace.customer.signup", "marketplace.customer.signup", CADENCE)
    assert not matches("marketplace.customer.signup", "marketplace.customer.search", CADENCE)


def test_a_glob_subscriber_gets_only_its_streams_and_a_group_subscriber_its_group() -> None:
    async def run() -> None:
        hub = Hub(CADENCE)
        glob, group, everything = Sink(), Sink(), Sink()
        clients = []
        for sink, pats in (
            (glob, ["marketplace.customer.*"]),
            (group, ["high-frequency"]),
            (everything, ["*", ANOMALIES]),
        ):
            c = hub.connect(sink.send, sink.close)
            hub.received(c, json.dumps({"type": "subscribe", "streams": pats}))
            clients.append(asyncio.create_task(hub.pump(c)))
        for stream in CADENCE:
            feed(hub, stream, 3)
        hub.publish(ANOMALIES, json.dumps({"stream": "marketplace.customer.search"}))
        hub.flush()
        await settle()
        assert {e["stream"] for e in glob.events()} == {
            "marketplace.customer.search",
            "marketplace.customer.signup",
        }
        assert {e["stream"] for e in group.events()} == {
            "marketplace.customer.search",
            "marketplace.booking.requested",
        }
        assert {e["stream"] for e in everything.events()} == {*CADENCE, ANOMALIES}
        assert len(everything.events()) == 3 * len(CADENCE) + 1
        sub = glob.of("subscribed")[0]
        assert sub["matched"] == ["marketplace.customer.search", "marketplace.customer.signup"]
        counts = glob.of("events")[0]["counts"]
        assert counts == {"marketplace.customer.search": 3, "marketplace.customer.signup": 3}
        for t in clients:
            t.cancel()

    asyncio.run(run())


def test_catch_up_after_a_reconnect_has_no_gap_and_no_duplicate() -> None:
    async def run() -> None:
        hub = Hub(CADENCE)
        ref, first = Sink(), Sink()
        subscribe = {"type": "subscribe", "streams": ["marketplace.booking.*"]}
        r = hub.connect(ref.send, ref.close)
        hub.received(r, json.dumps(subscribe))
        a = hub.connect(first.send, first.close)
        hub.received(a, json.dumps(subscribe))
        tasks = [asyncio.create_task(hub.pump(r)), asyncio.create_task(hub.pump(a))]
        feed(hub, "marketplace.booking.requested", 5)
        feed(hub, "marketplace.customer.search", 5)
        hub.flush()
        await settle()
        last = first.events()[-1]["cursor"]
        hub.disconnect(a)  # the client goes away...
        for batch in range(3):  # ...while events keep coming
            feed(hub, "marketplace.booking.requested", 4, 100 + 10 * batch)
            feed(hub, "marketplace.booking.confirmed", 2, 100 + 10 * batch)
            hub.flush()
        again = Sink()
        b = hub.connect(again.send, again.close)
        hub.received(b, json.dumps(subscribe | {"lastTimestamp": last}))
        tasks.append(asyncio.create_task(hub.pump(b)))
        feed(hub, "marketplace.booking.requested", 3, 500)
        hub.flush()
        await settle()
        assert again.of("catchup")[0]["complete"] is True
        got = [e["cursor"] for e in first.events()] + [e["cursor"] for e in again.events()]
        assert len(got) == len(set(got)), "a duplicate after the reconnect"
        assert got == sorted(got)
        assert got == [e["cursor"] for e in ref.events()], "a gap after the reconnect"
        assert len(got) == 5 + 3 * 6 + 3
        for t in tasks:
            t.cancel()

    asyncio.run(run())


def test_without_last_timestamp_the_catch_up_is_the_last_ten_per_stream() -> None:
    async def run() -> None:
        hub = Hub(CADENCE)
        feed(hub, "marketplace.booking.requested", 25)
        feed(hub, "marketplace.customer.signup", 4)
        hub.flush()
        sink = Sink()
        c = hub.connect(sink.send, sink.close)
        hub.received(c, json.dumps({"type": "subscribe", "streams": ["*"]}))
        task = asyncio.create_task(hub.pump(c))
        await settle()
        caught = sink.of("catchup")[0]["events"]
        per: dict[str, list[int]] = {}
        for e in caught:
            per.setdefault(e["stream"], []).append(e["data"]["i"])
        assert per == {
            "marketplace.booking.requested": list(range(15, 25)),
            "marketplace.customer.signup": list(range(4)),
        }
        task.cancel()

    asyncio.run(run())


def test_the_buffer_holds_sixty_seconds_and_says_when_a_catch_up_is_incomplete() -> None:
    async def run() -> None:
        clock = Clock()
        hub = Hub(CADENCE, monotonic=clock)
        feed(hub, "marketplace.booking.requested", 3)
        hub.flush()
        first = hub.buffer[0].cursor
        clock.t += 61
        feed(hub, "marketplace.booking.requested", 2, 3)
        hub.flush()
        assert [json.loads(e.frag)["data"]["i"] for e in hub.buffer] == [3, 4]
        sink = Sink()
        c = hub.connect(sink.send, sink.close)
        hub.received(c, json.dumps({"type": "subscribe", "streams": ["*"], "lastTimestamp": first}))
        task = asyncio.create_task(hub.pump(c))
        await settle()
        catchup = sink.of("catchup")[0]
        assert catchup["complete"] is False  # events 1 and 2 left the 60 s buffer
        assert [e["data"]["i"] for e in catchup["events"]] == [3, 4]
        task.cancel()

    asyncio.run(run())


def test_a_slow_client_gets_a_counted_drop_notice_and_the_others_are_unaffected() -> None:
    async def run() -> None:
        hub = Hub(CADENCE, max_pending=5)
        slow, fast = Sink(), Sink()
        slow.gate.clear()  # its socket accepts nothing for now
        s = hub.connect(slow.send, slow.close)
        f = hub.connect(fast.send, fast.close)
        for c in (s, f):
            hub.received(c, json.dumps({"type": "subscribe", "streams": ["*"]}))
        tasks = [asyncio.create_task(hub.pump(s)), asyncio.create_task(hub.pump(f))]
        await settle()
        for batch in range(40):
            feed(hub, "marketplace.customer.search", 10, 10 * batch)
            hub.flush()
            await settle()
        assert len(s.outbox) <= 5, "a slow client's queue is bounded"
        assert [e["data"]["i"] for e in fast.events()] == list(range(400))
        assert fast.of("dropped") == []
        slow.gate.set()  # it catches up: the notice comes first, with the exact count
        feed(hub, "marketplace.customer.search", 10, 400)
        hub.flush()
        await settle()
        notices = slow.of("dropped")
        got = len(slow.events())
        assert notices, "the slow client was told it missed events"
        assert sum(n["count"] for n in notices) == 410 - got
        assert notices[-1]["total"] == 410 - got
        assert 0 < got < 410
        for t in tasks:
            t.cancel()

    asyncio.run(run())


def test_a_client_beyond_its_rate_gets_a_drop_notice() -> None:
    async def run() -> None:
        clock = Clock()
        hub = Hub(CADENCE, monotonic=clock)
        sink = Sink()
        c = hub.connect(sink.send, sink.close)
        hub.received(c, json.dumps({"type": "subscribe", "streams": ["*"], "maxRate": 20}))
        task = asyncio.create_task(hub.pump(c))
        for _ in range(10):  # 100 events in one second
            feed(hub, "marketplace.customer.search", 10)
            hub.flush()
            clock.t += 0.1
        await settle()
        got = len(sink.events())
        assert 20 <= got <= 40  # the bucket (20) plus a second's refill
        feed(hub, "marketplace.customer.search", 1)
        clock.t += 1
        hub.flush()
        await settle()
        dropped = sum(n["count"] for n in sink.of("dropped"))
        assert dropped + len(sink.events()) == 101
        task.cancel()

    asyncio.run(run())


def test_silent_clients_are_pinged_then_dropped() -> None:
    async def run() -> None:
        clock = Clock()
        hub = Hub(CADENCE, monotonic=clock, ping_s=30, stale_s=90)
        quiet, talker = Sink(), Sink()
        q = hub.connect(quiet.send, quiet.close)
        t = hub.connect(talker.send, talker.close)
        tasks = [asyncio.create_task(hub.pump(q)), asyncio.create_task(hub.pump(t))]
        for _ in range(4):
            clock.t += 30
            await hub.check_liveness()
            hub.received(t, json.dumps({"type": "pong"}))
            await settle()
        assert len(talker.of("ping")) == 4
        assert quiet.closed and q not in hub.clients
        assert not talker.closed and t in hub.clients
        hub.received(t, json.dumps({"type": "ping"}))
        hub.received(t, "not json")
        await settle()
        assert talker.of("pong") and talker.of("error")
        for task in tasks:
            task.cancel()

    asyncio.run(run())


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "subscribe", "streams": "marketplace.*"},
        {"type": "subscribe", "streams": ["*"], "lastTimestamp": "yesterday"},
        {"type": "subscribe", "streams": ["*"], "maxRate": 0},
        {"type": "dance"},
    ],
)
def test_a_bad_message_gets_an_error_frame(bad: dict[str, Any]) -> None:
    async def run() -> None:
        hub = Hub(CADENCE)
        sink = Sink()
        c = hub.connect(sink.send, sink.close)
        hub.received(c, json.dumps(bad))
        task = asyncio.create_task(hub.pump(c))
        await settle()
        assert [f["type"] for f in sink.frames] == ["error"]
        assert c.patterns == ()
        task.cancel()

    asyncio.run(run())
