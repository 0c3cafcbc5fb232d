"""Local time: the clickstream and marketplace packs read their demand profiles in each
entity's timezone (declared in the pack, the engine names no domain); a zone's offset
follows its summer time; zones are drawn by country as declared; a draw under the tilt never
lands on a zone asleep; and packs that declare none get no clock."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from simfleet.domain.pack import Project
from simfleet.producers.engine import ShardEngine
from simfleet.producers.engine.localtime import LocalClock

JAN = 1_767_225_600_000  # 2026-01-01T00:00:00Z
JUL = 1_782_864_000_000  # 2026-07-01T00:00:00Z


@pytest.mark.parametrize(
    ("domain", "profiles", "entity"),
    [
        ("clickstream", ["web"], "user"),
        ("marketplace", ["demand", "browsing"], "student"),
    ],
)
def test_the_packs_declare_their_local_time(domain: str, profiles: list[str], entity: str) -> None:
    """Each demand profile is local to the entity its streams draw, and every rate-driven
    stream of it draws that entity (so the tilt applies, not only the mix of zones)."""
    spec = Project().spec(domain)
    for name in profiles:
        local = spec.profiles[name].local
        assert local is not None and local.entity == entity, (domain, name)
        for sname, s in spec.streams.items():
            if s.profile == name and s.rate:
                kinds = {f.entity for f in s.fields.values()}
                assert entity in kinds, (domain, sname)


def test_packs_without_local_time_get_no_clock() -> None:
    """Off by default: the markets, AI-usage and ticketing packs declare none, and their
    engines have no clock."""
    project = Project()
    for domain in ("markets", "ai_usage", "ticketing"):
        spec = project.spec(domain)
        assert all(p.local is None for p in spec.profiles.values())
        assert ShardEngine(spec, 0, 1, 3, 0.01)._local == {}


def _clock(domain: str = "clickstream", profile: str = "web") -> LocalClock:
    eng = ShardEngine(Project().spec(domain), 0, 1, 7, 0.2)
    return eng._local[profile]


def test_offsets_follow_summer_time() -> None:
    """New York is 5 h behind UTC in January and 4 h in July; Kolkata 5.5 h ahead in both."""
    clock = _clock()
    ny, kol = clock.names.index("America/New_York"), clock.names.index("Asia/Kolkata")
    jan, jul = clock.offsets(JAN).copy(), clock.offsets(JUL).copy()
    assert (jan[ny], jul[ny]) == (-5 * 3_600_000, -4 * 3_600_000)
    assert jan[kol] == jul[kol] == 5.5 * 3_600_000


def test_zones_are_drawn_by_country_as_declared() -> None:
    """US users get the four US zones in their declared shares (+-5 points); every Indian
    user gets Kolkata."""
    clock = _clock()
    spec = Project().spec("clickstream").profiles["web"].local
    assert spec is not None
    table, codes = clock.pool.attributes["country"]
    us = codes == table.values.index("US")
    got = Counter(clock.names[z] for z in clock.zone_of[us].tolist())
    declared = spec.zones["US"]
    assert isinstance(declared, dict)
    for zone, share in declared.items():
        assert abs(got[zone] / us.sum() - share) < 0.05, zone
    india = codes == table.values.index("IN")
    assert {clock.names[z] for z in clock.zone_of[india].tolist()} == {"Asia/Kolkata"}


def test_the_busiest_zone_gets_the_most_events() -> None:
    """At 15:30 UTC (21:00 in Kolkata, 10:30 in New York) the zones' factors favour India,
    and the users drawn under the tilt are Indian far above their population share; zones
    asleep get a fifth of their share at most."""
    spec = Project().spec("clickstream")
    eng = ShardEngine(spec, 0, 1, 7, 0.2)
    clock = eng._local["web"]
    t = JAN + 15 * 3_600_000 + 6 * 86_400_000 + 1_800_000  # a Wednesday, 15:30 UTC
    profile = eng.streams["session.started"].profile
    assert profile is not None
    factors = clock.factors(profile, t, {})
    kol, ny = clock.names.index("Asia/Kolkata"), clock.names.index("America/New_York")
    assert factors[kol] > factors[ny]
    eng._fields.tilts = {"user": clock.tilt(profile, t, {})}
    times = np.full(20_000, t, dtype=np.int64)
    rt = eng.streams["session.started"]
    cols = eng._fields.make(rt, times, {}, {"clickstream.demand": 1.0}, t)
    users = cols["user_id"]
    zones = clock.zone_of[users.idx]  # type: ignore[union-attr]
    population = (clock.zone_of == kol).mean()
    assert (zones == kol).mean() > 1.3 * population
    keep = factors / factors.max()
    asleep = np.flatnonzero(keep < 0.2)
    assert np.isin(zones, asleep).mean() < 0.2 * np.isin(clock.zone_of, asleep).mean() + 0.01
