"""The data plane: domain specs, entity pools, rate profiles, the per-shard engine and the worker."""
