"""Entity pools: the population of one shard, made once from (seed, shard) with Faker.

Ids are ``<prefix>-<shard>-<n>`` so they are unique across shards and join across topics. An
entity is its index in the pool's arrays; its id is never held as a string (``EntityIds``
renders the ids of a batch's indices when they are encoded or written).
Each entity has an activity weight (lognormal), so some students search far more than others.

Entities have a lifecycle: a share starts inactive (``initial_active``); streams that
``activates`` a field make one active, streams that ``retires`` it take it out for good.
Ordinary draws see active entities only; the CDF over them is rebuilt only when the active set
changes, so sampling stays one ``searchsorted`` per field per tick.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from faker import Faker

from simfleet.columns import EntityIds, StrTable, TableStrings
from simfleet.domain.mechanisms import generators
from simfleet.domain.spec import (
    ByAttr,
    EntitySpec,
    FieldSpec,
    JoinedSpec,
    Openings,
    RelationSpec,
)
from simfleet.producers.laws import draw_law

__all__ = ["NOT_JOINED", "NOT_SET", "EntityPool", "Relation", "stable_hash"]

FAKER_VOCABULARY = 1024
NOT_JOINED = np.iinfo(np.int64).min
NOT_SET = np.iinfo(np.int64).min  # an instant no event has recorded on the entity


class Tilted(Protocol):
    """A per-entity factor on picks (local time: each entity's zone's hour), with a key that
    changes whenever the factor does."""

    key: tuple[str, int]

    def at(self, idx: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """The factors of entities ``idx``."""
        ...


def stable_hash(*parts: object) -> int:
    """A process-independent hash (Python's hash() is salted per process)."""
    return zlib.crc32("\x1f".join(map(str, parts)).encode())


class EntityPool:
    """The entities of one kind in one shard."""

    def __init__(
        self,
        kind: str,
        spec: EntitySpec,
        shard: int,
        shards: int,
        seed: int,
        scale: float,
        domain: str,
    ) -> None:
        self.kind = kind
        self._domain = domain
        base = max(1, round(spec.count * scale / shards))
        self.size = base + round(base * spec.reserve)
        # an entity is its index; its id is rendered from it only where it leaves as text
        self.ids = EntityIds(f"{spec.prefix}-{shard:03d}-", self.size)
        rng = np.random.default_rng([seed, shard, stable_hash("pool", domain, kind)])
        activity = (
            rng.lognormal(0.0, spec.activity_sigma, self.size)
            if spec.activity_sigma
            else (np.ones(self.size))
        )
        self._activity: npt.NDArray[np.float64] = activity
        life = np.random.default_rng([seed, shard, stable_hash("pool-life", domain, kind)])
        self.initially_active = np.ones(self.size, dtype=np.bool_)
        n_inactive = min(
            self.size - 1, round(base * (1.0 - spec.initial_active)) + self.size - base
        )
        self.initially_active[life.choice(self.size, n_inactive, replace=False)] = False
        self.active = self.initially_active.copy()
        self.reserved = np.zeros(self.size, dtype=np.bool_)  # picked while inactive
        self.retired = np.zeros(self.size, dtype=np.bool_)
        # the latest due time of a pending follow-up that carries the entity
        self.busy_until = np.full(self.size, np.iinfo(np.int64).min, dtype=np.int64)
        self._active_idx: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._cdf: npt.NDArray[np.float64] = np.empty(0)
        self._dirty = True
        # per `weight` table: (the active set it was built for, its CDF over it)
        self._weighted: dict[
            int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], tuple[float, ...]]
        ] = {}
        # per attribute: its table of values and each entity's index into it (small integers)
        self.attributes: dict[str, tuple[StrTable, npt.NDArray[np.signedinteger[Any]]]] = {}
        self.numbers: dict[str, npt.NDArray[np.float64]] = {}  # numeric attributes
        # local time: CDFs under a tilt, by (profile, hour, `weight` table id or 0)
        self._tilted: dict[
            tuple[str, int, int],
            tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], tuple[float, ...]],
        ] = {}
        # instants events record on the entity (``record``): NOT_SET until one does
        self.instants: dict[str, npt.NDArray[np.int64]] = {}
        self.relations: dict[str, Relation] = {}  # linked by the engine once all pools exist
        # when each joined: set for the initially active at the run's first tick (``begin``),
        # for the others at their activation
        self.joined_attrs = {n for n, a in spec.attributes.items() if isinstance(a, JoinedSpec)}
        self.joined_at = np.full(self.size if self.joined_attrs else 0, NOT_JOINED, np.int64)
        self._tenure = (seed, shard, spec.joined_before_start)
        fake = Faker()
        fake.seed_instance(stable_hash(seed, shard, domain, kind))
        for name, attr in spec.attributes.items():
            if isinstance(attr, RelationSpec | JoinedSpec):
                continue
            if isinstance(attr, FieldSpec) and attr.choice is None:
                self.numbers[name] = self._draw_number(attr, rng)
                continue
            if isinstance(attr, FieldSpec):
                table, idx = self._draw_choice(attr, rng)
            else:
                # Faker is slow (tens of µs a call): draw a bounded vocabulary, then assign it
                provider = getattr(fake, attr["faker"])
                vocab = [str(provider()) for _ in range(min(self.size, FAKER_VOCABULARY))]
                table = StrTable(tuple(dict.fromkeys(vocab)))
                idx = rng.integers(0, len(table), self.size, dtype=np.int64)
            # codes of a table of a few values: the smallest integers that hold them (and -1)
            self.attributes[name] = (table, idx.astype(np.min_scalar_type(-len(table) - 1)))

    def _draw_choice(
        self, attr: FieldSpec, rng: np.random.Generator
    ) -> tuple[StrTable, npt.NDArray[np.int64]]:
        """A choice per entity: the table of the values drawn, in the order they first come
        (as a table built value by value), and each entity's index into it."""
        if attr.choice is None:
            raise ValueError(f"entity attributes take `choice` or `faker`; {self.kind} has {attr}")
        p = None
        if attr.weights is not None:
            w = np.asarray(attr.weights, dtype=np.float64)
            p = w / w.sum()
        picks = rng.choice(len(attr.choice), size=self.size, p=p)
        texts = [str(c) for c in attr.choice]
        distinct = list(dict.fromkeys(texts))  # two choices may read the same (1 and "1")
        code = np.asarray([distinct.index(t) for t in texts], np.int64)[picks]
        seen, first = np.unique(code, return_index=True)
        order = seen[np.argsort(first)]
        rank = np.zeros(len(distinct), np.int64)
        rank[order] = np.arange(len(order))
        return StrTable(tuple(distinct[c] for c in order.tolist())), rank[code]

    def _draw_number(self, attr: FieldSpec, rng: np.random.Generator) -> npt.NDArray[np.float64]:
        """A numeric attribute: one draw of its law per entity, clipped and rounded."""
        v = draw_law(attr, rng, self.size)
        if v is None:
            raise ValueError(
                "numeric entity attributes take a numeric law "
                f"({', '.join(k for k, g in generators().items() if g.numeric_law)}); "
                f"{self.kind} has {attr}"
            )
        if attr.min is not None or attr.max is not None:
            v = np.clip(v, attr.min, attr.max)
        return np.round(v, attr.round) if attr.round is not None else v

    def keep_instants(self, names: list[str]) -> None:
        """Hold the instants ``names`` per entity (none recorded yet)."""
        for name in names:
            self.instants.setdefault(name, np.full(self.size, NOT_SET, dtype=np.int64))

    def record(self, name: str, idx: npt.NDArray[np.int64], at: npt.NDArray[np.int64]) -> None:
        """Events name entities ``idx``: keep their instants ``at`` as ``name``."""
        ok = idx >= 0
        self.instants[name][idx[ok]] = at[ok]

    def _refresh(self) -> None:
        self._active_idx = np.flatnonzero(self.active).astype(np.int64)
        if len(self._active_idx) == 0:  # nobody left: draw from everyone rather than fail
            self._active_idx = np.arange(self.size, dtype=np.int64)
        cdf = np.cumsum(self._activity[self._active_idx])
        self._cdf = cdf / cdf[-1]
        self._dirty = False

    def __getstate__(self) -> dict[str, Any]:
        # a checkpoint leaves out the local-time CDFs (up to 16 arrays of the active set's
        # size): each is remade, the same, from the activity and the tilt when next asked
        state = dict(self.__dict__)
        state["_tilted"] = {}
        return state

    @property
    def active_idx(self) -> npt.NDArray[np.int64]:
        """The active entities' indices (a new array whenever the active set changes)."""
        if self._dirty:
            self._refresh()
        return self._active_idx

    @property
    def activity(self) -> npt.NDArray[np.float64]:
        """Each entity's activity weight (read-only use: per-entity rates)."""
        return self._activity

    def sample(
        self, rng: np.random.Generator, n: int, tilt: Tilted | None = None
    ) -> npt.NDArray[np.int64]:
        """``n`` active entity indices, weighted by activity (times ``tilt``'s per-entity
        factor: local time)."""
        if self._dirty:
            self._refresh()
        cdf = self._cdf if tilt is None else self._tilted_cdf(tilt, None, None)
        pos = np.searchsorted(cdf, rng.random(n), side="right")
        return self._active_idx[np.minimum(pos, len(self._active_idx) - 1)]

    def _tilted_cdf(
        self, tilt: Tilted, b: ByAttr | None, params: Mapping[str, float] | None
    ) -> npt.NDArray[np.float64]:
        """The CDF over the active entities of activity (times ``b``) times ``tilt``'s
        factor, kept while the tilt, the active set and ``b``'s numbers hold."""
        numbers = (
            b.table(self.attributes[b.by][0].values, params, self._domain)
            if b is not None and b.params()
            else ()
        )
        key = (*tilt.key, id(b) if b is not None else 0)
        if key not in self._tilted:
            # the hours gone by: each profile's tilt moves every hour, so only the newest
            # hour's CDF of a profile (and `weight` table) is worth keeping
            for old in [k for k in self._tilted if k[0] == key[0] and k[2] == key[2]]:
                del self._tilted[old]
            if len(self._tilted) >= 16:
                self._tilted.clear()
        cached = self._tilted.get(key)
        if cached is None or cached[0] is not self._active_idx or cached[2] != numbers:
            act = self._active_idx
            w = self._activity[act] * tilt.at(act)
            if b is not None:
                w = w * self.by_values(b, act, params)
            cdf = np.cumsum(w)
            cdf = cdf / cdf[-1] if cdf[-1] > 0 else np.linspace(0, 1, len(cdf) + 1)[1:]
            cached = (act, cdf, numbers)
            self._tilted[key] = cached
        return cached[1]

    def by_values(
        self,
        b: ByAttr,
        idx: npt.NDArray[np.int64],
        params: Mapping[str, float] | None = None,
    ) -> npt.NDArray[np.float64]:
        """The numbers of table ``b`` for entities ``idx`` (``-1``: no entity, ``default``);
        ``params``: the values of the parameters the table names; over a numeric attribute,
        its value to the table's power (``-1``: 0)."""
        if b.numeric:
            x = self.numbers[b.by][np.maximum(idx, 0)]
            x = x if b.power is None else x**b.exponent
            return np.where(idx >= 0, x, 0.0)
        table, values = self.attributes[b.by]
        numbers = np.asarray(
            [*b.table(table.values, params, self._domain), b.fallback(params, self._domain)],
            np.float64,
        )
        return numbers[np.where(idx >= 0, values[np.maximum(idx, 0)], len(table))]

    def sample_weighted(
        self,
        rng: np.random.Generator,
        n: int,
        b: ByAttr,
        params: Mapping[str, float] | None = None,
        tilt: Tilted | None = None,
    ) -> npt.NDArray[np.int64]:
        """``n`` active entity indices, weighted by activity times their number in ``b``
        (times ``tilt``'s per-entity factor: local time)."""
        if self._dirty:
            self._refresh()
        if tilt is not None:
            pos = np.searchsorted(self._tilted_cdf(tilt, b, params), rng.random(n), side="right")
            return self._active_idx[np.minimum(pos, len(self._active_idx) - 1)]
        numbers = (
            b.table(self.attributes[b.by][0].values, params, self._domain) if b.params() else ()
        )
        cached = self._weighted.get(id(b))  # specs are frozen and live as long as the pool
        if cached is None or cached[0] is not self._active_idx or cached[2] != numbers:
            w = self._activity[self._active_idx] * self.by_values(b, self._active_idx, params)
            cdf = np.cumsum(w)
            cdf = cdf / cdf[-1] if cdf[-1] > 0 else np.linspace(0, 1, len(cdf) + 1)[1:]
            cached = (self._active_idx, cdf, numbers)
            self._weighted[id(b)] = cached
        pos = np.searchsorted(cached[1], rng.random(n), side="right")
        return self._active_idx[np.minimum(pos, len(self._active_idx) - 1)]

    def sample_open(
        self,
        rng: np.random.Generator,
        times: npt.NDArray[np.int64],
        b: ByAttr | None,
        openings: Openings,
        params: Mapping[str, float],
        tilt: Tilted | None = None,
    ) -> npt.NDArray[np.int64]:
        """One active entity per event at ``times``, weighted by activity (times ``b``) and by
        ``openings`` at the event's step: none closed at the step's start (or by its end), the
        spikes at its middle. One uniform per event; a step where every entity is closed draws
        by the other weights alone."""
        if self._dirty:
            self._refresh()
        act = self._active_idx
        n, m = len(times), len(act)
        if n == 0:
            return np.empty(0, dtype=np.int64)
        base = self._activity[act]
        if b is not None:
            base = base * self.by_values(b, act, params)
        if tilt is not None:
            base = base * tilt.at(act)
        step = openings.step
        first = int(times.min())
        k = (times - first) // step
        ks, row = np.unique(k, return_inverse=True)
        starts = (first + ks * step)[:, None]
        factor = np.ones((len(ks), m))
        for name, pk in openings.peaks.items():
            at = self.instants[name][act][None, :]
            age = (starts + step // 2 - at).astype(np.float64)
            peak = params[f"{self._domain}.{pk.peak}"] if isinstance(pk.peak, str) else pk.peak
            spike = peak * np.exp2(-np.maximum(age, 0.0) / pk.half_life)
            factor += np.where((at != NOT_SET) & (age >= 0), spike, 0.0)
        if openings.closed_until is not None:
            at = self.instants[openings.closed_until][act][None, :]
            factor *= ~((at != NOT_SET) & (at > starts))
        if openings.closed_after is not None:
            at = self.instants[openings.closed_after][act][None, :]
            factor *= ~((at != NOT_SET) & (at < starts + step))
        w = factor * base[None, :]
        total = w.sum(axis=1)
        w[total <= 0] = base  # nobody open: the other weights alone
        cdf = np.cumsum(w, axis=1)
        cdf = cdf / np.where(cdf[:, -1:] > 0, cdf[:, -1:], 1.0)
        # rows laid end to end, row r shifted by r: one search serves every step
        flat = (cdf + np.arange(len(ks))[:, None]).reshape(-1)
        pos = np.searchsorted(flat, row + rng.random(n), side="right") - row * m
        out: npt.NDArray[np.int64] = act[np.clip(pos, 0, m - 1)]
        return out

    def candidates(self, pick: str, t0: int) -> npt.NDArray[np.int64]:
        """Indices a ``pick: inactive | idle`` draw may take at a tick starting at ``t0``."""
        if pick == "inactive":
            mask = ~self.active & ~self.reserved & ~self.retired
        else:
            mask = self.active & (self.busy_until < t0)
        return np.flatnonzero(mask).astype(np.int64)

    def take(self, rng: np.random.Generator, pick: str, t0: int, n: int) -> npt.NDArray[np.int64]:
        """``n`` distinct candidates of a ``pick`` (the caller caps ``n``); inactive ones are
        reserved so no later draw picks them again."""
        cand = self.candidates(pick, t0)
        chosen = rng.choice(cand, size=min(n, len(cand)), replace=False).astype(np.int64)
        if pick == "inactive":
            self.reserved[chosen] = True
        return chosen

    def begin(self, t0: int) -> None:
        """The run starts at ``t0``: the initially active joined their tenure before it."""
        if not self.joined_attrs:
            return
        seed, shard, (lo, hi) = self._tenure
        rng = np.random.default_rng(
            [seed, shard, stable_hash("pool-joined", self._domain, self.kind)]
        )
        tenure = rng.integers(lo, hi + 1, self.size, dtype=np.int64)
        first = self.initially_active & (self.joined_at == NOT_JOINED)
        self.joined_at[first] = t0 - tenure[first]

    def joined(
        self, idx: npt.NDArray[np.int64], at: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """When ``idx`` joined; ``at`` (the event's time) for one joining by this event."""
        known = self.joined_at[np.maximum(idx, 0)]
        return np.where((idx >= 0) & (known != NOT_JOINED), known, at)

    def attribute(
        self, name: str, idx: npt.NDArray[np.int64], at: npt.NDArray[np.int64]
    ) -> TableStrings | npt.NDArray[np.float64]:
        """Attribute ``name`` of entities ``idx`` in events at ``at``: a drawn value (a
        number, for a numeric one), the linked entity of a relation, or the cohort (month
        joined)."""
        if name in self.numbers:
            return self.numbers[name][idx]
        if name in self.joined_attrs:
            months = self.joined(idx, at).astype("datetime64[ms]").astype("datetime64[M]")
            uniq, inv = np.unique(months, return_inverse=True)
            return TableStrings(StrTable(tuple(map(str, uniq))), inv.reshape(-1).astype(np.int64))
        rel = self.relations.get(name)
        if rel is not None:
            return TableStrings(rel.target.ids, rel.resolve(idx))
        table, values = self.attributes[name]
        return TableStrings(table, values[idx].astype(np.int64))

    def activate(self, idx: npt.NDArray[np.int64], at: npt.NDArray[np.int64] | None = None) -> None:
        """Make entities active (from the next draw on); they joined at ``at``."""
        if at is not None and self.joined_attrs:
            new = (idx >= 0) & (self.joined_at[np.maximum(idx, 0)] == NOT_JOINED)
            self.joined_at[idx[new]] = at[new]
        idx = idx[idx >= 0]
        if len(idx):
            self.active[idx] = True
            self.retired[idx] = False
            self._dirty = True

    def retire(self, idx: npt.NDArray[np.int64]) -> None:
        """Take entities out of every later draw (and out of the targets they link to)."""
        idx = idx[idx >= 0]
        if len(idx):
            self.active[idx] = False
            self.retired[idx] = True
            self._dirty = True
            for rel in self.relations.values():
                rel.release(idx)

    def mark_busy(self, idx: npt.NDArray[np.int64], due: npt.NDArray[np.int64]) -> None:
        """Note that follow-ups due at ``due`` carry these entities."""
        ok = idx >= 0
        np.maximum.at(self.busy_until, idx[ok], due[ok])


class Relation:
    """Standing links from each entity of one pool to one of another (a student's regular
    tutor), each active target holding ``lo``-``hi`` of them (see ``RelationSpec``).

    Dealt at the start among the active: every active target gets one owner, then the other
    active owners fill random free places up to ``hi``; an owner activated later is linked at
    its first use. Links are repaired lazily, at use: an owner whose
    target is no longer active (or who has none) moves to an active target below ``lo`` if
    any (a newly approved tutor gets students first), else one below ``hi``, else the least
    loaded. An owner that retires frees its place. So no use ever names an inactive target.
    """

    def __init__(
        self, owner: EntityPool, target: EntityPool, lo: int, hi: int, rng: np.random.Generator
    ) -> None:
        self.target = target
        self.lo, self.hi = lo, hi
        self.rng = rng  # its own stream: repairs never shift the draws of the streams using it
        self.of = np.full(owner.size, -1, dtype=np.int32)  # an index per owner: millions
        self.load = np.zeros(target.size, dtype=np.int64)
        owners = rng.permutation(np.flatnonzero(owner.active)).astype(np.int64)
        firsts = rng.permutation(np.flatnonzero(target.active)).astype(np.int64)[: len(owners)]
        self.of[owners[: len(firsts)]] = firsts
        rest = owners[len(firsts) :]
        places = np.repeat(firsts, hi - 1)
        chosen = rng.choice(places, size=min(len(rest), len(places)), replace=False)
        self.of[rest[: len(chosen)]] = chosen
        linked = self.of[self.of >= 0]
        self.load += np.bincount(linked, minlength=target.size)

    def resolve(self, owners: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The targets of ``owners`` (``-1`` stays ``-1``), repairing links that need it."""
        ok = owners >= 0
        linked = np.where(ok, self.of[np.maximum(owners, 0)], -1).astype(np.int64)
        stale = ok & ((linked < 0) | ~self.target.active[np.maximum(linked, 0)])
        if stale.any():
            for o in np.unique(owners[stale]).tolist():  # a handful per tick
                self._move(o)
            linked = np.where(ok, self.of[np.maximum(owners, 0)], -1).astype(np.int64)
        return linked

    def _move(self, owner: int) -> None:
        old = int(self.of[owner])
        if old >= 0:
            self.load[old] -= 1
        active = self.target.active
        for cand in (active & (self.load < self.lo), active & (self.load < self.hi)):
            idx = np.flatnonzero(cand)
            if len(idx):
                new = int(idx[self.rng.integers(len(idx))])
                break
        else:
            pool = np.flatnonzero(active)
            new = int(pool[np.argmin(self.load[pool])]) if len(pool) else max(old, 0)
        self.of[owner] = new
        self.load[new] += 1

    def release(self, owners: npt.NDArray[np.int64]) -> None:
        """Owners that retired: their places are free."""
        owners = np.unique(owners)
        linked = self.of[owners]
        np.subtract.at(self.load, linked[linked >= 0], 1)
        self.of[owners] = -1
