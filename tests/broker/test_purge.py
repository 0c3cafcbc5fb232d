"""Pin: the client's purge, as ``simfleet.produce_loop.purge`` calls it, has been done by
the client's broker threads when it returns, so a record produced just after it is delivered.

confluent-kafka passes ``blocking=True`` to librdkafka as ``RD_KAFKA_PURGE_F_NON_BLOCKING``:
with the default a purge finishes in the background and can take records produced after it
(a fence's unfence then saw its next records fail "Purged in queue"). If a client release
fixes the mapping, this test fails and ``purge`` takes ``blocking=True``.
"""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import KafkaError, Producer

from simfleet.produce_loop import purge

ROUNDS = 30


def test_records_produced_after_a_purge_are_delivered(
    bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("purge-pin", 4)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5000})
    outcome: dict[str, list[int]] = {"held": [0, 0], "after": [0, 0]}

    def report(which: str) -> Callable[[KafkaError | None, object], None]:
        def on_delivery(err: KafkaError | None, _msg: object) -> None:
            outcome[which][0 if err is None else 1] += 1
            if err is not None and which == "after":
                print("after a purge:", err)

        return on_delivery

    producer.produce(topic, b"warm-up")  # metadata known: records go to partition queues
    assert producer.flush(30) == 0
    for _ in range(ROUNDS):
        for i in range(200):
            producer.produce(topic, b"held", key=str(i).encode(), on_delivery=report("held"))
        producer.poll(0.01)  # the broker threads take them into their queues
        purge(producer)
        for i in range(20):
            producer.produce(topic, b"after", key=str(i).encode(), on_delivery=report("after"))
        assert producer.flush(30) == 0
    assert outcome["after"] == [20 * ROUNDS, 0]
    assert outcome["held"][0] + outcome["held"][1] == 200 * ROUNDS
