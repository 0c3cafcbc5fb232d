"""Fast paths of the hot loop give exactly what the plain ways give (``make bench`` measures
their speed; ``tests/codec/test_generate_identity.py`` pins whole outputs)."""

from __future__ import annotations

import numpy as np
import pytest

from simfleet.columns import FixedStrings, concat_columns, take_column
from simfleet.producers.engine.aggregates import unique_inverse
from simfleet.producers.engine.fields import uuid_column


@pytest.mark.parametrize(
    ("n", "low", "high"),
    [(0, 0, 1), (1, 0, 1), (500, 0, 90), (500, 0, 10**7), (500, -1, 90), (20_000, 0, 3_000)],
)
def test_unique_inverse_is_numpys(n: int, low: int, high: int) -> None:
    idx = np.random.default_rng(n + high).integers(low, high, n)
    uniq, inv = unique_inverse(idx)
    want_u, want_i = np.unique(idx, return_inverse=True)
    assert uniq.dtype == inv.dtype == np.int64
    assert uniq.tolist() == want_u.tolist()
    assert inv.tolist() == want_i.reshape(-1).tolist()
    assert (uniq[inv] == idx).all()


def test_keys_of_fixed_strings_are_whole_rows() -> None:
    chars = np.frombuffer(b"abc\x00" + b"de\x00f" + b"ghij", np.uint8).reshape(3, 4)
    # a NUL at a row's end must stay (numpy's fixed-width bytes would drop it)
    ends_in_nul = FixedStrings(chars.copy())
    assert ends_in_nul.to_bytes_list() == [b"abc\x00", b"de\x00f", b"ghij"]
    plain = FixedStrings(np.frombuffer(b"k-01k-02", np.uint8).reshape(2, 4).copy())
    assert plain.to_bytes_list() == [b"k-01", b"k-02"]
    nulls = FixedStrings(plain.chars, np.array([False, True]))
    assert nulls.to_bytes_list() == [b"k-01", None]


def test_uuids_are_version_4_and_draw_the_same_bytes() -> None:
    col = uuid_column(np.random.default_rng(5), 64)
    raw = np.random.default_rng(5).integers(0, 256, (64, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    for row, r in zip(col.to_bytes_list(), raw, strict=True):
        assert row is not None
        text = row.decode()
        assert [len(p) for p in text.split("-")] == [8, 4, 4, 4, 12]
        assert text[14] == "4" and text[19] in "89ab"
        hexed = text.replace("-", "")
        assert hexed == r.tobytes().hex()


def test_plain_arrays_take_and_concatenate_as_numpy_does() -> None:
    a, b = np.arange(5), np.arange(5, 9)
    assert concat_columns([a, b]).tolist() == list(range(9))  # type: ignore[union-attr]
    assert take_column(a, np.array([4, 0])).tolist() == [4, 0]  # type: ignore[union-attr]


def test_varints_of_few_rows_and_of_many_are_the_same_bytes() -> None:
    """Up to 256 rows take one 2-d pass, more a pass per byte: the same bytes either way."""
    from simfleet.codec.encoder import _varint

    rng = np.random.default_rng(11)
    z = np.concatenate(
        [
            np.array([0, 127, 128, 16_383, 16_384, 2**63, 2**64 - 1], np.uint64),
            rng.integers(0, 2**62, 300).astype(np.uint64),
            rng.integers(0, 300, 300).astype(np.uint64),
        ]
    )
    whole, lens = _varint(z, lead=2)
    for lo in range(0, len(z), 100):
        part, plens = _varint(z[lo : lo + 100], lead=2)
        assert plens.tolist() == lens[lo : lo + 100].tolist()
        for i in range(len(plens)):
            assert part[i, : plens[i]].tobytes() == whole[lo + i, : lens[lo + i]].tobytes()
    # the first values, against their textbook LEB128 (after the lead byte)
    assert whole[1, : lens[1]].tobytes() == b"\x02\x7f"
    assert whole[2, : lens[2]].tobytes() == b"\x02\x80\x01"
    assert whole[4, : lens[4]].tobytes() == b"\x02\x80\x80\x01"


def test_ids_of_few_rows_and_of_many_render_alike() -> None:
    from simfleet.columns import EntityIds

    ids = EntityIds("tutor-", 2_000_000, 7)
    idx = np.random.default_rng(3).integers(0, 2_000_000, 600)
    many, _ = ids.render(idx)
    few = [ids.render(idx[lo : lo + 50]) for lo in range(0, 600, 50)]
    assert np.concatenate([m for m, _ in few]).tolist() == many.tolist()
    assert ids.texts(idx[:3]) == [f"tutor-{int(i):07d}" for i in idx[:3]]
