"""A stream declared as the delayed label of another (`label_of`): published when the label
becomes known, with a delay law per entity attribute (`delay_by`, lognormal laws); a window
writes the labels known by its end, `labels_until` the later ones too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner, Result

from simfleet.cli.main import app
from simfleet.columns import Batch, TableStrings
from simfleet.domain.checks import check_pack
from simfleet.domain.pack import Project
from simfleet.domain.spec import DelaySpec, StreamSpec
from simfleet.errors import ConfigError
from simfleet.producers.backfill import LABELS_ALL, backfill

DAY = 86_400_000
START = 1_772_409_600_000  # 2026-03-02T00:00:00Z
WINDOW = 7 * DAY
BY = {"by": "persona", "of": "user_id"}

STREAMS: dict[str, Any] = {
    "domain": "lbl",
    "entities": {
        "user": {
            "count": 500,
            "prefix": "u",
            "attributes": {"persona": {"choice": ["casual", "fraudster"], "weights": [0.9, 0.1]}},
        }
    },
    "streams": {
        "payment.attempted": {
            "key": "transaction_id",
            "rate": 0.05,
            "fields": {
                "transaction_id": {"seq": "tx"},
                "user_id": {"entity": "user"},
                "amount": {"lognormal": [4.0, 0.5], "round": 2},
            },
            "then": [
                {
                    "to": "labels",
                    "probability": 1,
                    # legitimate: labelled when the 30-day dispute window closes
                    "delay": {"uniform": ["30d", "30d"]},
                    "delay_by": {
                        **BY,
                        "laws": {
                            "fraudster": {"lognormal": ["14d", 0.8], "min": "1d", "max": "120d"}
                        },
                    },
                    "rename": {
                        "subject_event_id": "event_id",
                        "transaction_occurred_at": "occurred_at",
                    },
                }
            ],
        },
        "labels": {
            "key": "transaction_id",
            "label_of": "payment.attempted",
            "fields": {
                "is_fraud": {"bernoulli": {**BY, "values": {"casual": 0, "fraudster": 1}}},
            },
        },
    },
}

FIELDS = {
    "payment.attempted": {"transaction_id": "string", "user_id": "string", "amount": "double"},
    "labels": {
        "transaction_id": "string",
        "user_id": "string",
        "subject_event_id": "string",
        "transaction_occurred_at": "long",
        "is_fraud": "boolean",
    },
}


def write_pack(root: Path, streams: dict[str, Any]) -> Path:
    """The pack `lbl` under ``root``, laid out like the project, with its schemas."""
    pack = root / "producers" / "lbl"
    pack.mkdir(parents=True)
    (pack / "streams.yaml").write_text(yaml.safe_dump(streams, sort_keys=False))
    schemas = root / "schemas" / "lbl"
    schemas.mkdir(parents=True)
    ts = {"type": "long", "logicalType": "timestamp-millis"}
    for name, fields in FIELDS.items():
        record = {
            "type": "record",
            "name": name.replace(".", "_"),
            "namespace": "simfleet.lbl",
            "simfleet.topic": f"lbl.{name}",
            "fields": [
                {"name": "event_id", "type": "string"},
                {"name": "occurred_at", "type": ts},
                *({"name": k, "type": v} for k, v in fields.items()),
            ],
        }
        (schemas / f"{name}.avsc").write_text(json.dumps(record))
    return pack


def run(root: Path, labels_until: int | None) -> dict[str, dict[str, np.ndarray]]:
    """One week of the pack (one shard), every field of every stream as an array."""
    project = Project(roots=[root], own=False)
    parts: dict[str, list[Batch]] = {}
    for batches in backfill(
        project.spec("lbl"),
        START,
        START + WINDOW,
        seed=3,
        shards=2,
        schemas=project.schemas(),
        labels_until=labels_until,
    ):
        for b in batches:
            parts.setdefault(b.stream, []).append(b)
    out: dict[str, dict[str, np.ndarray]] = {}
    for stream, bs in parts.items():
        cols: dict[str, np.ndarray] = {}
        for name in bs[0].columns:
            arrays = []
            for b in bs:
                c = b.columns[name]
                if isinstance(c, TableStrings):
                    arrays.append(np.asarray(c.table.values, dtype=object)[c.idx])
                elif hasattr(c, "chars"):
                    arrays.append(np.asarray([bytes(r).decode() for r in c.chars], dtype=object))
                else:
                    arrays.append(np.asarray(c))
            cols[name] = np.concatenate(arrays)
        out[stream] = cols
    return out


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pack's folder."""
    root = tmp_path_factory.mktemp("labels")
    write_pack(root, STREAMS)
    return root


@pytest.fixture(scope="module")
def complete(root: Path) -> dict[str, dict[str, np.ndarray]]:
    """The week with every label, however late."""
    return run(root, LABELS_ALL)


@pytest.fixture(scope="module")
def window(root: Path) -> dict[str, dict[str, np.ndarray]]:
    """The week with the labels known by its end."""
    return run(root, None)


def test_exactly_one_label_per_attempt_when_every_label_is_written(
    complete: dict[str, dict[str, np.ndarray]],
) -> None:
    """Every attempt has one label naming its transaction and event, and no label is orphan."""
    tx = complete["payment.attempted"]
    lab = complete["labels"]
    assert len(tx["transaction_id"]) > 25_000
    assert sorted(lab["transaction_id"]) == sorted(tx["transaction_id"])
    by_tx = dict(zip(tx["transaction_id"], tx["event_id"], strict=True))
    pairs = zip(lab["transaction_id"], lab["subject_event_id"], strict=True)
    assert all(by_tx[t] == e for t, e in pairs)


def test_a_label_is_published_when_it_becomes_known_by_the_law_of_its_outcome(
    complete: dict[str, dict[str, np.ndarray]],
) -> None:
    """Legitimate: exactly at the 30-day window's close; fraud: lognormal, median 2 weeks
    (within 1-4 weeks), never before 1 day nor after 120."""
    lab = complete["labels"]
    waited = (lab["occurred_at"] - lab["transaction_occurred_at"]) / DAY
    fraud = lab["is_fraud"].astype(bool)
    assert 0.07 < fraud.mean() < 0.13
    assert np.all(waited[~fraud] == 30)
    assert 12 < np.median(waited[fraud]) < 16
    assert waited[fraud].min() >= 1 and waited[fraud].max() <= 120
    assert np.mean(waited[fraud] < 7) > 0.1  # the lognormal's spread, not a constant


def test_a_window_writes_only_the_labels_known_by_its_end(
    window: dict[str, dict[str, np.ndarray]], complete: dict[str, dict[str, np.ndarray]]
) -> None:
    """The week's labels are the complete set's labels published before its end: some fraud
    (chargebacks within days), no legitimate label (its window closes after 30 days)."""
    lab, every = window["labels"], complete["labels"]
    known = every["occurred_at"] < START + WINDOW
    assert 0 < len(lab["transaction_id"]) == int(known.sum())
    assert lab["is_fraud"].astype(bool).all()
    assert sorted(lab["event_id"]) == sorted(every["event_id"][known])
    assert np.array_equal(
        window["payment.attempted"]["event_id"], complete["payment.attempted"]["event_id"]
    )


def with_chain(**overrides: Any) -> dict[str, Any]:
    """The pack with keys of the label chain replaced."""
    raw = json.loads(json.dumps(STREAMS))
    raw["streams"]["payment.attempted"]["then"][0].update(overrides)
    return raw


@pytest.mark.parametrize(
    ("raw", "path", "says"),
    [
        (
            with_chain(delay_by={**BY, "laws": {"fraudstr": {"uniform": ["1d", "2d"]}}}),
            "streams.payment.attempted.then.0.delay_by.laws.fraudstr",
            "fraudster",
        ),
        (
            {
                **STREAMS,
                "streams": {
                    **STREAMS["streams"],
                    "labels": {**STREAMS["streams"]["labels"], "label_of": "payment.atempted"},
                },
            },
            "streams.labels.label_of",
            "payment.attempted",
        ),
        (
            with_chain(to="payment.attempted"),
            "streams.labels.label_of",
            "no chain reaches",
        ),
    ],
)
def test_load_time_checks(tmp_path: Path, raw: dict[str, Any], path: str, says: str) -> None:
    """A misspelt law value or labelled stream, or a label nothing reaches, is a problem."""
    problems = check_pack(write_pack(tmp_path, raw)).problems
    assert any(p.path == path and says in p.line() for p in problems), problems


def test_a_label_stream_has_no_rate_and_a_lognormal_a_positive_median() -> None:
    """Labels come from chains only; a lognormal law needs median > 0."""
    with pytest.raises(ValidationError, match="label stream"):
        StreamSpec.model_validate({"key": "k", "rate": 1.0, "label_of": "x"})
    with pytest.raises(ValidationError, match="median"):
        DelaySpec.model_validate({"lognormal": [0, 0.5]})
    with pytest.raises(ValidationError, match="one of"):
        DelaySpec.model_validate({"lognormal": ["1d", 0.5], "exponential": "1d"})


def cli(root: Path, out: Path, *extra: str) -> Result:
    """`simctl generate` of the pack for 3 sim days on 2 shards."""
    args = ["generate", "--pack-dir", str(root), "--domain", "lbl", "--start"]
    args += ["2026-03-02T00:00:00Z", "--duration", "3d", "--out", str(out), "--shards", "2"]
    return CliRunner().invoke(app, [*args, *extra])


def test_generate_writes_later_labels_with_labels_until_all(root: Path, tmp_path: Path) -> None:
    """By default the file holds the labels known in the window; with `all`, one per attempt,
    the later ones stamped when they become known (after the window)."""
    seen, every = cli(root, tmp_path / "w"), cli(root, tmp_path / "a", "--labels-until", "all")
    assert seen.exit_code == 0 and every.exit_code == 0, seen.output + every.output
    attempts = (tmp_path / "a" / "lbl.payment.attempted.jsonl").read_text().splitlines()
    window = (tmp_path / "w" / "lbl.labels.jsonl").read_text().splitlines()
    labels = [json.loads(x) for x in (tmp_path / "a" / "lbl.labels.jsonl").read_text().splitlines()]
    end = START + 3 * DAY
    assert len(labels) == len(attempts) > len(window) > 0
    assert sum(x["occurred_at"] >= end for x in labels) == len(labels) - len(window)


def test_generate_refuses_an_unknown_labels_until(root: Path, tmp_path: Path) -> None:
    """Anything but `window` or `all` is refused, naming the flag and the choices."""
    result = cli(root, tmp_path, "--labels-until", "soon")
    assert isinstance(result.exception, ConfigError)
    assert "--labels-until must be `window` or `all`" in str(result.exception)
