"""Fences over the API: GeoJSON in and out, validation messages, one allowed area, retire, roles, scoping, audit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from central.db.models import Fence
from tests.integration.central.conftest import Env

SUBJECT = "S-350206-0001"  # Huli township
URL = f"/api/v1/subjects/{SUBJECT}/fences"
# Roughly the outline of a county (湖里区-sized, ~12 x 9 km), counter-clockwise, closed.
COUNTY = [
    [118.0700, 24.4850],
    [118.1100, 24.4780],
    [118.1550, 24.4850],
    [118.1900, 24.5000],
    [118.2000, 24.5250],
    [118.1850, 24.5500],
    [118.1500, 24.5600],
    [118.1050, 24.5550],
    [118.0750, 24.5400],
    [118.0650, 24.5150],
    [118.0700, 24.4850],
]


def _feature(kind: str, name: str, geometry: dict[str, Any], **props: object) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"kind": kind, "name": name, **props}}


def test_fence_crud(env: Env) -> None:
    """Create, read, replace and retire fences; bad geometry is refused with the reason; every change is audited."""
    c, h = env.client, env.login("huli.officer")
    county = {"type": "Polygon", "coordinates": [COUNTY]}
    r = c.post(URL, headers=h, json=_feature("allowed", "湖里区", county, stroke="#f00"))
    assert r.status_code == 201, r.text
    allowed = r.json()
    assert allowed["geometry"] == county and allowed["properties"]["kind"] == "allowed"

    bar = c.post(
        URL,
        headers=h,
        json=_feature("exclusion", "bar street", {"type": "Circle", "center": [118.12, 24.50], "radius_m": 150}),
    )
    net = c.post(
        URL,
        headers=h,
        json=_feature("exclusion", "internet cafe", {"type": "Point", "coordinates": [118.13, 24.51]}, radius_m=80),
    )
    assert bar.status_code == net.status_code == 201
    assert bar.json()["geometry"] == {"type": "Point", "coordinates": [118.12, 24.50]}
    assert bar.json()["properties"]["radius_m"] == 150

    second = c.post(URL, headers=h, json=_feature("allowed", "city", county))
    assert second.status_code == 409
    assert f"has an allowed area already (fence {allowed['id']})" in second.json()["error"]
    bow_tie = {"type": "Polygon", "coordinates": [[[118, 24], [118.2, 24.2], [118.2, 24], [118, 24.2], [118, 24]]]}
    bad = c.post(URL, headers=h, json=_feature("exclusion", "x", bow_tie))
    assert bad.status_code == 400 and bad.json()["error"] == "polygon ring is self-intersecting at (118.1, 24.1)"
    swapped = {"type": "Polygon", "coordinates": [[[lat, lon] for lon, lat in COUNTY]]}
    bad = c.post(URL, headers=h, json=_feature("allowed", "x", swapped))
    assert bad.status_code == 400 and bad.json()["error"].startswith("latitude 118.07 out of range [-90, 90]")
    empty = c.post(URL, headers=h, json=_feature("exclusion", "x", {"type": "Polygon", "coordinates": []}))
    assert empty.status_code == 400 and empty.json()["error"] == "empty polygon"

    listed = c.get(URL, headers=h).json()
    assert listed["type"] == "FeatureCollection"
    assert [f["properties"]["name"] for f in listed["features"]] == ["湖里区", "bar street", "internet cafe"]
    fence_url = f"{URL}/{bar.json()['id']}"
    moved = _feature("exclusion", "bar street (new)", {"type": "Circle", "center": [118.121, 24.501], "radius_m": 200})
    r = c.put(fence_url, headers=h, json=moved)
    assert r.status_code == 200 and r.json()["properties"]["radius_m"] == 200
    r = c.put(fence_url, headers=h, json=_feature("exclusion", "x", bow_tie))
    assert (
        r.status_code == 400
        and r.json()["error"] == f"fence {bar.json()['id']}: polygon ring is self-intersecting at (118.1, 24.1)"
    )
    assert c.get(fence_url, headers=h).json()["properties"]["name"] == "bar street (new)"

    assert c.delete(fence_url, headers=h).status_code == 204
    assert len(c.get(URL, headers=h).json()["features"]) == 2
    retired = c.get(URL, headers=h, params={"include_retired": True}).json()["features"]
    assert [f["properties"]["active"] for f in retired] == [True, False, True]

    viewer = env.login("huli.viewer")
    assert len(c.get(URL, headers=viewer).json()["features"]) == 2
    assert c.post(URL, headers=viewer, json=_feature("exclusion", "x", bow_tie)).status_code == 403
    sibling = env.login("haicang.officer")
    assert c.get(URL, headers=sibling).status_code == 404
    assert c.delete(f"{URL}/{allowed['id']}", headers=sibling).status_code == 404

    with env.central.sessions() as s:
        stored = s.execute(select(Fence.geojson).where(Fence.name == "internet cafe")).scalar_one()
        assert stored == {"type": "Circle", "center": [118.13, 24.51], "radius_m": 80.0}
    trail = c.get("/api/v1/audit", headers=env.login("prov.admin"), params={"subject_id": SUBJECT}).json()
    assert [r["action"] for r in reversed(trail) if r["action"].startswith("fence.")] == [
        "fence.create",
        "fence.create",
        "fence.create",
        "fence.update",
        "fence.retire",
    ]
