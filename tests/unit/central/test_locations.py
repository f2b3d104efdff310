"""Location privacy helpers: track simplification in metres, positioning periods, reasons."""

import itertools
import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.db.models import Subject
from central.locations import (
    MAX_TOLERANCE_M,
    MIN_REASON_CHARS,
    TrackPoint,
    add_months,
    china_date,
    douglas_peucker,
    fit,
    positioning_window,
    project,
    reason_text,
    simplify,
)

T0 = datetime(2026, 11, 23, tzinfo=UTC)

coordinates = st.lists(
    st.tuples(st.floats(-2000, 2000, allow_nan=False), st.floats(-2000, 2000, allow_nan=False)), max_size=60
)


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    d = b - a
    length2 = float(d @ d)
    t = 0.0 if length2 == 0 else min(1.0, max(0.0, float((p - a) @ d) / length2))
    return float(np.hypot(*(p - (a + t * d))))


@given(points=coordinates, tolerance=st.floats(0, 500))
def test_every_dropped_point_is_within_tolerance_of_its_segment(points, tolerance):
    """Douglas–Peucker keeps first and last, indices ascend, and a dropped point is near the kept segment around it."""
    xs = np.array([p[0] for p in points], dtype=float)
    ys = np.array([p[1] for p in points], dtype=float)
    kept = douglas_peucker(xs, ys, tolerance)
    assert kept == sorted(set(kept))
    if points:
        assert kept[0] == 0 and kept[-1] == len(points) - 1
    for a, b in itertools.pairwise(kept):
        for i in range(a + 1, b):
            p = np.array([xs[i], ys[i]])
            start, end = np.array([xs[a], ys[a]]), np.array([xs[b], ys[b]])
            assert _segment_distance(p, start, end) <= tolerance + 1e-6


def test_straight_line_keeps_only_its_ends():
    """Points along a straight line collapse to the two ends."""
    xs = np.arange(100, dtype=float)
    assert douglas_peucker(xs, xs * 2, 0.5) == [0, 99]


def test_out_and_back_keeps_the_far_end():
    """A trip out and back to the start keeps the turning point (distance to the segment, not the line)."""
    xs = np.array([0, 500, 1000, 500, 0], dtype=float)
    assert douglas_peucker(xs, np.zeros(5), 10) == [0, 2, 4]


def test_projection_is_in_metres():
    """A tenth of a degree of latitude is about 11.1 km; of longitude at 24.5° N about 10.1 km."""
    xs, ys = project([24.5, 24.6, 24.5], [118.0, 118.0, 118.1])
    assert math.isclose(ys[1] - ys[0], 11_119.5, rel_tol=1e-3)
    assert math.isclose(xs[2] - xs[0], 11_119.5 * math.cos(math.radians(24.53)), rel_tol=2e-3)


def _track(n: int, wiggle_m: float = 0.0, step_m: float = 100.0) -> list[TrackPoint]:
    """A walk east at 24.5° N, a point every `step_m` metres, zig-zagging `wiggle_m` north and south."""
    step = step_m / 101_000
    return [
        TrackPoint(f"e{i}", T0 + timedelta(seconds=i), 24.5 + (wiggle_m / 111_000) * (i % 2), 118 + i * step, 5, "gnss")
        for i in range(n)
    ]


def test_fit_leaves_short_tracks_alone():
    """Up to the limit, without a tolerance, nothing is simplified."""
    points = _track(50, wiggle_m=30)
    assert fit(points, None, max_points=50) == (points, None)


def test_fit_simplifies_long_tracks_until_they_fit():
    """A long zig-zag is simplified with a growing tolerance until it fits, first and last kept."""
    points = _track(3000, wiggle_m=40, step_m=5)
    shown, tolerance = fit(points, None, max_points=100)
    assert len(shown) <= 100
    assert tolerance is not None and 40 / 2 <= tolerance <= MAX_TOLERANCE_M
    assert shown[0] == points[0] and shown[-1] == points[-1]
    assert [p.at for p in shown] == sorted(p.at for p in shown)


def test_fit_with_a_tolerance_simplifies_even_short_tracks():
    """A given tolerance is applied whatever the length; a 40 m zig-zag survives 10 m, not 100 m."""
    points = _track(20, wiggle_m=40)
    assert len(fit(points, 10.0)[0]) == 20
    assert len(fit(points, 100.0)[0]) == 2


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 1), 3, date(2026, 4, 1)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2026, 4, 1), -3, date(2026, 1, 1)),
    ],
)
def test_add_months(day, months, expected):
    """Months are calendar months; a missing day becomes the month's last."""
    assert add_months(day, months) == expected


def _subject(start: date | None, end: date | None) -> Subject:
    return Subject(id="S-1", positioning_from=start, positioning_until=end)


def test_positioning_window_is_whole_days_in_china_time():
    """The period runs from midnight China time of its first day to midnight after its last."""
    window = positioning_window(_subject(date(2026, 11, 1), date(2026, 11, 30)))
    assert window is not None
    start, end = window
    assert start == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert end == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert china_date(end - timedelta(microseconds=1)) == date(2026, 11, 30)


def test_positioning_window_without_a_start_is_three_months():
    """A period recorded with only its end is taken at the legal maximum of three months."""
    window = positioning_window(_subject(None, date(2026, 11, 30)))
    assert window is not None and china_date(window[0]) == date(2026, 8, 31)
    assert positioning_window(_subject(None, None)) is None


def test_reason_must_say_something():
    """A reason shorter than the minimum is refused with its length; spaces do not count."""
    with pytest.raises(ValueError, match=f"at least {MIN_REASON_CHARS} characters\\), got 2"):
        reason_text("  ok   ")
    assert reason_text(" 核查越界告警 ") == "核查越界告警"


@pytest.mark.parametrize("tolerance", [5.0, 40.0, 320.0])
def test_simplify_keeps_exactly_what_douglas_peucker_keeps(tolerance):
    """The GEOS path of `simplify` is checked against the numpy one on a random walk, and on a point repeated."""
    rng = np.random.default_rng(7)
    lats = 24.49 + np.cumsum(rng.normal(0, 0.0006, 3000))
    lons = 118.01 + np.cumsum(rng.normal(0, 0.0008, 3000))
    points = [
        TrackPoint(f"e{i}", T0 + timedelta(minutes=i), lat, lon, 10, "gnss")
        for i, (lat, lon) in enumerate(zip(lats, lons, strict=True))
    ]
    xs, ys = project(lats, lons)
    assert [p.event_id for p in simplify(points, tolerance)] == [f"e{i}" for i in douglas_peucker(xs, ys, tolerance)]
    still = [TrackPoint(f"s{i}", T0, 24.5, 118.0, 5, "gnss") for i in range(5)]
    assert [p.event_id for p in simplify(still, tolerance)] == ["s0", "s4"]
