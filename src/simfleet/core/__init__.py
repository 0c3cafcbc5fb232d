"""What producers, the orchestrator and the CLI share: clock, columns, codec, Kafka I/O, control state."""
