"""The orchestrator process: the single, fenced writer of ``sim.control``.

It starts by initialising a transactional producer (which fences any older orchestrator with
the same transactional id), reads the newest state back from the topic (so a restart resumes
the active scenario and its settle progress, both pure functions of the state and the clock),
then applies commands from ``sim.commands`` after the offset the state records, one new
version per change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from pydantic import ValidationError

from simfleet.clock import wall_ms
from simfleet.cluster import ClusterWatch
from simfleet.codec import TopicEncoder, encoders_for, records_to_columns
from simfleet.control import COMMANDS_TOPIC, CONTROL_KEY, CONTROL_TOPIC, Command, ControlState
from simfleet.control_io import read_latest_state
from simfleet.domain.pack import Project
from simfleet.errors import BrokerError
from simfleet.orchestrator.timeline import Outgoing
from simfleet.orchestrator.transitions import advance, apply_command, reset_state
from simfleet.settings import KafkaSettings

__all__ = ["DEFAULT_TRANSACTIONAL_ID", "Orchestrator"]

DEFAULT_TRANSACTIONAL_ID = "simfleet-orchestrator"
log = structlog.get_logger()


class Orchestrator:
    """Publishes the desired state; applies commands; keeps the state tidy."""

    def __init__(
        self,
        settings: KafkaSettings,
        project: Project,
        transactional_id: str = DEFAULT_TRANSACTIONAL_ID,
        read_wall: Callable[[], int] = wall_ms,
        outage_limit_s: float = 300.0,
    ) -> None:
        self.settings = settings
        self.project = project
        self.outage_limit_s = outage_limit_s
        self.read_wall = read_wall
        self._producer = Producer(
            {
                **settings.client_config("producer"),
                "transactional.id": transactional_id,
                "enable.idempotence": True,
                "acks": "all",
                "transaction.timeout.ms": 30_000,
            }
        )
        self.state: ControlState | None = None
        self._watch: ClusterWatch | None = None  # from open(): a replaced cluster stops it
        self._encoders: dict[str, TopicEncoder] = encoders_for(
            project.schemas(), settings.registry_url, fmt=settings.value_format
        )

    def open(self, initial: Callable[[], ControlState], reset: bool = False) -> ControlState:
        """Fence older writers, then resume from the topic or publish ``initial()``; with
        ``reset``, publish ``initial()`` over what the topic holds."""
        try:
            self._producer.init_transactions(15)
        except KafkaException as exc:
            raise BrokerError(
                f"The orchestrator could not initialise its transactional producer at "
                f"{self.settings.bootstrap_servers}: {exc.args[0].str()}."
            ) from exc
        state = read_latest_state(self.settings)
        self._watch = ClusterWatch(self.settings)
        if state is None:
            state = initial()
            self.publish(state)
            log.info("control_state_created", version=state.version)
        elif reset:
            state = reset_state(state, initial())
            self.publish(state)
            log.info("control_state_reset", version=state.version)
        else:
            self.state = state
            log.info(
                "control_state_resumed",
                version=state.version,
                scenarios=[i.spec.id for i in state.scenarios],
            )
        return state

    def publish(self, state: ControlState, outgoing: Sequence[Outgoing] = ()) -> None:
        """Write one version, and the records due with it, in one transaction; a fenced
        writer stops here; a broker that does not answer is waited for (up to the outage
        limit), the transaction retried whole."""
        deadline = time.monotonic() + self.outage_limit_s
        while True:
            if self._watch is not None:
                self._watch.check("The orchestrator")
            try:
                self._transaction(state, outgoing, deadline)
                break
            except KafkaException as exc:
                err: KafkaError = exc.args[0]
                if err.code() == KafkaError._FENCED or err.fatal():
                    raise BrokerError(
                        "This orchestrator was fenced: a newer orchestrator with the same "
                        "transactional id took over sim.control. Only one writer may run; this "
                        "one stops without writing."
                    ) from exc
                self._abort_quietly()
                if time.monotonic() > deadline:
                    raise BrokerError(
                        f"Publishing the control state failed for {self.outage_limit_s:.0f} s: "
                        f"{err.str()}. Is the broker at {self.settings.bootstrap_servers} up?"
                    ) from exc
                log.warning("control_publish_retry", error=err.str())
        self.state = state

    def _transaction(
        self, state: ControlState, outgoing: Sequence[Outgoing], deadline: float
    ) -> None:
        self._producer.begin_transaction()
        for topic, record in outgoing:
            enc = self._encoders[topic]
            buf, _ = enc.encode(records_to_columns(enc.schema.parsed, [record]), 1)
            self._producer.produce(
                topic,
                buf,
                str(record["event_id"]).encode(),
                timestamp=int(record["occurred_at"]),
            )
        self._producer.produce(CONTROL_TOPIC, state.model_dump_json().encode(), CONTROL_KEY)
        while True:
            try:
                self._producer.commit_transaction(15)
                return
            except KafkaException as exc:
                # a commit that timed out may be retried as it is (librdkafka says when);
                # anything else is aborted by the caller and the transaction redone whole
                err = exc.args[0]
                if not err.retriable() or err.txn_requires_abort() or time.monotonic() > deadline:
                    raise
                log.warning("control_commit_retry", error=exc.args[0].str())

    def _abort_quietly(self) -> None:
        """Abort an open transaction; one that is not open (or a broker still away) is
        fine: the next attempt begins anew."""
        try:
            self._producer.abort_transaction(15)
        except KafkaException as exc:
            if exc.args[0].fatal():
                raise BrokerError(
                    f"The orchestrator's producer failed: {exc.args[0].str()}."
                ) from exc

    def run(self, stop: threading.Event, housekeeping_s: float = 1.0) -> None:
        """Apply commands until ``stop`` is set."""
        assert self.state is not None, "open() first"
        consumer = Consumer(
            {
                **self.settings.client_config("consumer"),
                "group.id": "simfleet-orchestrator-reader",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        consumer.assign([TopicPartition(COMMANDS_TOPIC, 0, self.state.last_command_offset + 1)])
        last_housekeeping = 0
        try:
            while not stop.is_set():
                if self._watch is not None:
                    self._watch.check("The orchestrator")
                for msg in consumer.consume(50, 0.2):
                    if msg.error():
                        continue
                    try:
                        cmd = Command.model_validate_json(msg.value() or b"")
                    except ValidationError:
                        log.warning("command_unreadable", offset=msg.offset())
                        continue
                    new = apply_command(
                        self.state, cmd, msg.offset() or 0, self.read_wall(), self.project
                    )
                    self.publish(new)
                    log.info(
                        "command_applied",
                        action=cmd.action,
                        version=new.version,
                        rejected=new.rejected.reason if new.rejected else None,
                    )
                wall = self.read_wall()
                if wall - last_housekeeping >= housekeeping_s * 1000:
                    last_housekeeping = wall
                    moved = advance(self.state, wall, self.project)
                    if moved is not None:
                        self.publish(*moved)
                        log.info("state_advanced", version=moved[0].version, records=len(moved[1]))
        finally:
            consumer.close()

    def close(self) -> None:
        """Flush what is pending."""
        if self._watch is not None:
            self._watch.close()
            if self._watch.reason is not None:
                return  # nothing pending is meant for the cluster that is there now
        self._producer.flush(10)
