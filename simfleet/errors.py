"""The one exception root of simfleet and its small tree.

    SimError
    ├── ConfigError      settings, flags, properties files
    ├── ScenarioError    scenario files and scenario requests
    ├── DomainError      domain (stream) specifications
    ├── SchemaError      Avro schemas, encoding and decoding
    ├── BrokerError      reaching or running a Kafka broker
    ├── DeliveryError    records that were produced but not delivered
    └── OutputError      files that could not be written (a full disk, a quota)

Errors of confluent-kafka, fastavro, pydantic and yaml are mapped to these at the boundary
where they happen (``raise ScenarioError(msg) from exc``). The CLI catches only ``SimError``,
prints its one-paragraph message and exits with its ``exit_code``.
"""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "ConfigError",
    "DeliveryError",
    "DomainError",
    "OutputError",
    "ScenarioError",
    "SchemaError",
    "SimError",
]


class SimError(Exception):
    """Root of every error simfleet raises on purpose."""

    exit_code = 1


class ConfigError(SimError):
    """A setting, flag or properties file is wrong."""

    exit_code = 2


class ScenarioError(SimError):
    """A scenario file is invalid, or a scenario request cannot be honoured."""

    exit_code = 2


class DomainError(SimError):
    """A domain specification (streams, parameters, chains) is invalid."""

    exit_code = 2


class SchemaError(SimError):
    """An Avro schema cannot be parsed, or a record cannot be encoded or decoded."""


class BrokerError(SimError):
    """A Kafka broker cannot be reached, started or used."""

    exit_code = 3


class DeliveryError(SimError):
    """Records were handed to the producer but their delivery failed or was not confirmed."""

    exit_code = 4


class OutputError(SimError):
    """Output files could not be written (a full disk, a quota, a lost mount)."""

    exit_code = 6
