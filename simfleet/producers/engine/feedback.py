"""The closed loop in the engine: decisions on a tick's subject events steer the campaigns of
the ticks after it (the model: simfleet.domain.mechanisms.feedback).

After each tick the shard takes the decisions on the tick's subject events, in time order
(``ReferenceDetector``: the pack's velocity rules, in process; its state carries over ticks).
A blocked event of a campaign burns the entities of its ``burn`` fields among the campaign's
actors (``campaigns.burn``: a fresh entity replaces each), and each ring (the campaigns of one
scenario instance in this shard) moves effort between its tactics by multiplicative weights on
their recent pass rates. The effort multiplies a campaign's rates from the next tick on. Only
the feedback's own random stream (seed, shard, domain) is drawn, so the same seed and the same
decisions give the same output; every change is a ground-truth record of kind `adaptation`.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simfleet.codec.catalog import FieldType
from simfleet.columns import Column, StrTable, TableStrings, concat_columns
from simfleet.domain.mechanisms.feedback import TRUTH_KIND, FeedbackSpec, ReferenceRules
from simfleet.domain.spec import DomainSpec
from simfleet.errors import DomainError
from simfleet.producers.engine.campaigns import CampaignRun, burn
from simfleet.producers.engine.fields import as_table_strings, uuid_column, weight
from simfleet.producers.engine.label_noise import joined_truth, truth_record
from simfleet.producers.pools import EntityPool, stable_hash

__all__ = ["DECIDERS", "Decisions", "Feedback", "ReferenceDetector"]

DECIDERS = ("reference",)  # the in-process deciders a run can name
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Decisions:
    """A model's decisions given whole (a file of them): the subjects it blocked, by the
    subject's key or event id; a subject it never named passes."""

    blocked: frozenset[str]


class ReferenceDetector:
    """Velocity rules: per field, the events with the same value within a sliding window of
    sim time; the score is the largest count over its limit."""

    def __init__(self, rules: ReferenceRules) -> None:
        self.rules = rules
        self.seen: dict[str, dict[str, deque[int]]] = {f: {} for f in rules.limits}

    def decide(self, values: Mapping[str, list[str | None]], times: Sequence[int]) -> list[bool]:
        """Per event in time order, whether it is blocked."""
        window, block = self.rules.window, self.rules.block
        score = [0.0] * len(times)
        for f, limit in self.rules.limits.items():
            seen = self.seen[f]
            for i, (v, at) in enumerate(zip(values[f], times, strict=True)):
                if v is None:
                    continue
                q = seen.setdefault(v, deque())
                q.append(at)
                while q[0] <= at - window:
                    q.popleft()
                score[i] = max(score[i], min(1.0, len(q) / limit))
        if times:
            last = times[-1]
            for seen in self.seen.values():  # forget values quiet for a window
                for v in [v for v, q in seen.items() if q[-1] <= last - window]:
                    del seen[v]
        return [s >= block for s in score]


class Feedback:
    """The closed loop of one shard: the decider, the recent pass rates and the efforts."""

    def __init__(
        self,
        spec: FeedbackSpec,
        domain: DomainSpec,
        seed: int,
        shard: int,
        decider: str | Decisions,
        truth_types: Mapping[str, FieldType] | None,
    ) -> None:
        if isinstance(decider, str) and decider not in DECIDERS:
            raise DomainError(f"feedback: unknown decider {decider!r}; known: {DECIDERS}")
        self.decisions = decider if isinstance(decider, Decisions) else None
        self.spec = spec
        self.domain = domain
        self.detector = ReferenceDetector(spec.reference)
        self.rng = np.random.default_rng([seed, shard, stable_hash("feedback", domain.domain)])
        self.truth_types = truth_types
        # per (ring, tactic): attempts and passes, decayed; the log-weight of its effort
        self.attempts: dict[tuple[str, str], float] = {}
        self.passed: dict[tuple[str, str], float] = {}
        self.logw: dict[tuple[str, str], float] = {}
        self._truth: list[dict[str, Column]] = []

    def observe(
        self,
        parts: Sequence[dict[str, Column]],
        t0: int,
        t1: int,
        params: Mapping[str, float],
        runs: Mapping[str, CampaignRun],
        pool_of_table: Mapping[int, EntityPool],
    ) -> None:
        """Decide the tick's subject events, burn what was blocked, move the efforts."""
        fb = self.spec
        need = [fb.tactic, *fb.reference.limits, *fb.burn, fb.key, "event_id"]
        cols = _joined(parts, ["occurred_at", *need])
        times_arr = cols.get("occurred_at")
        n = 0 if times_arr is None else len(times_arr)
        active = {
            k: r for k, r in runs.items() if r.window.start < t1 and r.window.end > t0 and r.actors
        }
        tactic: list[str | None] = [None] * n
        blocked: list[bool] = []
        if n:
            assert isinstance(times_arr, np.ndarray)
            order = np.argsort(times_arr, kind="stable")
            times = times_arr[order].tolist()
            texts = {f: _texts(cols, f, order) for f in fb.reference.limits}
            if self.decisions is None:
                blocked = self.detector.decide(texts, times)
            else:
                said = self.decisions.blocked
                keys, ids = _texts(cols, fb.key, order), _texts(cols, "event_id", order)
                blocked = [k in said or e in said for k, e in zip(keys, ids, strict=True)]
            tactic = _texts(cols, fb.tactic, order)
            burned = self._burn(cols, order, tactic, blocked, active, pool_of_table, t1)
        else:
            burned = {}
        seen: dict[str, list[int]] = {}  # tactic -> [attempts, passed]
        for tac, b in zip(tactic, blocked, strict=True):
            if tac:
                got = seen.setdefault(tac, [0, 0])
                got[0] += 1
                got[1] += not b
        self._adapt(t0, t1, params, active, seen, burned)

    def _burn(
        self,
        cols: Mapping[str, Column],
        order: npt.NDArray[np.int64],
        tactic: list[str | None],
        blocked: list[bool],
        active: Mapping[str, CampaignRun],
        pool_of_table: Mapping[int, EntityPool],
        at: int,
    ) -> dict[str, int]:
        """Burn the entities the blocked events of each tactic used; how many, per tactic."""
        out: dict[str, int] = {}
        rows = [i for i, (t, b) in enumerate(zip(tactic, blocked, strict=True)) if t and b]
        if not rows:
            return out
        for f in self.spec.burn:
            col = cols.get(f)
            if not isinstance(col, TableStrings) or id(col.table) not in pool_of_table:
                continue  # not an entity column here: nothing to burn
            pool = pool_of_table[id(col.table)]
            ents = col.idx[order]
            for run in active.values():
                tac = run.window.campaign.pattern
                mine = np.asarray([ents[i] for i in rows if tactic[i] == tac], np.int64)
                if len(mine):
                    k = burn(run, pool, mine, at, self.rng)
                    out[tac] = out.get(tac, 0) + k
        return out

    def _adapt(
        self,
        t0: int,
        t1: int,
        params: Mapping[str, float],
        active: Mapping[str, CampaignRun],
        seen: Mapping[str, list[int]],
        burned: Mapping[str, int],
    ) -> None:
        """Decay the pass rates, fold in the tick's, move each ring's efforts."""
        decay = 0.5 ** ((t1 - t0) / self.spec.memory)
        rate = weight(self.domain, self.spec.learning_rate, params)
        hours = (t1 - t0) / HOUR_MS
        rings: dict[str, dict[str, list[CampaignRun]]] = {}
        for key, run in active.items():
            ring = key.rsplit("/", 1)[0]  # the scenario instance: <id>@<started_at>
            rings.setdefault(ring, {}).setdefault(run.window.campaign.pattern, []).append(run)
        for ring, tactics in rings.items():
            rates: dict[str, float] = {}
            for tac in tactics:
                k = (ring, tac)
                a, p = seen.get(tac, [0, 0])
                self.attempts[k] = self.attempts.get(k, 0.0) * decay + a
                self.passed[k] = self.passed.get(k, 0.0) * decay + p
                if self.attempts[k] > 0:
                    rates[tac] = self.passed[k] / self.attempts[k]
            if not rates:
                continue
            mean = sum(rates.values()) / len(rates)
            for tac, r in rates.items():
                k = (ring, tac)
                self.logw[k] = self.logw.get(k, 0.0) + rate * (r - mean) * hours
            efforts = self._efforts(ring, list(rates))
            for tac, e in efforts.items():
                for run in tactics[tac]:
                    run.effort = e
                a, p = seen.get(tac, [0, 0])
                detail = {
                    "effort": round(e, 6),
                    "pass_rate": round(rates[tac], 6),
                    "attempts": a,
                    "blocked": a - p,
                    "burned": burned.get(tac, 0),
                }
                self._record(t0, t1, ring, tac, detail)

    def _efforts(self, ring: str, tactics: list[str]) -> dict[str, float]:
        """The efforts of a ring's observed tactics: softmax of their log-weights, mean one,
        each raised to the floor before the mean is restored."""
        top = max(self.logw[(ring, t)] for t in tactics)
        w = {t: math.exp(self.logw[(ring, t)] - top) for t in tactics}
        total = sum(w.values())
        k = len(tactics)
        e = {t: max(self.spec.floor, k * v / total) for t, v in w.items()}
        scale = k / sum(e.values())
        return {t: v * scale for t, v in e.items()}

    def _record(
        self, t0: int, t1: int, ring: str, tactic: str, detail: Mapping[str, object]
    ) -> None:
        """One ground-truth record of an adaptation (at the tick's last instant)."""
        if self.truth_types is None:
            return
        one = np.zeros(1, np.int64)
        given: dict[str, Column] = {
            "event_id": uuid_column(self.rng, 1),
            "occurred_at": np.asarray([t1 - 1], np.int64),
            "subject_id": TableStrings(StrTable((ring,)), one),
            "label": TableStrings(StrTable((tactic,)), one),
            "window_start": np.asarray([t0], np.int64),
            "window_end": np.asarray([t1], np.int64),
            "detail": TableStrings(StrTable((json.dumps(detail, sort_keys=True),)), one),
        }
        consts = {
            "domain": self.domain.domain,
            "kind": TRUTH_KIND,
            "topic": self.domain.topic(self.spec.subject),
        }
        self._truth.append(truth_record(given, self.truth_types, consts))

    def take_truth(self) -> dict[str, Column] | None:
        """The adaptations since the last call."""
        parts, self._truth = self._truth, []
        return joined_truth(parts)


def _joined(parts: Sequence[dict[str, Column]], names: Sequence[str]) -> dict[str, Column]:
    """The columns ``names`` of a stream's parts, one after the other (absent ones left out)."""
    out: dict[str, Column] = {}
    for f in names:
        got = [p[f] for p in parts if f in p]
        if got and len(got) == len(parts):
            out[f] = concat_columns(got)
    return out


def _texts(cols: Mapping[str, Column], f: str, order: npt.NDArray[np.int64]) -> list[str | None]:
    """Column ``f`` as text in ``order`` (all None when the stream lacks it)."""
    col = cols.get(f)
    if col is None:
        return [None] * len(order)
    ts = as_table_strings(col)
    return ts.table.texts(ts.idx[order])
