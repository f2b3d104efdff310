"""The shared plausibility checks every decoder applies."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peripherals.errors import ProtocolError
from peripherals.plausibility import check_device_time, check_position

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@given(st.floats(-90, 90), st.floats(-180, 180))
def test_any_real_position_passes(lat: float, lon: float) -> None:
    """Every finite position on the globe passes, except exactly 0,0."""
    if lat == 0 and lon == 0:
        return
    check_position(lat, lon)


@pytest.mark.parametrize(
    ("lat", "lon", "fragment"),
    [
        (90.5, 10.0, "latitude 90.5: outside -90..90"),
        (10.0, -180.1, "longitude -180.1: outside -180..180"),
        (math.nan, 1.0, "not a finite number"),
        (1.0, math.inf, "not a finite number"),
        (0.0, 0.0, "device without a fix"),
    ],
)
def test_implausible_positions_are_named(lat: float, lon: float, fragment: str) -> None:
    """Each refusal says which coordinate and why."""
    with pytest.raises(ProtocolError, match=fragment):
        check_position(lat, lon)


def test_device_time_bounds() -> None:
    """A zoned time after 2000 and within 25 h of now passes; the rest is refused with the reason."""
    check_device_time(NOW, NOW)
    check_device_time(NOW + timedelta(hours=24), NOW)
    with pytest.raises(ProtocolError, match="before 2000"):
        check_device_time(datetime(1999, 12, 31, tzinfo=UTC), NOW)
    with pytest.raises(ProtocolError, match="more than 25 h after"):
        check_device_time(NOW + timedelta(hours=26), NOW)
    with pytest.raises(ProtocolError, match="has no zone"):
        check_device_time(datetime(2026, 1, 1), NOW)
