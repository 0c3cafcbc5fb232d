"""Records/s of RecordEncoder.encode for a 6-field record at n=10000, vs fastavro per record.

Run: ``.venv/bin/python bench/codec_bench.py``.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import fastavro
import numpy as np

from simfleet.codec import RecordEncoder, single_object_prefix
from simfleet.columns import Column, FixedStrings, StrTable, TableStrings

N = 10_000
SCHEMA = {
    "type": "record",
    "name": "OrderPlaced",
    "namespace": "simfleet.bench",
    "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "customer_id", "type": "string"},
        {"name": "amount", "type": "double"},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
        {"name": "coupon", "type": ["null", "string"]},
    ],
}


def columns(rng: np.random.Generator) -> dict[str, Column]:
    hexchars = np.frombuffer(b"0123456789abcdef", np.uint8)
    customers = StrTable(tuple(f"cust-{i:06d}" for i in range(50_000)))
    coupons = StrTable(("SPRING10", "VIP", "WELCOME-5"))
    coupon_idx = rng.integers(-1, 3, N)
    return {
        "event_id": FixedStrings(hexchars[rng.integers(0, 16, (N, 32))]),
        "occurred_at": np.sort(rng.integers(1_700_000_000_000, 1_700_000_600_000, N)),
        "customer_id": TableStrings(customers, rng.integers(0, len(customers), N)),
        "amount": rng.gamma(2.0, 30.0, N),
        "status": TableStrings(StrTable(("NEW", "PAID")), rng.integers(0, 2, N)),
        "coupon": TableStrings(coupons, coupon_idx),
    }


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parsed = fastavro.parse_schema(SCHEMA)
    cols = columns(np.random.default_rng(1))
    enc = RecordEncoder(parsed, single_object_prefix(parsed))
    enc.encode(cols, N)  # builds the per-table rows once, as a long-running worker would

    vec = best_of(lambda: enc.encode(cols, N), 20)
    names = list(cols)
    lists = [c.to_list() if not isinstance(c, np.ndarray) else c.tolist() for c in cols.values()]
    records = [dict(zip(names, row, strict=True)) for row in zip(*lists, strict=True)]

    def per_record() -> None:
        for r in records:
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, parsed, r)
            buf.getvalue()

    ref = best_of(per_record, 3)
    buf, _off = enc.encode(cols, N)
    print(f"records: {N}, fields: {len(names)}, bytes/record: {len(buf) / N:.1f}")
    print(f"RecordEncoder.encode    : {N / vec:>12,.0f} rec/s  ({vec / N * 1e9:7.1f} ns/rec)")
    print(f"fastavro per record     : {N / ref:>12,.0f} rec/s  ({ref / N * 1e9:7.1f} ns/rec)")
    print(f"speed-up                : {ref / vec:>12.1f}x")


if __name__ == "__main__":
    main()
