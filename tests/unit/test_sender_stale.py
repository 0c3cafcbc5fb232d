"""The producing child's test for a batch whose parent stood still mid-handoff
(``simfleet.sender_child.stale``): such a batch is withdrawn, not produced, since the shards'
next owners may have read the partitions while the parent was frozen."""

from __future__ import annotations

from simfleet.sender_child import FROZEN_S, stale


def test_a_batch_read_at_once_after_it_was_stamped_is_fresh() -> None:
    assert not stale(handed_at=100.0, recv_from=100.01, recv_to=100.02, empty_at=99.9)


def test_a_batch_that_waited_in_a_full_pipe_is_fresh() -> None:
    """The child was busy (the pipe never seen empty since the stamp): a backlog, not a freeze."""
    assert not stale(handed_at=100.0, recv_from=130.0, recv_to=130.01, empty_at=99.0)


def test_a_parent_frozen_between_stamp_and_write_makes_it_stale() -> None:
    """The pipe was seen empty long after the stamp: the parent stood still before writing."""
    assert stale(handed_at=100.0, recv_from=125.0, recv_to=125.01, empty_at=124.9)
    assert not stale(100.0, 103.0, 103.01, 100.0 + FROZEN_S - 0.1)


def test_a_parent_frozen_mid_write_makes_it_stale() -> None:
    """Reading the batch took longer than FROZEN_S: the parent stopped in the middle of it."""
    assert stale(handed_at=100.0, recv_from=100.5, recv_to=121.0, empty_at=99.0)
    assert not stale(100.0, 100.5, 100.5 + FROZEN_S - 0.1, 99.0)
