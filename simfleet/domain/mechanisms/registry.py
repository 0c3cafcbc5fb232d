"""The registry: the one list of the pack language's mechanisms.

A field generator is one module of ``simfleet.domain.mechanisms.fields`` and one
``register`` line below (its order is the order error messages and the JSON Schema list
them). Stream- and pack-level mechanisms are listed in ``MECHANISMS``
(``simfleet.domain.mechanisms.pack``)."""

from __future__ import annotations

from simfleet.domain.mechanisms.base import register
from simfleet.domain.mechanisms.fields import (
    after,
    attr,
    bernoulli,
    cases,
    choice,
    const,
    entity,
    integers,
    lognormal,
    normal,
    param,
    pareto,
    poisson,
    process,
    product,
    quantiles,
    seq,
    sum_of,
    uniform,
)

__all__ = ["register"]

register(entity.EntityField)
register(attr.AttrField)
register(seq.SeqField)
register(choice.ChoiceField)
register(const.ConstField)
register(uniform.UniformField)
register(normal.NormalField)
register(lognormal.LognormalField)
register(poisson.PoissonField)
register(integers.IntegersField)
register(pareto.ParetoField)
register(bernoulli.BernoulliField)
register(param.ParamField)
register(after.AfterField)
register(product.ProductField)
register(process.ProcessField)
register(sum_of.SumOfField)
register(cases.CasesField)
register(quantiles.QuantilesField)
