"""A worker's claims on shards: one consumer group on ``sim.shards`` (one partition per shard).

Kafka does membership and rebalancing, cooperatively (a join or a death moves only the shards
that must move). A shard given to this worker waits until no other live worker says it holds
it (its last owner writes a last checkpoint first), or until that holder has been silent for
``HANDOFF_WAIT_MS`` (it hangs).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator

import structlog
from confluent_kafka import Consumer, TopicPartition

from simfleet.control import SHARDS_TOPIC
from simfleet.settings import KafkaSettings

__all__ = ["HANDOFF_WAIT_MS", "Membership"]

log = structlog.get_logger()

# a shard whose holder never says it let go is taken anyway after this long (its worker hangs)
HANDOFF_WAIT_MS = 30_000


class Membership:
    """This worker's place in the group: the shards Kafka gave it and took from it, in the
    order it announced them, and the given ones still waiting for their last holder."""

    def __init__(self, settings: KafkaSettings, group_id: str, worker_id: str) -> None:
        self.settings = settings
        self.group_id = group_id
        self.worker_id = worker_id
        self._events: list[tuple[str, int]] = []
        # shards given to this worker that another live worker still says it holds:
        # shard -> wall ms when given
        self.waiting: dict[int, int] = {}
        # after a fence: no waiting shard is taken before this wall ms (the group says first
        # whether it still gives them to this worker)
        self.hold_until = 0
        self._consumer: Consumer | None = None

    def join(self) -> None:
        """Join the group; shards come and go through ``poll``."""
        self._consumer = Consumer(
            {
                **self.settings.client_config("consumer"),
                "group.id": self.group_id,
                "session.timeout.ms": 6000,
                # a join or a death moves only the shards that must move (pinned in tests/broker)
                "partition.assignment.strategy": "cooperative-sticky",
                "heartbeat.interval.ms": 1000,
                "enable.auto.commit": False,
            }
        )
        self._consumer.subscribe(
            [SHARDS_TOPIC], on_assign=self._on_assign, on_revoke=self._on_revoke
        )

    def _on_assign(self, _c: Consumer, parts: list[TopicPartition]) -> None:
        self._events += [("assign", p.partition) for p in parts]

    def _on_revoke(self, _c: Consumer, parts: list[TopicPartition]) -> None:
        self._events += [("revoke", p.partition) for p in parts]

    def poll(self) -> None:
        """Serve the group's membership (the topic itself carries no records)."""
        if self._consumer is not None:
            self._consumer.poll(0)

    @property
    def changing(self) -> bool:
        """Whether shards were given or taken, or given ones still wait."""
        return bool(self._events or self.waiting)

    def revoked(self, held: Collection[int], shards: int, wall: int) -> list[int]:
        """The group's announcements, in order: the held shards taken from this worker (to
        give up), in that order; shards given to it (of the fleet's ``shards``) wait."""
        out: list[int] = []
        holding = set(held)
        for what, shard in self._events:
            if what == "revoke":
                self.waiting.pop(shard, None)
                if shard in holding:
                    out.append(shard)
                    holding.discard(shard)
                continue
            if shard in holding or shard >= shards:
                continue
            self.waiting.setdefault(shard, wall)
        self._events.clear()
        return out

    def forfeit(self, shards: Collection[int], wall: int, hold_ms: int) -> None:
        """Shards this worker gave up without a word (it was frozen): they wait as if given
        again, and are taken (from their newest checkpoint) only if the group, asked for
        ``hold_ms``, does not take them away meanwhile."""
        for shard in shards:
            self.waiting[shard] = wall
        self.hold_until = wall + hold_ms

    def free(self, wall: int, holder: Callable[[int, int], str | None]) -> Iterator[int]:
        """The waiting shards to take now, one at a time (taking one takes a while: the next
        is asked about after): no other live worker holds them, or their holder hangs."""
        if wall < self.hold_until:
            return
        for shard, since in list(self.waiting.items()):
            other = holder(shard, wall)
            if other is not None and wall - since < HANDOFF_WAIT_MS:
                continue  # its holder has not let it go yet (it writes a last checkpoint)
            if other is not None:
                log.warning("shard_taken_from_silent_holder", shard=shard, holder=other)
            del self.waiting[shard]
            yield shard

    def close(self) -> None:
        """Leave the group."""
        if self._consumer is not None:
            self._consumer.close()
