"""Shared fixtures: one broker per test session, uuid-named topics, an isolated state dir.

Integration tests reuse the cluster named by ``SIMFLEET_TEST_BOOTSTRAP`` when it is set and
otherwise start one embedded Tansu broker for the whole session.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from simfleet.broker import EmbeddedBroker, free_port
from tests.live import SLOWDOWN

TopicFactory = Callable[..., str]

_TOPIC_TIMEOUT = 15.0


@pytest.fixture(scope="session", autouse=True)
def _isolated_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point SIMCTL_STATE_DIR at a temp dir so no test touches the cwd's ``.simfleet/``."""
    state = tmp_path_factory.mktemp("simctl-state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIMCTL_STATE_DIR", str(state))
        yield state


@pytest.fixture(scope="session")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of the session's broker (external, or embedded and started here)."""
    external = os.environ.get("SIMFLEET_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    broker = EmbeddedBroker()
    broker.start(port=free_port(), log_path=tmp_path_factory.mktemp("broker") / "tansu.log")
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def admin(bootstrap: str) -> AdminClient:
    """An AdminClient on the session's broker."""
    return AdminClient({"bootstrap.servers": bootstrap})


def _wait_for_topic(admin: AdminClient, name: str, partitions: int) -> None:
    deadline = time.monotonic() + _TOPIC_TIMEOUT
    while time.monotonic() < deadline:
        meta = admin.list_topics(topic=name, timeout=5).topics.get(name)
        if meta is not None and meta.error is None and len(meta.partitions) == partitions:
            return
    raise AssertionError(f"topic {name} did not appear with {partitions} partitions in time")


@pytest.fixture
def topic_factory(admin: AdminClient) -> Iterator[TopicFactory]:
    """Create uuid-named topics (prefix, partitions, config) and delete them after the test."""
    created: list[str] = []

    def create(
        prefix: str = "test", partitions: int = 1, config: dict[str, str] | None = None
    ) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        topic = NewTopic(name, num_partitions=partitions, config=config or {})
        for future in admin.create_topics([topic], operation_timeout=_TOPIC_TIMEOUT).values():
            future.result(timeout=_TOPIC_TIMEOUT)
        created.append(name)
        _wait_for_topic(admin, name, partitions)
        return name

    yield create

    if created:
        futures = admin.delete_topics(created, operation_timeout=_TOPIC_TIMEOUT)
        for future in futures.values():
            try:
                future.result(timeout=_TOPIC_TIMEOUT)
            except KafkaException as exc:
                # A test may delete its own topic; anything else is a real failure.
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise


# the longest files, longest first (measured with --durations): started first by the
# parallel run, they overlap the many short ones instead of trailing them
LONGEST = (
    "scenarios/test_nine_scenarios.py",
    "baseline/test_normalization.py",
    "faults/test_broker_pause.py",
    "integration/test_fleet_e2e.py",
    "domain/test_ticketing.py",
    "integration/test_ticketing_live.py",
    "faults/test_fleet_faults.py",
    "domain/test_marketplace.py",
    "admin/test_admin_live.py",
    "chaos/test_run_plan.py",
    "chaos/test_chaos_live.py",
    "integration/test_live_metrics.py",
    "integration/test_orchestrator_restart.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first, then the other files with a slow test, then the rest: run in
    parallel (``make test``), the long ones start early instead of at the end; within a file
    the order is kept."""
    here = Path(__file__).parent
    slow_files = {i.path for i in items if i.get_closest_marker("slow") is not None}

    def rank(item: pytest.Item) -> int:
        rel = item.path.relative_to(here).as_posix()
        if rel in LONGEST:
            return LONGEST.index(rel)
        return len(LONGEST) + (item.path not in slow_files)

    items.sort(key=rank)
    # a busy machine stretches every live deadline (tests.live.SLOWDOWN), and so the
    # per-test timeout (300 s in pyproject) stretches with it
    if SLOWDOWN > 1:
        for item in items:
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(300 * SLOWDOWN))
