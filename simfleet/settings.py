"""One frozen settings tree, built once at the edge and handed down.

Precedence: command-line flags, then ``SIMCTL_*`` environment variables, then a config file
(``--config FILE``, YAML or TOML, or ``SIMCTL_CONFIG``), then the defaults below. ``simctl up``
builds it once and hands the same object, serialised, to the orchestrator, the workers and the
metrics service it starts (``SIMCTL_SETTINGS_JSON`` in their environment), so a child never
re-parses flags.

librdkafka properties pass through untouched, each to the clients it belongs to (a
``producer.``/``consumer.``/``admin.`` prefix or file section, or librdkafka's own verdict on
an unscoped producer-only or consumer-only key); only secrets (passwords, client secrets, keys,
JAAS configs) are held as ``SecretStr`` and redacted wherever settings are shown or logged, and
so are credentials inside a schema registry URL (``https://user:pw@host``).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, cast
from urllib.parse import urlsplit, urlunsplit

from confluent_kafka import Consumer, KafkaException, Producer
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

from simfleet.errors import ConfigError
from simfleet.timeutil import SIM_FROM_MS, SIM_UNTIL_MS, parse_instant_ms

__all__ = [
    "CHILD_ENV",
    "ROLES",
    "KafkaSettings",
    "Role",
    "Settings",
    "is_secret",
    "load_properties",
    "redact_url",
    "scope_properties",
    "split_scope",
]

CHILD_ENV = "SIMCTL_SETTINGS_JSON"
_REDACTED = "**********"

# librdkafka (and Schema Registry client) settings whose values are secrets. Anything ending in
# .password or .secret is one too; nothing else is hidden (a hidden bootstrap address or
# security.protocol helps no one debug a connection).
_SECRET_KEYS = frozenset(
    {
        "sasl.password",
        "sasl.jaas.config",
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.config",
        "ssl.key.password",
        "ssl.key.pem",
        "ssl_key",
        "ssl.keystore.password",
        "ssl.truststore.password",
        "basic.auth.user.info",
        "bearer.auth.token",
    }
)


def is_secret(key: str) -> bool:
    """Whether a librdkafka property holds a secret."""
    k = key.strip().lower()
    return k in _SECRET_KEYS or k.endswith((".password", ".secret", ".token"))


def redact_url(url: str) -> str:
    """``https://user:pw@host`` -> ``https://user:**********@host``; other URLs unchanged."""
    parts = urlsplit(url)
    if parts.password is None and "@" not in parts.netloc:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    secret = f":{_REDACTED}" if parts.password is not None else ""
    return urlunsplit(parts._replace(netloc=f"{user}{secret}@{host}"))


_PROPERTY_LINE = re.compile(r"^\s*([^=:\s]+)\s*[=:]\s*(.*?)\s*$")
_SECTION_LINE = re.compile(r"^\[\s*([A-Za-z]+)\s*\]$")
# The kinds of client a setting can be scoped to: a `producer.` prefix (or a `[producer]`
# section of the properties file) gives `linger.ms` to producers only, and so on.
ROLES = ("producer", "consumer", "admin")
Role = Literal["producer", "consumer", "admin"]


def load_properties(path: Path) -> dict[str, str]:
    """Read a properties file of librdkafka settings (``key=value`` or ``key: value``).

    A ``[producer]``, ``[consumer]`` or ``[admin]`` line opens a section whose settings are
    returned with that prefix (``producer.linger.ms``); the same prefix may be written inline.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the Kafka properties file {path}: {exc.strerror}. "
            "Pass an existing file with --kafka-properties, one `key=value` librdkafka "
            "setting per line."
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"The Kafka properties file {path} is not UTF-8 text (byte {exc.start} cannot be "
            "read). Pass a text file with --kafka-properties, one `key=value` librdkafka "
            "setting per line, such as `security.protocol=SASL_SSL`."
        ) from exc
    props: dict[str, str] = {}
    section = ""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        s = _SECTION_LINE.match(line)
        if s is not None:
            if s.group(1) not in ROLES:
                raise ConfigError(
                    f"{path}:{lineno}: unknown section [{s.group(1)}]. A section scopes the "
                    f"settings under it to one kind of client: {', '.join(ROLES)}."
                )
            section = s.group(1) + "."
            continue
        m = _PROPERTY_LINE.match(line)
        if m is None:
            key = line.split()[0] if line.split() else line
            shown = key if not is_secret(key) else f"{key} (value hidden)"
            raise ConfigError(
                f"{path}:{lineno}: expected `key=value`, found a line starting {shown!r}. Each "
                "line of a properties file is one librdkafka setting such as "
                "`security.protocol=SASL_SSL`."
            )
        props[section + m.group(1)] = m.group(2)
    return props


def split_scope(key: str) -> tuple[Role | None, str]:
    """``producer.linger.ms`` -> ("producer", "linger.ms"); an unscoped key -> (None, key)."""
    head, _, rest = key.partition(".")
    if head in ROLES and rest:
        return cast(Role, head), rest
    return None, key


class _Captured(logging.Handler):
    """Collects what librdkafka logs while a throwaway client is built."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _client_kind(key: str, value: str) -> Role | None:
    """librdkafka's own verdict: is ``key`` a producer-only or consumer-only property?

    A client of the other kind built with it logs CONFWARN "... is a consumer property and will
    be ignored by this producer instance"; no bootstrap address is given, so nothing connects.
    """
    captured = _Captured()
    log = logging.getLogger(f"simfleet.settings.scope.{id(captured)}")
    log.addHandler(captured)
    log.propagate = False
    try:
        for client, other in ((Producer, "consumer"), (Consumer, "producer")):
            conf: dict[str, Any] = {key: value, "logger": log}
            if client is Consumer:
                conf["group.id"] = "simfleet-scope-probe"
            try:
                c = client(conf)
            except (KafkaException, ValueError, TypeError):
                continue  # a bad key or value: _check_properties reports it
            c.poll(0)
            if isinstance(c, Consumer):
                c.close()
            else:
                c.flush(0)
            if any(f"is a {other} property" in line for line in captured.lines):
                return cast(Role, other)
    finally:
        log.removeHandler(captured)
    return None


def scope_properties(props: Mapping[str, str]) -> dict[str, str]:
    """Give each unscoped producer-only or consumer-only setting its scope, as librdkafka
    classes it, so that `linger.ms` reaches producers and not every consumer (which would log
    a CONFWARN line per client)."""
    out: dict[str, str] = {}
    for key, value in props.items():
        role, bare = split_scope(key)
        kind = _client_kind(bare, value) if role is None else None
        out[f"{kind}.{bare}" if kind else key] = value
    return out


class KafkaSettings(BaseModel):
    """Where the fleet's Kafka is and how to talk to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str
    # left to right: a plain str stays a str (smart mode would make every value a SecretStr,
    # and status would hide `security.protocol`); the validator wraps the secrets
    properties: dict[str, Annotated[str | SecretStr, Field(union_mode="left_to_right")]] = {}
    schema_registry_url: SecretStr | None = None
    # how values are written: avro, protobuf, json-schema or json (simfleet.codec.formats)
    value_format: str = "avro"
    # per-record headers on data records: "traceparent", "cloudevents" (produce_loop)
    record_headers: tuple[str, ...] = ()
    # of the topics simfleet creates; -1: the broker's default.replication.factor
    replication_factor: int = -1

    @field_validator("properties", mode="before")
    @classmethod
    def _wrap_secrets(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {
                k: SecretStr(x) if is_secret(k) and isinstance(x, str) else x for k, x in v.items()
            }
        return v

    @classmethod
    def build(
        cls,
        bootstrap_servers: str,
        properties_file: Path | None = None,
        schema_registry_url: str | None = None,
        value_format: str = "avro",
        record_headers: tuple[str, ...] = (),
        replication_factor: int = -1,
    ) -> KafkaSettings:
        """Settings from CLI values, with secrets of the properties file wrapped."""
        from simfleet.codec.formats import check_format  # noqa: PLC0415 - numpy, only when building

        check_format(value_format, schema_registry_url)
        props = load_properties(properties_file) if properties_file is not None else {}
        if props:
            _check_properties(properties_file, bootstrap_servers, props)
            props = scope_properties(props)
        return cls(
            bootstrap_servers=bootstrap_servers,
            properties=props,  # the validator wraps the secrets
            schema_registry_url=SecretStr(schema_registry_url) if schema_registry_url else None,
            value_format=value_format,
            record_headers=record_headers,
            replication_factor=replication_factor,
        )

    @property
    def registry_url(self) -> str | None:
        """The schema registry URL, credentials included (for the client only)."""
        return self.schema_registry_url.get_secret_value() if self.schema_registry_url else None

    def client_config(self, role: Role) -> dict[str, Any]:
        """librdkafka settings for one kind of client, secrets revealed: the unscoped settings
        and those scoped to ``role`` (``producer.linger.ms`` becomes ``linger.ms``)."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            # simfleet creates its topics itself, with their partition counts; a broker that
            # creates a topic on a metadata request (Tansu does, with 4 partitions) must not be
            # asked to, or a replaced cluster fills up with topics of the wrong shape
            "allow.auto.create.topics": "false",
        }
        for k, v in self.properties.items():
            scope, bare = split_scope(k)
            if scope is None or scope == role:
                conf[bare] = v.get_secret_value() if isinstance(v, SecretStr) else v
        return conf

    def redacted(self) -> dict[str, str]:
        """Settings safe to show in logs and status."""
        out = {"bootstrap.servers": self.bootstrap_servers}
        for k, v in self.properties.items():
            out[k] = _REDACTED if isinstance(v, SecretStr) else v
        if self.registry_url:
            out["schema.registry.url"] = redact_url(self.registry_url)
        return out

    def revealed(self) -> dict[str, Any]:
        """Every value in the clear: only for handing to a child process of this fleet."""
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "properties": {
                k: v.get_secret_value() if isinstance(v, SecretStr) else v
                for k, v in self.properties.items()
            },
            "schema_registry_url": self.registry_url,
            "value_format": self.value_format,
            "record_headers": list(self.record_headers),
            "replication_factor": self.replication_factor,
        }


def _check_properties(path: Path | None, bootstrap: str, props: dict[str, str]) -> None:
    """librdkafka's own verdict on the properties, at the edge: a client of each kind is built
    with its settings (it connects lazily, so nothing is sent) and a misspelt key or bad value
    becomes a ConfigError naming the file, with every secret value blanked out of the message."""
    for role in ("producer", "consumer"):
        conf: dict[str, Any] = {"bootstrap.servers": bootstrap, "log_level": 0}
        for key, value in props.items():
            scope, bare = split_scope(key)
            if scope in (None, role):
                conf[bare] = value
        try:
            if role == "producer":
                Producer(conf).flush(0)
            else:
                Consumer({**conf, "group.id": "simfleet-check"}).close()
        except (KafkaException, ValueError, TypeError) as exc:
            msg = str(exc.args[0].str() if isinstance(exc, KafkaException) else exc)
            for k, v in props.items():
                if is_secret(k) and v:
                    msg = msg.replace(v, _REDACTED)
            raise ConfigError(
                f"{path}: librdkafka refuses these properties: {msg}. Fix the key or value (see "
                "librdkafka's CONFIGURATION.md for the keys it knows)."
            ) from exc


_CONFIG_FILE: ContextVar[Path | None] = ContextVar("simctl_config_file", default=None)


class Settings(BaseSettings):
    """Everything a fleet, a generate or a baseline run is configured by."""

    model_config = SettingsConfigDict(env_prefix="SIMCTL_", frozen=True, extra="forbid")

    # where Kafka is (none: the embedded broker `simctl up` started)
    bootstrap_servers: str | None = None
    kafka_properties: Path | None = Field(None, description="a librdkafka properties file")
    schema_registry_url: str | None = None
    value_format: str = Field("avro", description="avro, protobuf, json-schema or json")
    trace_headers: bool = Field(False, description="a W3C traceparent header on every record")
    replication_factor: int = Field(
        -1, ge=-1, description="of the topics simfleet creates; -1: the broker's default"
    )
    cloudevents: bool = Field(False, description="CloudEvents binary-mode ce_* headers")
    # the run
    seed: int = 42
    scale: float = Field(1.0, gt=0)
    shards: int = Field(8, ge=1, le=4096)
    speed: float = Field(60.0, gt=0)
    domains: tuple[str, ...] = Field((), description="none: every domain of the project")
    scenario: str | None = Field(None, description="a scenario from the start; none: baselines")
    start: str | None = Field(None, description="sim start instant, ISO UTC; none: now")
    until: str | None = Field(
        None, description="sim instant, ISO UTC, at which the fleet stops generating; none: never"
    )
    backfill_ms: int = Field(
        0, ge=0, description="sim history written before the start at full speed (whole hours)"
    )
    external_events: bool = True
    # where the project's packs and scenarios are, beyond the repository's own
    pack_dirs: tuple[Path, ...] = ()
    scenarios_dirs: tuple[Path, ...] = ()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags (init), then SIMCTL_* environment, then the config file, then defaults."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _CONFIG_FILE.get()
        if path is not None:
            if path.suffix == ".toml":
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
            else:
                sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    @classmethod
    def build(cls, config_file: Path | None = None, **flags: Any) -> Settings:
        """Settings from the flags given (None = not given), the environment and the file."""
        config_file = config_file or (
            Path(os.environ["SIMCTL_CONFIG"]) if os.environ.get("SIMCTL_CONFIG") else None
        )
        if config_file is not None and not config_file.is_file():
            raise ConfigError(
                f"Config file {config_file} does not exist. Pass an existing YAML or TOML file "
                "with --config (keys: seed, scale, shards, speed, domains, ...)."
            )
        given = {k: v for k, v in flags.items() if v is not None and v != ()}
        token = _CONFIG_FILE.set(config_file)
        try:
            return cls(**given)
        except ValidationError as exc:
            raise ConfigError(_explain(exc, config_file)) from exc
        finally:
            _CONFIG_FILE.reset(token)

    @field_validator("start", "until")
    @classmethod
    def _iso(cls, v: str | None) -> str | None:
        if v is not None and not SIM_FROM_MS <= parse_instant_ms(v) < SIM_UNTIL_MS:
            # (parse_instant_ms's ValueError names the format)
            raise ValueError(
                f"{v!r} is outside the sim calendar, 1970-01-01 to 2200-01-01; give an instant "
                "in it, e.g. 2026-03-02T00:00:00Z"
            )
        return v

    @field_validator("backfill_ms")
    @classmethod
    def _whole_hours(cls, v: int) -> int:
        if v % 3_600_000:
            raise ValueError(
                "the backfill is written in one-hour ticks: give whole hours (30d, 12h)"
            )
        return v

    @classmethod
    def from_child_env(cls) -> Settings | None:
        """The settings a parent ``simctl up`` handed down, if any."""
        raw = os.environ.get(CHILD_ENV)
        if not raw:
            return None
        data = json.loads(raw)
        data.pop("_kafka", None)
        return cls.model_validate(data)

    @property
    def record_headers(self) -> tuple[str, ...]:
        """The per-record header kinds the flags ask for (``KafkaSettings.record_headers``)."""
        return tuple(
            kind
            for kind, on in (("traceparent", self.trace_headers), ("cloudevents", self.cloudevents))
            if on
        )

    def child_env(self, kafka: KafkaSettings) -> dict[str, str]:
        """The environment that hands these settings (and the resolved Kafka) to a child."""
        data = self.model_dump(mode="json")
        data["bootstrap_servers"] = kafka.bootstrap_servers
        return {CHILD_ENV: json.dumps(data), "SIMCTL_CHILD_KAFKA": json.dumps(kafka.revealed())}


def _explain(exc: ValidationError, config_file: Path | None) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        flag = "--" + where.replace("_", "-")
        parts.append(f"{flag} / SIMCTL_{where.upper()}: {err['msg']}")
    src = f" (flags, environment or {config_file})" if config_file else ""
    return f"Invalid settings{src}: {'; '.join(parts)}. Fix the value and retry."


def child_kafka() -> KafkaSettings | None:
    """The resolved Kafka settings a parent ``simctl up`` handed down, if any."""
    raw = os.environ.get("SIMCTL_CHILD_KAFKA")
    if not raw:
        return None
    data = json.loads(raw)
    data["properties"] = {k: v for k, v in data["properties"].items() if v is not None}
    url = data.pop("schema_registry_url", None)
    return KafkaSettings(
        bootstrap_servers=data["bootstrap_servers"],
        properties=data["properties"],
        schema_registry_url=SecretStr(url) if url else None,
        value_format=data.get("value_format", "avro"),
        record_headers=tuple(data.get("record_headers", ())),
        replication_factor=int(data.get("replication_factor", -1)),
    )
