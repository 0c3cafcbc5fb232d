"""Custom assertions for the `simctl check` tests: callables over the decoded records."""

from __future__ import annotations

from typing import Any


def every_request_has_a_student(events: dict[str, list[dict[str, Any]]]) -> tuple[bool, str]:
    """Every booking request names a student."""
    requests = events.get("marketplace.booking.requested", [])
    empty = sum(not r["student_id"] for r in requests)
    return bool(requests) and empty == 0, f"{empty} of {len(requests)} without a student"


def requests_are_free(events: dict[str, list[dict[str, Any]]]) -> bool:
    """Fails: requests carry a price."""
    return all(r.get("price", 0) == 0 for r in events.get("marketplace.booking.requested", []))
