"""librdkafka's repeated complaints are shown once per window, with a count of the rest."""

from __future__ import annotations

import logging

from simfleet.logs import RepeatFilter


def _record(msg: str) -> logging.LogRecord:
    return logging.LogRecord("k", logging.ERROR, __file__, 1, msg, (), None)


def test_repeats_within_the_window_are_held_back_and_counted() -> None:
    now = [0.0]
    f = RepeatFilter(window_s=10.0, clock=lambda: now[0])
    refused = "FAIL [rdkafka#consumer-{n}] 127.0.0.1:{p}/bootstrap: Connection refused"
    shown = []
    for i in range(40):  # every 50 ms for 2 s, from two clients and two ports
        now[0] = i * 0.05
        r = _record(refused.format(n=i % 2, p=9000 + i % 2))
        if f.filter(r):
            shown.append(r.getMessage())
    assert len(shown) == 1
    now[0] = 12.0
    r = _record(refused.format(n=7, p=9100))
    assert f.filter(r)
    assert r.getMessage().endswith("(and 39 more like it)")
    # another kind of message is not held back by the first
    assert f.filter(_record("CONFWARN property x is a consumer property"))
