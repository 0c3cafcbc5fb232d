"""Journeys: per-episode state machines (a web session walking the pages of its journey).

Each event of a journey's ``start`` stream begins an episode. The whole episode is drawn at
once, for all of a tick's start events together (arrays of episodes x steps): its path (by
weight), its number of steps and its time budget, a dwell and a gap per step, the state of each
step (forward paths advance or stay, ``any`` paths draw), the actions in each visit, the
once-per-episode emissions and the end (explicit, or after the idle timeout). Its events wait
in one sorted queue per target stream (``chains.Pending``) until a tick reaches them; the
engine then makes their other fields like any follow-up's. The path's name goes only to the
ground-truth record of the episode.

Invariants: an episode's events are ordered as its walk (enter < actions < leave < next
enter), every episode gets exactly one ``end``, a state with ``requires`` is entered only by
episodes that emitted that stream before, and no gap inside an episode reaches the idle
timeout (checked at load). State is numpy arrays and plain objects (picklable).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simfleet.codec.catalog import FieldType
from simfleet.columns import Column, StrTable, TableStrings, concat_columns, take_column
from simfleet.domain.mechanisms.journeys import Span
from simfleet.domain.mechanisms.tails import TailLaw, draw_tail
from simfleet.domain.spec import DomainSpec, JourneySpec
from simfleet.errors import DomainError
from simfleet.producers.engine.chains import IMPLICIT, Pending
from simfleet.producers.engine.fields import StreamRuntime, row_choice, uuid_column, weight
from simfleet.producers.pools import stable_hash

__all__ = ["CLOSED", "TIMEOUT", "TRUTH_KIND", "Journeys"]

CLOSED = "closed"
TIMEOUT = "timeout"
TRUTH_KIND = "journey"

Ints = npt.NDArray[np.int64]


@dataclass
class _Emission:
    path: int
    node: int
    probability: float | str
    streams: tuple[str, ...]
    action: int  # index into the names table, -1: none


class _Journey:
    """One journey of one shard: its compiled tables, random stream and queues."""

    def __init__(
        self,
        name: str,
        spec: JourneySpec,
        domain: DomainSpec,
        streams: Mapping[str, StreamRuntime],
        seed: int,
        shard: int,
    ) -> None:
        self.name = name
        self.spec = spec
        self.domain = domain
        self.rng = np.random.default_rng([seed, shard, stable_hash("journey", domain.domain, name)])
        words = list(spec.paths)
        nodes_state: list[str] = []
        node_actions: list[tuple[str, ...]] = []
        self.path_len: list[int] = []
        self.path_off: list[int] = []
        self.emissions: list[_Emission] = []
        # (path, state index, emission index) of each state entered only after an emission
        self.gates: list[tuple[int, int, int]] = []
        for p, path in enumerate(spec.paths.values()):
            self.path_off.append(len(nodes_state))
            self.path_len.append(len(path.states))
            for s, (sname, st) in enumerate(path.states.items()):
                node = len(nodes_state)
                nodes_state.append(sname)
                node_actions.append(st.actions)
                words += [sname, *st.actions]
                if st.requires is not None:
                    g = next(
                        (
                            i
                            for i, e in enumerate(self.emissions)
                            if e.path == p and st.requires in e.streams
                        ),
                        None,
                    )
                    if g is None:
                        raise DomainError(
                            f"journeys.{name}: state {sname} requires {st.requires}, which no "
                            "earlier state of its path emits"
                        )
                    self.gates.append((p, s, g))
                for e in st.emit:
                    if e.action is not None:
                        words.append(e.action)
                    self.emissions.append(_Emission(p, node, e.probability, e.streams, -1))
        words += [CLOSED, TIMEOUT]
        self.names = StrTable(tuple(dict.fromkeys(words)))
        look = self.names.lookup
        for em, action in zip(self.emissions, self._emit_specs(), strict=True):
            em.action = look[action] if action is not None else -1
        self.node_state = np.asarray([look[s] for s in nodes_state], dtype=np.int64)
        self.node_act_len = np.asarray([len(a) for a in node_actions], dtype=np.int64)
        self.node_act_off = np.cumsum([0, *self.node_act_len[:-1].tolist()]).astype(np.int64)
        flat = [look[a] for acts in node_actions for a in acts]
        self.act_names = np.asarray(flat or [-1], dtype=np.int64)
        self.any_order = np.asarray([p.order == "any" for p in spec.paths.values()])
        self.path_names = np.asarray([look[p] for p in spec.paths], dtype=np.int64)
        self.act_streams = list(spec.actions.streams) if spec.actions else []
        emitted = [s for e in self.emissions for s in e.streams]
        named = {*self.act_streams, *emitted}
        start_types = streams[spec.start].types
        self.carry: dict[str, dict[str, str]] = {}
        self.queues: dict[str, Pending] = {}
        self.sets: dict[str, set[str]] = {}
        for t in spec.streams():
            types = streams[t].types
            own = {spec.state_field} if t != spec.end else set()
            if t in named and spec.actions is not None and spec.actions.field is not None:
                own.add(spec.actions.field)
            if t == spec.leave and spec.dwell_field is not None:
                own.add(spec.dwell_field)
            if t == spec.end:
                own |= {f for f in (spec.length_field, spec.reason_field) if f is not None}
            self.sets[t] = {f for f in own if f in types}
            self.carry[t] = {
                f: f
                for f in types
                if f not in IMPLICIT and f in start_types and f not in self.sets[t]
            }
            self.queues[t] = Pending()
        # `serial`: each entity's end of its running episode; starts that wait for it
        self.busy = np.empty(0, dtype=np.int64)
        self._waiting: list[dict[str, Column]] = []
        self._params: Mapping[str, float] = {}
        if spec.serial is not None:
            self.queues[spec.start] = Pending()

    def _emit_specs(self) -> list[str | None]:
        return [
            e.action for p in self.spec.paths.values() for st in p.states.values() for e in st.emit
        ]

    def _num(self, v: float | str, params: Mapping[str, float]) -> float:
        return weight(self.domain, v, params)

    def begin(
        self, cols: Mapping[str, Column], params: Mapping[str, float]
    ) -> dict[str, Column] | None:
        """Draw the episodes of these start events and queue their events; return the
        columns of their ground-truth records (None without ``truth``)."""
        spec, rng = self.spec, self.rng
        times = cols["occurred_at"]
        assert isinstance(times, np.ndarray)
        n = len(times)
        num = self._num

        def law(v: float | str) -> float:
            return num(v, params)

        path = row_choice(rng, [num(p.weight, params) for p in spec.paths.values()], n)
        if isinstance(spec.steps, Span):
            lo = max(1, round(num(spec.steps.min, params)))
            hi = max(lo, round(num(spec.steps.max, params)))
            steps = rng.integers(lo, hi + 1, n)
        else:
            steps = np.maximum(np.floor(draw_tail(spec.steps, rng, n, law)), 1).astype(np.int64)
            lo = 1
        if spec.bounce is not None:
            steps = np.where(rng.random(n) < num(spec.bounce, params), 1, steps)
            lo = 1
        if not isinstance(spec.steps, Span) or spec.bounce is not None:
            hi = max(1, int(steps.max())) if n else 1
        if spec.budget is not None:
            b = spec.budget
            bmin, bmax = num(b.min, params), num(b.max, params)
            # a scenario that moves one end past the other gets the narrower budget
            budget = rng.uniform(min(bmin, bmax), bmax, n) * 1e3
        d = spec.dwell
        gmin, gmax = num(spec.gap.min, params), num(spec.gap.max, params)
        if isinstance(d, TailLaw):
            # the rare clip `max` keeps a dwell below the idle timeout (checked at load)
            top = spec.idle_timeout / 1e3 - gmax - 1.0
            seconds = np.minimum(draw_tail(d, rng, (n, hi), law), top)
            dwell_ms = np.maximum(np.rint(seconds * 1e3).astype(np.int64), 2)
        else:
            # a scenario that sets either to 0 gets the nearest law, not a division by zero
            shape, scale = max(num(d.shape, params), 1e-3), max(num(d.scale, params), 1e-3)
            dmin, dmax = num(d.min, params), num(d.max, params)
            # a scenario may raise the dwell: it stays below the idle timeout (checked at load
            # for the defaults), so an episode never times out half-way
            dmax = min(dmax, spec.idle_timeout / 1e3 - gmax - 1.0)
            # inverse CDF on the truncated range: a Weibull within [dmin, dmax], no atom at dmax
            top = 1.0 - np.exp(-(((dmax - dmin) / scale) ** shape))
            u = rng.random((n, hi))
            dwell = np.rint((dmin + scale * (-np.log1p(-u * top)) ** (1.0 / shape)) * 1e3)
            dwell_ms = np.maximum(dwell.astype(np.int64), 2)
        gap = np.rint(rng.uniform(gmin, gmax, (n, hi)) * 1e3).astype(np.int64)
        gap[:, 0] = 0  # the landing page opens with the episode
        close = np.cumsum(gap + dwell_ms, axis=1)
        view = close - dwell_ms
        if spec.budget is not None:
            walked = np.minimum(np.maximum((close <= budget[:, None]).sum(axis=1), lo), steps)
        else:
            walked = steps
        valid = np.arange(hi)[None, :] < walked[:, None]
        # once-per-episode emissions, drawn up front: a gated state needs its emission drawn
        probs = np.asarray([num(e.probability, params) for e in self.emissions])
        fire = rng.random((n, len(self.emissions))) < probs[None, :]
        plen = np.asarray(self.path_len, dtype=np.int64)
        cap = plen[path] - 1
        for p, s, g in self.gates:
            shut = (path == p) & ~fire[:, g]
            cap[shut] = np.minimum(cap[shut], s - 1)
        adv_p = np.asarray([num(p.advance, params) for p in spec.paths.values()])
        adv = rng.random((n, hi)) < adv_p[path][:, None]
        adv[:, 0] = False
        stage = np.minimum(np.cumsum(adv, axis=1), cap[:, None])
        drawn = (rng.random((n, hi)) * plen[path][:, None]).astype(np.int64)
        stage = np.where(self.any_order[path][:, None], drawn, stage)
        node = np.asarray(self.path_off, dtype=np.int64)[path][:, None] + stage

        ri, rj = np.nonzero(valid)
        state = TableStrings(self.names, self.node_state[node[ri, rj]])
        self._push(spec.enter, times[ri] + view[ri, rj], cols, ri, {spec.state_field: state})
        left: dict[str, Column] = {spec.state_field: state}
        if spec.dwell_field is not None:
            left[spec.dwell_field] = dwell_ms[ri, rj]
        self._push(spec.leave, times[ri] + close[ri, rj], cols, ri, left)
        self._actions(cols, params, valid, node, view, dwell_ms, times)
        self._emissions(cols, valid, node, path, fire, view, dwell_ms, times)

        last = close[np.arange(n), walked - 1]
        explicit = rng.random(n) < num(spec.end_explicit, params)
        after = rng.uniform(gmin, gmax, n) * 1e3
        end_at = times + last + np.where(explicit, np.rint(after), spec.idle_timeout)
        end_at = end_at.astype(np.int64)
        ended: dict[str, Column] = {}
        if spec.length_field is not None:
            ended[spec.length_field] = last.astype(np.int64)
        if spec.reason_field is not None:
            reason = np.where(explicit, self.names.lookup[CLOSED], self.names.lookup[TIMEOUT])
            ended[spec.reason_field] = TableStrings(self.names, reason.astype(np.int64))
        self._push(spec.end, end_at, cols, np.arange(n), ended)
        if spec.serial is not None:
            ent = self._entities(cols)
            self.busy[ent] = np.maximum(self.busy[ent], end_at)
        if not spec.truth:
            return None
        return {
            "event_id": uuid_column(rng, n),
            "occurred_at": times,
            "subject_id": cols[spec.id],
            "label": TableStrings(self.names, self.path_names[path]),
            "window_start": times,
            "window_end": end_at,
        }

    def _entities(self, cols: Mapping[str, Column]) -> Ints:
        """The `serial` entity of each start event (``busy`` grown to hold them)."""
        col = cols[self.spec.serial or ""]
        if not isinstance(col, TableStrings):
            raise DomainError(f"journey {self.name}: `serial` names no entity field")
        ent = np.maximum(col.idx, 0)
        top = int(ent.max()) + 1 if len(ent) else 0
        if top > len(self.busy):
            grown = np.full(max(top, 2 * len(self.busy)), np.iinfo(np.int64).min, np.int64)
            grown[: len(self.busy)] = self.busy
            self.busy = grown
        return ent

    def hold(self, cols: dict[str, Column], params: Mapping[str, float]) -> dict[str, Column]:
        """The start events that may begin now: one per entity, none while the entity's
        previous episode runs; the others wait (``flush`` queues them after ``begin``)."""
        times = cols["occurred_at"]
        assert isinstance(times, np.ndarray)
        ent = self._entities(cols)
        free = np.flatnonzero(self.busy[ent] <= times)
        _, first = np.unique(ent[free], return_index=True)
        go = np.zeros(len(times), dtype=np.bool_)
        go[free[first]] = True
        self._params = params
        if go.all():
            return cols
        self._waiting.append({k: take_column(c, ~go) for k, c in cols.items()})
        return {k: take_column(c, go) for k, c in cols.items()}

    def flush(self) -> None:
        """Queue the start events that wait: each at its entity's episode end plus a gap."""
        waiting, self._waiting = self._waiting, []
        for cols in waiting:
            times = cols["occurred_at"]
            assert isinstance(times, np.ndarray)
            ent = self._entities(cols)
            g, p = self.spec.gap, self._params
            gap = self.rng.uniform(self._num(g.min, p), self._num(g.max, p), len(times))
            due = np.maximum(times, self.busy[ent]) + np.rint(gap * 1e3).astype(np.int64)
            carried = {k: c for k, c in cols.items() if k != "occurred_at"}
            self.queues[self.spec.start].push(due.astype(np.int64), carried)

    def _actions(
        self,
        cols: Mapping[str, Column],
        params: Mapping[str, float],
        valid: npt.NDArray[np.bool_],
        node: Ints,
        view: Ints,
        dwell: Ints,
        times: Ints,
    ) -> None:
        """Actions of every visit: a count each, uniform instants inside the dwell."""
        a = self.spec.actions
        if a is None:
            return
        rng, num = self.rng, self._num
        lo = max(0, round(num(a.count.min, params)))
        hi = max(lo, round(num(a.count.max, params)))
        count = rng.integers(lo, hi + 1, node.shape)
        count = np.where(valid & (self.node_act_len[node] > 0), count, 0)
        flat = np.repeat(np.arange(node.size), count.ravel())
        m = len(flat)
        i, j = flat // node.shape[1], flat % node.shape[1]
        at = times[i] + view[i, j] + 1 + (rng.random(m) * (dwell[i, j] - 1)).astype(np.int64)
        pick = row_choice(rng, [num(w, params) for w in a.streams.values()], m)
        nd = node[i, j]
        k = (rng.random(m) * self.node_act_len[nd]).astype(np.int64)
        names = TableStrings(self.names, self.act_names[self.node_act_off[nd] + k])
        state = TableStrings(self.names, self.node_state[nd])
        for s, stream in enumerate(self.act_streams):
            sel = pick == s
            if sel.any():
                given = {self.spec.state_field: take_column(state, sel)}
                if a.field is not None:
                    given[a.field] = take_column(names, sel)
                self._push(stream, at[sel], cols, i[sel], given)

    def _emissions(
        self,
        cols: Mapping[str, Column],
        valid: npt.NDArray[np.bool_],
        node: Ints,
        path: Ints,
        fire: npt.NDArray[np.bool_],
        view: Ints,
        dwell: Ints,
        times: Ints,
    ) -> None:
        """Each emission at the first visit of its state, when drawn."""
        field = self.spec.actions.field if self.spec.actions is not None else None
        n = len(times)
        for g, e in enumerate(self.emissions):
            hit = valid & (node == e.node)
            first = np.argmax(hit, axis=1)
            u = self.rng.random(n)
            sel = np.flatnonzero(hit.any(axis=1) & fire[:, g] & (path == e.path))
            j = first[sel]
            at = times[sel] + view[sel, j] + 1 + (u[sel] * (dwell[sel, j] - 1)).astype(np.int64)
            state = TableStrings(self.names, self.node_state[node[sel, j]])
            for k, stream in enumerate(e.streams):
                given: dict[str, Column] = {self.spec.state_field: state}
                if field is not None and e.action >= 0:
                    given[field] = TableStrings(self.names, np.full(len(sel), e.action))
                self._push(stream, at + k, cols, sel, given)

    def _push(
        self,
        stream: str,
        due: Ints,
        cols: Mapping[str, Column],
        rows: Ints,
        given: Mapping[str, Column],
    ) -> None:
        if len(due) == 0:
            return
        carried = {dst: take_column(cols[src], rows) for dst, src in self.carry[stream].items()}
        carried |= {f: c for f, c in given.items() if f in self.sets[stream]}
        self.queues[stream].push(due.astype(np.int64), carried)


class Journeys:
    """The journeys of one shard: episodes begun by start events, their events queued."""

    def __init__(
        self,
        domain: DomainSpec,
        streams: Mapping[str, StreamRuntime],
        seed: int,
        shard: int,
        truth_types: Mapping[str, FieldType] | None,
    ) -> None:
        self.domain = domain
        self.runs = [
            _Journey(name, spec, domain, streams, seed, shard)
            for name, spec in domain.journeys.items()
        ]
        self.starts = frozenset(j.spec.start for j in self.runs)
        self.serial = frozenset(j.spec.start for j in self.runs if j.spec.serial is not None)
        self.truth_types = truth_types
        self._truth: list[dict[str, Column]] = []
        self._const = {
            "domain": StrTable((domain.domain,)),
            "kind": StrTable((TRUTH_KIND,)),
            "": StrTable(("",)),
        }

    @property
    def pending(self) -> int:
        """Journey events waiting in this shard."""
        return sum(q.size for j in self.runs for q in j.queues.values())

    def begin(self, stream: str, cols: Mapping[str, Column], params: Mapping[str, float]) -> None:
        """Episodes for the events of ``stream`` that start a journey."""
        for j in self.runs:
            if j.spec.start != stream:
                continue
            truth = j.begin(cols, params)
            if truth is not None and self.truth_types is not None:
                self._truth.append(self._truth_record(truth))

    def hold(
        self, stream: str, cols: dict[str, Column], params: Mapping[str, float]
    ) -> dict[str, Column]:
        """The events of ``stream`` that may start an episode now (``serial`` journeys make
        the others wait for their entity's running episode to end)."""
        for j in self.runs:
            if j.spec.start == stream and j.spec.serial is not None:
                cols = j.hold(cols, params)
        return cols

    def flush(self, stream: str) -> None:
        """Queue the start events of ``stream`` held back, now that their episodes began."""
        for j in self.runs:
            if j.spec.start == stream and j.spec.serial is not None:
                j.flush()

    def _truth_record(self, given: dict[str, Column]) -> dict[str, Column]:
        n = len(given["label"])
        zeros = np.zeros(n, dtype=np.int64)
        out: dict[str, Column] = {}
        for f, t in (self.truth_types or {}).items():
            if f in given:
                out[f] = given[f]
            elif t.kind == "str":
                out[f] = TableStrings(self._const.get(f, self._const[""]), zeros)
            else:
                out[f] = zeros.copy()
        return out

    def release(self, t1: int) -> Iterator[tuple[str, Ints, dict[str, Column]]]:
        """Journey events due before ``t1``, as (target stream, due times, carried columns)."""
        again = True
        while again:
            again = False
            for j in self.runs:
                for stream, queue in j.queues.items():
                    popped = queue.pop(t1)
                    if popped is not None:
                        # a start that waited may wait again, still within the tick
                        again = bool(self.serial)
                        yield stream, popped[0], popped[1]

    def take_truth(self) -> dict[str, Column] | None:
        """The ground-truth records of the episodes begun since the last call, by start time."""
        parts, self._truth = self._truth, []
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        cols = {k: concat_columns([p[k] for p in parts]) for k in parts[0]}
        times = cols["occurred_at"]
        assert isinstance(times, np.ndarray)
        order = np.argsort(times, kind="stable")
        return {k: take_column(c, order) for k, c in cols.items()}
