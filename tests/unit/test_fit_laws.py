"""The laws `simctl fit` learns, each from a sample of a known law (seeded numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from simfleet.domain.mechanisms.fields.quantiles import QuantilesField
from simfleet.fit.entities import fit_pool, top_share
from simfleet.fit.laws import OTHER, fit_field, id_prefix
from simfleet.fit.links import fit_delay
from simfleet.fit.numeric import ks_one, norm_cdf, norm_ppf
from simfleet.fit.rates import fit_rate

HOUR = 3_600_000
T0 = 1_772_409_600_000  # 2026-03-02, a Monday


def test_a_heavily_censored_follow_up_keeps_its_probability_and_median() -> None:
    """Delays of median 2 days seen over 5 days: most late follow-ups are not yet due at
    the end, and the censored likelihood still finds p = 0.7 and the median."""
    rng = np.random.default_rng(3)
    n, end = 20_000, 5 * 24 * HOUR
    t = rng.uniform(0, end, n)
    follows = rng.random(n) < 0.7
    delay = rng.lognormal(np.log(48 * HOUR), 0.6, n)
    seen = follows & (t + delay < end)
    p, law, rep = fit_delay(delay[seen], end - t[~seen], end - t[seen])
    assert rep["naive_probability"] < 0.5  # what a count without censoring would say
    assert abs(p - 0.7) <= 0.03
    assert abs(rep["median_delay_ms"] / (48 * HOUR) - 1) <= 0.1
    assert "lognormal" in law


def test_an_uncensored_uniform_delay_is_told_from_a_lognormal() -> None:
    """Short delays watched long: the law closest to the delays seen (uniform here)."""
    rng = np.random.default_rng(4)
    d = rng.uniform(60_000, 300_000, 5000)
    p, law, _ = fit_delay(d, np.full(500, 10 * HOUR), np.full(5000, 10 * HOUR))
    assert "uniform" in law and abs(p - 5000 / 5500) < 1e-9


def test_a_pool_keeps_the_skew_of_gamma_customers() -> None:
    """Counts of customers with gamma activity: the fitted lognormal pool gives the same
    top-10 % share in a run of the same length."""
    rng = np.random.default_rng(5)
    act = rng.gamma(0.6, 1.0, 3000)
    counts = rng.poisson(30_000 * act / act.sum())
    pool = fit_pool(counts[counts > 0])
    w = np.exp(pool.sigma * rng.standard_normal(pool.count))
    again = rng.poisson(counts.sum() * w / w.sum())
    assert abs(top_share(again) - top_share(counts)) <= 0.05
    assert pool.count >= (counts > 0).sum()


def test_a_rate_profile_is_diurnal_times_weekly() -> None:
    """Two weeks of a known hour-of-week rate: the rate and both shapes come back."""
    rng = np.random.default_rng(6)
    d = 1 + 0.8 * np.sin(np.arange(24) / 24 * 2 * np.pi)
    w = np.array([1, 1, 1, 1, 1.4, 0.8, 0.8])
    times = []
    for h in range(14 * 24):
        k = rng.poisson(200 * d[h % 24] / d.mean() * w[(h // 24) % 7] / w.mean())
        times.append(T0 + h * HOUR + rng.integers(0, HOUR, k))
    fit = fit_rate(np.sort(np.concatenate(times)), T0, T0 + 14 * 24 * HOUR)
    assert abs(fit.rate * 3600 / 200 - 1) < 0.02
    assert np.corrcoef(fit.diurnal, d)[0, 1] > 0.99
    assert np.corrcoef(fit.weekly, w)[0, 1] > 0.95


@pytest.mark.parametrize(
    ("values", "kind", "law"),
    [
        (list(np.random.default_rng(1).lognormal(2, 0.5, 3000)), "numeric", "lognormal"),
        (list(np.random.default_rng(1).normal(50, 5, 3000)), "numeric", "normal"),
        (list(np.concatenate([np.random.default_rng(1).normal(0, 1, 1500),
                              np.random.default_rng(2).normal(8, 1, 1500)])), "numeric",
         "quantiles"),
        ([True, False, False, None] * 100, "bool", "bernoulli"),
        (["a"] * 50 + ["b"] * 30 + ["rare"] * 2, "categorical", "choice"),
        ([f"usr_{i:05d}" for i in range(300)], "id", "identifier"),
    ],
)  # fmt: skip
def test_fields_get_the_law_their_values_have(values: list[object], kind: str, law: str) -> None:
    """Lognormal, normal, two humps (quantiles), flags, categories, ids."""
    f = fit_field("x_id" if kind == "id" else "x", values, 5)
    assert f.kind == kind
    assert f.report["law"] == law


def test_rare_categories_become_other_and_free_text_is_made_up() -> None:
    """A value seen under k times is not written; free text is drawn from made-up values."""
    cat = fit_field("channel", ["web"] * 40 + ["app"] * 20 + ["secret-x"] * 4, 5)
    assert cat.gen is not None and "secret-x" not in cat.gen["choice"]
    assert OTHER in cat.gen["choice"]
    text = fit_field("note", [f"please call {i} soon" for i in range(400)], 5)
    assert text.kind == "text" and text.gen is not None
    assert not any("please call" in v for v in text.gen["choice"])
    assert id_prefix(["cus_001", "cus_002"], "customer_id") == "cus"
    assert id_prefix(["a1", "b2"], "customer_id") == "cus"


def test_the_quantiles_law_draws_its_marginal() -> None:
    """Draws by the inverse CDF: the sample's quantiles are the law's."""
    q = QuantilesField(quantiles=(0.0, 1.0, 10.0))
    x = q.draw_law(np.random.default_rng(0), 100_000)
    assert abs(np.quantile(x, 0.5) - 1.0) < 0.03 and x.min() >= 0 and x.max() <= 10
    with pytest.raises(ValueError, match="nondecreasing"):
        QuantilesField(quantiles=(2.0, 1.0))


def test_numpy_statistics_agree_with_their_definitions() -> None:
    """The normal CDF and its inverse, and the KS distance of a sample from its own law."""
    p = np.array([0.001, 0.1, 0.5, 0.9, 0.999])
    assert np.allclose(norm_cdf(norm_ppf(p)), p, atol=1e-6)
    assert abs(float(norm_cdf(1.959964)) - 0.975) < 1e-6
    x = np.random.default_rng(0).standard_normal(10_000)
    assert ks_one(x, norm_cdf) < 0.02
