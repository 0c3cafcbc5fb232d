"""Local time: a rate profile read in each entity's own timezone.

A profile with ``local`` gives each entity of its kind a zone (its attribute, or drawn once
per entity from the zones of its country, from a random stream of its own so no other draw
moves). At a tick the engine evaluates the profile in every zone; the stream's rate is their
mix (weighted by each zone's share of the activity among active entities), and each event's
entity is drawn with its pick weight times its zone's profile relative to the busiest zone's
(``Tilt``, made once per hour; one uniform per pick, as without it): the entities awake at
that hour get the events. Offsets follow the zone's rules (summer time included).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from simfleet.domain.mechanisms.localtime import LocalTimeSpec, zone
from simfleet.errors import DomainError
from simfleet.producers.pools import EntityPool, stable_hash
from simfleet.producers.profiles import RateProfile

__all__ = ["LocalClock", "Tilt"]

_HOUR = 3_600_000


@dataclass(frozen=True)
class Tilt:
    """Each entity's pick factor in one hour: its zone's profile there relative to the
    busiest zone's; ``key`` (profile, hour) names it for the pools' caches. Kept per zone
    (and the clock's zone per entity), not per entity: a pool of 100k entities would hold
    800 KB per profile and shard otherwise."""

    key: tuple[str, int]
    keep: npt.NDArray[np.float64]  # per zone
    zone_of: npt.NDArray[np.int16]  # per entity

    def at(self, idx: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """The factors of entities ``idx``."""
        return self.keep[self.zone_of[idx]]


class LocalClock:
    """The zones of one profile's entities in one shard."""

    def __init__(
        self,
        name: str,
        spec: LocalTimeSpec,
        pool: EntityPool,
        seed: int,
        shard: int,
        domain: str,
    ) -> None:
        self.entity = spec.entity
        self.pool = pool
        self._args = (spec, seed, shard, domain)
        self.zone_of = self._zones_of(name, spec, pool, seed, shard, domain)
        self.zones = [zone(n) for n in self.names]
        missing = [n for n, z in zip(self.names, self.zones, strict=True) if z is None]
        if missing:
            raise DomainError(f"profiles.{name}.local: unknown timezone(s) {missing}")
        self.name = name
        self._forget()

    def _forget(self) -> None:
        """Empty the caches (each is remade from the pool and the clock when asked)."""
        self._tilt: Tilt | None = None
        self._hour = -1
        self._offsets = np.zeros(len(self.names), dtype=np.int64)
        self._active: npt.NDArray[np.int64] | None = None
        self._shares = np.zeros(len(self.names))

    def __getstate__(self) -> dict[str, object]:
        # a checkpoint keeps neither the per-entity zones nor the caches: both are remade
        # from the pool's attribute (a fixed reference) and the seed, so a shard's checkpoint
        # does not grow by three arrays of its pool's size per profile
        keep = ("entity", "pool", "_args", "names", "name")
        return {k: v for k, v in self.__dict__.items() if k in keep}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        spec, seed, shard, domain = self._args
        self.zone_of = self._zones_of(self.name, spec, self.pool, seed, shard, domain)
        self.zones = [zone(n) for n in self.names]
        self._forget()

    def _zones_of(
        self,
        name: str,
        spec: LocalTimeSpec,
        pool: EntityPool,
        seed: int,
        shard: int,
        domain: str,
    ) -> npt.NDArray[np.int16]:
        """Each entity's zone index (``self.names`` set on the way)."""
        attr = spec.zone or spec.by or ""
        if attr not in pool.attributes:
            raise DomainError(
                f"profiles.{name}.local: {spec.entity} has no `choice` attribute {attr!r}"
            )
        table, codes = pool.attributes[attr]
        values = [str(v) for v in table.values]
        if spec.zone is not None:
            self.names = values
            zone_of = codes.astype(np.int64)
        else:
            rng = np.random.default_rng([seed, shard, stable_hash("local", domain, name)])
            names: dict[str, int] = {}
            zone_of = np.zeros(len(codes), dtype=np.int64)
            for code, value in enumerate(values):
                mix = spec.zones.get(value, spec.otherwise)
                mix = {mix: 1.0} if isinstance(mix, str) else mix
                ids = np.asarray([names.setdefault(z, len(names)) for z in mix], np.int64)
                w = np.asarray(list(mix.values()), dtype=np.float64)
                sel = np.flatnonzero(codes == code)
                zone_of[sel] = ids[rng.choice(len(ids), size=len(sel), p=w / w.sum())]
            self.names = list(names)
        if len(self.names) > np.iinfo(np.int16).max:
            raise DomainError(f"profiles.{name}.local: more than 32,767 zones")
        return zone_of.astype(np.int16)  # a few zones: two bytes an entity, not eight

    def offsets(self, t_ms: int) -> npt.NDArray[np.int64]:
        """Each zone's offset from UTC (ms) in the hour holding ``t_ms``."""
        hour = t_ms // _HOUR
        if hour != self._hour:
            at = datetime.fromtimestamp(hour * 3600, tz=UTC)
            off = [at.astimezone(z).utcoffset() for z in self.zones]
            self._offsets = np.asarray(
                [int(o.total_seconds() * 1000) if o is not None else 0 for o in off], np.int64
            )
            self._hour = hour
        return self._offsets

    def shares(self) -> npt.NDArray[np.float64]:
        """Each zone's share of the activity of the active entities."""
        active = self.pool.active_idx
        if active is not self._active:
            w = np.bincount(
                self.zone_of[active], self.pool.activity[active], minlength=len(self.names)
            )
            self._shares = w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / len(w))
            self._active = active
        return self._shares

    def factors(
        self, profile: RateProfile, t_ms: int, params: Mapping[str, float]
    ) -> npt.NDArray[np.float64]:
        """The profile's multiplier in each zone at ``t_ms``."""
        return np.asarray(
            [profile.factor(t_ms, params, int(o)) for o in self.offsets(t_ms).tolist()]
        )

    def tilt(self, profile: RateProfile, t_ms: int, params: Mapping[str, float]) -> Tilt:
        """Each entity's pick factor in the hour holding ``t_ms`` (the zones' profile at the
        hour's middle, relative to the busiest zone's), made once per hour: one uniform per
        pick, as without local time, so the stream's other draws stay where they were."""
        hour = t_ms // _HOUR
        if self._tilt is None or self._tilt.key[1] != hour:
            f = self.factors(profile, hour * _HOUR + _HOUR // 2, params)
            top = float(f.max())
            keep = f / top if top > 0 else np.ones(len(f))
            self._tilt = Tilt((self.name, int(hour)), keep, self.zone_of)
        return self._tilt
