"""`simctl fit` and `simctl init`: a pack from a recording or from schemas.

The parameter-recovery test writes JSON lines from a process that is not simfleet (numpy
below), fits them, generates over the same span and checks what the issue asks: total rate,
hour-of-week shape, a categorical mix, a lognormal field's deciles, a follow-up's probability
and median delay (fitted with censoring), and the skew of customers.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pytest
from typer.testing import CliRunner

from simfleet.cli.main import app
from simfleet.fit.entities import top_share
from simfleet.fit.rates import how_counts
from simfleet.fit.source import read_source
from simfleet.timeutil import parse_instant_ms

START = "2026-03-02T00:00:00Z"  # a Monday
T0 = parse_instant_ms(START)
DAY = 86_400_000
SECRET = "zq-planted-7f3a9c-unique"
DIURNAL = 0.3 + 1.7 * np.exp(-0.5 * ((np.arange(24) - 15) / 4.0) ** 2)
WEEKLY = np.array([1.0, 1.0, 1.05, 1.1, 1.3, 0.8, 0.7])
CHANNELS = (["web", "app", "store", "phone"], [0.5, 0.3, 0.15, 0.05])
P_SHIP, SHIP_MEDIAN_MS, SHIP_SIGMA = 0.88, 3 * 3_600_000, 0.7


def _process(folder: Path, days: int, per_s: float, seed: int = 7) -> None:
    """Orders (hour-of-week profile, channel mix, lognormal amounts, gamma-skewed customers)
    and shipments of 88 % of them after a lognormal delay, keyed by the order id; the
    shipments due after the window are not written (the recording ends)."""
    rng = np.random.default_rng(seed)
    act = rng.gamma(0.6, 1.0, 3000)
    act /= act.sum()
    orders: list[dict[str, Any]] = []
    ships: list[dict[str, Any]] = []
    end = T0 + days * DAY
    for h in range(days * 24):
        lam = (
            per_s * 3600 * DIURNAL[h % 24] / DIURNAL.mean() * WEEKLY[(h // 24) % 7] / WEEKLY.mean()
        )
        for t in np.sort(rng.integers(0, 3_600_000, rng.poisson(lam))) + T0 + h * 3_600_000:
            oid = f"ord_{len(orders):07d}"
            orders.append({
                "ts": int(t), "order_id": oid,
                "customer_id": f"cus_{rng.choice(3000, p=act):05d}",
                "channel": str(rng.choice(CHANNELS[0], p=CHANNELS[1])),
                "amount": round(float(rng.lognormal(3.5, 0.6)), 2),
                "note": f"call me back about {rng.integers(1_000_000)} please",
            })  # fmt: skip
            if rng.random() < P_SHIP:
                due = t + rng.lognormal(np.log(SHIP_MEDIAN_MS), SHIP_SIGMA)
                if due < end:
                    ships.append(
                        {
                            "ts": int(due),
                            "order_id": oid,
                            "carrier": str(rng.choice(["ups", "dhl"])),
                        }
                    )
    # a unique value planted in a free-text field, a categorical field and an id
    orders[len(orders) // 2].update(note=f"my secret {SECRET}", channel=SECRET, customer_id=SECRET)
    ships.sort(key=lambda r: r["ts"])
    folder.mkdir(parents=True)
    for name, rows in (("orders", orders), ("shipments", ships)):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _cli(*args: str) -> str:
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def _fit_and_generate(tmp: Path, days: int, per_s: float, domain: str) -> tuple[Path, Path, Path]:
    src, pack, gen = tmp / "src", tmp / "pack", tmp / "gen"
    _process(src, days, per_s)
    _cli("fit", str(src), "--domain", domain, "--out", str(pack))
    _cli("generate", "--pack-dir", str(pack), "--domain", domain, "--start", START,
         "--duration", f"{days}d", "--out", str(gen), "--no-external-events")  # fmt: skip
    return src, pack, gen


def _rows(folder: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (folder / f"{name}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Two days of the process fitted into domain `shop2` and generated again."""
    return _fit_and_generate(tmp_path_factory.mktemp("small"), 2, 0.02, "shop2")


def test_no_recorded_id_or_free_text_reaches_the_pack(small: tuple[Path, Path, Path]) -> None:
    """The planted string (free text, a category seen once, an id) is in no written file;
    categorical values are kept only when seen 5 times; free text is made up."""
    src, pack, _ = small
    assert SECRET in (src / "orders.jsonl").read_text()
    for p in pack.rglob("*"):
        if p.is_file():
            text = p.read_text()
            assert SECRET not in text, p
            assert "ord_0" not in text and "cus_0" not in text, p
            assert "call me back" not in text, p
    doc = (pack / "producers" / "shop2" / "streams.yaml").read_text()
    assert "channel:" in doc and "other" in doc  # the planted category became `other`


def test_a_scenario_moves_the_fitted_rates(small: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """The written surge scenario triples `shop2.orders.rate` for two hours: the generated
    orders in that window rise, and the follow-ups with them."""
    _, pack, gen = small
    surged = tmp_path / "surged"
    _cli("generate", "--pack-dir", str(pack), "--domain", "shop2", "--start", START,
         "--duration", "2d", "--out", str(surged), "--no-external-events",
         "--scenario", "shop2-surge", "--scenario-at", "2026-03-02T12:00:00Z")  # fmt: skip
    lo, hi = T0 + 12 * 3_600_000 + 600_000, T0 + 14 * 3_600_000

    def inside(folder: Path) -> int:
        return sum(lo <= r["occurred_at"] < hi for r in _rows(folder, "shop2.orders"))

    assert inside(surged) > 2.3 * inside(gen)


def test_fit_report_and_schemas_are_written(small: tuple[Path, Path, Path]) -> None:
    """The report names each stream's laws and the chain; the inferred schema has the
    source's fields plus event_id and occurred_at; the normal scenario exists."""
    _, pack, _ = small
    report = json.loads((pack / "fit-report.json").read_text())
    assert report["streams"]["shipments"]["follows"]["parent"] == "orders"
    assert report["streams"]["orders"]["fields"]["amount"]["law"] == "lognormal"
    assert (pack / "fit-report.html").is_file()
    schema = json.loads((pack / "schemas" / "shop2" / "orders.avsc").read_text())
    names = [f["name"] for f in schema["fields"]]
    assert names[:2] == ["event_id", "occurred_at"] and {"ts", "amount", "note"} <= set(names)
    assert (pack / "scenarios" / "shop2" / "shop2-normal.yaml").is_file()


@pytest.mark.slow
def test_parameter_recovery(tmp_path: Path) -> None:
    """Fit then generate over the same two weeks: rate, shape, mix, law, chain and skew."""
    src, _, gen = _fit_and_generate(tmp_path, 14, 0.03, "shop")
    a, b = _rows(src, "orders"), _rows(gen, "shop.orders")
    assert abs(len(b) / len(a) - 1) <= 0.10
    ca, ea = how_counts(np.array([r["ts"] for r in a]), T0, T0 + 14 * DAY)
    cb, _ = how_counts(np.array([r["occurred_at"] for r in b]), T0, T0 + 14 * DAY)
    assert np.corrcoef(ca / ea, cb / ea)[0, 1] >= 0.9
    ma, mb = Counter(r["channel"] for r in a), Counter(r["channel"] for r in b)
    tv = 0.5 * sum(abs(ma[k] / len(a) - mb[k] / len(b)) for k in set(ma) | set(mb))
    assert tv <= 0.05
    qs = np.linspace(0.1, 0.9, 9)
    da = np.quantile([r["amount"] for r in a], qs)
    db = np.quantile([r["amount"] for r in b], qs)
    assert np.all(np.abs(db / da - 1) <= 0.10)
    # the follow-up, on orders watched long enough (a day: beyond the delay law's 99.9 %)
    ships = {r["order_id"]: r["occurred_at"] for r in _rows(gen, "shop.shipments")}
    old = [r for r in b if r["occurred_at"] < T0 + 13 * DAY]
    delays = [ships[r["order_id"]] - r["occurred_at"] for r in old if r["order_id"] in ships]
    assert abs(len(delays) / len(old) - P_SHIP) <= 0.04
    assert abs(np.median(delays) / SHIP_MEDIAN_MS - 1) <= 0.15
    sa = top_share(np.array(list(Counter(r["customer_id"] for r in a).values())))
    sb = top_share(np.array(list(Counter(r["customer_id"] for r in b).values())))
    assert abs(sa - sb) <= 0.08


@pytest.mark.slow
def test_a_marketplace_generate_folder_round_trips(tmp_path: Path) -> None:
    """Two days of marketplace, fitted as a new domain, pass `simctl fit --check` (a day is
    too short: sessions start 1-69 h after they are scheduled)."""
    src = tmp_path / "src"
    _cli("generate", "--domain", "marketplace", "--start", START, "--duration", "2d",
         "--out", str(src), "--shards", "2", "--scale", "0.5")  # fmt: skip
    _cli("fit", str(src), "--domain", "mk_fitted", "--out", str(tmp_path / "pack"), "--check")
    report = json.loads((tmp_path / "pack" / "fit-report.json").read_text())
    assert report["check"]["passed"]
    assert len(report["streams"]) > 40
    assert sum("follows" in s for s in report["streams"].values()) >= 10


def test_init_from_the_ticketing_schemas_generates_records_they_read(tmp_path: Path) -> None:
    """A starter pack from schemas/ticketing validates; its Avro output decodes with them."""
    root = Path(__file__).resolve().parents[2] / "schemas" / "ticketing"
    out = _cli(
        "init", "--from-schemas", str(root), "--domain", "mytix", "--out", str(tmp_path / "p")
    )
    assert "guessed" in out and "validated: 12 streams" in out
    _cli("generate", "--pack-dir", str(tmp_path / "p"), "--domain", "mytix", "--start", START,
         "--duration", "5m", "--out", str(tmp_path / "g"), "--format", "avro",
         "--no-external-events")  # fmt: skip
    decoded = 0
    for schema_file in sorted(root.glob("*.avsc")):
        path = tmp_path / "g" / f"mytix.{schema_file.stem}.avro"
        reader = fastavro.parse_schema(json.loads(schema_file.read_text()))
        with path.open("rb") as fh:
            recs = list(fastavro.reader(fh, reader_schema=reader))
        assert recs, schema_file.name
        decoded += 1
    assert decoded == 12


def test_init_from_a_registry_uses_key_subjects_and_shares_entities(tmp_path: Path) -> None:
    """mock:// registry: the key subject names the key; a shared id is one entity pool."""
    from confluent_kafka.schema_registry import Schema

    from simfleet.cli.fit import validate_pack
    from simfleet.codec.encoder import registry_client
    from simfleet.fit.init import run_init

    client = registry_client("mock://fit-init")

    def record(name: str, fields: list[tuple[str, Any]]) -> str:
        return json.dumps(
            {"type": "record", "name": name, "fields": [{"name": n, "type": t} for n, t in fields]}
        )

    client.register_schema("app.orders-value", Schema(record("Order", [
        ("order_id", "string"), ("customer_id", "string"), ("email", "string"),
        ("amount", "double"), ("status", {"type": "enum", "name": "S", "symbols": ["A", "B"]}),
    ]), "AVRO"))  # fmt: skip
    client.register_schema(
        "app.orders-key", Schema(record("K", [("customer_id", "string")]), "AVRO")
    )
    client.register_schema("app.refunds-value", Schema(record("Refund", [
        ("refund_id", "string"), ("customer_id", "string"), ("created_at", {"type": "long",
         "logicalType": "timestamp-millis"}), ("reason", ["null", "string"]),
    ]), "AVRO"))  # fmt: skip
    lines = run_init(
        "regdom", tmp_path, None, "mock://fit-init", "app.*", 0.5, validate_pack, client=client
    )
    assert lines[-1].startswith("validated: 2 streams")
    doc = (tmp_path / "producers" / "regdom" / "streams.yaml").read_text()
    assert "key: customer_id" in doc
    assert doc.count("{entity: customer}") == 2
    assert "choice: [A, B]" in doc


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["fit", "{src}", "--domain", "Bad Name", "--out", "{out}"], "a domain name is"),
        (["fit", "{src}", "--domain", "marketplace", "--out", "{out}"], "already has a domain"),
        (["fit", "{out}/none", "--domain", "ok_name", "--out", "{out}"], "is not a folder"),
        (["init", "--domain", "ok_name", "--out", "{out}"], "exactly one of"),
    ],
)
def test_bad_input_is_one_paragraph(tmp_path: Path, args: list[str], says: str) -> None:
    """Each mistake exits 1 with a sentence naming the flag and the fix."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "t.jsonl").write_text('{"a": 1}\n')
    argv = [a.format(src=src, out=tmp_path / "o") for a in args]
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 1
    assert says in str(res.exception) + res.output


def test_a_folder_without_a_time_field_asks_for_one(tmp_path: Path) -> None:
    """JSON lines with no plainly named time field: the error lists the fields and the flag."""
    (tmp_path / "t.jsonl").write_text('{"a": 1, "when": "x"}\n')
    with pytest.raises(Exception, match="--time-field"):
        read_source(tmp_path)


def test_a_recording_is_fitted_with_its_kafka_keys_and_schemas(tmp_path: Path) -> None:
    """A `simctl record` folder (made here from a generate folder's framed messages, as a
    recording of live topics holds them): times are the Kafka timestamps, each stream's key
    the field its Kafka keys come from, and the pack validates."""
    from simfleet.codec import encoders_for
    from simfleet.domain.pack import Project
    from simfleet.recording import RecordingWriter, open_source
    from simfleet.topology import key_fields

    gen = tmp_path / "gen"
    _cli("generate", "--domain", "ticketing", "--start", START, "--duration", "3h",
         "--out", str(gen), "--scale", "0.3", "--shards", "1", "--no-external-events")  # fmt: skip
    project = Project()
    keys = key_fields(project, ("ticketing",))
    src = open_source(gen, encoders=encoders_for(project.schemas(), None), key_fields=keys)
    writer = RecordingWriter(tmp_path / "rec", project.schemas())
    for topic in src.topics:
        writer.partition_counts[topic] = 1
        for m in src.messages(topic):
            writer.write(m._replace(partition=0))
    writer.close({"stopped_by": "idle"})
    _cli("fit", str(tmp_path / "rec"), "--domain", "tix_rec", "--out", str(tmp_path / "pack"))
    report = json.loads((tmp_path / "pack" / "fit-report.json").read_text())
    fitted = report["streams"]
    assert fitted["cart.item_added"]["key"] == keys["ticketing.cart.item_added"]
    assert fitted["auth.login"]["key"] == keys["ticketing.auth.login"]
    schema = json.loads((tmp_path / "pack" / "schemas" / "tix_rec" / "auth.login.avsc").read_text())
    assert schema["simfleet.topic"] == "tix_rec.auth.login"


def test_check_names_the_stream_and_field_that_are_off(small: tuple[Path, Path, Path]) -> None:
    """`--check`'s comparison: a regenerated run whose channel mix is wrong and that lost
    half its shipments is off on exactly those, by name."""
    from dataclasses import replace

    from simfleet.fit.build import fit_topics
    from simfleet.fit.closeness import compare_fit

    src = read_source(small[0])
    fitted = fit_topics(src, "shop9")
    bad = []
    for t in src:
        if t.name == "orders":
            recs = [{**r, "channel": "web"} for r in t.records]
            bad.append(replace(t, name="shop9.orders", records=recs))
        else:
            bad.append(replace(t, name="shop9.shipments", records=t.records[::2],
                               times=t.times[::2]))  # fmt: skip
    result = compare_fit(src, bad, fitted, "shop9")
    assert not result["passed"]
    text = " ".join(result["problems"])
    assert "orders.channel: TV distance" in text
    assert "shipments: count" in text
    assert "orders.amount" not in text
    assert compare_fit(src, [replace(t, name=f"shop9.{t.name}") for t in src], fitted,
                       "shop9")["passed"]  # fmt: skip
