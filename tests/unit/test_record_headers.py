"""``--trace-headers`` and ``--cloudevents``: the per-record headers and what they hold."""

from __future__ import annotations

import re

from simfleet.produce_loop import record_headers
from simfleet.settings import Settings

TRACEPARENT = re.compile(rb"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


def test_no_kinds_no_maker() -> None:
    assert record_headers((), "ticketing.payment.attempted", "avro") is None


def test_traceparent_is_w3c_and_the_same_for_the_same_record() -> None:
    make = record_headers(("traceparent",), "ticketing.payment.attempted", "avro")
    assert make is not None
    one, again, other = make(b"abc", 1), make(b"abc", 2), make(b"abd", 1)
    assert [k for k, _ in one] == ["traceparent"]
    assert TRACEPARENT.match(one[0][1])  # type: ignore[arg-type]
    assert one == again  # made again (a resumed shard, a replay): the same trace
    assert one != other


def test_cloudevents_binary_mode_headers() -> None:
    make = record_headers(("cloudevents",), "ticketing.payment.attempted", "protobuf")
    assert make is not None
    h = dict(make(b"abc", 1_772_409_600_123))
    assert h["ce_specversion"] == b"1.0"
    assert h["ce_source"] == b"/simfleet/ticketing"
    assert h["ce_type"] == b"ticketing.payment.attempted"
    assert h["ce_time"] == b"2026-03-02T00:00:00.123Z"
    assert h["content-type"] == b"application/x-protobuf"
    assert re.fullmatch(rb"[0-9a-f]{32}", h["ce_id"])  # type: ignore[arg-type]


def test_the_flags_become_the_kinds_a_child_is_handed() -> None:
    s = Settings.build(trace_headers=True, cloudevents=True)
    assert s.record_headers == ("traceparent", "cloudevents")
    assert Settings.build().record_headers == ()
