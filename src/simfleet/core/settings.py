"""Kafka connection settings: built once at the edge (flags > SIMCTL_* env > properties file).

librdkafka properties pass through untouched; anything that looks like a secret is held as a
``SecretStr`` and redacted wherever settings are shown or logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from simfleet.errors import ConfigError

__all__ = ["KafkaSettings", "load_properties"]

_SECRET_MARKERS = ("password", "secret", "token", "key.pem", "sasl.jaas")


def _is_secret(name: str) -> bool:
    return any(m in name.lower() for m in _SECRET_MARKERS)


def load_properties(path: Path) -> dict[str, str]:
    """Read a Java-style ``key=value`` properties file of librdkafka settings."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the Kafka properties file {path}: {exc.strerror}. "
            "Pass an existing file with --kafka-properties, one `key=value` librdkafka "
            "setting per line."
        ) from exc
    props: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        if "=" not in line:
            raise ConfigError(
                f"{path}:{lineno}: expected `key=value`, found {line!r}. Each line of a "
                "properties file is one librdkafka setting such as `security.protocol=SASL_SSL`."
            )
        key, _, value = line.partition("=")
        props[key.strip()] = value.strip()
    return props


class KafkaSettings(BaseModel):
    """Where the fleet's Kafka is and how to talk to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str
    properties: dict[str, SecretStr | str] = {}
    schema_registry_url: str | None = None

    @classmethod
    def build(
        cls,
        bootstrap_servers: str,
        properties_file: Path | None = None,
        schema_registry_url: str | None = None,
    ) -> KafkaSettings:
        """Settings from CLI values, with secrets of the properties file wrapped."""
        props: dict[str, SecretStr | str] = {}
        if properties_file is not None:
            for k, v in load_properties(properties_file).items():
                props[k] = SecretStr(v) if _is_secret(k) else v
        return cls(
            bootstrap_servers=bootstrap_servers,
            properties=props,
            schema_registry_url=schema_registry_url,
        )

    def client_config(self) -> dict[str, Any]:
        """librdkafka settings common to every client, secrets revealed."""
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers}
        for k, v in self.properties.items():
            conf[k] = v.get_secret_value() if isinstance(v, SecretStr) else v
        return conf

    def redacted(self) -> dict[str, str]:
        """Settings safe to show in logs and status."""
        out = {"bootstrap.servers": self.bootstrap_servers}
        for k, v in self.properties.items():
            out[k] = "**********" if isinstance(v, SecretStr) else v
        if self.schema_registry_url:
            out["schema.registry.url"] = self.schema_registry_url
        return out
