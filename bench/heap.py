"""Where a worker's memory goes: the realtime run's engines (marketplace, 8 shards, at a scale
given on the command line: ``bench/memory.py`` prints the one it calibrated) built and ticked in
this process under tracemalloc, each batch encoded and keyed as the producer does; then the
live Python allocations grouped by the source line that made them, what grew over the run's
second half, and the process's RSS.

Run: ``.venv/bin/python bench/heap.py [scale] [sim minutes]`` (defaults 88 and 10; the
realtime run covers 120 sim minutes).
"""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

from memory import START
from simfleet.codec import encoders_for
from simfleet.domain.pack import Project
from simfleet.domain.params import ParamGraph
from simfleet.producers.engine import ShardEngine
from simfleet.producers.ticking import modifiers_at
from simfleet.timeutil import parse_instant_ms

SHARDS = 8
TICK_MS = 1_000  # the worker ticks by about a wall second: a sim minute at 60x


def _vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(scale: float, minutes: float) -> None:
    """Build, tick, encode; print the top allocation sites and the RSS."""
    tracemalloc.start()
    project = Project()
    spec = project.spec("marketplace")
    schemas = project.schemas()
    encoders = encoders_for(schemas, None)
    engines = [ShardEngine(spec, s, SHARDS, 7, scale, schemas=schemas) for s in range(SHARDS)]
    built = tracemalloc.get_traced_memory()[0] / 2**20
    graph = ParamGraph.from_domain(spec)
    mods = modifiers_at(())
    t = parse_instant_ms(START)
    end = t + int(minutes * 60_000)
    events = 0
    tick = TICK_MS * 60  # one wall second of the realtime run: a sim minute
    half = t + (end - t) // 2
    mid: tracemalloc.Snapshot | None = None
    while t < end:
        params = graph.evaluate(t, mods)
        for eng in engines:
            for b in eng.tick(t, t + tick, params, []):
                if b.n:
                    encoders[b.topic].encode(b.columns, b.n)
                    b.keys()
                    events += b.n
        t += tick
        if mid is None and t >= half:
            mid = tracemalloc.take_snapshot()
    snap = tracemalloc.take_snapshot()
    total = sum(s.size for s in snap.statistics("filename"))
    print(
        f"marketplace scale {scale:g}, {SHARDS} shards, {minutes:g} sim min, {events:,} events: "
        f"{total / 2**20:.0f} MB traced ({built:.0f} MB after building the engines), "
        f"RSS {_vm('VmRSS'):.0f} MB, peak {_vm('VmHWM'):.0f} MB"
    )
    for stat in snap.statistics("lineno")[:15]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        print(f"  {stat.size / 2**20:8.1f} MB {stat.count:>10,} blocks  {where}")
    if mid is not None:
        grew = snap.compare_to(mid, "lineno")
        print(f"growth over the second half: {sum(d.size_diff for d in grew) / 2**20:+.1f} MB")
        for d in grew[:8]:
            frame = d.traceback[0]
            where = f"{Path(frame.filename).name}:{frame.lineno}"
            print(f"  {d.size_diff / 2**20:+8.1f} MB {d.count_diff:>+10,} blocks  {where}")


if __name__ == "__main__":
    main(
        float(sys.argv[1]) if len(sys.argv) > 1 else 88.0,
        float(sys.argv[2]) if len(sys.argv) > 2 else 10.0,
    )
