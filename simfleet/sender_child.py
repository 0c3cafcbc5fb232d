"""The producing child process of ``simfleet.sender.SenderProcess``.

``python -m simfleet.sender_child DATA_FD REPLY_FD PARENT_PID``. It imports the client and
``simfleet.produce_loop`` only, so that its memory is the interpreter and the client. It reads
(client configuration, topics to stamp), then messages, in order, from DATA_FD:

- ``("records", topic, values, offsets, keys, timestamps, stamp)``: produce them;
- ``("ready" | "settle" | "abandon", token, ...)``: answer ``("answer", token, counts)`` on
  REPLY_FD once done (``settle``: after a flush of everything before it);
- ``("stop",)``: leave.

Every 100 ms it writes ``("counts", counts)``: per topic (delivered, failed, last error).
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
    ProduceRefusedError,
    produce_each,
    produced_at_header,
    write_off,
)

REPORT_S = 0.1  # how often the counts go to the parent


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
    def __init__(self, conf: dict[str, Any], stamp_topics: frozenset[str] | None) -> None:
        self.producer = Producer(conf)
        self.stamp_topics = stamp_topics
        self.counters: dict[str, Counter] = {}
        self.abandoned = False

    def counts(self) -> dict[str, tuple[int, int, str | None]]:
        return {t: (c.delivered, c.failed, c.last_error) for t, c in self.counters.items()}

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
        stamped = stamp and (self.stamp_topics is None or topic in self.stamp_topics)
        headers: list[tuple[str, str | bytes | None]] | None = (
            [*produced_at_header()] if stamped else None
        )
        try:
            counter.produced += produce_each(
                self.producer, topic, buf, offsets, keys, timestamps, headers, counter.on_delivery
            )
        except ProduceRefusedError as exc:
            counter.produced += exc.handed
            return f"producing to {topic} failed: {exc.error}"
        return None

    def abandon(self) -> None:
        self.abandoned = True
        write_off(self.producer)


def main(data_fd: int, reply_fd: int, parent: int) -> None:
    """Serve the parent until it says stop or goes away."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    data = Connection(data_fd, writable=False)
    reply = Connection(reply_fd, readable=False)
    conf, stamp_topics = data.recv()
    child = _Child(conf, stamp_topics)
    last = 0.0
    while True:
        if data.poll(REPORT_S):
            try:
                msg = data.recv()
            except EOFError:
                child.abandon()  # the parent is gone: what is queued goes with us, at once
                os._exit(0)
            kind = msg[0]
            if kind == "records":
                error = child.send(*msg[1:])
                if error is not None:
                    reply.send(("error", error))
            elif kind == "settle":
                child.producer.flush(msg[2])
                reply.send(("answer", msg[1], child.counts()))
            elif kind == "abandon":
                child.abandon()
                reply.send(("answer", msg[1], child.counts()))
            elif kind == "ready":
                reply.send(("answer", msg[1], child.counts()))
            elif kind == "stop":
                break
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
