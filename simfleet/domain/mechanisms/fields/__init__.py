"""The field generators, one module each: its model, its load-time checks, its draw.

The registry (``simfleet.domain.mechanisms.registry``) lists them; nothing else does."""
