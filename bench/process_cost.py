"""What a process's stylized facts cost: one sim day of the markets pack's price process
(80 instruments at scale 1, shard 0 of 1) advanced in one-minute ticks, as the plain geometric
Brownian motion and with the pack's `clustering`, `jumps`, `spread_follows` and `tick`.

    python bench/process_cost.py
"""

from __future__ import annotations

import time

from simfleet.domain.pack import load_domain
from simfleet.domain.spec import ProcessSpec
from simfleet.producers.engine.processes import Process
from simfleet.producers.pools import EntityPool

M = 60_000


def seconds(spec: ProcessSpec, ticks: int = 24 * 60) -> float:
    """Wall seconds to advance the process through ``ticks`` one-minute ticks."""
    domain = load_domain("markets")
    params = {domain.param_path(k): v for k, v in domain.parameters.items()}
    pool = EntityPool("instrument", domain.entities["instrument"], 0, 1, 7, 1.0, "markets")
    proc = Process("price", spec, pool, domain, 7, 0)
    t = time.perf_counter()
    for k in range(ticks):
        proc.advance(k * M, (k + 1) * M, params)
    return time.perf_counter() - t


def main() -> None:
    """Print both timings and the cost per tick added."""
    spec = load_domain("markets").processes["price"]
    off = {"clustering": None, "jumps": None, "spread_follows": 0.0, "tick": None}
    plain = seconds(spec.model_copy(update=off))
    stylized = seconds(spec)
    print(f"one sim day in one-minute ticks: plain {plain:.3f} s, stylized {stylized:.3f} s")
    print(f"added per tick: {1000 * (stylized - plain) / (24 * 60):.2f} ms")


if __name__ == "__main__":
    main()
