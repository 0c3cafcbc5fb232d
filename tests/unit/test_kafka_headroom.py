"""How far ahead record timestamps get, and the check that existing topics allow it.

``needed_ahead_ms`` and ``timestamp_problems`` are pure; ``check_timestamp_headroom`` and
``ensure_topics`` run against the session's broker. Tansu echoes the configs a topic was
created with (and reports nothing else), so a topic created with a 1 h limit stands for an
Apache Kafka 4.x topic made before simfleet set the limit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from simfleet.errors import ConfigError
from simfleet.kafka import (
    ANY_AHEAD_MS,
    TIMESTAMP_AHEAD_CONFIG,
    TopicSpec,
    check_timestamp_headroom,
    ensure_topics,
    needed_ahead_ms,
    timestamp_problems,
)
from simfleet.settings import KafkaSettings

TopicFactory = Callable[..., str]

_HOUR = 3_600_000
_NOW = 1_780_000_000_000


# --------------------------------------------------------------------------- needed_ahead_ms


@pytest.mark.parametrize("speed", [0.5, 1.0])
def test_realtime_or_slower_from_now_or_the_past_never_leads(speed: float) -> None:
    assert needed_ahead_ms(speed, _NOW, _NOW, None) == 0
    assert needed_ahead_ms(speed, _NOW - 30 * 24 * _HOUR, _NOW, 10 * _HOUR) == 0


def test_realtime_from_a_future_start_leads_by_the_gap() -> None:
    assert needed_ahead_ms(1.0, _NOW + 2 * _HOUR, _NOW, None) == 2 * _HOUR
    assert needed_ahead_ms(0.5, _NOW + 2 * _HOUR, _NOW, 10 * _HOUR) == 2 * _HOUR


def test_accelerated_without_a_duration_is_unbounded() -> None:
    assert needed_ahead_ms(60.0, _NOW, _NOW, None) is None
    assert needed_ahead_ms(1.01, _NOW - 365 * 24 * _HOUR, _NOW, None) is None


def test_accelerated_with_a_duration_leads_most_at_the_end() -> None:
    # 60x for 5 wall minutes: 300 sim minutes pass, 295 min more than on the wall
    assert needed_ahead_ms(60.0, _NOW, _NOW, 5 * 60_000) == 295 * 60_000
    # a start 1 h in the past is made up first
    assert needed_ahead_ms(60.0, _NOW - _HOUR, _NOW, 5 * 60_000) == 235 * 60_000
    # a start far enough in the past never catches up with the wall clock
    assert needed_ahead_ms(60.0, _NOW - 24 * _HOUR, _NOW, 5 * 60_000) == 0


def test_accelerated_lead_rounds_up() -> None:
    assert needed_ahead_ms(1.5, _NOW, _NOW, 3) == 2  # 1.5 ms ahead: 2 ms must be allowed


# --------------------------------------------------------------------------- timestamp_problems


def test_limits_below_the_need_are_problems_sorted() -> None:
    configs: dict[str, str | None] = {
        "b.small": "3600000",
        "a.small": "0",
        "enough": str(5 * _HOUR),
        "unbounded": str(ANY_AHEAD_MS),
    }
    assert timestamp_problems(configs, 5 * _HOUR) == ["a.small", "b.small"]
    assert timestamp_problems(configs, 5 * _HOUR + 1) == ["a.small", "b.small", "enough"]


def test_unbounded_need_wants_the_maximum() -> None:
    configs: dict[str, str | None] = {"max": str(ANY_AHEAD_MS), "almost": str(ANY_AHEAD_MS - 1)}
    assert timestamp_problems(configs, None) == ["almost"]


def test_unreported_or_unreadable_limits_pass() -> None:
    configs: dict[str, str | None] = {"unreported": None, "odd": "not-a-number"}
    assert timestamp_problems(configs, None) == []
    assert timestamp_problems({}, None) == []


def test_no_need_means_no_problem() -> None:
    assert timestamp_problems({"t": "0"}, 0) == []


# --------------------------------------------------------------------------- against the broker


@pytest.fixture
def settings(bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=bootstrap)


@pytest.fixture
def cleanup(admin: AdminClient) -> Iterator[list[str]]:
    """Topics a test made through ``ensure_topics``, deleted afterwards."""
    names: list[str] = []
    yield names
    if names:
        for future in admin.delete_topics(names, operation_timeout=15).values():
            try:
                future.result(timeout=15)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise


@pytest.mark.integration
def test_ensure_topics_returns_what_it_created(
    settings: KafkaSettings, topic_factory: TopicFactory, cleanup: list[str]
) -> None:
    """Only the topics that were missing are created and returned; a second call creates none."""
    there = topic_factory("there")
    a, b = (f"new-{uuid.uuid4().hex[:12]}" for _ in range(2))
    cleanup += [a, b]
    specs = [TopicSpec(there, 1), TopicSpec(a, 2), TopicSpec(b, 1, {"cleanup.policy": "compact"})]
    assert ensure_topics(settings, specs) == {a, b}
    assert ensure_topics(settings, specs) == set()


@pytest.mark.integration
def test_existing_topic_with_a_one_hour_limit_is_refused(
    settings: KafkaSettings, topic_factory: TopicFactory
) -> None:
    """An existing topic limited to 1 h stops a 60x run with a one-paragraph fix."""
    small = topic_factory("limited", config={TIMESTAMP_AHEAD_CONFIG: str(_HOUR)})
    fine = topic_factory("open", config={TIMESTAMP_AHEAD_CONFIG: str(ANY_AHEAD_MS)})
    with pytest.raises(ConfigError) as caught:
        check_timestamp_headroom(settings, [fine, small], None, created=set())
    text = str(caught.value)
    assert "\n" not in text
    assert f"{small} ({TIMESTAMP_AHEAD_CONFIG}={_HOUR})" in text
    assert fine not in text
    assert "an unbounded lead" in text
    assert (
        f"kafka-configs.sh --bootstrap-server {settings.bootstrap_servers} --alter "
        f"--entity-type topics --entity-name {small} "
        f"--add-config {TIMESTAMP_AHEAD_CONFIG}={ANY_AHEAD_MS}"
    ) in text
    assert "--speed 1" in text
    assert caught.value.exit_code == 2

    # a bounded need is named in hours and ms
    with pytest.raises(ConfigError, match=r"up to 4 h 55 min \(17700000 ms\)"):
        check_timestamp_headroom(settings, [small], 295 * 60_000, created=set())


@pytest.mark.integration
def test_limits_that_suffice_pass(settings: KafkaSettings, topic_factory: TopicFactory) -> None:
    """A limit at or above the need passes; so does any limit when timestamps never lead."""
    small = topic_factory("limited", config={TIMESTAMP_AHEAD_CONFIG: str(_HOUR)})
    check_timestamp_headroom(settings, [small], _HOUR, created=set())
    check_timestamp_headroom(settings, [small], 0, created=set())


@pytest.mark.integration
def test_topics_created_by_this_run_are_not_asked_about(
    settings: KafkaSettings, topic_factory: TopicFactory
) -> None:
    """A topic in ``created`` is skipped, whatever it reports."""
    small = topic_factory("limited", config={TIMESTAMP_AHEAD_CONFIG: str(_HOUR)})
    check_timestamp_headroom(settings, [small], None, created={small})


@pytest.mark.integration
def test_a_topic_reporting_no_limit_passes(
    settings: KafkaSettings, topic_factory: TopicFactory
) -> None:
    """Tansu reports no limit for a topic created without one: nothing to judge, it passes."""
    bare = topic_factory("bare")
    check_timestamp_headroom(settings, [bare], None, created=set())
