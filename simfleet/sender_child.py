"""The producing child process of ``simfleet.sender.SenderProcess``.

``python -m simfleet.sender_child DATA_FD REPLY_FD PARENT_PID``. It imports the client and
``simfleet.produce_loop`` only, so that its memory is the interpreter and the client. It reads
(client configuration, topics to stamp), then messages, in order, from DATA_FD:

- ``("records", topic, values, offsets, keys, timestamps, stamp, handed_at)``: produce them
  (unless ``stale``: the parent stood still mid-handoff; then the fence);
- ``("ready" | "settle" | "abandon" | "unfence", token, ...)``: answer ``("answer", token,
  counts)`` on REPLY_FD once done (``settle``: after a flush of everything before it;
  ``unfence``: see below);
- ``("stop",)``: leave.

Every 100 ms it writes ``("counts", counts)``: per topic (delivered, failed, withdrawn, last
error).

The fence: frozen (SIGCONT tells it was stopped; a loop woken seconds late tells it was starved
or frozen otherwise), or told by its parent (SIGUSR1, ahead of what the pipe holds), it purges
what the client has not sent yet, tells the parent ``("fenced",)`` and passes on no record
until ``unfence``, which it answers once what was in flight is acknowledged. A shard's next
owner may have read the partitions while this process stood still: what it still held must
not land after that (the parent gives the shards up and their next owners write them).
It dies with its parent (``PR_SET_PDEATHSIG``, and a parent-pid check when idle), writing off
what it still holds, and ignores SIGINT (Ctrl-C is the parent's, which flushes it first).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

from confluent_kafka import Producer

from simfleet.produce_loop import (
    Counter,
    HeaderMaker,
    ProduceRefusedError,
    produce_each,
    produced_at_header,
    purge,
    record_headers,
    withdraw_queued,
    write_off,
)

REPORT_S = 0.1  # how often the counts go to the parent
FROZEN_S = 4.0  # the loop woken this late: frozen or starved, fenced


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent dies (Linux); the pid check covers the rest."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(0)


class _Child:
    def __init__(
        self,
        conf: dict[str, Any],
        stamp_topics: frozenset[str] | None,
        header_kinds: tuple[str, ...] = (),
        value_format: str = "avro",
    ) -> None:
        self.conf = conf
        self.producer = Producer(conf)
        self.stamp_topics = stamp_topics
        self.header_kinds = header_kinds
        self.value_format = value_format
        self.makers: dict[str, HeaderMaker | None] = {}
        self.counters: dict[str, Counter] = {}
        self.abandoned = False
        self.fenced = False
        self.fence_told = False  # whether the parent knows (it is told once per fence)

    def counts(self) -> dict[str, tuple[int, int, int, str | None]]:
        return {
            t: (c.delivered, c.failed, c.withdrawn, c.last_error) for t, c in self.counters.items()
        }

    def fence(self, _signum: int = 0, _frame: object = None) -> None:
        """Produce nothing more until ``unfence``; what the client has not sent is purged
        (a signal handler: it runs between two of the main loop's steps)."""
        if not self.fenced:
            self.fenced = True
            self.fence_told = False
            for c in self.counters.values():
                c.withdrawing = True  # until ``unfence`` has the purge's reports
            purge(self.producer)

    def tell_fence(self, reply: Connection) -> None:
        """Tell the parent of a new fence, once."""
        if self.fenced and not self.fence_told:
            self.fence_told = True
            reply.send(("fenced",))

    def unfence(self, timeout: float) -> None:
        """What is queued withdrawn, what is in flight acknowledged; produce again, with a
        fresh client: one that stood still may have had its idempotent producer id fenced by
        the broker (Tansu does, after a 20 s freeze), and every later record would fail."""
        counters = list(self.counters.values())
        withdraw_queued(self.producer, counters, timeout)
        old, self.producer = self.producer, Producer(self.conf)
        if len(old):
            write_off(old)  # unreported at the timeout: counted failed, not lost
        self.fenced = False

    def send(
        self,
        topic: str,
        buf: bytes,
        offsets: list[int],
        keys: list[bytes | None],
        timestamps: list[int],
        stamp: bool,
    ) -> str | None:
        """Produce one batch; the client's refusal as text, else None."""
        if self.abandoned:
            return None
        counter = self.counters.get(topic)
        if counter is None:
            counter = self.counters[topic] = Counter()
        if self.fenced:
            counter.withdrawn += len(keys)  # handed over by the parent, never produced
            return None
        stamped = stamp and (self.stamp_topics is None or topic in self.stamp_topics)
        headers: list[tuple[str, str | bytes | None]] | None = (
            [*produced_at_header()] if stamped else None
        )
        try:
            if topic not in self.makers:
                self.makers[topic] = record_headers(self.header_kinds, topic, self.value_format)
            counter.produced += produce_each(
                self.producer,
                topic,
                buf,
                offsets,
                keys,
                timestamps,
                headers,
                counter.on_delivery,
                per_record=self.makers[topic],
            )
        except ProduceRefusedError as exc:
            counter.produced += exc.handed
            return f"producing to {topic} failed: {exc.error}"
        return None

    def abandon(self) -> None:
        self.abandoned = True
        write_off(self.producer)


def stale(handed_at: float, recv_from: float, recv_to: float, empty_at: float) -> bool:
    """Whether the parent stood still (frozen, or starved as long) between stamping a batch
    ``handed_at`` and finishing its write: the pipe was still empty more than ``FROZEN_S``
    after the stamp, or reading the batch took that long (the parent stopped mid-write, the
    likelier case when the pipe is full). Its shards' next owners may have read the
    partitions meanwhile, so it is withdrawn, not produced (the clocks are the machine's
    monotonic clock, shared by both processes)."""
    return empty_at - handed_at > FROZEN_S or recv_to - recv_from > FROZEN_S


def main(data_fd: int, reply_fd: int, parent: int) -> None:
    """Serve the parent until it says stop or goes away."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    data = Connection(data_fd, writable=False)
    reply = Connection(reply_fd, readable=False)
    conf, stamp_topics, header_kinds, value_format = data.recv()
    child = _Child(conf, stamp_topics, header_kinds, value_format)
    signal.signal(signal.SIGCONT, child.fence)
    signal.signal(signal.SIGUSR1, child.fence)
    last = 0.0
    empty_at = 0.0  # the last instant the pipe was seen empty
    while True:
        before = time.monotonic()
        ready = data.poll(REPORT_S)
        now = time.monotonic()
        if now - before > FROZEN_S:
            child.fence()
        if not ready:
            empty_at = now
        child.tell_fence(reply)
        if ready:
            try:
                msg = data.recv()
            except EOFError:
                child.abandon()  # the parent is gone: what is queued goes with us, at once
                os._exit(0)
            kind = msg[0]
            if kind == "records":
                if stale(msg[7], now, time.monotonic(), empty_at):
                    child.fence()  # the parent stood still mid-handoff: see ``stale``
                error = child.send(*msg[1:7])
                if error is not None:
                    reply.send(("error", error))
            elif kind == "settle":
                child.producer.flush(msg[2])
                reply.send(("answer", msg[1], child.counts()))
            elif kind == "abandon":
                child.abandon()
                reply.send(("answer", msg[1], child.counts()))
            elif kind == "unfence":
                child.unfence(msg[2])
                reply.send(("answer", msg[1], child.counts()))
            elif kind == "ready":
                reply.send(("answer", msg[1], child.counts()))
            elif kind == "stop":
                break
            child.tell_fence(reply)  # a stale batch fenced it
        else:
            child.producer.poll(0)
            if os.getppid() != parent:
                child.abandon()
                os._exit(0)
        now = time.monotonic()
        if now - last >= REPORT_S:
            last = now
            child.producer.poll(0)
            reply.send(("counts", child.counts()))
    reply.close()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
