"""Per-entity random processes (`processes:` in a pack): geometric Brownian motion exact in its
step, independent of how the window is cut into ticks, moved by parameters and by a campaign's
numbers for its actors only, and checked at load."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from simfleet.domain.checks import reference_problems
from simfleet.domain.pack import load_domain
from simfleet.domain.spec import DomainSpec, FieldSpec, ProcessSpec
from simfleet.producers.engine.processes import Override, Process
from simfleet.producers.pools import EntityPool
from simfleet.scenario_check import campaign_problems
from simfleet.scenarios import Campaign

S = 1_000
H = 3_600_000
YEAR = 365 * 24 * H


def _domain(**process: object) -> DomainSpec:
    raw = {
        "domain": "toy",
        "entities": {
            "asset": {
                "count": 40,
                "prefix": "ast",
                "attributes": {"cap": {"choice": ["big", "tiny"], "weights": [0.5, 0.5]}},
            }
        },
        "parameters": {"mu": 0.5, "down": 0.0, "sigma": 0.4, "half": 0.01},
        "processes": {
            "price": {
                "entity": "asset",
                "start": 50.0,
                "drift": "mu",
                "decline": "down",
                "volatility": "sigma",
                "spread": "half",
                **process,
            }
        },
        "streams": {},
    }
    return DomainSpec.model_validate(raw)


def _process(spec: DomainSpec, seed: int = 3) -> Process:
    ps = spec.processes["price"]
    pool = EntityPool("asset", spec.entities["asset"], 0, 1, seed, 1.0, spec.domain)
    return Process("price", ps, pool, spec, seed, 0)


def _params(spec: DomainSpec, **moved: float) -> dict[str, float]:
    out = {spec.param_path(k): v for k, v in spec.parameters.items()}
    out.update({spec.param_path(k): v for k, v in moved.items()})
    return out


def test_log_increments_have_the_drift_and_volatility_of_the_parameters() -> None:
    """Over 40 entities x 6 h of one-second steps, the per-step log increments have mean
    (mu - sigma^2/2) dt and standard deviation sigma sqrt(dt), per year, within 2 %."""
    spec = _domain()
    proc = _process(spec)
    params = _params(spec, mu=5000.0, sigma=3.0)  # a drift large enough to be measured
    proc.advance(0, 6 * H, params)
    inc = np.diff(proc.path, axis=1)
    dt = 1 / (365 * 86_400)
    assert inc.shape == (40, 6 * 3600 - 1)  # the first grid point is the start
    assert inc.std() / (3.0 * math.sqrt(dt)) == pytest.approx(1.0, abs=0.02)
    assert inc.mean() / ((5000.0 - 4.5) * dt) == pytest.approx(1.0, abs=0.02)


def test_a_path_does_not_depend_on_how_the_window_is_cut_into_ticks() -> None:
    """One hour-long tick and ragged ticks (7 s to 20 min) give the same levels at the same
    instants."""
    spec = _domain()
    params = _params(spec)
    one, ragged = _process(spec), _process(spec)
    one.advance(0, H, params)
    rng = np.random.default_rng(1)
    cuts = np.unique(np.r_[0, rng.integers(7 * S, H, 12), H])
    times = np.sort(rng.integers(0, H, 300))
    idx = rng.integers(0, 40, 300)
    got = []
    for a, b in itertools.pairwise(cuts):
        ragged.advance(int(a), int(b), params)
        mine = (times >= a) & (times < b)
        got.append(ragged.read("level", idx[mine], times[mine], params))
    want = one.read("level", idx, times, params)
    np.testing.assert_allclose(np.concatenate(got), want, rtol=1e-12)


def test_bid_and_ask_straddle_the_level_by_half_the_spread() -> None:
    """bid = level x (1 - spread/2) < level < ask = level x (1 + spread/2); levels > 0."""
    spec = _domain()
    proc = _process(spec)
    params = _params(spec, half=0.02)
    proc.advance(0, H, params)
    idx = np.arange(40, dtype=np.int64)
    times = np.full(40, H - 1, dtype=np.int64)
    level = proc.read("level", idx, times, params)
    assert np.all(level > 0)
    np.testing.assert_allclose(proc.read("bid", idx, times, params), level * 0.99)
    np.testing.assert_allclose(proc.read("ask", idx, times, params), level * 1.01)


def test_move_is_one_plus_the_last_window_in_normal_standard_deviations() -> None:
    """`move` = 1 + |log level now - log level a window ago| / (default sigma sqrt(window))."""
    spec = _domain(window="1m")
    proc = _process(spec)
    params = _params(spec)
    proc.advance(0, H, params)
    idx = np.asarray([0, 5], dtype=np.int64)
    times = np.asarray([30 * 60 * S, 40 * 60 * S], dtype=np.int64)
    now = np.log(proc.read("level", idx, times, params))
    back = np.log(proc.read("level", idx, times - 60 * S, params))
    want = 1 + np.abs(now - back) / (0.4 * math.sqrt(60 * S / YEAR))
    np.testing.assert_allclose(proc.read("move", idx, times, params), want)


def test_a_campaign_moves_its_actors_within_its_window_only() -> None:
    """Actors take the campaign's drift between its start and end; everyone else, and the
    actors outside the window, keep the same path as without the campaign."""
    spec = _domain()
    params = _params(spec, down=0.0)
    plain, moved = _process(spec), _process(spec)
    actors = np.asarray([2, 7], dtype=np.int64)
    plain.advance(0, 3 * H, params)
    moved.advance(0, 3 * H, params, [Override(actors, H, 2 * H, {"drift": 20_000.0})])
    idx = np.arange(40, dtype=np.int64)
    for at, factor in ((H - 1, 1.0), (2 * H, math.exp((20_000 - 0.5) * H / YEAR))):
        times = np.full(40, at, dtype=np.int64)
        ratio = moved.read("level", idx, times, params) / plain.read("level", idx, times, params)
        others = np.setdiff1d(idx, actors)
        np.testing.assert_allclose(ratio[others], 1.0)
        np.testing.assert_allclose(ratio[actors], factor, rtol=1e-9)


def test_parameters_move_the_law_each_tick() -> None:
    """A decline set by a scenario for one tick turns the path down by decline x tick."""
    spec = _domain()
    a, b = _process(spec), _process(spec)
    calm = _params(spec)
    a.advance(0, H, calm)
    b.advance(0, H, _params(spec, down=8760.0))  # -1 per hour in log
    idx = np.arange(40, dtype=np.int64)
    times = np.full(40, H - 1, dtype=np.int64)
    drop = np.log(b.read("level", idx, times, calm) / a.read("level", idx, times, calm))
    np.testing.assert_allclose(drop, -8760.0 * (H - S) / YEAR, rtol=1e-9)


def test_process_specs_are_checked_at_load() -> None:
    """Unknown parameters, entities, drawn attributes and process names are reported with the
    field path; a `move` read needs a numeric law."""
    spec = _domain(drift="mu_typo", volatility={"by": "size", "values": {"big": 0.1}})
    paths = {p.path for p in reference_problems(spec, Path("toy.yaml"))}
    assert "processes.price.drift" in paths
    assert "processes.price.volatility.by" in paths
    with pytest.raises(ValueError, match="`read: move` multiplies a numeric law"):
        FieldSpec.model_validate({"process": "price", "of": "asset_id", "read": "move"})
    with pytest.raises(ValueError, match="`process` needs `of`"):
        FieldSpec.model_validate({"process": "price"})
    with pytest.raises(ValueError, match="names no `of`"):
        ProcessSpec.model_validate(
            {"entity": "a", "start": 1.0, "drift": {"by": "cap", "of": "x", "values": {}}}
        )


def test_campaign_process_numbers_and_actor_filters_are_checked() -> None:
    """A campaign names processes, numbers and parameters of its pack (in its field generators
    too), and `where` values of drawn attributes."""
    spec = load_domain("markets")
    raw = yaml.safe_load(
        """
        name: c
        pattern: p
        duration: 1h
        actors: {instrument: {count: 1, where: {cap: tiny}}}
        processes: {price: {drift: pump.nope, wobble: 1.0}, volume: {drift: 1.0}}
        streams:
          trade.executed:
            rate: 1.0
            fields: {price: {process: prize, of: instrument_id}}
        """
    )
    problems = campaign_problems(spec, [Campaign.model_validate(raw)], Path("s.yaml"))
    paths = {p.path for p in problems}
    assert paths == {
        "campaigns.0.actors.instrument.where.cap",
        "campaigns.0.processes.price.drift",
        "campaigns.0.processes.price.wobble",
        "campaigns.0.processes.volume",
        "campaigns.0.streams.trade.executed.fields.price.process",
    }


STYLIZED = {
    "clustering": {"half_life": "10m", "spread": 0.5},
    "jumps": {"every": "1h", "share": 0.2},
    "spread_follows": 1.0,
}


def test_stylized_path_does_not_depend_on_how_the_window_is_cut_into_ticks() -> None:
    """With clustering and jumps, one hour-long tick and ragged ticks give the same levels,
    bids and asks at the same instants (the draws are time-major from their own streams)."""
    spec = _domain(**STYLIZED)
    params = _params(spec)
    one, ragged = _process(spec), _process(spec)
    one.advance(0, H, params)
    rng = np.random.default_rng(2)
    cuts = np.unique(np.r_[0, rng.integers(7 * S, H, 12), H])
    times = np.sort(rng.integers(0, H, 300))
    idx = rng.integers(0, 40, 300)
    for what in ("level", "ask"):
        got = []
        ragged = _process(spec)
        for a, b in itertools.pairwise(cuts):
            ragged.advance(int(a), int(b), params)
            mine = (times >= a) & (times < b)
            got.append(ragged.read(what, idx[mine], times[mine], params))
        want = one.read(what, idx, times, params)
        np.testing.assert_allclose(np.concatenate(got), want, rtol=1e-10)


def test_stylized_shocks_keep_the_volatility_and_have_fat_tails() -> None:
    """Clustering and jumps leave the per-step variance at sigma^2 dt (within 3 %) and give
    5-minute increments a kurtosis above 5; a tick alone leaves the path as it was."""
    spec = _domain(**STYLIZED)
    proc = _process(spec)
    params = _params(spec)
    proc.advance(0, 48 * H, params)
    inc = np.diff(proc.path, axis=1)
    dt = 1 / (365 * 86_400)
    assert inc.std() / (0.4 * math.sqrt(dt)) == pytest.approx(1.0, abs=0.03)
    five = np.diff(proc.path[:, ::300], axis=1)
    z = five - five.mean()
    assert np.mean(z**4) / np.mean(z**2) ** 2 > 5
    plain_a, plain_b = _process(_domain()), _process(_domain(tick=0.01))  # a grid reads only
    plain_a.advance(0, H, params)
    plain_b.advance(0, H, params)
    np.testing.assert_array_equal(plain_a.path, plain_b.path)


def test_spread_follows_the_volatility_factor() -> None:
    """With `spread_follows: 1`, the relative spread is the parameter times exp(X): it varies
    within an entity and its median stays near the parameter."""
    spec = _domain(**STYLIZED)
    proc = _process(spec)
    params = _params(spec)
    proc.advance(0, 24 * H, params)
    idx = np.repeat(np.arange(40, dtype=np.int64), 200)
    times = np.tile(np.linspace(0, 24 * H - 1, 200).astype(np.int64), 40)
    bid, ask = proc.read("bid", idx, times, params), proc.read("ask", idx, times, params)
    rel = (ask - bid) / (0.5 * (ask + bid))
    assert rel.std() / rel.mean() > 0.3
    assert np.median(rel) / 0.01 == pytest.approx(1.0, abs=0.1)


def test_tick_grid_puts_level_bid_and_ask_on_whole_ticks() -> None:
    """With a tick, level, bid and ask are whole ticks and bid < level < ask strictly."""
    spec = _domain(tick=0.05, spread="half")
    proc = _process(spec)
    params = _params(spec, half=0.0001)  # narrower than a tick: bid and ask one tick off
    proc.advance(0, H, params)
    idx = np.arange(40, dtype=np.int64)
    times = np.full(40, H - 1, dtype=np.int64)
    got = {w: proc.read(w, idx, times, params) / 0.05 for w in ("bid", "level", "ask")}
    for v in got.values():
        np.testing.assert_allclose(v, np.rint(v), atol=1e-9)
    assert np.all(got["bid"] < got["level"]) and np.all(got["level"] < got["ask"])


def test_stylized_options_are_checked() -> None:
    """`spread_follows` needs clustering; a tick is above zero; `read_by` reads no move."""
    with pytest.raises(ValueError, match="add `clustering`"):
        _domain(spread_follows=1.0)
    with pytest.raises(ValueError, match="`tick` must be above 0"):
        _domain(tick=0.0)
    with pytest.raises(ValueError, match="takes no `read: move`"):
        FieldSpec.model_validate(
            {
                "process": "price",
                "of": "asset_id",
                "read": "move",
                "lognormal": [1, 1],
                "read_by": {"field": "side", "values": {"buy": "ask"}},
            }
        )
