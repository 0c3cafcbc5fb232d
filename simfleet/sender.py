"""The data path's produce loop in a process of its own.

A worker's main thread generates and encodes; calling ``produce()`` once per record is the other
half of its time, and both hold the GIL. ``SenderProcess`` hands each encoded batch (values,
offsets, keys, timestamps) through a pipe to a child process (``simfleet.sender_child``) that
runs the same produce loop, so that generation of the next tick and the produce of this one
each have a core (``bench/overlap.py`` measures it beside a produce thread and the serial loop).

The child imports the client and ``simfleet.produce_loop`` only (its memory is the interpreter
and the client). The parent keeps what needs it: the encoders (``Dedupe`` encodes to compare),
and an in-process producer for the control records (heartbeats, counts, checkpoints: they need
delivery callbacks). Invariants:

- records go to the child in the order they were handed over; one writer thread sends them,
  so that the main thread goes on generating while the child reads;
- ``produced`` is counted in the parent when a record is handed over; ``delivered`` and
  ``failed`` are the child's counts, which it pushes every 100 ms and with every answer; so
  produced = delivered + failed + in flight, as for ``AccountedProducer``;
- ``settle`` returns when the child has acknowledged every record handed over before it, so a
  checkpoint written after it follows its records (the shard handoff);
- the child dies with its parent (``PR_SET_PDEATHSIG``, and a parent-pid check), so a killed
  worker's records stop coming at once, before a shard's next owner reads the partitions.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from simfleet.codec import TopicEncoder
from simfleet.columns import Batch
from simfleet.errors import DeliveryError
from simfleet.kafka import PRODUCER_DEFAULTS, AccountedProducer
from simfleet.settings import KafkaSettings

__all__ = ["SENDERS", "SenderProcess", "data_producer"]

SENDERS = ("process", "inline")
QUEUE_BATCHES = 256  # handed over, not yet in the pipe: about two hour-ticks of every domain
START_TIMEOUT_S = 30.0
# the writer thread, idle, wakes every WAKE_S; woken this late, the process was frozen (or
# starved that long): a shard's next owner may have taken over meanwhile (``fence``)
WAKE_S = 0.2
FROZEN_S = 4.0


def data_producer(
    settings: KafkaSettings,
    encoders: Mapping[str, TopicEncoder],
    stamp_topics: frozenset[str] | None,
    sender: str = "process",
) -> AccountedProducer:
    """The producer of a worker's data path: the produce loop in a child process, or inline."""
    if sender == "process":
        return SenderProcess(settings, encoders, stamp_topics=stamp_topics)
    if sender == "inline":
        return AccountedProducer(settings, encoders, stamp_topics=stamp_topics)
    raise ValueError(f"sender {sender!r}: expected one of {', '.join(SENDERS)}")


class SenderProcess(AccountedProducer):
    """An ``AccountedProducer`` whose data records are produced by a child process."""

    def __init__(
        self,
        settings: KafkaSettings,
        encoders: Mapping[str, TopicEncoder] | None = None,
        overrides: Mapping[str, Any] | None = None,
        stamp_topics: frozenset[str] | None = None,
    ) -> None:
        # the in-process producer: control records (send_raw) and the encoders
        super().__init__(settings, encoders, overrides, stamp_topics)
        data_r, data_w = os.pipe()
        reply_r, reply_w = os.pipe()
        args = [str(data_r), str(reply_w), str(os.getpid())]
        self._child = subprocess.Popen(
            [sys.executable, "-m", "simfleet.sender_child", *args],
            pass_fds=(data_r, reply_w),
            stdin=subprocess.DEVNULL,
        )
        os.close(data_r)
        os.close(reply_w)
        self._out = Connection(data_w, readable=False)
        self._in = Connection(reply_r, writable=False)
        conf = {**PRODUCER_DEFAULTS, **settings.client_config("producer"), **(overrides or {})}
        self._out.send((conf, stamp_topics, settings.record_headers, settings.value_format))
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue(QUEUE_BATCHES)
        self._lock = threading.Condition()
        self._answers: dict[int, tuple[Any, ...]] = {}
        self._tokens = itertools.count(1)
        self._error: str | None = None
        self._closed = False
        self._writer = threading.Thread(target=self._write, name="sender-writer", daemon=True)
        self._reader = threading.Thread(target=self._read, name="sender-reader", daemon=True)
        self._writer.start()
        self._reader.start()
        if self._ask("ready", timeout=START_TIMEOUT_S) is None:
            self._fail("the sender process did not start")
            raise DeliveryError(
                f"The producing process did not start within {START_TIMEOUT_S:g} s"
                f"{'' if self._error is None else ': ' + self._error}."
            )

    @property
    def child_pid(self) -> int:
        """The producing process."""
        return self._child.pid

    # -- the two threads ------------------------------------------------------------------

    def _write(self) -> None:
        """Hand the queue to the child, in order; none of the records queued when this
        process was frozen (they wait for the worker's fence, which withdraws them)."""
        while True:
            before = time.monotonic()
            try:
                msg = self._queue.get(timeout=WAKE_S)
            except queue.Empty:
                msg = ("idle",)
            if time.monotonic() - before > FROZEN_S:
                self.fenced = True
            if msg[0] == "exit":
                return
            if msg[0] == "idle":
                continue
            if msg[0] == "records":
                if self.fenced:
                    self._withdrawn(msg)
                    continue
                # the instant it goes into the pipe: the child withdraws it if this process
                # stood still mid-handoff (``simfleet.sender_child``, stale records)
                msg = (*msg, time.monotonic())
            try:
                self._out.send(msg)
            except OSError as exc:
                self._fail(f"the pipe to the producing process broke ({exc})")
                return

    def _read(self) -> None:
        """The child's counts and answers, as they come."""
        while True:
            try:
                msg = self._in.recv()
            except (EOFError, OSError):
                if not self._closed:
                    self._fail(f"the producing process exited (status {self._child.poll()})")
                return
            kind = msg[0]
            with self._lock:
                if kind == "fenced":  # the child was frozen
                    self.fenced = True
                elif kind == "error":
                    self._error = self._error or msg[1]
                else:
                    self._merge(msg[-1])
                    if kind == "answer":
                        self._answers[msg[1]] = msg
                self._lock.notify_all()

    def _merge(self, counts: dict[str, tuple[int, int, int, str | None]]) -> None:
        for topic, (delivered, failed, withdrawn, last_error) in counts.items():
            c = self.counters.get(topic)  # made when its first record was handed over
            if c is None:
                continue
            c.delivered, c.failed = delivered, failed
            c.produced -= withdrawn - c.withdrawn  # never sent: no longer produced
            c.withdrawn = withdrawn
            if last_error is not None:
                c.last_error = last_error

    def _fail(self, why: str) -> None:
        with self._lock:
            self._error = self._error or why
            self._lock.notify_all()

    def _ask(self, what: str, *args: Any, timeout: float) -> tuple[Any, ...] | None:
        """Put a request behind everything handed over; its answer, or None at ``timeout``."""
        token = next(self._tokens)
        deadline = time.monotonic() + timeout
        self._put((what, token, *args), deadline)
        with self._lock:
            while token not in self._answers and self._error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._lock.wait(min(left, 0.5))
            return self._answers.pop(token, None)

    def _put(self, msg: tuple[Any, ...], deadline: float | None = None) -> None:
        while True:
            if self._error is not None:
                return
            try:
                self._queue.put(msg, timeout=0.5)
                return
            except queue.Full:
                if deadline is not None and time.monotonic() > deadline:
                    return

    def _raise_if_broken(self) -> None:
        if self._error is not None and not self.abandoned:
            raise DeliveryError(f"Producing failed: {self._error}.")

    # -- the data path --------------------------------------------------------------------

    def send_batch(self, batch: Batch) -> None:
        """Encode here; the child produces: key = entity id, ts = occurred_at."""
        if batch.n and not self.abandoned:
            self._hand(batch.topic, *self.encode_batch(batch), True)

    def send_encoded(
        self,
        topic: str,
        buf: bytes,
        offsets: list[int],
        keys: list[bytes | None],
        timestamps: list[int],
        stamp: bool = True,
    ) -> None:
        """Hand records ``buf[offsets[i]:offsets[i+1]]`` to the child."""
        if keys and not self.abandoned:
            self._hand(topic, buf, offsets, keys, timestamps, stamp)

    def _hand(self, topic: str, buf: bytes, offsets: Any, keys: Any, ts: Any, stamp: bool) -> None:
        self._raise_if_broken()
        if self.fenced:
            return  # the worker gives up its shards: their next owners write these
        with self._lock:
            self._counter(topic).produced += len(keys)
        self._put(("records", topic, buf, offsets, keys, ts, stamp))

    def _withdrawn(self, msg: tuple[Any, ...]) -> None:
        """Records handed over and not passed on: no longer produced."""
        with self._lock:
            self._counter(msg[1]).produced -= len(msg[4])

    def withdraw(self, timeout: float = 10.0) -> int:
        """Withdraw every data record not yet sent (here, in the pipe and in the child) and
        wait for those in flight: once it returns, nothing handed over before can land; then
        produce again. The child is told at once by a signal (the pipe may hold records
        before the request), then in order; returns how many are still unreported."""
        self.fenced = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._child.pid, signal.SIGUSR1)
        while True:  # what the writer has not sent yet
            try:
                msg = self._queue.get_nowait()
            except queue.Empty:
                break
            if msg[0] == "records":
                self._withdrawn(msg)
            else:
                self._queue.put(msg)  # a request (its asker waits for it): after the rest
                break
        left = int(self._producer.flush(timeout))  # the control records: checkpoints, counts
        self._ask("unfence", timeout, timeout=timeout + 5.0)
        p, d, f = self.totals()
        self.fenced = False
        return left + p - d - f

    # -- accounting -----------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Records handed over and not yet reported, here and in the child."""
        p, d, f = self.totals()
        return p - d - f + len(self._producer)

    def settle(self, timeout: float) -> int:
        """Wait until every record handed over is acknowledged (or ``timeout``)."""
        if self.abandoned:
            return 0
        self._ask("settle", timeout, timeout=timeout + 5.0)
        p, d, f = self.totals()
        return p - d - f

    def drain(self, timeout: float = 5.0) -> int:
        """Wait for the control records and the data records; returns those left."""
        if self.abandoned:
            return 0
        left = int(self._producer.flush(timeout))
        return left + self.settle(timeout)

    def flush(self, timeout: float = 30.0) -> None:
        """As ``AccountedProducer.flush``, over both processes."""
        if self.abandoned:
            self._producer.poll(0)
            return
        self._producer.flush(timeout)
        remaining = self.settle(timeout)
        produced, delivered, failed = self.totals()
        if remaining or failed or self._error is not None:
            errors = {t: c.last_error for t, c in self.counters.items() if c.last_error}
            raise DeliveryError(
                f"{failed} record(s) failed and {remaining} were still in flight after {timeout} s "
                f"(produced {produced}, delivered {delivered}). Last errors: {errors or 'none'}"
                f"{'' if self._error is None else '; ' + self._error}. "
                "Check that the broker is up and the topics exist."
            )

    def abandon(self) -> None:
        """Write off what is queued here, in the pipe or in the child; produce nothing more."""
        self.abandoned = True
        while True:  # what the writer has not sent yet
            try:
                msg = self._queue.get_nowait()
            except queue.Empty:
                break
            if msg[0] == "records":
                c = self._counter(msg[1])
                c.produced -= len(msg[4])
        self._ask("abandon", timeout=10.0)
        super().abandon()

    def close(self) -> None:
        """Stop the child (after ``flush``: what it holds is written off) and the threads."""
        if self._closed:
            return
        self._closed = True
        self._put(("stop",), time.monotonic() + 5.0)
        self._put(("exit",), time.monotonic() + 5.0)
        try:
            self._child.wait(10.0)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait(5.0)
        self._out.close()
        self._reader.join(5.0)
        self._in.close()
