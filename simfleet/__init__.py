"""simfleet: a Kafka event-stream producer fleet with realistic, steerable, correlated traffic."""

__version__ = "0.1.0"
