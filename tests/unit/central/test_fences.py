"""Fence GeoJSON: what is accepted, how it is stored and served, and the message for each refusal."""

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from central.db.models import Fence
from central.fences import MAX_POSITIONS, MAX_RADIUS_M, feature, normalise

SQUARE = [[118.0, 24.4], [118.2, 24.4], [118.2, 24.6], [118.0, 24.6], [118.0, 24.4]]
POLYGON = {"type": "Polygon", "coordinates": [SQUARE]}


def test_polygon_and_multipolygon_are_stored_as_given():
    """A valid polygon comes back as the same GeoJSON; a multipolygon of two squares too."""
    assert normalise("allowed", POLYGON) == POLYGON
    other = [[x + 1, y] for x, y in SQUARE]
    multi = {"type": "MultiPolygon", "coordinates": [[SQUARE], [other]]}
    assert normalise("exclusion", multi) == multi


def test_altitude_is_dropped():
    """A third coordinate (altitude) is not kept."""
    ring = [[x, y, 12.5] for x, y in SQUARE]
    assert normalise("allowed", {"type": "Polygon", "coordinates": [ring]}) == POLYGON


@pytest.mark.parametrize(
    ("geometry", "properties"),
    [
        ({"type": "Circle", "center": [118.05, 24.48], "radius_m": 200}, {}),
        ({"type": "Point", "coordinates": [118.05, 24.48]}, {"radius_m": 200}),
        ({"type": "Point", "coordinates": [118.05, 24.48, 3.0]}, {"radius_m": 200.0}),
    ],
)
def test_both_circle_forms_store_the_circle_form(geometry, properties):
    """A Circle and a Point with radius_m are the same exclusion zone."""
    assert normalise("exclusion", geometry, properties) == {
        "type": "Circle",
        "center": [118.05, 24.48],
        "radius_m": 200.0,
    }


@pytest.mark.parametrize(
    ("kind", "geometry", "properties", "message"),
    [
        ("home", POLYGON, {}, "kind 'home': expected one of allowed, exclusion"),
        ("allowed", [SQUARE], {}, "geometry: expected a GeoJSON geometry object"),
        (
            "allowed",
            {"type": "LineString", "coordinates": SQUARE},
            {},
            "geometry type 'LineString': expected Polygon, MultiPolygon, Circle, or Point with properties.radius_m",
        ),
        ("allowed", {"type": "Polygon", "coordinates": []}, {}, "empty polygon"),
        ("allowed", {"type": "MultiPolygon", "coordinates": []}, {}, "empty multipolygon"),
        (
            "allowed",
            {"type": "Polygon", "coordinates": [[[118, 24], [118.2, 24.2], [118.2, 24], [118, 24.2], [118, 24]]]},
            {},
            "polygon ring is self-intersecting at (118.1, 24.1)",
        ),
        (
            "allowed",
            {"type": "Polygon", "coordinates": [[[24.4, 118.0], [24.6, 118.0], [24.6, 118.2], [24.4, 118.0]]]},
            {},
            "latitude 118.0 out of range [-90, 90] at polygon ring 0 position 0",
        ),
        (
            "allowed",
            {"type": "Polygon", "coordinates": [SQUARE[:-1]]},
            {},
            "polygon ring 0 is not closed",
        ),
        (
            "allowed",
            {"type": "Circle", "center": [118.05, 24.48], "radius_m": 200},
            {},
            "an allowed area must be a Polygon or MultiPolygon, got Circle",
        ),
        (
            "exclusion",
            {"type": "Circle", "center": [118.05, 24.48], "radius_m": 0},
            {},
            f"circle radius_m: expected metres, more than 0 and at most {MAX_RADIUS_M:g}, got 0",
        ),
        (
            "exclusion",
            {"type": "Circle", "center": [118.05, 24.48], "radius_m": MAX_RADIUS_M + 1},
            {},
            "circle radius_m: expected metres",
        ),
        (
            "exclusion",
            {"type": "Circle", "center": [218.05, 24.48], "radius_m": 10},
            {},
            "longitude 218.05 out of range",
        ),
        ("exclusion", {"type": "Circle", "center": "here", "radius_m": 10}, {}, "circle centre: expected [lon, lat]"),
        (
            "exclusion",
            {"type": "Point", "coordinates": [118.05, 24.48]},
            {},
            "a Point fence needs properties.radius_m: expected metres, more than 0 and at most 50000, got None",
        ),
    ],
)
def test_refusals_say_what_is_wrong(kind, geometry, properties, message):
    """Each bad input is refused with a message that names the problem (and where, for geometry)."""
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        normalise(kind, geometry, properties)


def test_too_many_positions():
    """A geometry too big to evaluate cheaply is refused before shapely sees it."""
    ring = [[118 + i * 1e-5, 24.0] for i in range(MAX_POSITIONS)] + [[118.0, 24.5], [118.0, 24.0]]
    with pytest.raises(ValueError, match=f"Polygon has {MAX_POSITIONS + 2} positions, at most {MAX_POSITIONS}"):
        normalise("allowed", {"type": "Polygon", "coordinates": [ring]})


def _fence(geojson: dict[str, Any]) -> Fence:
    return Fence(
        id=3,
        subject_id="S-1",
        node_path="/35/",
        kind="exclusion",
        name="bar street",
        geojson=geojson,
        active=True,
        created_at=datetime(2026, 11, 23, tzinfo=UTC),
    )


def test_feature_serves_circles_as_points_with_radius():
    """Out, a circle is standard GeoJSON (Point + radius_m); reading it back in gives the stored form again."""
    stored = {"type": "Circle", "center": [118.05, 24.48], "radius_m": 200.0}
    out = feature(_fence(stored))
    assert out["geometry"] == {"type": "Point", "coordinates": [118.05, 24.48]}
    assert out["properties"]["radius_m"] == 200.0
    assert out["id"] == 3 and out["type"] == "Feature"
    assert normalise("exclusion", out["geometry"], out["properties"]) == stored


def test_feature_serves_polygons_as_stored():
    """Out, a polygon is the stored GeoJSON with kind, name and active in the properties."""
    out = feature(_fence(POLYGON))
    assert out["geometry"] == POLYGON
    assert {k: out["properties"][k] for k in ("kind", "name", "active")} == {
        "kind": "exclusion",
        "name": "bar street",
        "active": True,
    }
