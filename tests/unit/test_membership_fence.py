"""A fenced worker's shards wait: none is taken back before the group has had its say."""

from __future__ import annotations

from simfleet.producers.membership import Membership
from simfleet.settings import KafkaSettings


def _membership() -> Membership:
    return Membership(KafkaSettings(bootstrap_servers="127.0.0.1:1"), "g", "w")


def test_forfeited_shards_wait_out_the_hold_then_are_free() -> None:
    m = _membership()
    m.forfeit([1, 3], wall=1_000, hold_ms=3_000)
    assert m.changing
    assert list(m.free(3_999, lambda _s, _w: None)) == []
    assert sorted(m.free(4_000, lambda _s, _w: None)) == [1, 3]


def test_a_forfeited_shard_the_group_revokes_meanwhile_is_not_taken() -> None:
    m = _membership()
    m.forfeit([1, 3], wall=1_000, hold_ms=3_000)
    m._events.append(("revoke", 3))
    assert m.revoked([], 4, 2_000) == []  # not held: nothing to give up
    assert list(m.free(4_000, lambda _s, _w: None)) == [1]
