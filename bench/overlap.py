"""Generation off the produce path, three ways, against the same ceiling, on one broker.

The pipeline of ``bench.py`` (every domain, backfill, encode, produce, all delivered) run:

- ``serial``: generate and encode a tick, then produce it, in one thread (``--sender inline``);
- ``thread``: the same, with the produce loop in a second thread fed by a bounded queue, so
  that generation of tick N+1 overlaps the produce of tick N where the GIL allows;
- ``process``: the produce loop in a child process fed through a pipe (values, offsets, keys
  and timestamps of each encoded batch), so generation and produce each have a core: what a
  worker does (``simfleet.sender.SenderProcess``).

Each run is followed by the ceiling of its own records (``produce()`` per record, timestamp, no
header: the fastest that carries the timestamps), and prints its ratio and the CPU seconds of
the main thread, the producing process and the broker.

Run: ``.venv/bin/python bench/overlap.py [--repeat N] [--days D] [--ways serial,thread,process]``
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import queue
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

import bench as B  # noqa: N812
from fleet import cpu_seconds
from simfleet.broker.embedded import EmbeddedBroker
from simfleet.kafka import AccountedProducer, TopicSpec, ensure_topics
from simfleet.sender import SenderProcess
from simfleet.settings import KafkaSettings

QUEUE_BATCHES = 16  # the thread's queue
PIPE_BATCHES = 256  # the process's queue: about 2 ticks of every domain's batches


class ThreadSender(AccountedProducer):
    """Encodes in the caller's thread; a second thread produces, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(QUEUE_BATCHES)
        self._thread = threading.Thread(target=self._run, name="sender", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            AccountedProducer.send_encoded(self, *item)

    def send_encoded(self, *args: Any, **_kwargs: Any) -> None:
        self._queue.put(args)

    def flush(self, timeout: float = 30.0) -> None:
        self._queue.put(None)
        self._thread.join()
        super().flush(timeout)


WAYS = {"serial": AccountedProducer, "thread": ThreadSender, "process": SenderProcess}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--days", type=float, default=B.FULL.days)
    parser.add_argument("--ways", default=",".join(WAYS))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    ways = args.ways.split(",")
    sizes = dataclasses.replace(B.FULL, days=args.days)
    domains = [B.load_domain(d) for d in B.MIX]
    parts = B._partitions(domains, "spec")
    print(
        f"overlap bench: every domain, {sizes.days:g} day(s), {sizes.shards} shards, seed "
        f"{args.seed}; ways {', '.join(ways)}, {args.repeat} round(s)"
    )
    ratios: dict[str, list[float]] = {w: [] for w in ways}
    broker = EmbeddedBroker()
    with tempfile.TemporaryDirectory(prefix="simfleet-overlap-") as tmp:
        bootstrap = broker.start(log_path=Path(tmp) / "broker.log")
        pid = broker.pid
        try:
            settings = KafkaSettings(bootstrap_servers=bootstrap)
            ensure_topics(
                settings,
                [TopicSpec(t, p) for t, p in parts.items()]
                + [TopicSpec(B.RAW_PREFIX + t, p) for t, p in parts.items()],
            )
            for r in range(args.repeat):
                for way in ways:
                    b0 = _cpu(pid)
                    c0 = time.thread_time()
                    pipeline, recorded, _ = B.run_pipeline(
                        settings, domains, sizes, args.seed, WAYS[way]
                    )
                    main_cpu = time.thread_time() - c0
                    b_cpu = _cpu(pid) - b0
                    child = pipeline.detail["sender_cpu_s"]
                    prepared = B.prepare_pipeline(recorded, args.seed)
                    del recorded
                    b0 = _cpu(pid)
                    c0 = time.thread_time()
                    ceiling = B.run_ceiling(settings, prepared, "ceil_bare")
                    ceil_cpu = time.thread_time() - c0
                    ceil_b = _cpu(pid) - b0
                    del prepared
                    ratio = pipeline.events_per_s / ceiling.events_per_s
                    ratios[way].append(ratio)
                    extra = f", producing child {child:.1f}" if child else ""
                    print(
                        f"round {r + 1} {way:<7}: pipeline {pipeline.events_per_s:>9,.0f} "
                        f"events/s in {pipeline.seconds:5.1f} s (CPU s: main thread and setup "
                        f"{main_cpu:.1f}{extra}, broker {b_cpu:.1f}); ceiling "
                        f"{ceiling.events_per_s:>9,.0f} in {ceiling.seconds:5.1f} s (main thread "
                        f"{ceil_cpu:.1f}, broker {ceil_b:.1f}); ratio {ratio:.2f}",
                        flush=True,
                    )
        finally:
            gc.collect()  # the serial and thread producers' clients close before the broker
            broker.stop()
    for way, rs in ratios.items():
        print(
            f"{way:<7}: pipeline_vs_raw_ratio min {min(rs):.2f}, mean {np.mean(rs):.2f}, "
            f"max {max(rs):.2f}"
        )
    return 0


def _cpu(pid: int | None) -> float:
    return cpu_seconds(pid) if pid is not None else float("nan")


if __name__ == "__main__":
    raise SystemExit(main())
