"""The live events/s of `simctl up`: heartbeats come every 2 s and the table is drawn every
second; a read between two beats is not a rate of 0."""

from __future__ import annotations

from simfleet.cli.up import _Rates


def test_a_read_between_two_heartbeats_keeps_the_rate() -> None:
    rates = _Rates()
    rates.update({"t": 0}, 0.0)
    rates.update({"t": 2000}, 2.0)  # a beat: 1,000 events/s
    assert rates.rates["t"] == 1000.0
    rates.update({"t": 2000}, 3.0)  # the table redrawn before the next beat
    assert rates.rates["t"] == 1000.0
    rates.update({"t": 6000}, 4.0)  # the next beat, two seconds after the last move
    assert rates.rates["t"] == 2000.0


def test_a_counter_that_stands_still_goes_to_zero() -> None:
    rates = _Rates()
    rates.update({"t": 0}, 0.0)
    rates.update({"t": 500}, 2.0)
    for now in (3.0, 4.0, 5.0, 6.0):
        rates.update({"t": 500}, now)
    assert rates.rates["t"] == 250.0  # still within IDLE_S of the last move
    rates.update({"t": 500}, 7.5)
    assert rates.rates["t"] == 0.0
