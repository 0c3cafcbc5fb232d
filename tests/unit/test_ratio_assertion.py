"""`ratio` assertions: both topics counted in the window, or, with a `key`, a conversion
(of the denominator's records in the window, the share whose key appears on the topic)."""

from __future__ import annotations

from simfleet.cli.assertions import _ratio
from simfleet.scenarios import Assertion

HOUR = 3_600_000


def _events() -> dict[str, list[dict[str, object]]]:
    # ten requests before the window, ten in it; the earlier ones all confirmed inside the
    # window, two of the window's confirmed after it
    requested = [{"occurred_at": -HOUR, "id": f"old{i}"} for i in range(10)]
    requested += [{"occurred_at": HOUR, "id": f"new{i}"} for i in range(10)]
    confirmed = [{"occurred_at": 2 * HOUR, "id": f"old{i}"} for i in range(10)]
    confirmed += [{"occurred_at": 8 * HOUR, "id": f"new{i}"} for i in range(2)]
    return {"req": requested, "conf": confirmed}


def test_a_windowed_ratio_counts_both_topics_in_the_window() -> None:
    a = Assertion(kind="ratio", topic="conf", denominator="req", window={"end": 6 * HOUR}, max=0.5)
    _, actual, ok = _ratio(a, _events(), 0)
    assert actual.startswith("1 (10/10)") and not ok


def test_a_keyed_ratio_is_the_conversion_of_the_windows_records() -> None:
    a = Assertion(
        kind="ratio",
        topic="conf",
        denominator="req",
        key="id",
        window={"end": 6 * HOUR},
        max=0.5,
    )
    _, actual, ok = _ratio(a, _events(), 0)
    assert actual.startswith("0.2 (2/10)") and ok
