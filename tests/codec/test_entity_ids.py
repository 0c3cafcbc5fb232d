"""A pool's ids are its indices: ``EntityIds`` renders ``<head><n:06d>`` where ids leave as
text (Avro strings, Kafka keys, files, concatenated columns) exactly as the strings the pool
once held, and holds no string per entity."""

from __future__ import annotations

import io
import pickle
import sys
from typing import Any

import fastavro
import numpy as np
import pytest

from simfleet.codec import RecordEncoder
from simfleet.columns import (
    EntityIds,
    FixedStrings,
    StrTable,
    TableStrings,
    concat_columns,
)

HEAD = "stu-007-"
# indices around the widths' edges: 6 digits, then 7 and 8 past the zero padding
EDGES = [0, 1, 9, 10, 99_999, 999_999, 1_000_000, 1_234_567, 9_999_999, 10_000_000, 12_345_678]


def reference(head: str, idx: list[int]) -> list[str | None]:
    """The ids as the pool formatted them when it held strings."""
    return [None if i < 0 else f"{head}{i:06d}" for i in idx]


def encode_one(parsed: Any, rec: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, rec)
    return buf.getvalue()


@pytest.mark.parametrize("idx", [EDGES[:6], EDGES, [5, -1, 1_000_000, -1, 7]])
def test_rendered_ids_are_the_formatted_strings(idx: list[int]) -> None:
    """Texts and UTF-8 bytes of any indices (nulls, 6 to 8 digits) equal the f-string ids."""
    ids = EntityIds(HEAD, 20_000_000)
    col = TableStrings(ids, np.asarray(idx, np.int64))
    want = reference(HEAD, idx)
    assert col.to_list() == want
    assert col.to_bytes_list() == [None if v is None else v.encode() for v in want]
    assert [ids.value(i) for i in idx if i >= 0] == [v for v in want if v is not None]


def test_a_non_ascii_head_renders_its_utf8() -> None:
    """The head is UTF-8 (a prefix is data); such ids have no fixed ASCII width."""
    ids = EntityIds("élève-000-", 100)
    col = TableStrings(ids, np.asarray([3, 99], np.int64))
    assert col.to_list() == ["élève-000-000003", "élève-000-000099"]
    assert ids.width is None


def test_lookup_parses_ids_and_refuses_others() -> None:
    """Id -> index without a dict: only canonical ids of the pool's range are found."""
    ids = EntityIds(HEAD, 1_500_000)
    assert ids.lookup["stu-007-000042"] == 42
    assert ids.lookup["stu-007-1200000"] == 1_200_000
    assert ids.lookup.get("stu-007-0000042", -1) == -1  # not how index 42 is written
    assert ids.lookup.get("stu-007-1500000", -1) == -1  # past the pool
    assert ids.lookup.get("stu-008-000042", -1) == -1  # another shard
    assert ids.lookup.get("stu-007-00004x", -1) == -1
    assert "stu-007-000001" in ids.lookup
    assert ids.find("tut-007-000001") == -1


def test_values_read_as_a_sequence_without_a_stored_tuple() -> None:
    """`values` renders on read; the pool's object stays small whatever its size."""
    ids = EntityIds(HEAD, 3_000_000)
    assert len(ids.values) == len(ids) == 3_000_000
    assert ids.values[2_999_999] == "stu-007-2999999"
    assert ids.values[-1] == "stu-007-2999999"
    assert list(ids.values[:2]) == ["stu-007-000000", "stu-007-000001"]
    with pytest.raises(IndexError):
        ids.values[3_000_000]
    assert sys.getsizeof(pickle.dumps(ids)) < 200  # a rule, not three million strings


def test_ids_pickle_to_the_same_rule() -> None:
    """Engines are pickled for checkpoints: the ids come back rendering the same strings."""
    ids = EntityIds(HEAD, 1000)
    back = pickle.loads(pickle.dumps(ids))
    idx = np.arange(0, 1000, 37, dtype=np.int64)
    assert TableStrings(back, idx).to_list() == TableStrings(ids, idx).to_list()


@pytest.mark.parametrize("nullable", [True, False])
@pytest.mark.parametrize("size", [50_000, 20_000_000])
def test_encoded_ids_equal_fastavro(nullable: bool, size: int) -> None:
    """The encoder renders ids into Avro strings byte for byte as fastavro writes them, with
    nulls and with widths that differ from row to row."""
    ftype: Any = ["null", "string"] if nullable else "string"
    schema = {"type": "record", "name": "Ids", "fields": [{"name": "id", "type": ftype}]}
    parsed = fastavro.parse_schema(schema)
    rng = np.random.default_rng(3)
    idx = rng.integers(0, size, 500, dtype=np.int64)
    if nullable:
        idx[::7] = -1
    ids = EntityIds(HEAD, size)
    buf, off = RecordEncoder(parsed).encode({"id": TableStrings(ids, idx)}, len(idx))
    want = [encode_one(parsed, {"id": v}) for v in reference(HEAD, idx.tolist())]
    assert [buf[off[i] : off[i + 1]] for i in range(len(idx))] == want


def test_long_heads_take_two_byte_lengths() -> None:
    """Ids of 64 bytes or more have a two-byte length varint: each id still follows its own."""
    head = "h" * 57 + "-"
    parsed = fastavro.parse_schema(
        {"type": "record", "name": "L", "fields": [{"name": "id", "type": "string"}]}
    )
    idx = np.asarray([5, 1_000_000, 12, 99_999_999], np.int64)
    buf, off = RecordEncoder(parsed).encode(
        {"id": TableStrings(EntityIds(head, 10**8), idx)}, len(idx)
    )
    want = [encode_one(parsed, {"id": v}) for v in reference(head, idx.tolist())]
    assert [buf[off[i] : off[i + 1]] for i in range(len(idx))] == want


def test_shards_ids_concatenate_as_their_characters() -> None:
    """Two shards' pools of one width merge into fixed-width strings of the same ids."""
    a, b = EntityIds("stu-000-", 300), EntityIds("stu-001-", 300)
    cols = [TableStrings(a, np.asarray([1, -1, 299])), TableStrings(b, np.asarray([7, 8]))]
    merged = concat_columns(cols)
    assert isinstance(merged, FixedStrings)
    assert merged.to_list() == [*cols[0].to_list(), *cols[1].to_list()]


def test_ids_of_mixed_widths_concatenate_through_the_values_used() -> None:
    """Pools of different widths (or a pool past a million) merge into a table of the values
    the rows hold, not of every id of every pool."""
    a, b = EntityIds("stu-000-", 2_000_000), EntityIds("campaign-000-", 100)
    tags = StrTable(("stu-000-000001", "promo"))
    cols = [
        TableStrings(a, np.asarray([1, 1_999_999, -1])),
        TableStrings(b, np.asarray([4])),
        TableStrings(tags, np.asarray([1, 0])),
    ]
    merged = concat_columns(cols)
    assert isinstance(merged, TableStrings)
    assert merged.to_list() == [v for c in cols for v in c.to_list()]
    assert len(merged.table) == 4  # one id repeats: distinct values
