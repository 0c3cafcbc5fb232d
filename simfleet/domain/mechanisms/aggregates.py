"""`aggregate`: a low-frequency stream summarising what a source stream emitted per period;
the models and their checks (the engine: simfleet.producers.engine.aggregates)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from simfleet.domain.mechanisms.numbers import Spec
from simfleet.domain.mechanisms.refs import unknown
from simfleet.problems import Problem
from simfleet.scenarios import DurationMs

if TYPE_CHECKING:
    from simfleet.domain.spec import DomainSpec

__all__ = ["AggregateSpec", "MetricSpec", "problems"]


_METRIC_OPS = ("count", "sum", "mean", "min", "max", "distinct")


def _metric_short_forms(schema: dict[str, Any]) -> None:
    """The JSON Schema of a metric: its short forms (what packs write) or the long one."""
    long = dict(schema)
    schema.clear()
    rest = {"source": {"type": "string"}, "round": {"type": "integer"}}
    short = [
        {
            "type": "object",
            "properties": {op: {"type": "string"}, **rest},
            "required": [op],
            "additionalProperties": False,
        }
        for op in _METRIC_OPS
    ]
    schema["anyOf"] = [{"const": "count"}, *short, long]


class MetricSpec(Spec):
    """One column of an aggregate: ``count`` (of a stream's events) or an op over a field.

    YAML: ``count`` (events of the aggregate's source), ``{count: <stream>}``,
    ``{sum: <field>}``, ``{mean: ...}``, ``{min: ...}``, ``{max: ...}``, ``{distinct: <field>}``,
    each optionally with ``source: <stream>`` (default: the aggregate's source) and ``round``.
    """

    model_config = ConfigDict(json_schema_extra=_metric_short_forms)

    op: Literal["count", "sum", "mean", "min", "max", "distinct"]
    field: str | None = None
    source: str | None = None
    round: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, raw: object) -> object:
        if raw == "count":
            return {"op": "count"}
        if isinstance(raw, dict) and "op" not in raw:
            ops = [k for k in raw if k in _METRIC_OPS]
            if len(ops) != 1:
                raise ValueError(f"a metric names exactly one of {_METRIC_OPS}; found {ops}")
            rest = {k: v for k, v in raw.items() if k != ops[0]}
            if ops[0] == "count":
                return {"op": "count", "source": raw["count"], **rest}
            return {"op": ops[0], "field": raw[ops[0]], **rest}
        return raw

    @model_validator(mode="after")
    def _needs_field(self) -> MetricSpec:
        if self.op != "count" and self.field is None:
            raise ValueError(f"metric `{self.op}` needs a field")
        return self


class AggregateSpec(Spec):
    """A low-frequency stream that summarises what the shard's source stream(s) emitted.

    At each period boundary b (multiples of ``every`` since the epoch, UTC) plus a per-stream
    offset (jitter, so aggregates never fire in lockstep) it emits, for the period [b - every,
    b): one event per value of ``group_by`` seen in the source, or one event per shard
    (field ``shard_id``) without ``group_by``. ``period_start`` holds b - every.
    """

    every: DurationMs = Field(gt=0)
    source: str
    group_by: str | None = None
    metrics: dict[str, MetricSpec]
    jitter: DurationMs | None = Field(
        None, description="greatest offset after the boundary; default min(every / 6, 30m)"
    )

    def sources(self) -> list[str]:
        """Every stream the aggregate reads."""
        return list(
            dict.fromkeys([self.source, *(m.source or self.source for m in self.metrics.values())])
        )


def problems(spec: DomainSpec, agg: AggregateSpec, where: str, file: Path) -> list[Problem]:
    places: dict[str, str | None] = {f"{where}.source": agg.source}
    places |= {f"{where}.metrics.{m}.source": ms.source for m, ms in agg.metrics.items()}
    out: list[Problem] = []
    for place, src in places.items():
        if src is None:
            continue
        if src not in spec.streams:
            out.append(
                unknown(file, place, "stream", src, spec.streams, "name a stream of this pack")
            )
        elif spec.streams[src].aggregate is not None:
            out.append(
                Problem(
                    file, place, f"{src} is itself an aggregate", "aggregate an entity-level stream"
                )
            )
    return out
