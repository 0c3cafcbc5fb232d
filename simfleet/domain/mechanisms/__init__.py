"""The pack language as a registry of mechanisms (docs/PACKS.md).

Each field generator is one module (``fields/<key>.py``) holding its pydantic model, its
load-time checks and its vectorised draw, and one line of ``registry``; a new generator needs
nothing else. Stream- and pack-level mechanisms are listed, with their models, checks and
engine modules, in ``pack.MECHANISMS``.
"""

from __future__ import annotations

from simfleet.domain.mechanisms import registry as _registry  # noqa: F401 - fills the registry
from simfleet.domain.mechanisms.base import (
    DrawContext,
    FieldEngine,
    FieldSpec,
    Fills,
    generator,
    generator_keys,
    generators,
    register,
)
from simfleet.domain.mechanisms.numbers import ByAttr, Number, SignedDurationMs, Spec

__all__ = [
    "ByAttr",
    "DrawContext",
    "FieldEngine",
    "FieldSpec",
    "Fills",
    "Number",
    "SignedDurationMs",
    "Spec",
    "generator",
    "generator_keys",
    "generators",
    "register",
]
