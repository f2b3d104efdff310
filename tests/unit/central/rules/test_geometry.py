"""Fence geometry: GeoJSON validation with reasons, the local projection's error bound, compiled areas and circles."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.rules.geometry import (
    INSIDE,
    NEAR,
    OUTSIDE,
    Area,
    Circle,
    LocalProjection,
    to_geojson,
    validate_geojson,
    validate_point,
    validate_route,
)
from tests.unit.central.rules.strategies import (
    AREAS,
    G15_GEOJSON,
    HAICANG,
    HAICANG_GEOJSON,
    INVALID,
    SCHOOL,
    across,
    catalogue_positions,
    haicang,
    lonlats,
    margins,
    near_haicang,
    offset,
)


def vincenty_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Geodesic distance on WGS-84 by Vincenty's inverse formula (the slow reference for the projection)."""
    a, f = 6378137.0, 1 / 298.257223563
    b = a * (1 - f)
    u1, u2 = math.atan((1 - f) * math.tan(math.radians(lat1))), math.atan((1 - f) * math.tan(math.radians(lat2)))
    big_l = math.radians(lon2 - lon1)
    lam = big_l
    for _ in range(200):
        sin_s = math.hypot(
            math.cos(u2) * math.sin(lam), math.cos(u1) * math.sin(u2) - math.sin(u1) * math.cos(u2) * math.cos(lam)
        )
        if sin_s == 0:
            return 0.0
        cos_s = math.sin(u1) * math.sin(u2) + math.cos(u1) * math.cos(u2) * math.cos(lam)
        sigma = math.atan2(sin_s, cos_s)
        sin_a = math.cos(u1) * math.cos(u2) * math.sin(lam) / sin_s
        cos2_a = 1 - sin_a**2
        cos_2sm = cos_s - 2 * math.sin(u1) * math.sin(u2) / cos2_a if cos2_a else 0.0
        c = f / 16 * cos2_a * (4 + f * (4 - 3 * cos2_a))
        previous = lam
        lam = big_l + (1 - c) * f * sin_a * (sigma + c * sin_s * (cos_2sm + c * cos_s * (-1 + 2 * cos_2sm**2)))
        if abs(lam - previous) < 1e-13:
            break
    u_sq = cos2_a * (a * a - b * b) / (b * b)
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    d_sigma = (
        big_b
        * sin_s
        * (
            cos_2sm
            + big_b
            / 4
            * (cos_s * (-1 + 2 * cos_2sm**2) - big_b / 6 * cos_2sm * (-3 + 4 * sin_s**2) * (-3 + 4 * cos_2sm**2))
        )
    )
    return b * big_a * (sigma - d_sigma)


@pytest.fixture(scope="module")
def compiled() -> dict[str, Area]:
    """Every catalogue area, compiled once."""
    return {name: _compiled(name) for name in AREAS}


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("obj", "message"), INVALID, ids=[m[:40] for _, m in INVALID])
def test_invalid_geojson_is_rejected_with_its_reason(obj: object, message: str) -> None:
    """Each invalid area is rejected with a message that says what is wrong and where."""
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        validate_geojson(obj)


def test_collinear_ring_is_rejected() -> None:
    """A ring whose corners lie on one line encloses nothing and is refused."""
    with pytest.raises(ValueError, match=r"self-intersecting|zero area|too few"):
        validate_geojson(
            {"type": "Polygon", "coordinates": [[[118.0, 24.5], [118.1, 24.5], [118.2, 24.5], [118.0, 24.5]]]}
        )


@pytest.mark.parametrize("name", list(AREAS))
def test_catalogue_areas_are_valid_and_round_trip(name: str) -> None:
    """Every catalogue area validates, and its GeoJSON out validates to the same geometry."""
    geometry = validate_geojson(AREAS[name])
    again = validate_geojson(to_geojson(geometry))
    assert again.equals(geometry)
    assert validate_geojson({"type": "Feature", "properties": {}, "geometry": AREAS[name]}).equals(geometry)


def test_clockwise_rings_are_accepted() -> None:
    """Ring orientation is not enforced (RFC 7946 asks parsers to accept either)."""
    reversed_ring = {"type": "Polygon", "coordinates": [HAICANG_GEOJSON["coordinates"][0][::-1]]}
    assert validate_geojson(reversed_ring).equals(validate_geojson(HAICANG_GEOJSON))


def test_route_and_point_validation() -> None:
    """Routes must be LineStrings of at least two distinct positions; circle centres must be in range."""
    assert validate_route(G15_GEOJSON).geom_type == "LineString"
    with pytest.raises(ValueError, match=r"^route geometry type 'Polygon' is not a line"):
        validate_route(HAICANG_GEOJSON)
    with pytest.raises(ValueError, match=r"^route has zero length"):
        validate_route({"type": "LineString", "coordinates": [[118.0, 24.5], [118.0, 24.5]]})
    with pytest.raises(ValueError, match=r"^latitude 91 out of range \[-90, 90\] at centre"):
        validate_point(118.0, 91)


# --- projection -----------------------------------------------------------------------------------


@pytest.mark.parametrize("lat", [0.0, 18.2, 24.5, 39.9, 53.5])
def test_projection_scale_matches_the_length_of_a_degree(lat: float) -> None:
    """Metres per degree at the centre agree with the published WGS-84 series (to 10 cm: a 1° arc is not a point)."""
    p = LocalProjection.at(118.0, lat)
    phi = math.radians(lat)
    per_lat = 111132.954 - 559.822 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi) - 0.0023 * math.cos(6 * phi)
    per_lon = 111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi) + 0.118 * math.cos(5 * phi)
    assert p.ky == pytest.approx(per_lat, abs=0.1)
    assert p.kx == pytest.approx(per_lon, abs=0.1)


def test_haicang_projection_error_bound_is_below_a_tenth_of_a_percent() -> None:
    """Around a county the stated error bound is below 0.1 %: a 100 m margin is right to 10 cm."""
    assert 0.0 < haicang().scale_error < 0.001


@given(near_haicang, near_haicang)
@settings(max_examples=200, deadline=None)
def test_projected_distances_are_within_the_stated_bound(a: tuple[float, float], b: tuple[float, float]) -> None:
    """Within the area's band (its extent plus 2.5 km), projected distances are WGS-84 geodesics to scale_error."""
    area = haicang()
    xa, ya = area.projection.forward(*a)
    xb, yb = area.projection.forward(*b)
    truth = vincenty_m(a[0], a[1], b[0], b[1])
    assert abs(math.hypot(xa - xb, ya - yb) - truth) <= area.scale_error * truth + 1e-6


def test_projection_round_trips_geometry() -> None:
    """Projecting then unprojecting gives back the lon/lat geometry."""
    area = haicang()
    assert area.projection.unproject(area.polygon).equals_exact(validate_geojson(HAICANG_GEOJSON), 1e-9)


# --- compiled areas: the grid fast path against shapely -------------------------------------------


@pytest.mark.parametrize("name", list(AREAS))
def test_catalogue_positions_classify_like_shapely(compiled: dict[str, Area], name: str) -> None:
    """For every edge position and margin, the grid answer equals shapely's and agrees with the signed distance."""
    area = compiled[name]
    for lon, lat in catalogue_positions(AREAS[name]):
        x, y = area.projection.forward(lon, lat)
        depth = area.signed_distance(lon, lat)
        for inner in (0.0, 10.0, 40.0, 60.0, 2600.0):
            for outer in (0.0, 10.0, 30.0, 2600.0):
                fast, slow = area.classify(lon, lat, inner, outer), area.classify_exact(x, y, inner, outer)
                assert fast == slow, (name, lon, lat, inner, outer)
                if fast == INSIDE:
                    assert depth > inner
                elif fast == OUTSIDE:
                    assert -depth > outer
                else:
                    assert fast == NEAR
                    assert -outer <= depth <= inner + 1e-6


@given(st.sampled_from(sorted(AREAS)), lonlats, margins, margins)
@settings(max_examples=300, deadline=None)
def test_random_positions_classify_like_shapely(
    name: str, where: tuple[float, float], inner: float, outer: float
) -> None:
    """Anywhere around the catalogue areas, the grid fast path answers like the exact path."""
    area = _compiled(name)
    x, y = area.projection.forward(*where)
    assert area.classify(*where, inner, outer) == area.classify_exact(x, y, inner, outer)


_CACHE: dict[str, Area] = {}


def _compiled(name: str) -> Area:
    if name not in _CACHE:
        _CACHE[name] = Area.compile(validate_geojson(AREAS[name]), max_cells=1 << 14)
    return _CACHE[name]


def test_haicang_border_points_are_where_the_tests_put_them() -> None:
    """`across` puts positions the asked distance off the border (the scenario tests rely on it)."""
    area = haicang()
    for edge in range(len(HAICANG) - 1):
        for metres in (-50.0, -20.0, 20.0, 50.0):
            depth = area.signed_distance(*across(HAICANG, edge, 0.5, metres))
            assert (depth < 0) == (metres > 0)
            assert abs(depth) <= abs(metres) + 0.05
            if edge == 20:  # the western border the strategies jitter around
                assert -depth == pytest.approx(metres, abs=0.05)


def test_grown_line_is_a_corridor() -> None:
    """A route grown by a margin contains positions near the route and not those beyond the margin."""
    corridor = Area.compile(validate_route(G15_GEOJSON), margin_m=5000.0, max_cells=4096)
    on_route = (118.490, 24.910)  # between Nan'an and Quanzhou, where the road runs east
    assert corridor.classify(*on_route, 100.0, 0.0) == INSIDE
    assert corridor.classify(*offset(on_route, 0.0, -4800.0), 100.0, 0.0) == INSIDE
    assert corridor.classify(*offset(on_route, 0.0, -5200.0), 0.0, 100.0) == OUTSIDE
    assert 0.0 < corridor.scale_error < 0.01


def test_area_compile_refuses_a_bare_line() -> None:
    """A line with no margin has no inside, so it cannot be an area."""
    with pytest.raises(ValueError, match="cannot compile an area from LineString"):
        Area.compile(validate_route(G15_GEOJSON))


# --- circles --------------------------------------------------------------------------------------


@given(st.floats(0.0, 400.0), st.floats(0.0, 2 * math.pi), st.sampled_from([0.0, 10.0, 30.0, 100.0]))
@settings(max_examples=300, deadline=None)
def test_circle_classifies_by_geodesic_distance(distance: float, bearing: float, margin: float) -> None:
    """Inside or outside a circle by more than a margin agrees with the geodesic distance from its centre."""
    circle = Circle.compile(SCHOOL.lon, SCHOOL.lat, SCHOOL.radius_m)
    where = offset((SCHOOL.lon, SCHOOL.lat), distance * math.sin(bearing), distance * math.cos(bearing))
    truth = vincenty_m(SCHOOL.lon, SCHOOL.lat, *where)
    side = circle.classify(*where, margin, margin)
    if abs(abs(truth - SCHOOL.radius_m) - margin) > 0.01:  # beyond a centimetre of the threshold
        expected = INSIDE if SCHOOL.radius_m - truth > margin else OUTSIDE if truth - SCHOOL.radius_m > margin else NEAR
        assert side == expected


@pytest.mark.parametrize(
    ("radius", "message"), [(0.0, "circle radius 0.0 m must be a positive"), (float("nan"), "circle radius nan")]
)
def test_circle_radius_must_be_positive(radius: float, message: str) -> None:
    """A circle of no or unknown size is refused with its value."""
    with pytest.raises(ValueError, match=message):
        Circle.compile(118.0, 24.5, radius)
