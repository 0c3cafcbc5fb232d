"""Kafka brokers simfleet runs or reaches: the embedded Tansu broker and reachability checks."""

from __future__ import annotations

from simfleet.broker.embedded import (
    BrokerInfo,
    EmbeddedBroker,
    broker_binary,
    broker_status,
    check_reachable,
    free_port,
    pause_broker,
    read_state,
    record_foreground,
    resolve_bootstrap,
    start_detached,
    state_path,
    stop_detached,
)

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
