"""Size and cost of one shard's checkpoint: every domain, 30 sim hours in.

python bench/checkpoint_size.py SCALE SHARDS
"""

from __future__ import annotations

import sys
import time

from simfleet.codec import encoders_for
from simfleet.domain.pack import Project
from simfleet.producers.chaos import Chaos
from simfleet.producers.checkpoint import CheckpointCodec, ShardState
from simfleet.producers.engine import ShardEngine
from simfleet.producers.ticking import modifiers_at
from simfleet.timeutil import parse_instant_ms

H = 3_600_000


def main() -> None:
    """Print the checkpoint's size, its dump time and its load time (fresh engines included)."""
    scale, shards = float(sys.argv[1]), int(sys.argv[2])
    project = Project()
    specs = {d: project.spec(d) for d in project.domains()}
    encoders = encoders_for(project.schemas(), None)
    codec = CheckpointCodec(specs, encoders)

    def engines() -> list[ShardEngine]:
        return [
            ShardEngine(project.spec(d), 0, shards, 7, scale, schemas=project.schemas())
            for d in project.domains()
        ]

    live = engines()
    t = parse_instant_ms("2026-03-02T00:00:00Z")
    events = 0
    for _ in range(30):
        for eng in live:
            params = project.graph(eng.domain.domain).evaluate(t, modifiers_at(()))
            events += sum(b.n for b in eng.tick(t, t + H, params))
        t += H
    chaos = {d: Chaos(7, 0, d, encoders) for d in specs}
    t0 = time.perf_counter()
    blob = codec.dump(ShardState(0, t, live, chaos, None, 0))
    dumped = time.perf_counter() - t0
    t0 = time.perf_counter()
    codec.load(blob, engines())
    loaded = time.perf_counter() - t0
    print(
        f"scale {scale:g}, shard 0 of {shards}: {events:,} events in 30 sim hours; checkpoint "
        f"{len(blob) / 1024:,.0f} KB, dump {dumped * 1000:.1f} ms, load with fresh engines "
        f"{loaded * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
