"""`simctl run PLAN.yaml`: a test plan of steps against a live fleet (given, or started on the
embedded broker), with a verdict per step and per assertion, JUnit XML and an exit code.

Steps (one action each): ``wait: 30m`` (sim time), ``wait_for: {topic, where, timeout}`` (a
record, wall-clock timeout), ``start: SCENARIO``, ``stop: true``, ``inject: {template,
params}``, ``assert: [assertions]`` or ``check: SCENARIO`` (its own assertions), with ``since:
SCENARIO`` to count windows from its start (default: the plan's start).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from rich.console import Console

from simfleet.broker.embedded import EmbeddedBroker
from simfleet.cli.assertions import (
    Outcome,
    evaluate,
    outcome_table,
    read_topics,
    topics_of,
    write_junit,
)
from simfleet.cli.control import request
from simfleet.cli.options import (
    NO_FLAGS,
    Flags,
    JunitOpt,
    build_settings,
    kafka_of,
    project_of,
    settings_options,
)
from simfleet.codec import Decoder
from simfleet.control import Command, ControlState
from simfleet.control_io import FleetWatcher, read_latest_state
from simfleet.domain.pack import Project
from simfleet.errors import BrokerError, ConfigError, SimError
from simfleet.orchestrator.catalog import get_scenario
from simfleet.problems import explain_validation
from simfleet.scenarios import Assertion, DurationMs
from simfleet.settings import KafkaSettings
from simfleet.timeutil import format_duration_ms, format_ms

__all__ = ["Plan", "run"]

console = Console()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class FleetSpec(_Frozen):
    """The fleet a plan starts on the embedded broker when no --bootstrap-servers is given."""

    speed: float = Field(3600.0, gt=0)
    scale: float = Field(0.2, gt=0)
    shards: int = Field(2, ge=1)
    workers: int = Field(1, ge=1)
    seed: int = 42
    start: str | None = Field(None, description="sim start, ISO UTC (default: now)")
    domains: tuple[str, ...] = ()
    external_events: bool = False


class WaitFor(_Frozen):
    """Wait until a record of ``topic`` (with these field values) is on the topic."""

    topic: str
    where: dict[str, str | int | float | bool] = Field(default_factory=dict)
    timeout: DurationMs = Field(60_000, description="wall-clock time to wait at most")


class InjectStep(_Frozen):
    """An external event to inject, as `simctl inject` does."""

    template: str
    domain: str | None = None
    params: dict[str, str] = Field(default_factory=dict)


class Step(_Frozen):
    """One step of a plan: exactly one action."""

    name: str | None = None
    wait: DurationMs | None = Field(None, description="sim time to let pass")
    wait_for: WaitFor | None = None
    start: str | None = Field(None, description="a scenario id or file to start")
    stop: bool = Field(False, description="stop the running scenario(s)")
    inject: InjectStep | None = None
    assert_: tuple[Assertion, ...] | None = Field(None, alias="assert")
    check: str | None = Field(None, description="a scenario whose assertions to judge")
    since: str | None = Field(None, description="windows count from this scenario's start")

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        acts = [self.wait is not None, self.wait_for is not None, self.start is not None]
        acts += [self.stop, self.inject is not None, self.assert_ is not None]
        acts.append(self.check is not None)
        if sum(acts) != 1:
            raise ValueError(
                "a step does exactly one thing: wait, wait_for, start, stop, inject, assert or "
                "check"
            )
        return self

    @property
    def label(self) -> str:
        """The step's name, or its action in words."""
        if self.name:
            return self.name
        said = [
            (self.wait is not None, f"wait {format_duration_ms(self.wait or 0)} sim"),
            (self.wait_for is not None, f"wait for {self.wait_for.topic if self.wait_for else ''}"),
            (self.start is not None, f"start {self.start}"),
            (self.inject is not None, f"inject {self.inject.template if self.inject else ''}"),
            (self.check is not None, f"check {self.check}"),
            (self.stop, "stop"),
        ]
        return next((text for cond, text in said if cond), "assert")


class Plan(_Frozen):
    """A test plan file."""

    name: str
    fleet: FleetSpec = FleetSpec()
    steps: tuple[Step, ...] = Field(min_length=1)


def load_plan(path: Path) -> Plan:
    """A plan file, validated; every problem listed."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"Cannot read plan {path}: {exc.strerror}.") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"Plan {path} is not valid YAML: {exc}. Fix the syntax.") from exc
    try:
        return Plan.model_validate(raw)
    except ValidationError as exc:
        listed = "; ".join(p.sentence() for p in explain_validation(exc, Plan))
        raise ConfigError(
            f"Plan {path} is invalid: {listed}. A plan has name, fleet and steps."
        ) from exc


class _Runner:
    """Runs the steps of a plan against one fleet."""

    def __init__(self, kafka: KafkaSettings, project: Project) -> None:
        self.kafka = kafka
        self.project = project
        self.state = self._state(60.0)
        self._producing(90.0)
        self.origin = self.state.clock.clock().now()
        self.outcomes: list[Outcome] = []

    def _state(self, timeout: float) -> ControlState:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = read_latest_state(self.kafka, 2.0)
            if state is not None:
                return state
        raise BrokerError(
            f"No fleet answers on {self.kafka.bootstrap_servers} (no control state within "
            f"{timeout:g} s). Start one with `simctl up`, or leave out --bootstrap-servers."
        )

    def _producing(self, timeout: float) -> None:
        """Wait until the workers hold every shard: a fleet starts cold, from the moment its
        workers claim their shards, so a plan's first sim minutes must not be before it."""
        watcher = FleetWatcher(self.kafka)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                watcher.poll(0.5)
                held = {s for hb in watcher.workers.values() if not hb.stopping for s in hb.shards}
                if len(held) >= self.state.shards:
                    return
        finally:
            watcher.close()
        raise BrokerError(
            f"The fleet on {self.kafka.bootstrap_servers} did not claim its {self.state.shards} "
            f"shard(s) within {timeout:g} s; see the workers' logs."
        )

    def step(self, n: int, step: Step) -> bool:
        """Run one step; record its verdict (and its assertions'); False stops the plan."""
        t0 = time.monotonic()
        try:
            detail, ok = self._do(step)
        except SimError as exc:
            detail, ok = str(exc), False
        name = f"{n:02d} {step.label}"
        self.outcomes.append(Outcome(name, "step", "done", detail, ok, time.monotonic() - t0))
        return ok

    def _do(self, step: Step) -> tuple[str, bool]:
        if step.wait is not None:
            state = read_latest_state(self.kafka, 5.0) or self.state
            clock = state.clock.clock()
            until = clock.now() + step.wait
            while clock.now() < until:
                time.sleep(0.1)  # pacing a poll of the sim clock with the wall clock
            return f"sim {format_ms(until)}", True
        if step.wait_for is not None:
            return self._wait_for(step.wait_for)
        if step.start is not None:
            spec = get_scenario(step.start, self.project)
            cmd = Command(
                request_id=uuid.uuid4().hex,
                action="scenario.start",
                scenario=spec.model_dump(mode="json"),
                replace=True,  # a plan's step says "now this scenario", whatever ran before
            )
            self.state = request(self.kafka, cmd)
            return f"control v{self.state.version}", True
        if step.stop:
            self.state = request(
                self.kafka, Command(request_id=uuid.uuid4().hex, action="scenario.stop")
            )
            return f"control v{self.state.version}", True
        if step.inject is not None:
            inj = step.inject
            cmd = Command(
                request_id=uuid.uuid4().hex,
                action="inject",
                template=inj.template,
                domain=inj.domain,
                params=inj.params,
            )
            self.state = request(self.kafka, cmd)
            return f"control v{self.state.version}", True
        return self._assert(step)

    def _wait_for(self, w: WaitFor) -> tuple[str, bool]:
        decoder = Decoder(self.project.schemas(), self.kafka.registry_url)
        c = Consumer(
            {
                **self.kafka.client_config("consumer"),
                "group.id": "simctl-run",
                "enable.auto.commit": False,
            }
        )
        try:
            meta = c.list_topics(timeout=10).topics
            if w.topic not in meta:
                return f"no topic {w.topic}", False
            c.assign(
                [TopicPartition(w.topic, p, OFFSET_BEGINNING) for p in meta[w.topic].partitions]
            )
            deadline = time.monotonic() + w.timeout / 1000
            while time.monotonic() < deadline:
                for m in c.consume(1000, 0.2):
                    value = m.value()
                    if m.error() is not None or value is None:
                        continue
                    rec = decoder.decode(value)
                    if all(rec.get(k) == v for k, v in w.where.items()):
                        return f"seen {rec.get('event_id')}", True
        finally:
            c.close()
        return f"none within {format_duration_ms(w.timeout)}", False

    def _assert(self, step: Step) -> tuple[str, bool]:
        if step.check is not None:
            assertions = get_scenario(step.check, self.project).assertions
        else:
            assertions = step.assert_ or ()
        origin = self.origin
        if step.since is not None:
            state = read_latest_state(self.kafka, 5.0) or self.state
            starts = [i.started_at for i in state.scenarios if i.spec.id == step.since]
            if not starts:
                return f"scenario {step.since} is not in the control state", False
            origin = max(starts)
        topics = sorted(topics_of(assertions))
        if any(a.kind == "custom" for a in assertions):
            topics = sorted(e.topic for e in self.project.schemas())
        events = read_topics(self.kafka, self.project.schemas(), topics)
        results = evaluate(assertions, events, origin)
        self.outcomes.extend(results)
        failed = sum(not r.passed for r in results)
        return f"{len(results) - failed} of {len(results)} passed", failed == 0


@contextmanager
def _fleet(plan: Plan, pack_dirs: list[Path] | None) -> Iterator[str]:
    """A fleet on a fresh embedded broker, stopped (and the broker with it) on the way out."""
    broker = EmbeddedBroker()
    bs = broker.start()
    f = plan.fleet
    args = [sys.executable, "-m", "simfleet.cli.main", "up", "-b", bs, "--no-stats"]
    args += ["--speed", f"{f.speed:g}", "--scale", f"{f.scale:g}", "--shards", str(f.shards)]
    args += ["--workers", str(f.workers), "--seed", str(f.seed)]
    args += ["--external-events" if f.external_events else "--no-external-events"]
    args += [x for d in f.domains for x in ("--domain", d)]
    args += [x for p in pack_dirs or [] for x in ("--pack-dir", str(p))]
    if f.start:
        args += ["--start", f.start]
    up = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        yield bs
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
            up.communicate()
        broker.stop()


@settings_options("bootstrap", "properties", "pack_dir", "scenarios_dir")
def run(
    plan_file: Annotated[Path, typer.Argument(help="A test plan: name, fleet, steps.")],
    junit_xml: JunitOpt = None,
    flags: Flags = NO_FLAGS,
) -> None:
    """Run a test plan: steps against a live fleet (--bootstrap-servers) or one it starts on
    the embedded broker. Exits 1 when a step or an assertion fails.

    Example: simctl run plans/supply-crisis.yaml --junit-xml plan.xml
    """
    plan = load_plan(plan_file)
    settings = build_settings(**flags)
    project = project_of(settings)
    with _own_or_given(plan, settings.bootstrap_servers, flags["pack_dirs"]) as bs:
        kafka = (
            kafka_of(settings)
            if settings.bootstrap_servers
            else KafkaSettings.build(
                bs,
                settings.kafka_properties,
                settings.schema_registry_url,
                settings.value_format,
                settings.record_headers,
                settings.replication_factor,
            )
        )
        runner = _Runner(kafka, project)
        for n, step in enumerate(plan.steps, 1):
            if not runner.step(n, step):
                break
    outcomes = runner.outcomes
    skipped = len(plan.steps) - sum(o.kind == "step" for o in outcomes)
    console.print(outcome_table(outcomes, f"simctl run {plan.name}"))
    if junit_xml is not None:
        write_junit(junit_xml, {plan.name: outcomes})
    failed = sum(not o.passed for o in outcomes)
    if failed:
        typer.echo(
            f"{failed} check(s) failed" + (f"; {skipped} step(s) not run" if skipped else ""),
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"plan {plan.name}: all {len(plan.steps)} steps passed", err=True)


@contextmanager
def _own_or_given(plan: Plan, given: str | None, pack_dirs: list[Path] | None) -> Iterator[str]:
    if given:
        yield given
        return
    with _fleet(plan, pack_dirs) as bs:
        yield bs
