"""The ticketing pack on `simctl generate` output, read back from its files: every stream, no
orphans, one label per attempt at the instant it becomes known, the fraud share and the one
parameter that lowers it, finite seats, the seed's personas, learnable without a giveaway, and
what each of the seven scenarios moves (and that it returns to baseline).

Generation is shared: one two-week run for the normal-traffic tests, one week-long run
without a scenario for every scenario comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, roc_auc_score
from typer.testing import CliRunner

from simfleet.cli.main import app
from simfleet.domain.pack import Project
from simfleet.producers.pools import EntityPool

pytestmark = pytest.mark.slow  # minutes of generation: started first under xdist

H = 3_600_000
DAY = 24 * H
START = "2026-03-02T00:00:00Z"
T0 = 1_772_409_600_000
SHARES = {"Standard": 0.6, "Premium": 0.3, "VIP": 0.1}
SEED = 11
SCALE = 0.6
Data = dict[str, dict[str, np.ndarray]]


def generate(out: Path, days: int, scale: float, *extra: str) -> Path:
    """`simctl generate` of the ticketing domain into ``out``."""
    args = ["generate", "--domain", "ticketing", "--start", START, "--duration", f"{days}d"]
    args += ["--out", str(out), "--seed", str(SEED), "--scale", str(scale), "--shards", "4"]
    args += list(extra)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return out


def read(folder: Path, streams: list[str] | None = None) -> Data:
    """Each file's records as columns (all fields as arrays)."""
    out: Data = {}
    for path in sorted(folder.glob("ticketing.*.jsonl")):
        name = path.name.removeprefix("ticketing.").removesuffix(".jsonl")
        if streams is not None and name not in streams:
            continue
        with path.open() as fh:
            rows = [json.loads(line) for line in fh]
        keys = list(rows[0]) if rows else []
        out[name] = {k: np.asarray([r.get(k) for r in rows]) for k in keys}
    return out


@pytest.fixture(scope="module")
def two_weeks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two weeks of normal traffic with every label, however late: generated once."""
    return generate(tmp_path_factory.mktemp("tk2w"), 14, SCALE, "--labels-until", "all")


@pytest.fixture(scope="module")
def two_weeks(two_weeks_dir: Path) -> Data:
    """Its records as columns; logins (the largest file, which only the first test reads) are
    left out, since parsing JSON lines is most of a test's time."""
    names = [p.name.removeprefix("ticketing.").removesuffix(".jsonl") for p in
             two_weeks_dir.glob("ticketing.*.jsonl")]  # fmt: skip
    return read(two_weeks_dir, [n for n in names if n != "auth.login"])


def _y(data: Data) -> tuple[dict[str, Any], np.ndarray]:
    pay, lab = data["payment.attempted"], data["labels"]
    fraud = dict(zip(lab["transaction_id"], lab["is_fraud"], strict=True))
    return pay, np.asarray([fraud[t] for t in pay["transaction_id"]], dtype=bool)


# -- streams, orphans, labels --------------------------------------------------------------


def test_every_stream_has_its_schema_and_produces_in_the_first_week(two_weeks_dir: Path) -> None:
    """Each stream of the pack has a schema and events in the first seven days (a file's
    records are in time order: its first one is its earliest)."""
    spec = Project().spec("ticketing")
    schemas = Project().schemas()
    for name in spec.streams:
        assert spec.topic(name) in schemas
        with (two_weeks_dir / f"{spec.topic(name)}.jsonl").open() as fh:
            first = fh.readline()
        assert first, name
        assert T0 <= json.loads(first)["occurred_at"] < T0 + 7 * DAY, name


def test_no_orphans(two_weeks: Data) -> None:
    """Every payment has its cart (same user and show, earlier) and an announced show;
    every label, chargeback, outcome and order has its transaction."""
    pay, carts = two_weeks["payment.attempted"], two_weeks["cart.item_added"]
    cart_of = {c: (u, s, t) for c, u, s, t in zip(*(carts[k] for k in (
        "cart_id", "user_id", "show_id", "occurred_at")), strict=True)}  # fmt: skip
    shows = set(two_weeks["show.announced"]["show_id"])
    keys = ("cart_id", "user_id", "show_id", "occurred_at")
    for c, u, s, t in zip(*(pay[k] for k in keys), strict=True):
        cu, cs, ct = cart_of[c]
        assert (cu, cs) == (u, s) and ct <= t
        assert s in shows
    txs = set(pay["transaction_id"])
    for name in ("labels", "chargeback.filed", "payment.authorized", "payment.declined"):
        assert set(two_weeks[name]["transaction_id"]) <= txs, name
    orders = two_weeks["order.completed"]
    assert set(orders["transaction_id"]) <= set(two_weeks["payment.authorized"]["transaction_id"])
    assert np.all(pay["card_id"] != None)  # noqa: E711  (every attempt names its card)


def test_exactly_one_label_per_attempt_published_when_known(two_weeks: Data) -> None:
    """One label per attempt, naming its event; stamped after it by the documented laws:
    declines 1-3 days, chargebacks lognormal (median 1-4 weeks, within 1-120 days), legitimate
    authorizations when the 120-day dispute window closes."""
    pay, lab = two_weeks["payment.attempted"], two_weeks["labels"]
    assert sorted(lab["transaction_id"]) == sorted(pay["transaction_id"])
    ev = dict(zip(pay["transaction_id"], pay["event_id"], strict=True))
    at = dict(zip(pay["transaction_id"], pay["occurred_at"], strict=True))
    assert all(
        ev[t] == e for t, e in zip(lab["transaction_id"], lab["subject_event_id"], strict=True)
    )
    assert all(
        at[t] == o
        for t, o in zip(lab["transaction_id"], lab["transaction_occurred_at"], strict=True)
    )
    waited = (lab["occurred_at"] - lab["transaction_occurred_at"]) / DAY
    src = lab["label_source"]
    dec, cb, win = (
        waited[src == "decline_report"],
        waited[src == "chargeback"],
        waited[src == "dispute_window_closed"],
    )
    assert dec.min() >= 1 and dec.max() <= 3 + 1e-3 and 1.8 < np.median(dec) < 2.2
    assert cb.min() >= 1 and cb.max() <= 120 + 1e-3 and 7 < np.median(cb) < 28
    assert np.allclose(win, 120, atol=1e-3)
    assert lab["is_fraud"][src == "chargeback"].all()
    assert not lab["is_fraud"][src == "dispute_window_closed"].any()
    # no feature topic carries the label or anything derived from it
    for name, cols in two_weeks.items():
        if name != "labels":
            assert not {"is_fraud", "persona", "is_bot", "pattern", "risk_score"} & set(cols)


def test_fraud_share_of_attempts_in_normal_traffic(two_weeks: Data) -> None:
    """0.5-3 % of payment attempts (1.5 % by the pack's arithmetic)."""
    _, y = _y(two_weeks)
    assert 0.010 < y.mean() < 0.022


def test_one_parameter_brings_fraud_down_to_a_tenth_of_a_percent(tmp_path: Path) -> None:
    """fraud.activity 0.33 (set by a scenario file for the whole run): about 0.1 %."""
    path = tmp_path / "rare-fraud.yaml"
    path.write_text(
        "id: rare-fraud\nname: Rare fraud\ndescription: Fraudsters are rare.\n"
        "domain: ticketing\nphases:\n  - name: all\n    duration: 30d\n    modifiers:\n"
        "      - {target: ticketing.fraud.activity, op: set, value: 0.33}\n"
    )
    out = generate(tmp_path / "o", 5, 0.5, "--scenario", str(path), "--scenario-at", START,
                   "--labels-until", "all")  # fmt: skip
    _, y = _y(read(out, ["payment.attempted", "labels"]))
    assert 0.0004 < y.mean() < 0.002


# -- seats -------------------------------------------------------------------------------------


def test_seats_never_below_zero_and_some_show_sells_out(two_weeks: Data) -> None:
    """Every inventory event: remaining >= 0 and sold + remaining = the tier's share of the
    capacity; orders of a tier never exceed it; some tier sells out."""
    inv, shows = two_weeks["inventory.changed"], two_weeks["show.announced"]
    cap = dict(zip(shows["show_id"], shows["capacity"], strict=True))
    assert inv["remaining"].min() >= 0
    total = np.asarray(
        [
            int(np.floor(cap[s] * SHARES[t]))
            for s, t in zip(inv["show_id"], inv["tier"], strict=True)
        ]
    )
    assert np.array_equal(inv["sold"] + inv["remaining"], total)
    orders = two_weeks["order.completed"]
    bought: dict[tuple[str, str], int] = {}
    for s, t, q in zip(orders["show_id"], orders["tier"], orders["quantity"], strict=True):
        bought[(s, t)] = bought.get((s, t), 0) + int(q)
    assert all(q <= int(np.floor(cap[s] * SHARES[t])) for (s, t), q in bought.items())
    assert np.sum(inv["remaining"] == 0) > 0


# -- popularity and openings -----------------------------------------------------------------


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (no ties to speak of in these columns)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_popularity_is_a_power_law_that_carts_capacity_and_prices_follow(two_weeks: Data) -> None:
    """Popularity's tail is heavy (Hill estimate of its index on the top 10 % near the pack's
    1.1; a uniform draw gives about 10); the top 5 % of shows take about 28 % of the cart
    adds (capped by their sell-outs); capacity and Standard prices rise with it (Spearman
    0.43 and 0.70 here; figures: `bench/ticketing_figures.py`)."""
    shows, carts = two_weeks["show.announced"], two_weeks["cart.item_added"]
    pop = shows["popularity"].astype(float)
    top = np.sort(pop)[::-1]
    k = len(top) // 10
    hill = 1 / np.mean(np.log(top[:k] / top[k]))
    assert 0.8 < hill < 1.5, hill
    of_show = {s: i for i, s in enumerate(shows["show_id"])}
    adds = np.bincount([of_show[s] for s in carts["show_id"]], minlength=len(pop))
    share = adds[np.argsort(-pop)[: len(pop) // 20]].sum() / adds.sum()
    assert 0.15 < share < 0.45, share
    assert 0.3 < _spearman(shows["capacity"].astype(float), pop) < 0.6
    std = carts["tier"] == "Standard"
    price = np.zeros(len(pop))
    np.add.at(price, [of_show[s] for s in carts["show_id"][std]], carts["unit_price"][std])
    n = np.bincount([of_show[s] for s in carts["show_id"][std]], minlength=len(pop))
    sold = n >= 20
    assert 0.5 < _spearman(price[sold] / n[sold], pop[sold]) < 0.9


def test_sales_cluster_just_after_the_openings(two_weeks: Data) -> None:
    """No cart adds a show before its presale or once it has started; in the 24 h after its
    general sale a show takes carts about ten times as fast as two days later (a flat rate
    gives 1), and after its presale several times as fast (shows whose openings fall in the
    run, with time left after them, none sold out)."""
    shows, carts = two_weeks["show.announced"], two_weeks["cart.item_added"]
    inv = two_weeks["inventory.changed"]
    of_show = {s: i for i, s in enumerate(shows["show_id"])}
    idx = np.asarray([of_show[s] for s in carts["show_id"]])
    t = carts["occurred_at"].astype(np.int64)
    presale, general, starts = (shows[k].astype(np.int64) for k in (
        "presale_at", "general_sale_at", "starts_at"))  # fmt: skip
    assert np.all(t >= presale[idx]) and np.all(t < starts[idx])
    end = T0 + 14 * DAY
    open_ = ~np.isin(shows["show_id"], inv["show_id"][inv["remaining"] == 0])

    def burst(opened: np.ndarray) -> float:
        """Carts per hour in the first 24 h after ``opened`` over those from 2 days after the
        general sale on, pooled over the shows that qualify."""
        ok = open_ & (opened >= T0) & (general + 3 * DAY <= end)
        first = np.bincount(idx[(t >= opened[idx]) & (t < opened[idx] + DAY)], minlength=len(ok))
        late = np.bincount(idx[t >= general[idx] + 2 * DAY], minlength=len(ok))
        hours = (end - general - 2 * DAY) / H
        assert ok.sum() > 100, ok.sum()
        return float((first[ok] / 24).sum() / (late[ok] / hours[ok]).sum())

    assert 6 < burst(general) < 20
    assert 3 < burst(presale) < 15


# -- personas ---------------------------------------------------------------------------------


def _persona_of_user() -> dict[str, str]:
    """Every user's persona, as the pools of the run drew them (the seed's truth)."""
    spec = Project().spec("ticketing")
    out: dict[str, str] = {}
    for shard in range(4):
        pool = EntityPool("user", spec.entities["user"], shard, 4, SEED, SCALE, "ticketing")
        table, codes = pool.attributes["persona"]
        out.update(zip(pool.ids.values, (table.values[c] for c in codes), strict=True))
    return out


def test_persona_behaviour_matches_the_seed(two_weeks: Data) -> None:
    """Cart abandonment and tickets per purchase (mean, sd 30 %) by persona, within
    tolerance; payment mix 60/25/15."""
    persona = _persona_of_user()
    carts, gone = two_weeks["cart.item_added"], two_weeks["cart.abandoned"]
    abandoned = set(gone["cart_id"])
    who = np.asarray([persona.get(u, "?") for u in carts["user_id"]])
    early = carts["occurred_at"] < T0 + 13 * DAY  # their fate is known within the run
    seed = {"casual": (0.4, 2), "enthusiast": (0.2, 3.5), "vip": (0.1, 5), "scalper": (0.05, 8)}
    for p, (rate, tickets) in seed.items():
        sel = (who == p) & early
        assert sel.sum() > 500, p
        share = np.mean([c in abandoned for c in carts["cart_id"][sel]])
        assert abs(share - rate) < 0.03, (p, share)
        q = carts["quantity"][sel].astype(float)
        assert abs(q.mean() / tickets - 1) < 0.08, (p, q.mean())
        if tickets >= 3.5:
            assert 0.22 < q.std() / q.mean() < 0.36, (p, q.std() / q.mean())
    method = two_weeks["payment.attempted"]["payment_method"]
    for m, share in {"card": 0.60, "wallet": 0.25, "bank_transfer": 0.15}.items():
        assert abs(np.mean(method == m) - share) < 0.015


# -- learnable, no giveaway ------------------------------------------------------------------

IDS = ("event_id", "transaction_id", "user_id", "card_id", "cart_id", "show_id", "device_id")


def _velocity(keys: np.ndarray, t: np.ndarray, window: int) -> np.ndarray:
    """Per event, the events of the same key in the window before it (a consumer's count)."""
    _, k = np.unique(keys, return_inverse=True)
    order = np.lexsort((t, k))
    comb = k[order].astype(np.int64) * (1 << 42) + t[order]
    lo = np.searchsorted(comb, comb - window, side="left")
    out = np.empty(len(t))
    out[order] = np.arange(len(comb)) - lo
    return out


def test_no_single_field_separates_fraud(two_weeks: Data) -> None:
    """ROC AUC of each non-id field of payment.attempted: numbers as they are, categories by
    their fraud rate in the first week scored on the second (an id names an entity)."""
    pay, y = _y(two_weeks)
    t = pay["occurred_at"]
    first = t < T0 + 7 * DAY
    for name, col in pay.items():
        if name in IDS or name == "occurred_at":
            continue
        if col.dtype.kind in "if":
            auc = roc_auc_score(y, col.astype(float))
        else:
            _, inv = np.unique(col, return_inverse=True)
            n = np.bincount(inv[first], minlength=inv.max() + 1)
            rate = np.bincount(inv[first], weights=y[first], minlength=len(n)) / np.maximum(n, 1)
            auc = roc_auc_score(y[~first], rate[inv[~first]])
        assert max(auc, 1 - auc) < 0.9, (name, auc)


def test_a_model_on_consumer_features_learns_but_does_not_cheat(two_weeks: Data) -> None:
    """Gradient boosting on amount, quantity, unit price, geo mismatch, card / device / IP /
    user velocity, tier, method and hour, trained on week one: on week two its PR-AUC is at
    least 5x the base rate and below 0.99."""
    pay, y = _y(two_weeks)
    t = pay["occurred_at"].astype(np.int64)
    cat = [np.unique(pay[k], return_inverse=True)[1] for k in ("tier", "payment_method")]
    x = np.column_stack(
        [
            pay["amount"].astype(float),
            pay["quantity"].astype(float),
            pay["unit_price"].astype(float),
            (pay["ip_country"] != pay["billing_country"]).astype(float),
            _velocity(pay["card_id"], t, H),
            _velocity(pay["card_id"], t, DAY),
            _velocity(pay["device_id"], t, H),
            _velocity(pay["ip_address"], t, H),
            _velocity(pay["user_id"], t, DAY),
            *cat,
            (t // H) % 24,
        ]
    )
    first = t < T0 + 7 * DAY
    model = HistGradientBoostingClassifier(max_iter=150, random_state=0).fit(x[first], y[first])
    ap = average_precision_score(y[~first], model.predict_proba(x[~first])[:, 1])
    base = y[~first].mean()
    assert 5 * base <= ap < 0.99, (ap, base)


# -- scenarios -------------------------------------------------------------------------------

SC_SCALE = 0.3
BASE_DAYS = 7  # the run without a scenario: as long as the longest run with one
AT = T0 + 40 * H  # 16:00 UTC on day two: shows and carts in their stride, an evening peak
STREAMS = [
    "cart.item_added",
    "payment.attempted",
    "payment.declined",
    "auth.login",
    "inventory.changed",
    "labels",
    "chargeback.filed",
    "ground_truth",
]


class Runs:
    """Runs of the same seed with one scenario or none, made once each. The run without one
    is made once, a week long with every label, and serves every comparison: generation does
    not depend on the window's end, so its first days are those of a shorter run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: dict[tuple[str, int, bool], Data] = {}

    def get(self, scenario: str | None, days: int = 3, labels: bool = False) -> Data:
        if scenario is None:
            days, labels = BASE_DAYS, True
        key = (scenario or "-", days, labels)
        if key not in self.made:
            extra: list[str] = ["--labels-until", "all"] if labels else []
            if scenario is not None:
                at = "2026-03-03T16:00:00Z"
                extra += ["--scenario", scenario, "--scenario-at", at]
                if scenario == "ab-test":
                    extra += ["--scenario-stop-at", "2026-03-04T08:00:00Z"]
            out = generate(self.root / "-".join(map(str, key)), days, SC_SCALE, *extra)
            self.made[key] = read(out, STREAMS) | {"_dir": {"path": np.asarray([str(out)])}}
        return self.made[key]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """The scenario runs of this module."""
    return Runs(tmp_path_factory.mktemp("tksc"))


def count(data: Data, stream: str, lo: int, hi: int) -> int:
    """Events of a stream in [lo, hi)."""
    t = data[stream]["occurred_at"]
    return int(np.sum((t >= lo) & (t < hi)))


def test_normal_traffic_moves_nothing(runs: Runs) -> None:
    """ticketing-normal: every event of the run equals the run without it."""
    base, scen = runs.get(None), runs.get("ticketing-normal")
    for stream in ("cart.item_added", "payment.attempted", "auth.login", "inventory.changed"):
        same = base[stream]["occurred_at"] < T0 + 3 * DAY  # the window of the run with it
        assert np.array_equal(base[stream]["event_id"][same], scen[stream]["event_id"]), stream


def test_flash_sale_surges_with_bots_and_sells_out_within_the_hour(runs: Runs) -> None:
    """Carts reach 10-20x within 5 minutes; a show that was not sold out sells out every tier
    within the hour; an hour after the settle, carts are back near the baseline."""
    base, scen = runs.get(None), runs.get("flash-sale")
    b = count(base, "cart.item_added", AT + 5 * 60_000, AT + H)
    s = count(scen, "cart.item_added", AT + 5 * 60_000, AT + H)
    assert 10 <= s / b <= 22, s / b
    inv = scen["inventory.changed"]
    sold_out_at: dict[str, dict[str, int]] = {}
    cols = (inv["show_id"], inv["tier"], inv["remaining"], inv["occurred_at"])
    for sh, tier, left, t in zip(*cols, strict=True):
        if left == 0:
            sold_out_at.setdefault(sh, {}).setdefault(tier, int(t))
    whole = [max(v.values()) for v in sold_out_at.values() if len(v) == 3]
    assert any(AT <= t < AT + H for t in whole)
    after = (AT + 4 * H, AT + 10 * H)
    b, s = count(base, "cart.item_added", *after), count(scen, "cart.item_added", *after)
    assert abs(s / b - 1) < 0.2, s / b


def test_fraud_attack_adds_a_thousand_labelled_fraud_attempts(runs: Runs) -> None:
    """1,000+ more payment attempts labelled fraud, of the campaigns' patterns; logins burst;
    after the six hours, attempts are back at the baseline."""
    base, scen = runs.get(None), runs.get("fraud-attack", labels=True)

    def frauds(data: Data) -> int:
        lab = data["labels"]  # of the attempts in the three days of the run with the scenario
        return int(lab["is_fraud"][lab["transaction_occurred_at"] < T0 + 3 * DAY].sum())

    extra = frauds(scen) - frauds(base)
    assert extra >= 1000, extra
    patterns = set(scen["labels"]["pattern"][scen["labels"]["is_fraud"]])
    assert {"card_testing", "bot_scalping", "account_takeover"} <= patterns
    assert count(scen, "auth.login", AT, AT + 6 * H) > 2 * count(base, "auth.login", AT, AT + 6 * H)
    after = (AT + 8 * H, AT + 32 * H)
    b, s = count(base, "payment.attempted", *after), count(scen, "payment.attempted", *after)
    assert abs(s / b - 1) < 0.1, s / b
    truth = scen["ground_truth"]
    assert sorted(truth["label"][truth["kind"] == "campaign"]) == sorted(
        ["credential_stuffing", "card_testing", "bot_scalping", "account_takeover"]
    )


def test_account_takeover_is_labelled_at_its_chargeback(runs: Runs) -> None:
    """The takeover campaign's authorized payments (tag `pattern` carried along the chain)
    are charged back and labelled then, 1-120 days later, not when the dispute window closes;
    its declined ones are labelled at the decline report."""
    scen = runs.get("fraud-attack", labels=True)
    lab = scen["labels"]
    ato = lab["pattern"] == "account_takeover"
    src = lab["label_source"][ato]
    assert set(src) <= {"chargeback", "decline_report"}, set(src)
    cb = src == "chargeback"
    charged = lab["transaction_id"][ato][cb]
    assert len(charged) > 50, len(charged)  # none if the chain could not read the tag
    assert lab["is_fraud"][ato].all()
    waited = (lab["occurred_at"] - lab["transaction_occurred_at"])[ato][cb] / DAY
    assert waited.min() >= 1 and waited.max() <= 120 + 1e-3 and 7 < np.median(waited) < 28


def test_system_degradation_declines_with_gateway_codes_and_recovers(runs: Runs) -> None:
    """Declines x3 and mostly processing_error / issuer_unavailable; retries raise attempts;
    hours after the backlog, declines are back near the baseline."""
    base, scen = runs.get(None), runs.get("system-degradation")
    during = (AT + H, AT + 3 * H)
    assert count(scen, "payment.declined", *during) > 3 * count(base, "payment.declined", *during)
    assert count(scen, "payment.attempted", *during) > count(base, "payment.attempted", *during)

    def gateway_share(data: Data) -> float:
        d = data["payment.declined"]
        sel = (d["occurred_at"] >= during[0]) & (d["occurred_at"] < during[1])
        return float(
            np.isin(d["decline_code"][sel], ["processing_error", "issuer_unavailable"]).mean()
        )

    assert gateway_share(scen) > 0.5 and gateway_share(base) < 0.25
    after = (AT + 6 * H, AT + 32 * H)
    b, s = count(base, "payment.declined", *after), count(scen, "payment.declined", *after)
    assert abs(s / b - 1) < 0.25, s / b


def test_ab_test_lifts_conversion_and_only_ground_truth_knows_the_group(runs: Runs) -> None:
    """The treatment's carts add 10 %+ while it runs, nothing after it; ground truth holds the
    campaign (2,000 users) and no feature names a variant."""
    base, scen = runs.get(None), runs.get("ab-test")
    during, after = (AT, AT + 16 * H), (AT + 17 * H, AT + 32 * H)
    b, s = count(base, "cart.item_added", *during), count(scen, "cart.item_added", *during)
    assert s / b - 1 > 0.08, s / b
    b, s = count(base, "cart.item_added", *after), count(scen, "cart.item_added", *after)
    assert abs(s / b - 1) < 0.05, s / b
    truth = scen["ground_truth"]
    rec = truth["detail"][truth["kind"] == "campaign"]
    assert len(rec) == 1 and json.loads(rec[0])["actors"] == {"user": 2000}
    assert all("variant" not in cols for cols in scen.values())


def test_black_friday_multiplies_load_with_discounts_and_returns(runs: Runs) -> None:
    """Carts x3+ across the day at about 70 % of the usual prices. In the day after its
    settle, logins are back within 10 % of the baseline, and so are carts and payment
    attempts for the shows that sold out in neither run: the seats the day sold stay sold
    (stock is finite), so its sold-out shows take no more carts."""
    base, scen = runs.get(None), runs.get("black-friday", days=4)
    during = (AT + 2 * H, AT + DAY)
    b, s = count(base, "cart.item_added", *during), count(scen, "cart.item_added", *during)
    assert s / b > 3, s / b

    def price(data: Data) -> float:
        c = data["cart.item_added"]
        sel = (
            (c["occurred_at"] >= during[0])
            & (c["occurred_at"] < during[1])
            & (c["tier"] == "Standard")
        )
        return float(np.median(c["unit_price"][sel]))

    assert 0.65 < price(scen) / price(base) < 0.75
    after = (AT + 32 * H, AT + 56 * H)  # the phase and its settle end at AT + 30 h
    b, s = count(base, "auth.login", *after), count(scen, "auth.login", *after)
    assert abs(s / b - 1) < 0.1, ("auth.login", s / b)

    def sold_out(data: Data) -> set[str]:
        inv = data["inventory.changed"]
        gone = (inv["remaining"] == 0) & (inv["occurred_at"] < after[1])
        return set(inv["show_id"][gone])

    closed = list(sold_out(base) | sold_out(scen))
    assert len(sold_out(scen)) > len(sold_out(base))  # the day sold out shows

    def to_open_shows(data: Data, stream: str) -> int:
        e = data[stream]
        t = e["occurred_at"]
        return int(np.sum((t >= after[0]) & (t < after[1]) & ~np.isin(e["show_id"], closed)))

    for stream in ("cart.item_added", "payment.attempted"):
        b, s = to_open_shows(base, stream), to_open_shows(scen, stream)
        assert b > 1000 and abs(s / b - 1) < 0.1, (stream, b, s / b)


def test_gradual_drift_shifts_prices_and_publishes_its_manifest(runs: Runs) -> None:
    """Over a week Standard prices creep up (about +5 % by day seven of 28); the manifest is
    on ground truth (kind drift) and in drift_manifest.json."""
    base, scen = runs.get(None), runs.get("gradual-drift", days=7)

    def log_prices(data: Data, lo: int, hi: int) -> dict[str, list[float]]:
        """Standard unit prices by show: the drift moves the price of a show's seats, while
        the persona drift also moves which shows sell out and so the mix of shows."""
        c = data["cart.item_added"]
        sel = (c["occurred_at"] >= lo) & (c["occurred_at"] < hi) & (c["tier"] == "Standard")
        out: dict[str, list[float]] = {}
        for show, p in zip(c["show_id"][sel], c["unit_price"][sel], strict=True):
            out.setdefault(str(show), []).append(float(np.log(p)))
        return out

    late = (T0 + 6 * DAY, T0 + 7 * DAY)
    a, b = log_prices(scen, *late), log_prices(base, *late)
    both = [s for s in a if len(a[s]) >= 5 and len(b.get(s, ())) >= 5]
    weights = np.array([min(len(a[s]), len(b[s])) for s in both], dtype=float)
    shifts = np.array([np.mean(a[s]) - np.mean(b[s]) for s in both])
    assert len(both) >= 20 and weights.sum() >= 500, (len(both), weights.sum())
    # by day seven the 28-day ramp to x1.25 has moved prices by about 5-6 %
    assert np.exp(np.average(shifts, weights=weights)) > 1.025
    truth = scen["ground_truth"]
    drift = truth["detail"][truth["kind"] == "drift"]
    assert len(drift) == 1 and json.loads(drift[0])["type"] == "gradual"
    manifest = json.loads((Path(str(scen["_dir"]["path"][0])) / "drift_manifest.json").read_text())
    assert (
        manifest[0]["width"] == 28 * DAY
        and "ticketing.cart.item_added.unit_price" in manifest[0]["features"]
    )
