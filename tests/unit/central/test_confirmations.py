"""Location confirmation: what answers a request, month boundaries in China time, completion rates."""

from datetime import UTC, datetime

import pytest

from central.confirmations import Tally, answer_method, month_bounds


@pytest.mark.parametrize(
    ("event_type", "payload", "method"),
    [
        ("fix", {"face_verified": True, "lat": 24.5}, "phone_face"),
        ("fix", {"face_verified": False}, None),
        ("fix", {"face_verified": "true"}, None),  # only a JSON true counts
        ("fix", {}, None),  # a wristband fix proves where the band is, not who wears it
        ("checkin", {"result": "accepted", "methods": ["face"]}, "checkin"),
        ("checkin", {"result": "refused", "reason": "face did not match"}, None),
        ("sighting", {"subject_id": "S-1"}, None),
    ],
)
def test_what_answers(event_type, payload, method):
    """A fix with a passed face check or an accepted check-in answers; nothing else does."""
    assert answer_method(event_type, payload) == method


def test_month_bounds_follow_china_time():
    """November 2026 in China starts at 16:00 UTC on 31 October and ends at 16:00 UTC on 30 November."""
    assert month_bounds("2026-11") == (datetime(2026, 10, 31, 16, tzinfo=UTC), datetime(2026, 11, 30, 16, tzinfo=UTC))
    assert month_bounds("2026-12")[1] == datetime(2026, 12, 31, 16, tzinfo=UTC)


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-11", "2026/11", ""])
def test_month_must_be_yyyy_mm(month):
    """A malformed month is refused with the expected form."""
    with pytest.raises(ValueError, match=r"expected YYYY-MM, e\.g\. 2026-11"):
        month_bounds(month)


def test_rate_counts_only_settled_requests():
    """Pending requests are counted as requested but not in the rate; no settled request means no rate."""
    tally = Tally()
    assert tally.rate is None
    tally.add("pending")
    assert (tally.requested, tally.rate) == (1, None)
    tally.add("answered", 49)
    tally.add("missed")
    assert tally.requested == 51
    assert tally.rate == pytest.approx(0.98)
