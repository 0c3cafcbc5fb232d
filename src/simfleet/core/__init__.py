"""What producers, orchestrator and CLI share: clock, columns, codec, Kafka I/O, control state."""
