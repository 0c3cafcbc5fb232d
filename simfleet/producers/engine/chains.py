"""Chained follow-ups: an event of one stream schedules events of others, after a delay.

Each chain edge (one ``then:`` entry of a stream) draws which events get a follow-up, the delay
of each (its law, shaped by ``prefer`` and ``within_hours``), carries fields over to the target
stream, and queues the follow-up until a tick reaches its due time. The entities a follow-up
names are marked busy until then. Past ``max_pending`` queued follow-ups, new ones are dropped
and counted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simfleet.columns import (
    Column,
    MaskedNumbers,
    StrTable,
    TableStrings,
    column_to_list,
    concat_columns,
    take_column,
)
from simfleet.domain.mechanisms import DrawContext
from simfleet.domain.spec import Chain, DelaySpec, DomainSpec
from simfleet.errors import DomainError
from simfleet.producers.engine.fields import (
    FieldMaker,
    StreamRuntime,
    as_table_strings,
    number,
    row_choice,
)
from simfleet.producers.engine.label_noise import LabelNoise
from simfleet.producers.pools import EntityPool
from simfleet.producers.profiles import RateProfile

__all__ = ["IMPLICIT", "MAX_CHAIN_ROUNDS", "Edge", "FollowUps", "Pending", "delay", "due_times"]

IMPLICIT = ("event_id", "occurred_at")
MAX_CHAIN_ROUNDS = 16
DAY_MS = 86_400_000
PREFER_CANDIDATES = 16  # candidate delays per follow-up when a delay prefers a profile


class Pending:
    """Follow-ups of one chain edge, kept as a few sorted chunks (merged when they pile up)."""

    MAX_CHUNKS = 8

    def __init__(self) -> None:
        self.chunks: list[tuple[npt.NDArray[np.int64], dict[str, Column], int]] = []
        self.size = 0

    def push(self, due: npt.NDArray[np.int64], cols: dict[str, Column]) -> None:
        order = np.argsort(due, kind="stable")
        self.chunks.append((due[order], {k: take_column(c, order) for k, c in cols.items()}, 0))
        self.size += len(due)
        if len(self.chunks) > self.MAX_CHUNKS:
            self._compact()

    def _compact(self) -> None:
        dues = [d[c:] for d, _, c in self.chunks]
        due = np.concatenate(dues)
        names = list(self.chunks[0][1])
        cols = {
            k: concat_columns([take_column(cs[k], slice(c, None)) for _, cs, c in self.chunks])
            for k in names
        }
        order = np.argsort(due, kind="stable")
        self.chunks = [(due[order], {k: take_column(c, order) for k, c in cols.items()}, 0)]

    def pop(self, t1: int) -> tuple[npt.NDArray[np.int64], dict[str, Column]] | None:
        """Rows due before ``t1``, sorted by due time."""
        parts: list[tuple[npt.NDArray[np.int64], dict[str, Column]]] = []
        kept = []
        for due, cols, cursor in self.chunks:
            j = int(np.searchsorted(due, t1, side="left"))
            if j > cursor:
                sl = slice(cursor, j)
                parts.append((due[sl], {k: take_column(c, sl) for k, c in cols.items()}))
            if max(j, cursor) < len(due):
                kept.append((due, cols, max(j, cursor)))
        self.chunks = kept
        if not parts:
            return None
        due = np.concatenate([p[0] for p in parts])
        self.size -= len(due)
        names = list(parts[0][1])
        cols = {k: concat_columns([p[1][k] for p in parts]) for k in names}
        if len(parts) > 1:
            order = np.argsort(due, kind="stable")
            due = due[order]
            cols = {k: take_column(c, order) for k, c in cols.items()}
        return due, cols


class Seen:
    """Values of one field seen on one stream, for chains' `requires`: kept in two
    generations of ``within`` each, so a value is remembered at least that long and memory
    stays bounded on a long run."""

    def __init__(self, within: int) -> None:
        self.within = within
        self.current: set[object] = set()
        self.previous: set[object] = set()
        self.since: int | None = None

    def add(self, values: list[object], t_max: int) -> None:
        """Remember ``values`` (of events up to ``t_max``)."""
        if self.since is None:
            self.since = t_max
        elif t_max - self.since >= self.within:
            self.previous, self.current, self.since = self.current, set(), t_max
        self.current.update(values)

    def holds(self, values: list[object]) -> npt.NDArray[np.bool_]:
        """Per value, whether it was seen."""
        cur, prev = self.current, self.previous
        return np.fromiter(
            (v is not None and (v in cur or v in prev) for v in values), np.bool_, len(values)
        )


@dataclass
class Edge:
    source: str
    index: int
    chain: Chain
    targets: list[str]
    carry: list[dict[str, str]]  # per target: target field <- source field
    queues: list[Pending]


def delay(d: DelaySpec, rng: np.random.Generator, n: int) -> npt.NDArray[np.int64]:
    """``n`` draws of a delay law, clipped to its bounds."""
    if d.uniform is not None:
        out = rng.integers(d.uniform[0], d.uniform[1] + 1, n, dtype=np.int64)
    elif d.lognormal is not None:
        median, sigma = d.lognormal
        out = (median * rng.lognormal(0.0, sigma, n)).astype(np.int64)
    else:
        out = rng.exponential(d.exponential or 1, n).astype(np.int64)
    if d.min or d.max is not None:
        out = np.clip(out, d.min, d.max)
    return out


def due_times(
    d: DelaySpec,
    rng: np.random.Generator,
    cause: npt.NDArray[np.int64],
    profiles: Mapping[str, RateProfile],
) -> npt.NDArray[np.int64]:
    """Due times of follow-ups of events at ``cause``: the delay law, shaped by `prefer`
    (profile-weighted choice among candidates) and `within_hours` (time of day mapped
    into the window, moved by whole days to stay within the law's bounds)."""
    n = len(cause)
    if d.prefer is None:
        due = cause + delay(d, rng, n)
    else:
        k = PREFER_CANDIDATES
        cand = cause[:, None] + delay(d, rng, n * k).reshape(n, k)
        w = profiles[d.prefer].factors(cand.reshape(-1)).reshape(n, k)
        cum = np.cumsum(w, axis=1)
        u = rng.random(n) * cum[:, -1]
        pick = np.minimum((cum < u[:, None]).sum(axis=1), k - 1)
        due = cand[np.arange(n), pick]
    if d.within_hours is not None:
        lo_h, hi_h = d.within_hours
        lo, hi = int(lo_h * 3_600_000), int(hi_h * 3_600_000)
        tod = due % DAY_MS
        mapped = due - tod + lo + tod * (hi - lo) // DAY_MS
        least, most = d.bounds()
        mapped = np.where(mapped < cause + least, mapped + DAY_MS, mapped)
        if most is not None:
            back = (mapped > cause + most) & (mapped - DAY_MS >= cause + least)
            mapped = np.where(back, mapped - DAY_MS, mapped)
        if d.within_share < 1.0:
            # the rest keep the law's own time of day: minimal at night, not none
            mapped = np.where(rng.random(n) < d.within_share, mapped, due)
        due = mapped
    return due


class FollowUps:
    """The chain edges of one shard and their queues of pending follow-ups."""

    def __init__(
        self,
        domain: DomainSpec,
        streams: Mapping[str, StreamRuntime],
        profiles: Mapping[str, RateProfile],
        pool_of_table: Mapping[int, EntityPool],
        max_pending: int,
    ) -> None:
        self.domain = domain
        self.streams = streams
        self.profiles = profiles
        self.pool_of_table = pool_of_table  # id(pool.ids) -> pool
        self.max_pending = max_pending
        self.dropped = 0
        self.edges: dict[str, list[Edge]] = {}
        self._set_tables: dict[tuple[str, int, str], StrTable] = {}
        self.tags = domain.tags
        self._tag_table = StrTable(("",))
        self.fields: FieldMaker | None = None  # set by the engine: follow-ups' declared laws
        self.noise: LabelNoise | None = None  # set by the engine when the pack declares it
        # `requires`: (stream, field) -> the values seen; stream -> the fields it records
        self.seen: dict[tuple[str, str], Seen] = {}
        self._records: dict[str, list[str]] = {}
        for name, s in domain.streams.items():
            for chain in s.then:
                req = chain.requires
                if req is None:
                    continue
                for st in (name, *req.any_of):
                    if req.key not in streams[st].types:
                        raise DomainError(
                            f"stream {name}: a chain `requires` field `{req.key}`, which stream "
                            f"{st}'s schema lacks; name a field the cause and {req.any_of} carry"
                        )
                for st in req.any_of:
                    key = (st, req.key)
                    if key not in self.seen:
                        self.seen[key] = Seen(req.within)
                        self._records.setdefault(st, []).append(req.key)
                    else:
                        self.seen[key].within = max(self.seen[key].within, req.within)
        for name, s in domain.streams.items():
            # columns the events have beyond their schema: stock reports
            extra = {c for u in s.stock for c in u.reported()}
            for i, chain in enumerate(s.then):
                targets = chain.targets()
                carry = []
                for t in targets:
                    ttypes = streams[t].types
                    mapping = {
                        f: f
                        for f in ttypes
                        if f not in IMPLICIT
                        and (f in streams[name].types or f in extra)
                        and f not in chain.set
                        and f not in chain.fresh
                    }
                    mapping.update(chain.rename)
                    # campaign tags ride along every chain, whatever the schemas in between
                    mapping.update({tag: tag for tag in domain.tags})
                    carry.append(mapping)
                    for fname, value in chain.set.items():
                        self._set_tables[(name, i, fname)] = StrTable((str(value),))
                self.edges.setdefault(name, []).append(
                    Edge(name, i, chain, targets, carry, [Pending() for _ in targets])
                )

    @property
    def pending(self) -> int:
        """Follow-ups waiting in this shard."""
        return sum(q.size for edges in self.edges.values() for e in edges for q in e.queues)

    def pending_for(self, targets: frozenset[str]) -> int:
        """Follow-ups waiting for these target streams."""
        return sum(
            q.size
            for edges in self.edges.values()
            for e in edges
            for t, q in zip(e.targets, e.queues, strict=True)
            if t in targets
        )

    def schedule(
        self,
        name: str,
        cols: dict[str, Column],
        n: int,
        params: Mapping[str, float],
        rng: np.random.Generator | None = None,
    ) -> None:
        """Queue the follow-ups of ``n`` events of stream ``name`` (drawn with its rng, or
        ``rng``: a campaign's own)."""
        rng = self.streams[name].rng if rng is None else rng
        times = cols["occurred_at"]
        assert isinstance(times, np.ndarray)
        for fname in self._records.get(name, ()):
            if n:
                self.seen[(name, fname)].add(column_to_list(cols[fname]), int(times.max()))
        if self.tags and name in self.edges:
            untagged = TableStrings(self._tag_table, np.full(n, -1, dtype=np.int64))
            # tags stay table strings: chunks of a queue are concatenated, kinds must agree
            cols = {
                **cols,
                **{t: as_table_strings(cols[t]) if t in cols else untagged for t in self.tags},
            }
        noisy = self.noise is not None and name == self.noise.spec.stream
        planned: list[tuple[Edge, list[npt.NDArray[np.bool_]]]] = []
        for edge in self.edges.get(name, ()):
            chain = edge.chain
            if chain.one_of is not None:
                pools = self.pool_of_table
                w = [number(self.domain, x, params, cols, pools) for x in chain.one_of.values()]
                pick = row_choice(rng, w, n)
                masks = [pick == k for k in range(len(edge.targets))]
            else:
                p = number(self.domain, chain.probability or 0.0, params, cols, self.pool_of_table)
                masks = [rng.random(n) < p]
            if chain.requires is not None:
                met = self._met(chain, cols)
                masks = [m & met for m in masks]
            if noisy:
                planned.append((edge, masks))  # every edge decided before label noise moves rows
            else:
                self._push(name, edge, masks, cols, times, rng, params)
        if self.noise is not None and planned:
            by_target = {e.targets[k]: m for e, ms in planned for k, m in enumerate(ms)}
            cols = self.noise.move(cols, by_target, params)
            for edge, _ in planned:
                moved = [by_target[t] for t in edge.targets]
                self._push(name, edge, moved, cols, times, rng, params)

    def _push(
        self,
        name: str,
        edge: Edge,
        masks: list[npt.NDArray[np.bool_]],
        cols: dict[str, Column],
        times: npt.NDArray[np.int64],
        rng: np.random.Generator,
        params: Mapping[str, float],
    ) -> None:
        """Queue the follow-ups an edge chose (``masks``: per target, the events it takes)."""
        chain = edge.chain
        for k, mask in enumerate(masks):
            m = int(mask.sum())
            if m == 0:
                continue
            if self.pending + m > self.max_pending:
                self.dropped += m
                continue
            carried = {dst: take_column(cols[src], mask) for dst, src in edge.carry[k].items()}
            tname = edge.targets[k]
            declared = self._declared(chain, tname)
            if declared is None:
                due = self._due(chain, rng, times[mask], cols, mask)
            else:
                # the target's own law of the delay field gives the delay, never the
                # reverse: a session lasts one of its declared lengths
                drawn = self._draw_declared(tname, declared, rng, carried, params, m)
                due = times[mask] + np.rint(drawn * chain.delay_unit).astype(np.int64)
                carried[declared] = drawn
            for c in carried.values():
                if isinstance(c, TableStrings):
                    pool = self.pool_of_table.get(id(c.table))
                    if pool is not None:
                        pool.mark_busy(c.idx, due)
            if (
                declared is None
                and chain.delay_field is not None
                and chain.delay_field in self.streams[tname].types
            ):
                waited = (due - times[mask]) // chain.delay_unit
                if self.streams[tname].types[chain.delay_field].kind == "float":
                    waited = waited.astype(np.float64)
                carried[chain.delay_field] = waited
            for fname, value in edge.chain.set.items():
                if self.streams[edge.targets[k]].types[fname].kind == "str":
                    table = self._set_tables[(name, edge.index, fname)]
                    carried[fname] = TableStrings(table, np.zeros(m, dtype=np.int64))
                else:
                    carried[fname] = np.full(m, value)
            edge.queues[k].push(due, carried)

    def _met(self, chain: Chain, cols: Mapping[str, Column]) -> npt.NDArray[np.bool_]:
        """Per event, whether its `requires` is met: an event of a required stream with the
        same value of the field came before."""
        req = chain.requires
        assert req is not None
        values = column_to_list(cols[req.key])
        met = np.zeros(len(values), np.bool_)
        for st in req.any_of:
            met |= self.seen[(st, req.key)].holds(values)
        return met

    def _declared(self, chain: Chain, target: str) -> str | None:
        """The chain's delay field when the target declares a law of its own for it."""
        f = chain.delay_field
        if f is None or f not in self.domain.streams[target].fields:
            return None
        return f if f in self.streams[target].types else None

    def _draw_declared(
        self,
        target: str,
        fname: str,
        rng: np.random.Generator,
        carried: Mapping[str, Column],
        params: Mapping[str, float],
        m: int,
    ) -> npt.NDArray[np.int64] | npt.NDArray[np.float64]:
        """``m`` draws of the target's declared law of ``fname`` (with the cause's random
        stream), as numbers of delay units."""
        if self.fields is None:
            raise DomainError(f"{target}.{fname}: no field maker to draw the declared law")
        rt = self.streams[target]
        spec = self.domain.streams[target].fields[fname]
        ctx = DrawContext(
            self.fields,
            target,
            fname,
            rt.types[fname],
            rng,
            m,
            carried,
            params,
            0,
            rt.tables.get(fname),
        )
        col = spec.draw(ctx)
        values = col.values if isinstance(col, MaskedNumbers) else col
        if not isinstance(values, np.ndarray) or values.dtype.kind not in "iuf":
            raise DomainError(
                f"stream {target}: field `{fname}` receives a chain's delay, so its declared "
                f"law must be numeric, not `{spec.key}`"
            )
        out: npt.NDArray[np.int64] | npt.NDArray[np.float64] = values
        return out

    def _due(
        self,
        chain: Chain,
        rng: np.random.Generator,
        cause: npt.NDArray[np.int64],
        cols: Mapping[str, Column],
        mask: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.int64]:
        """Due times by the chain's delay law, or by the law of each entity's attribute value
        (``delay_by``), each group drawn in the order of the laws."""
        by = chain.delay_by
        if by is None:
            return due_times(chain.delay, rng, cause, self.profiles)
        col = cols[by.of]
        pool = self.pool_of_table.get(id(col.table)) if isinstance(col, TableStrings) else None
        if pool is None or not isinstance(col, TableStrings):
            raise DomainError(f"`delay_by`: field `{by.of}` does not hold entity ids")
        table, values = pool.attributes[by.by]
        idx = take_column(col, mask)
        assert isinstance(idx, TableStrings)
        value = np.where(idx.idx >= 0, values[np.maximum(idx.idx, 0)], -1)
        due = np.empty(len(cause), dtype=np.int64)
        rest = np.ones(len(cause), dtype=np.bool_)
        for name, law in by.laws.items():
            pick = value == table.lookup.get(name, -2)
            if pick.any():
                due[pick] = due_times(law, rng, cause[pick], self.profiles)
                rest &= ~pick
        if rest.any():
            due[rest] = due_times(chain.delay, rng, cause[rest], self.profiles)
        return due

    def release(
        self, t1: int, only: frozenset[str] | None = None
    ) -> Iterator[tuple[str, npt.NDArray[np.int64], dict[str, Column]]]:
        """Follow-ups due before ``t1``, as (target stream, due times, carried columns).

        Lazy on purpose: the caller makes and schedules each released batch before the next is
        popped, so follow-ups of follow-ups due in the same tick come out too (in rounds, at
        most ``MAX_CHAIN_ROUNDS``). ``only``: release follow-ups of these target streams only
        (labels after a window's end).
        """
        for _ in range(MAX_CHAIN_ROUNDS):
            released = False
            for edges in self.edges.values():
                for edge in edges:
                    for target, queue in zip(edge.targets, edge.queues, strict=True):
                        if only is not None and target not in only:
                            continue
                        popped = queue.pop(t1)
                        if popped is None:
                            continue
                        released = True
                        due, carried = popped
                        yield target, due, carried
            if not released:
                break
