"""The data plane: domain specs, entity pools, rate profiles, the shard engine, the worker."""
