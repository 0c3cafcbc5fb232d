"""Both producers of the data path (inline, and the producing child process) add the
per-record headers the settings ask for, beside the produce-time header."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest

from simfleet.kafka import AccountedProducer
from simfleet.sender import SenderProcess
from simfleet.settings import KafkaSettings
from tests.live import read_until_idle

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kind", [AccountedProducer, SenderProcess])
def test_each_record_carries_its_trace_and_cloudevents_headers(
    bootstrap: str, topic_factory: Callable[..., str], kind: type[AccountedProducer]
) -> None:
    topic = topic_factory("hdr")
    settings = KafkaSettings(
        bootstrap_servers=bootstrap, record_headers=("traceparent", "cloudevents")
    )
    producer = kind(settings, stamp_topics=frozenset({topic}))
    values = [uuid.uuid4().bytes for _ in range(20)]
    buf = b"".join(values)
    offsets = [16 * i for i in range(21)]
    producer.send_encoded(topic, buf, offsets, [b"k"] * 20, list(range(1000, 1020)))
    producer.flush(30)
    producer.close()
    got = list(read_until_idle(bootstrap, [topic]))
    assert len(got) == 20
    traces = set()
    for m in got:
        h = dict(m.headers() or [])
        assert re.fullmatch(rb"00-[0-9a-f]{32}-[0-9a-f]{16}-01", h["traceparent"])
        assert h["ce_type"] == topic.encode() and "simfleet-produced-at" in h
        traces.add(h["traceparent"])
    assert len(traces) == 20  # one trace per record
