"""What every field generator is: a ``FieldSpec`` subclass registered under its key.

A field of a pack is one mapping with exactly one generator key (``{uniform: [1, 5]}``,
``{entity: user, pick: inactive}``); the key picks the registered subclass, which holds the
generator's options, its load-time checks (``problems``) and its vectorised draw (``draw``).
Every field also takes the modifiers declared here (``times``, ``min``, ``max``, ``round``,
``null_rate``, ``null_if``). The registry (``register``) is the only list of generators: the
parsing below, the JSON Schema, the engine's dispatch and the checks' kind tables read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import Field, GetJsonSchemaHandler, ModelWrapValidatorHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema as cs

from simfleet.codec.catalog import FieldType
from simfleet.columns import Column, StrTable
from simfleet.domain.mechanisms.numbers import ByAttr, Number, Spec
from simfleet.errors import DomainError
from simfleet.suggest import did_you_mean

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec
    from simfleet.problems import Problem

__all__ = [
    "DrawContext",
    "FieldEngine",
    "FieldSpec",
    "Fills",
    "generator",
    "generator_keys",
    "generators",
    "register",
]

# What a generator's values are, for the check of a field against its Avro type: a `number`
# (or boolean) never fills a string, `text` fills only a string, `values` depend on the
# values listed (a `choice`, a `const`), `attribute` on the entity attribute read.
Fills = Literal["number", "text", "values", "attribute"]

_REGISTRY: dict[str, type[FieldSpec]] = {}
_IN_SCHEMA: list[bool] = []  # set while the JSON Schema of the generators is being written


def register(model: type[FieldSpec]) -> type[FieldSpec]:
    """Add a field generator: a ``FieldSpec`` subclass whose ``key`` is its YAML key."""
    key = model.key
    if not key or key not in model.model_fields:
        raise DomainError(
            f"generator {model.__name__} declares key {key!r} but no field of that name: "
            "give it `key = '<yaml key>'` and a field `<yaml key>: ...`"
        )
    if key in _REGISTRY and _REGISTRY[key] is not model:
        raise DomainError(f"generator key {key!r} is registered twice")
    _REGISTRY[key] = model
    _option_defaults.cache_clear()
    return model


def generators() -> dict[str, type[FieldSpec]]:
    """The registered field generators by key, in registration order."""
    return dict(_REGISTRY)


def generator_keys() -> list[str]:
    """The keys of the registered field generators."""
    return list(_REGISTRY)


def generator(key: str) -> type[FieldSpec]:
    """The generator registered under ``key``."""
    return _REGISTRY[key]


class _Defaults:
    """Every option of every generator -> its default (None for a generator's key), so a
    field answers the options of other generators too (a `uniform` field's `entity` is None,
    its `pick` "active"): code reading a field's shape needs no list of generators."""

    def __init__(self) -> None:
        self.values: dict[str, Any] | None = None

    def cache_clear(self) -> None:
        self.values = None

    def __call__(self) -> dict[str, Any]:
        if self.values is None:
            common = set(FieldSpec.model_fields)
            out: dict[str, Any] = {}
            for model in _REGISTRY.values():
                for name, f in model.model_fields.items():
                    if name not in common:
                        out.setdefault(name, None if f.is_required() else f.get_default())
            self.values = out
        return self.values


_option_defaults = _Defaults()


class FieldEngine(Protocol):
    """What a draw may ask of the engine that runs it (implemented by the engine's
    ``FieldMaker``): entity pools, id sequences, processes and numbers by table."""

    shard: int

    def pool(self, kind: str) -> Any:
        """The shard's pool of ``kind`` entities."""

    def pool_holding(self, col: Column) -> Any:
        """The pool whose ids ``col`` holds (None: no pool's)."""

    def among(self, kind: str) -> npt.NDArray[np.int64] | None:
        """A campaign's actors of ``kind`` (None outside campaigns)."""

    def tilt(self, kind: str) -> Any:
        """The local-time tilt of ``kind`` draws (zone per entity, keep per zone), or None."""

    def next_seq(self, prefix: str, n: int) -> int:
        """The first of ``n`` new sequence numbers of ``prefix``."""

    def process(self, name: str) -> Any:
        """The shard's process ``name``."""

    def number(
        self, w: Number, cols: Mapping[str, Column], params: Mapping[str, float]
    ) -> float | npt.NDArray[np.float64]:
        """A number, a parameter's value or (a `by` table) one number per event."""

    def param(self, name: str, params: Mapping[str, float]) -> float:
        """The current value of the pack's parameter ``name``."""


@dataclass
class DrawContext:
    """One field of one batch being drawn: where, how many, what is made so far."""

    engine: FieldEngine
    stream: str
    name: str
    ftype: FieldType
    rng: np.random.Generator
    n: int
    cols: Mapping[str, Column]
    params: Mapping[str, float]
    t0: int
    table: StrTable | None = None  # the field's value table (a `choice`, a text `const`)

    def number(self, w: Number) -> float | npt.NDArray[np.float64]:
        """A number of the pack for these events."""
        return self.engine.number(w, self.cols, self.params)


class FieldSpec(Spec):
    """How one field is generated: exactly one generator key, and modifiers.

    Validating a mapping as ``FieldSpec`` gives the subclass registered for its generator
    key; the subclasses are the generators (``simfleet.domain.mechanisms.fields``)."""

    key: ClassVar[str] = ""
    fills: ClassVar[Fills] = "number"
    numeric_law: ClassVar[bool] = False  # an entity attribute may draw it; a `move` multiplies it
    why: ClassVar[str] = ""  # the realism property no composition of others gives (PACKS.md)

    times: str | ByAttr | tuple[Number, ...] | None = Field(
        None,
        description="a parameter (its current value) or a `by` table that multiplies a "
        "numeric draw, or a list of them (their product: price by tier and by popularity)",
    )
    round: int | None = Field(None, description="decimals a numeric value is rounded to")
    min: float | None = Field(None, description="a numeric value's least (clipped)")
    max: float | None = Field(None, description="a numeric value's greatest (clipped)")
    null_rate: float = Field(0.0, ge=0.0, le=1.0, description="the share of nulls")
    null_if: str | None = Field(
        None,
        description="a boolean field made before: null where it is true (no failure "
        "reason on a successful login)",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _dispatch(cls, raw: Any, handler: ModelWrapValidatorHandler[FieldSpec]) -> FieldSpec:
        if cls is not FieldSpec or isinstance(raw, FieldSpec):
            return handler(raw)
        if not isinstance(raw, Mapping):
            raise ValueError(
                f"a field is a mapping with one generator ({', '.join(_REGISTRY)}), not {raw!r}"
            )
        keys = [k for k in raw if k in _REGISTRY]
        owners = [k for k in keys if _REGISTRY[k].absorbs(raw)]
        keys = owners if len(keys) > 1 and len(owners) == 1 else keys
        if len(keys) != 1:
            known = [*_option_defaults(), *cls.model_fields]
            unknown = [str(k) for k in raw if k not in known]
            hint = "".join(f"; `{k}` is unknown{did_you_mean(k, _REGISTRY)}" for k in unknown)
            raise ValueError(
                f"a field needs exactly one generator ({', '.join(_REGISTRY)}); "
                f"found {keys or 'none'}{hint}"
            )
        model = _REGISTRY[keys[0]]
        allowed = [f.alias or n for n, f in model.model_fields.items()]
        extra = [str(k) for k in raw if k not in allowed and k not in model.model_fields]
        if extra and not model.absorbs(raw):
            own = [k for k in allowed if k not in cls.model_fields]
            article = "an" if model.key[0] in "aeiou" else "a"
            raise ValueError(
                "".join(
                    f"`{k}` is no option of {article} `{model.key}` field"
                    f"{did_you_mean(k, allowed)}; "
                    for k in extra
                )
                + f"it takes {', '.join(own)} and the modifiers {', '.join(cls.model_fields)}"
            )
        return model.model_validate(raw)

    @model_validator(mode="after")
    def _tables_name_their_entity(self) -> FieldSpec:
        own = self.own_tables()
        for b in self.by_tables():
            if b.of is None and all(b is not t for t in own):
                raise ValueError(f"a `by: {b.by}` table needs `of`: the field holding the entity")
        return self

    @classmethod
    def absorbs(cls, raw: Mapping[str, Any]) -> bool:
        """Whether this generator takes the other generator keys of ``raw`` as its options
        (a process `move` multiplying a numeric law written beside it)."""
        return False

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: cs.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        if cls is not FieldSpec:
            return handler(core_schema)
        if _IN_SCHEMA:  # a generator nesting a field (a `move`'s law): refer to this one
            return {"$ref": "#/$defs/FieldSpec"}
        _IN_SCHEMA.append(True)
        try:
            variants = [handler(m.__pydantic_core_schema__) for m in _REGISTRY.values()]
        finally:
            _IN_SCHEMA.clear()
        return {
            "title": "FieldSpec",
            "description": "How one field is generated: exactly one generator key "
            f"({', '.join(_REGISTRY)}) and modifiers.",
            "oneOf": variants,
        }

    def __getattr__(self, name: str) -> Any:
        defaults = _option_defaults()
        if name in defaults:
            return defaults[name]
        return super().__getattr__(name)  # type: ignore[misc]

    # -- what the checks and the engine ask of every generator

    def factors(self) -> tuple[Number, ...]:
        """What ``times`` multiplies the draw by: none, one or several factors."""
        if self.times is None:
            return ()
        return self.times if isinstance(self.times, tuple) else (self.times,)

    def numbers(self) -> list[Number]:
        """The numbers of the generator itself (weights, probabilities), beyond ``times``."""
        return []

    def by_tables(self) -> list[ByAttr]:
        """Every `by` table of the field."""
        found = [*self.numbers(), *self.factors()]
        return [t for b in found if isinstance(b, ByAttr) for t in b.tables()]

    def own_tables(self) -> list[ByAttr]:
        """The `by` tables over the entity the field draws itself (they name no `of`)."""
        return []

    def reads(self) -> list[tuple[str, str]]:
        """(where, field) of the fields of the event this one reads, which are made first."""
        return [("null_if", self.null_if)] if self.null_if is not None else []

    def problems(self, spec: DomainSpec, where: str, file: Path) -> list[Problem]:
        """The generator's own checks against the pack (names it uses that it lacks)."""
        return []

    def branches(self) -> list[FieldSpec]:
        """The fields it draws among (a `cases` field's laws), checked against the field's
        type like itself; none for most generators."""
        return []

    def draw_law(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
        """``n`` draws of a numeric law (generators with ``numeric_law`` only)."""
        raise DomainError(f"`{self.key}` is not a numeric law")

    def draw(self, ctx: DrawContext) -> Column:
        """``ctx.n`` values of the field, vectorised."""
        raise NotImplementedError

    def finish(self, ctx: DrawContext, v: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """A numeric draw times its factors, clipped, cast to the field's Avro kind."""
        for x in self.factors():
            v = v * ctx.number(x)
        if self.min is not None or self.max is not None:
            v = np.clip(v, self.min, self.max)
        if ctx.ftype.kind == "bool":
            return v.astype(np.bool_)
        if ctx.ftype.kind == "int":
            out: npt.NDArray[np.int64] = np.rint(v).astype(np.int64)
            return out
        v = v.astype(np.float64)
        return np.round(v, self.round) if self.round is not None else v
