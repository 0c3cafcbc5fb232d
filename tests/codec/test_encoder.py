"""The vectorised Avro encoder writes exactly fastavro's bytes; framing follows the Avro spec."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pytest

from simfleet.codec import (
    Decoder,
    RecordEncoder,
    SchemaSet,
    encoders_for,
    records_to_columns,
    single_object_prefix,
)
from simfleet.columns import FixedStrings, MaskedNumbers, StrTable, TableStrings
from simfleet.errors import SchemaError

I64_MAX = 2**63 - 1
I64_MIN = -(2**63)
LONG_EDGES = [0, -1, 1, 63, 64, -64, -65, 127, 128, 8191, 8192, -8193, I64_MAX, I64_MIN, 2**35]
INT_EDGES = [0, -1, 63, 64, -64, -65, 2**31 - 1, -(2**31), 300, -300]
STRINGS = ["", "a", "ünïcødé", "日本語テキスト", "🚀 rocket", "x" * 130, "plain ascii"]


def write_schemas(root: Path, domains: dict[str, list[dict[str, Any]]]) -> Path:
    """Write ``{domain: [schema, ...]}`` as ``root/<domain>/<name>.avsc``."""
    for domain, schemas in domains.items():
        (root / domain).mkdir(parents=True, exist_ok=True)
        for schema in schemas:
            (root / domain / f"{schema['name']}.avsc").write_text(json.dumps(schema), "utf-8")
    return root


def record(name: str, fields: list[dict[str, Any]], topic: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "record",
        "name": name,
        "namespace": "simfleet.test",
        "fields": fields,
    }
    if topic is not None:
        schema["simfleet.topic"] = topic
    return schema


def fastavro_bytes(parsed: Any, rec: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, rec)
    return buf.getvalue()


def assert_same_as_fastavro(parsed: Any, records: list[dict[str, Any]], cols: Any = None) -> None:
    """Every record slice of our buffer equals fastavro's bytes for that record."""
    columns = records_to_columns(parsed, records) if cols is None else cols
    buf, off = RecordEncoder(parsed).encode(columns, len(records))
    assert off.dtype == np.int64
    assert off.shape == (len(records) + 1,)
    assert off[0] == 0 and off[-1] == len(buf)
    expected = [fastavro_bytes(parsed, r) for r in records]
    got = [buf[off[i] : off[i + 1]] for i in range(len(records))]
    assert got == expected
    assert buf == b"".join(expected)


ENUM = {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN", "BLUE"]}
TS = {"type": "long", "logicalType": "timestamp-millis"}

# (id, Avro field type, values): each is checked non-null, and as ["null", T] with Nones mixed in.
TYPE_TABLE: list[tuple[str, Any, list[Any]]] = [
    ("long", "long", LONG_EDGES),
    ("int", "int", INT_EDGES),
    ("timestamp-millis", TS, [0, 1_700_000_000_000, 1_700_000_000_001, -1]),
    ("timestamp-micros", {"type": "long", "logicalType": "timestamp-micros"}, [0, 2**52]),
    ("date", {"type": "int", "logicalType": "date"}, [0, 19_000, -5]),
    ("double", "double", [0.0, -0.0, 1.5, -2.25, 1e308, -1e-308, math.inf, -math.inf, 0.1]),
    ("float", "float", [0.0, 1.1, -3.4e38, 1e-45, math.inf, 0.1, 16777217.0]),
    ("boolean", "boolean", [True, False, True]),
    ("string", "string", STRINGS),
    ("uuid", {"type": "string", "logicalType": "uuid"}, ["6f1c1c2e-0000-4000-8000-0000000000aa"]),
    ("enum", ENUM, ["RED", "BLUE", "GREEN", "RED"]),
]


@pytest.mark.parametrize(("tid", "ftype", "values"), TYPE_TABLE, ids=[t[0] for t in TYPE_TABLE])
@pytest.mark.parametrize("nullable", [False, True], ids=["plain", "nullable"])
@pytest.mark.parametrize("size", ["n0", "n1", "all"])
def test_each_type_matches_fastavro(
    tid: str, ftype: Any, values: list[Any], nullable: bool, size: str
) -> None:
    """One field of each supported type, plain and nullable, at n = 0, 1 and many."""
    if nullable:
        ftype = ["null", ftype]
        values = [None, *values[:2], None, *values[2:], None]
    vals = {"n0": [], "n1": values[1:2], "all": values}[size]
    parsed = fastavro.parse_schema(
        record(f"One_{tid.replace('-', '_')}", [{"name": "v", "type": ftype}])
    )
    assert_same_as_fastavro(parsed, [{"v": v} for v in vals])


def test_null_second_branch_matches_fastavro() -> None:
    """A [T, "null"] union writes branch 1 for null and 0 for values."""
    parsed = fastavro.parse_schema(
        record(
            "Rev",
            [{"name": "a", "type": ["long", "null"]}, {"name": "s", "type": ["string", "null"]}],
        )
    )
    assert_same_as_fastavro(
        parsed, [{"a": 5, "s": None}, {"a": None, "s": "x"}, {"a": -65, "s": ""}]
    )


def wide_schema() -> dict[str, Any]:
    return record(
        "Wide",
        [
            {"name": "id", "type": "string"},
            {"name": "at", "type": TS},
            {"name": "qty", "type": "int"},
            {"name": "amount", "type": "double"},
            {"name": "ratio", "type": "float"},
            {"name": "ok", "type": "boolean"},
            {"name": "colour", "type": ENUM},
            {"name": "note", "type": ["null", "string"]},
            {"name": "big", "type": ["null", "long"]},
            {"name": "score", "type": ["null", "double"]},
            {"name": "flag", "type": ["null", "boolean"]},
            {"name": "shade", "type": ["null", "simfleet.test.Colour"]},
        ],
        topic="wide-events",
    )


def random_wide_records(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)

    def maybe(v: Any) -> Any:
        return None if rng.random() < 0.3 else v

    out = []
    for _ in range(n):
        out.append(
            {
                "id": STRINGS[int(rng.integers(len(STRINGS)))],
                "at": int(rng.integers(0, 2**45)),
                "qty": int(rng.integers(-(2**31), 2**31)),
                "amount": float(rng.normal() * 1e6),
                "ratio": float(rng.random()),
                "ok": bool(rng.random() < 0.5),
                "colour": ENUM["symbols"][int(rng.integers(3))],
                "note": maybe(STRINGS[int(rng.integers(len(STRINGS)))]),
                "big": maybe(int(rng.integers(I64_MIN, I64_MAX, endpoint=True))),
                "score": maybe(float(rng.normal())),
                "flag": maybe(bool(rng.random() < 0.5)),
                "shade": maybe(ENUM["symbols"][int(rng.integers(3))]),
            }
        )
    return out


@pytest.mark.parametrize("n", [0, 1, 2, 500])
def test_wide_record_matches_fastavro(n: int) -> None:
    """Twelve fields of every kind side by side, random values and nulls."""
    parsed = fastavro.parse_schema(wide_schema())
    assert_same_as_fastavro(parsed, random_wide_records(n))


def test_fixed_strings_and_masked_numbers_match_fastavro() -> None:
    """FixedStrings (with nulls), MaskedNumbers and enum indices encode like their values."""
    parsed = fastavro.parse_schema(
        record(
            "Cols",
            [
                {"name": "uid", "type": "string"},
                {"name": "maybe_uid", "type": ["null", "string"]},
                {"name": "n", "type": ["null", "long"]},
                {"name": "c", "type": ENUM},
                {"name": "mc", "type": ["null", "simfleet.test.Colour"]},
            ],
        )
    )
    uids = ["abc-0001", "abc-0002", "zzz-9999"]
    chars = np.frombuffer("".join(uids).encode(), np.uint8).reshape(3, 8).copy()
    null = np.array([False, True, False])
    cols = {
        "uid": FixedStrings(chars),
        "maybe_uid": FixedStrings(chars, null),
        "n": MaskedNumbers(np.array([I64_MIN, 99, -1], np.int64), null),
        "c": np.array([2, 0, 1], np.int64),
        "mc": MaskedNumbers(np.array([1, 0, 2], np.int64), null),
    }
    records = [
        {
            "uid": u,
            "maybe_uid": None if z else u,
            "n": None if z else n,
            "c": c,
            "mc": None if z else m,
        }
        for u, z, n, c, m in zip(
            uids,
            null,
            [I64_MIN, 99, -1],
            ["BLUE", "RED", "GREEN"],
            ["GREEN", "RED", "BLUE"],
            strict=True,
        )
    ]
    assert_same_as_fastavro(parsed, records, cols)


def test_table_strings_gather_unused_and_reused_rows() -> None:
    """A StrTable with values no row uses, and rows repeating one value, across two batches."""
    parsed = fastavro.parse_schema(record("Tab", [{"name": "s", "type": ["null", "string"]}]))
    table = StrTable(tuple(STRINGS))
    enc = RecordEncoder(parsed)
    for idx in ([3, 3, -1, 0, 6], [5, -1]):
        col = TableStrings(table, np.array(idx, np.int64))
        buf, _off = enc.encode({"s": col}, len(idx))
        recs = [{"s": v} for v in col.to_list()]
        assert buf == b"".join(fastavro_bytes(parsed, r) for r in recs)


def test_prefix_starts_every_record() -> None:
    """With a prefix each record is prefix + the fastavro body."""
    parsed = fastavro.parse_schema(wide_schema())
    prefix = single_object_prefix(parsed)
    recs = random_wide_records(20)
    buf, off = RecordEncoder(parsed, prefix).encode(records_to_columns(parsed, recs), 20)
    for i, r in enumerate(recs):
        assert buf[off[i] : off[i + 1]] == prefix + fastavro_bytes(parsed, r)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("ftype", "fragment"),
    [
        ({"type": "array", "items": "long"}, "array"),
        ({"type": "map", "values": "long"}, "map"),
        ("bytes", "bytes"),
        (["null", "long", "string"], "two-branch"),
        ({"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2}, "decimal"),
    ],
)
def test_unsupported_shapes_fail_at_compile_time_naming_field(ftype: Any, fragment: str) -> None:
    """Compiling names the schema, the field and the problem."""
    parsed = fastavro.parse_schema(record("Bad", [{"name": "oops", "type": ftype}]))
    with pytest.raises(SchemaError, match=rf"'oops'.*simfleet\.test\.Bad.*{fragment}|{fragment}"):
        RecordEncoder(parsed)


def test_column_errors_are_schema_errors() -> None:
    """Missing columns, wrong kinds, unexpected nulls and out-of-range ints are SchemaErrors."""
    parsed = fastavro.parse_schema(
        record("E", [{"name": "a", "type": "int"}, {"name": "s", "type": "string"}])
    )
    enc = RecordEncoder(parsed)
    table = StrTable(("x",))
    good_s = TableStrings(table, np.array([0], np.int64))
    with pytest.raises(SchemaError, match="needs a column 's'"):
        enc.encode({"a": np.array([1])}, 1)
    with pytest.raises(SchemaError, match=r"'a'.*integer"):
        enc.encode({"a": np.array([1.5]), "s": good_s}, 1)
    with pytest.raises(SchemaError, match=r"'s'.*TableStrings"):
        enc.encode({"a": np.array([1]), "s": np.array([1])}, 1)
    with pytest.raises(SchemaError, match="not nullable"):
        enc.encode({"a": np.array([1]), "s": TableStrings(table, np.array([-1], np.int64))}, 1)
    with pytest.raises(SchemaError, match="not nullable"):
        enc.encode({"a": MaskedNumbers(np.array([1]), np.array([True])), "s": good_s}, 1)
    with pytest.raises(SchemaError, match=r"\[-2147483648, 2147483647\]"):
        enc.encode({"a": np.array([2**31]), "s": good_s}, 1)
    with pytest.raises(SchemaError, match="has 2 rows, expected 1"):
        enc.encode({"a": np.array([1, 2]), "s": good_s}, 1)
    enum_parsed = fastavro.parse_schema(record("En", [{"name": "c", "type": ENUM}]))
    with pytest.raises(SchemaError, match="not symbols"):
        RecordEncoder(enum_parsed).encode(
            {"c": TableStrings(StrTable(("PURPLE",)), np.array([0], np.int64))}, 1
        )


# ---------------------------------------------------------------- fingerprints and schema sets


def reference_crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO exactly as the Avro specification's table algorithm writes it."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


def test_single_object_header_is_spec_little_endian_fingerprint(tmp_path: Path) -> None:
    """Header = C3 01 + CRC-64-AVRO(Parsing Canonical Form) as 8 little-endian bytes."""
    root = write_schemas(tmp_path, {"retail": [wide_schema()]})
    entry = SchemaSet.load(root).for_topic("wide-events")
    expected = reference_crc64_avro(entry.canonical.encode()).to_bytes(8, "little")
    assert entry.fingerprint == expected
    assert single_object_prefix(entry) == b"\xc3\x01" + expected
    assert single_object_prefix(wide_schema()) == b"\xc3\x01" + expected
    # The topic property and docs are not part of the canonical form.
    assert "simfleet.topic" not in entry.canonical


def test_schema_set_indexes_by_topic_name_and_fingerprint(tmp_path: Path) -> None:
    """Lookups by topic, full name and fingerprint find the same entry."""
    other = record("Other", [{"name": "x", "type": "long"}], topic="other-events")
    root = write_schemas(tmp_path, {"retail": [wide_schema()], "fleet": [other]})
    schemas = SchemaSet.load(root)
    assert sorted(schemas.topics) == ["other-events", "wide-events"]
    e = schemas.for_topic("other-events")
    assert (
        e.domain == "fleet"
        and e.name == "simfleet.test.Other"
        and e.subject == "other-events-value"
    )
    assert schemas.by_name("simfleet.test.Other") is e
    assert schemas.by_fingerprint(e.fingerprint) is e
    assert schemas.by_fingerprint(b"\x00" * 8) is None
    with pytest.raises(SchemaError, match="no Avro schema serves topic 'nope'"):
        schemas.for_topic("nope")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "cannot read"),
        (json.dumps(record("NoTopic", [{"name": "x", "type": "long"}])), "simfleet.topic"),
        (
            json.dumps(
                record(
                    "Typo", [{"name": "ok", "type": "long"}, {"name": "bad", "type": "lnog"}], "t"
                )
            ),
            "in field 'bad'",
        ),
    ],
)
def test_schema_load_errors_name_file_and_fix(tmp_path: Path, content: str, fragment: str) -> None:
    """A broken .avsc file is a SchemaError naming the file (and the field when it is one)."""
    (tmp_path / "dom").mkdir()
    (tmp_path / "dom" / "broken.avsc").write_text(content, "utf-8")
    with pytest.raises(SchemaError, match=r"broken\.avsc") as info:
        SchemaSet.load(tmp_path)
    assert fragment in str(info.value)


def test_duplicate_topics_are_rejected(tmp_path: Path) -> None:
    """Two schemas cannot serve one topic."""
    a = record("A", [{"name": "x", "type": "long"}], topic="same")
    b = record("B", [{"name": "x", "type": "long"}], topic="same")
    with pytest.raises(SchemaError, match="both serve topic 'same'"):
        SchemaSet.load(write_schemas(tmp_path, {"d": [a, b]}))


# ---------------------------------------------------------------- round trip


def test_single_object_round_trip_through_decoder(tmp_path: Path) -> None:
    """encoders_for without a registry frames single-object; Decoder reads it back."""
    schemas = SchemaSet.load(write_schemas(tmp_path, {"retail": [wide_schema()]}))
    enc = encoders_for(schemas, None)["wide-events"]
    assert enc.schema_id is None
    recs = random_wide_records(50)
    buf, off = enc.encode(records_to_columns(enc.schema.parsed, recs), len(recs))
    dec = Decoder(schemas)
    for i in range(len(recs)):
        value = buf[off[i] : off[i + 1]]
        assert value[:10] == enc.prefix
        expected = fastavro.schemaless_reader(io.BytesIO(value[10:]), enc.schema.parsed)
        assert dec.decode(value) == expected


def test_decoder_rejects_unknown_frames(tmp_path: Path) -> None:
    """Unknown fingerprint, bad magic, trailing bytes and registry-less Confluent frames."""
    schemas = SchemaSet.load(write_schemas(tmp_path, {"retail": [wide_schema()]}))
    dec = Decoder(schemas)
    with pytest.raises(SchemaError, match="fingerprint"):
        dec.decode(b"\xc3\x01" + b"\x11" * 8 + b"\x00")
    with pytest.raises(SchemaError, match="neither"):
        dec.decode(b"{json}")
    with pytest.raises(SchemaError, match="no schema registry"):
        dec.decode(b"\x00\x00\x00\x00\x01\x02")
    parsed = schemas.for_topic("wide-events").parsed
    enc = RecordEncoder(parsed, single_object_prefix(parsed))
    buf, _ = enc.encode(records_to_columns(parsed, random_wide_records(1)), 1)
    with pytest.raises(SchemaError, match="trailing"):
        dec.decode(buf + b"\x00")


def test_a_missing_field_takes_its_schema_default() -> None:
    """records_to_columns fills a field a record leaves out with the schema's default, so an
    added field with a default never breaks an older writer."""
    import fastavro

    from simfleet.codec import RecordEncoder, records_to_columns

    schema = fastavro.parse_schema(
        {
            "type": "record",
            "name": "T",
            "fields": [
                {"name": "a", "type": "long"},
                {"name": "b", "type": "string", "default": ""},
            ],
        }
    )
    buf, off = RecordEncoder(schema).encode(records_to_columns(schema, [{"a": 1}]), 1)
    import io

    assert fastavro.schemaless_reader(io.BytesIO(buf[off[0] : off[1]]), schema) == {"a": 1, "b": ""}
