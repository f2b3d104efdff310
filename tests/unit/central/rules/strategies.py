"""Fence test data and every hypothesis strategy of the fence and geometry tests.

Real geometry: an approximate outline of Xiamen's Haicang district (海沧区), exclusion circles in
it, a leave destination in Fuzhou (鼓楼区) and the G15 expressway between the two. Plus the one
catalogue of edge-case areas and positions every geometry predicate is run through, and the
catalogue of invalid GeoJSON with the reason each must be rejected with.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from hypothesis import strategies as st

from central.rules.base import FixObservation
from central.rules.fence import FENCE_LEVELS, ExclusionCircle, FenceLevel, FenceParams, FenceSet
from central.rules.geometry import Area, LocalProjection, validate_geojson

SUBJECT = "S-350205-0001"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=60)
"""A receive time after every fix of the tests (so device times are taken as they are)."""

# lon, lat. Traced by eye from a map: Maluan bay cuts in from the north, the Jiulong estuary is
# the south coast, Xiamen's western harbour the east coast, Zhangzhou (Longhai) to the west.
HAICANG: list[tuple[float, float]] = [
    (117.945, 24.535), (117.960, 24.552), (117.985, 24.560), (118.010, 24.556), (118.020, 24.552),
    (118.028, 24.530), (118.040, 24.524), (118.050, 24.536), (118.062, 24.535), (118.080, 24.528),
    (118.088, 24.512), (118.078, 24.495), (118.085, 24.478), (118.080, 24.458), (118.065, 24.445),
    (118.040, 24.438), (118.015, 24.432), (117.990, 24.436), (117.972, 24.445), (117.958, 24.460),
    (117.950, 24.480), (117.955, 24.500), (117.965, 24.510), (117.950, 24.520), (117.945, 24.535),
]  # fmt: skip
HAICANG_GEOJSON: dict[str, Any] = {"type": "Polygon", "coordinates": [[list(p) for p in HAICANG]]}

HOME = (118.010, 24.490)  # a flat near Haicang's centre, about 4 km from any border
WEST = (117.900, 24.490)  # Jiaomei (Longhai, Zhangzhou), 5 km west of the district
SCHOOL = ExclusionCircle("school", 118.040, 24.475, 200.0)  # 禁止令: a primary school
BAR_STREET = ExclusionCircle("bars", 117.990, 24.505, 150.0)

FUZHOU_GULOU: dict[str, Any] = {
    "type": "Polygon",
    "coordinates": [
        [[119.255, 26.060], [119.300, 26.058], [119.320, 26.080], [119.315, 26.115], [119.280, 26.130],
         [119.250, 26.110], [119.255, 26.060]]
    ],
}  # fmt: skip
FUZHOU_HOTEL = (119.290, 26.090)
G15 = [  # Haicang → Xiamen → Quanzhou → Putian → Fuqing → Fuzhou, by the expressway
    (118.010, 24.490), (118.060, 24.540), (118.150, 24.720), (118.380, 24.900), (118.600, 24.920),
    (119.010, 25.450), (119.380, 25.720), (119.300, 26.070),
]  # fmt: skip
G15_GEOJSON: dict[str, Any] = {"type": "LineString", "coordinates": [list(p) for p in G15]}


def at(seconds: float) -> datetime:
    """T0 plus a number of seconds."""
    return T0 + timedelta(seconds=seconds)


def fix(event_id: str, seconds: float, where: tuple[float, float], accuracy: float = 10.0) -> FixObservation:
    """A fix of the subject at T0 + seconds, at (lon, lat)."""
    return FixObservation(event_id, SUBJECT, at(seconds), where[1], where[0], accuracy, "gnss", "phone-1")


def offset(where: tuple[float, float], east_m: float, north_m: float) -> tuple[float, float]:
    """The position `east_m`, `north_m` metres from `where`."""
    p = LocalProjection.at(*where)
    return where[0] + east_m / p.kx, where[1] + north_m / p.ky


def along(points: list[tuple[float, float]], fraction: float) -> tuple[float, float]:
    """The position a fraction of the way along a polyline (by lon/lat length, good enough for tests)."""
    lengths = [math.dist(a, b) for a, b in itertools.pairwise(points)]
    goal = fraction * sum(lengths)
    for (a, b), length in zip(itertools.pairwise(points), lengths, strict=True):
        if goal <= length:
            f = goal / length
            return a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1])
        goal -= length
    return points[-1]


def across(ring: list[tuple[float, float]], edge: int, fraction: float, out_m: float) -> tuple[float, float]:
    """A position `out_m` metres outside (negative: inside) a ring's edge, at `fraction` along it.

    Measured along the edge's outward normal (the ring is assumed counter-clockwise or not: the
    side is found from the ring's signed area).
    """
    (x0, y0), (x1, y1) = ring[edge], ring[edge + 1]
    p = LocalProjection.at(x0, y0)
    dx, dy = (x1 - x0) * p.kx, (y1 - y0) * p.ky
    norm = math.hypot(dx, dy)
    signed_area = sum(a[0] * b[1] - b[0] * a[1] for a, b in itertools.pairwise(ring))
    nx, ny = (dy / norm, -dx / norm) if signed_area > 0 else (-dy / norm, dx / norm)
    base = (x0 + fraction * (x1 - x0), y0 + fraction * (y1 - y0))
    return offset(base, nx * out_m, ny * out_m)


@cache
def haicang() -> Area:
    """The compiled Haicang area, shared by every test (as central shares it between subjects)."""
    return Area.compile(validate_geojson(HAICANG_GEOJSON))


@cache
def haicang_fences() -> FenceSet:
    """Haicang with the two exclusion circles."""
    return FenceSet.compile(haicang(), [SCHOOL, BAR_STREET])


def params(level: FenceLevel = FENCE_LEVELS["normal"], fences: FenceSet | None = None) -> FenceParams:
    """Evaluation parameters for Haicang and its circles (or `fences`) at a level."""
    return FenceParams(haicang_fences() if fences is None else fences, level)


# --- the catalogue of edge cases --------------------------------------------------------------------


def _square(lon: float, lat: float, half_m: float) -> list[list[float]]:
    corners = [(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)]
    return [list(offset((lon, lat), cx * half_m, cy * half_m)) for cx, cy in corners]


def _ring(spots: list[tuple[float, float]]) -> list[list[float]]:
    """A closed ring through points given in metres east and north of (118.0, 24.5)."""
    ring = [list(offset((118.0, 24.5), e, n)) for e, n in spots]
    return [*ring, ring[0]]


def _u_shape() -> list[list[float]]:
    """A U 1 km across whose arms are 40 m apart at the gap (points there are outside, near both arms)."""
    return _ring([(-500, -500), (500, -500), (500, 500), (20, 500), (20, -300), (-20, -300), (-20, 500), (-500, 500)])


AREAS: dict[str, dict[str, Any]] = {
    "haicang": HAICANG_GEOJSON,
    "square with a hole": {
        "type": "Polygon",
        "coordinates": [_square(118.0, 24.5, 1000.0), _square(118.0, 24.5, 250.0)[::-1]],
    },
    "two islands": {
        "type": "MultiPolygon",
        "coordinates": [[_square(118.10, 24.47, 3000.0)], [_square(118.062, 24.447, 600.0)]],
    },
    "sliver 60 m wide": {
        "type": "Polygon",
        "coordinates": [_ring([(-2000, -30), (2000, -30), (2000, 30), (-2000, 30)])],
    },
    "u with a 40 m gap": {"type": "Polygon", "coordinates": [_u_shape()]},
    "spike": {
        "type": "Polygon",
        "coordinates": [_ring([(0, 0), (3000, 10), (0, 20), (-500, 500)])],
    },
}  # fmt: skip
"""Valid areas of unlike shapes, all near Xiamen."""


def catalogue_positions(geojson: dict[str, Any]) -> list[tuple[float, float]]:
    """Edge positions for an area: every vertex, edge midpoints, and points set off each edge by telling distances."""
    rings = [
        r
        for poly in ([geojson["coordinates"]] if geojson["type"] == "Polygon" else geojson["coordinates"])
        for r in poly
    ]
    out: list[tuple[float, float]] = []
    for ring in rings:
        ring_t = [(float(x), float(y)) for x, y in ring]
        for i in range(len(ring_t) - 1):
            out.append(ring_t[i])
            for metres in (-3000.0, -100.0, -41.0, -40.0, -39.0, -10.0, 0.0, 1.0, 10.0, 29.0, 31.0, 100.0, 2600.0):
                out.append(across(ring_t, i, 0.5, metres))
    (x0, y0), (x1, y1) = out[0], out[len(out) // 2]
    out += [((x0 + x1) / 2, (y0 + y1) / 2), (116.4, 39.9), (118.0, -24.5), (179.9, 24.5), (-179.9, 24.5)]
    return out


INVALID: list[tuple[object, str]] = [
    ([[118.0, 24.5]], "expected a GeoJSON object, got list"),
    ({"type": "Point", "coordinates": [118.0, 24.5]},
     "geometry type 'Point' is not an area: expected 'Polygon' or 'MultiPolygon'"),
    ({"type": "Polygon"}, "Polygon has no 'coordinates'"),
    ({"type": "Polygon", "coordinates": []}, "empty polygon"),
    ({"type": "MultiPolygon", "coordinates": []}, "empty multipolygon"),
    ({"type": "Polygon", "coordinates": [[[118.0, 24.4], [118.2, 24.6], [118.2, 24.4], [118.0, 24.6], [118.0, 24.4]]]},
     "polygon ring is self-intersecting at (118.1, 24.5)"),
    ({"type": "Polygon", "coordinates": [[[190, 24.4], [118.2, 24.6], [118.2, 24.4], [190, 24.4]]]},
     "longitude 190 out of range [-180, 180] at polygon ring 0 position 0"),
    ({"type": "Polygon", "coordinates": [[[118.0, 24.4], [118.2, 95], [118.2, 24.4], [118.0, 24.4]]]},
     "latitude 95 out of range [-90, 90] at polygon ring 0 position 1"),
    ({"type": "Polygon", "coordinates": [[[118.0, 24.4], [118.2, 24.6], [118.2, 24.4], [118.0, 24.5]]]},
     "polygon ring 0 is not closed: first position (118.0, 24.4) differs from last (118.0, 24.5)"),
    ({"type": "Polygon", "coordinates": [[[118.0, 24.4], [118.2, 24.6], [118.0, 24.4]]]},
     "polygon ring 0 has 3 positions: a closed ring needs at least 4"),
    ({"type": "Polygon", "coordinates": [[["118.0", 24.4], [118.2, 24.6], [118.2, 24.4], ["118.0", 24.4]]]},
     "polygon ring 0 position 0: longitude must be a number, got '118.0'"),
    ({"type": "Polygon", "coordinates": [[[118.0, float("nan")], [118.2, 24.6], [118.2, 24.4], [118.0, 24.4]]]},
     "polygon ring 0 position 0: latitude nan is not a finite number"),
    ({"type": "Polygon", "coordinates": [[[118.0, 24.4], [118.2], [118.2, 24.4], [118.0, 24.4]]]},
     "polygon ring 0 position 1 must be [longitude, latitude], got [118.2]"),
    ({"type": "Polygon", "coordinates": [_square(118.0, 24.5, 1000.0), _square(118.1, 24.5, 100.0)]},
     "polygon hole lies outside its shell at"),
    ({"type": "MultiPolygon", "coordinates": [[_square(118.0, 24.5, 1000.0)], [_square(118.005, 24.5, 1000.0)]]},
     "multipolygon parts 0 and 1 overlap at"),
    ({"type": "MultiPolygon", "coordinates": [
        [_square(118.0, 24.5, 1000.0)],
        [[[118.0, 24.4], [118.2, 24.6], [118.2, 24.4], [118.0, 24.6], [118.0, 24.4]]],
    ]}, "polygon 1: polygon ring is self-intersecting at (118.1, 24.5)"),
    ({"type": "Polygon", "coordinates": [[[-170.0, 0.0], [170.0, 0.0], [170.0, 1.0], [-170.0, 1.0], [-170.0, 0.0]]]},
     "area spans 340.0° of longitude: more than 180°"),
    ({"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": []}}, "empty polygon"),
    ({"type": "Feature", "properties": {}, "geometry": None}, "expected a GeoJSON object, got NoneType"),
]  # fmt: skip
"""Invalid GeoJSON and the start of the message it must be rejected with."""


# --- strategies ---------------------------------------------------------------------------------------

PLACES = ("home", "away", "border", "school", "school edge", "nowhere", "cell")


def _place(kind: str, jitter_e: float, jitter_n: float) -> tuple[tuple[float, float], float]:
    """A (lon, lat) and accuracy for a kind of place; the jitter is in metres."""
    if kind == "home":
        return offset(HOME, jitter_e * 10, jitter_n * 10), 10.0
    if kind == "away":
        return offset(WEST, jitter_e * 10, jitter_n * 10), 15.0
    if kind == "border":  # on the western border, within 20 m, with 30 m accuracy: never evidence
        return across(HAICANG, 20, 0.5, jitter_e), 30.0
    if kind == "school":
        return offset((SCHOOL.lon, SCHOOL.lat), jitter_e, jitter_n), 10.0
    if kind == "school edge":
        return offset((SCHOOL.lon, SCHOOL.lat), SCHOOL.radius_m + jitter_e, 0.0), 30.0
    if kind == "nowhere":
        return (float("nan"), float("nan")), 10.0
    return offset(HOME, jitter_e, jitter_n), 2500.0  # a cell-tower fix


@dataclass(frozen=True)
class Trip:
    """Fixes of one subject in device-time order, and one order they arrive in."""

    level: FenceLevel
    fixes: tuple[FixObservation, ...]
    arrival: tuple[int, ...]

    def arrived(self) -> list[FixObservation]:
        """The fixes in arrival order."""
        return [self.fixes[i] for i in self.arrival]


@st.composite
def fix_runs(draw: st.DrawFn, min_size: int = 1, max_size: int = 30) -> tuple[FixObservation, ...]:
    """Fixes in device-time order (ties happen), from a mix of places that favours runs."""
    n = draw(st.integers(min_size, max_size))
    seconds = 0
    out = []
    kind = draw(st.sampled_from(PLACES))
    for i in range(n):
        if draw(st.integers(0, 3)) == 0:
            kind = draw(st.sampled_from(PLACES))
        seconds += draw(st.sampled_from([0, 1, 15, 30, 30, 30, 60, 90, 200]))
        where, accuracy = _place(kind, draw(st.floats(-20, 20)), draw(st.floats(-20, 20)))
        event_id = f"{draw(st.integers(0, 9))}-{i:03d}"  # ids do not sort like arrival or time
        out.append(FixObservation(event_id, SUBJECT, at(seconds), where[1], where[0], accuracy, "gnss", "phone-1"))
    return tuple(out)


@st.composite
def _levels(draw: st.DrawFn) -> FenceLevel:
    confirm = draw(st.one_of(st.none(), st.integers(1, 4)))
    dwells = st.sampled_from([0.0, 60.0, 120.0, 300.0])
    dwell = draw(dwells if confirm is None else st.one_of(st.none(), dwells))
    return FenceLevel(
        confirm_fixes=confirm,
        confirm_dwell_s=dwell,
        close_fixes=draw(st.integers(1, 3)),
        window_fixes=draw(st.integers(2, 40)),
    )


fence_levels = _levels()
"""Evidence settings, including a count-only and a dwell-only level and windows small enough to overflow."""


@st.composite
def trips(draw: st.DrawFn, max_size: int = 30) -> Trip:
    """A level, fixes, and an arrival order: sorted, delayed by up to minutes each, or any permutation."""
    fixes = draw(fix_runs(max_size=max_size))
    n = len(fixes)
    how = draw(st.sampled_from(["sorted", "delayed", "shuffled"]))
    if how == "sorted":
        arrival = tuple(range(n))
    elif how == "delayed":
        delays = draw(st.lists(st.sampled_from([0, 0, 0, 10, 60, 300]), min_size=n, max_size=n))
        arrival = tuple(sorted(range(n), key=lambda i: (fixes[i].device_time + timedelta(seconds=delays[i]), i)))
    else:
        arrival = tuple(draw(st.permutations(range(n))))
    return Trip(draw(fence_levels), fixes, arrival)


lonlats = st.tuples(st.floats(117.90, 118.13), st.floats(24.40, 24.59))
"""Positions around Haicang and out to 5 km beyond it."""
near_haicang = st.tuples(st.floats(117.92, 118.11), st.floats(24.41, 24.58))
"""Positions within Haicang's projection band (its extent and the 2.5 km grid margin)."""
margins = st.sampled_from([0.0, 5.0, 10.0, 30.0, 40.0, 60.0, 150.0, 1000.0, 2500.0, 3000.0])
