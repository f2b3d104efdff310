"""Fences of a subject: the allowed area and exclusion zones (禁止令), as GeoJSON, validated.

In and out, a fence is a GeoJSON Feature whose properties hold `kind` (`allowed` or
`exclusion`) and `name`:

- an allowed area is a `Polygon` or `MultiPolygon` (typically the county or city of residence);
- an exclusion zone is a `Polygon`, a `MultiPolygon`, or a circle, written either as
  ``{"type": "Circle", "center": [lon, lat], "radius_m": r}`` (not standard GeoJSON) or as a
  standard `Point` geometry with ``properties.radius_m``.

Stored (`fence.geojson`, what the rule engines read): the geometry as given for polygons, and
the `Circle` form for circles. Served: polygons as stored, circles as `Point` + `radius_m`
(what map libraries draw). Positions are `[lon, lat]` in WGS-84; rings must be closed.
Geometry is checked with shapely, by the fence rule's own validation: empty, self-intersecting
and out-of-range input is refused with a message that says what is wrong and where. A subject has
at most one active allowed area (the rule evaluates one); exclusion zones are any number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central import audit, subjects
from central.db.models import Fence, User
from central.errors import Conflict, Forbidden, NotFound
from central.rules.geometry import to_geojson, validate_geojson, validate_point

KINDS = ("allowed", "exclusion")
MAX_RADIUS_M = 50_000.0
MAX_POSITIONS = 50_000
MAX_NAME = 200


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _count_positions(value: Any, depth: int) -> int:
    """Items `depth` lists deep: positions of a polygon at 2, of a multipolygon at 3 (checked before shapely)."""
    if depth == 0 or not isinstance(value, list):
        return 1
    return sum(_count_positions(v, depth - 1) for v in value)


def _radius(value: Any, where: str) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not 0 < value <= MAX_RADIUS_M:
        raise ValueError(f"{where}: expected metres, more than 0 and at most {MAX_RADIUS_M:g}, got {_show(value)}")
    return float(value)


def normalise(kind: Any, geometry: Any, properties: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The geometry to store for a fence of `kind`; ValueError saying what is wrong.

    Polygons go through the fence rule's own check (`central.rules.geometry.validate_geojson`), so
    whatever is stored is what the rule engine accepts.
    """
    properties = properties or {}
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: expected one of {', '.join(KINDS)}")
    if not isinstance(geometry, Mapping):
        raise ValueError(f"geometry: expected a GeoJSON geometry object, got {_show(geometry)}")
    gtype = geometry.get("type")
    if gtype in ("Polygon", "MultiPolygon"):
        positions = _count_positions(geometry.get("coordinates"), 2 if gtype == "Polygon" else 3)
        if positions > MAX_POSITIONS:
            raise ValueError(f"{gtype} has {positions} positions, at most {MAX_POSITIONS}: simplify it first")
        return to_geojson(validate_geojson(geometry))
    if gtype in ("Circle", "Point"):
        if kind != "exclusion":
            raise ValueError(f"an allowed area must be a Polygon or MultiPolygon, got {gtype}")
        if gtype == "Circle":
            centre, radius = geometry.get("center"), _radius(geometry.get("radius_m"), "circle radius_m")
        else:
            centre = geometry.get("coordinates")
            radius = _radius(properties.get("radius_m"), "a Point fence needs properties.radius_m")
        if not isinstance(centre, list | tuple) or len(centre) not in (2, 3):
            raise ValueError(f"circle centre: expected [lon, lat], got {_show(centre)}")
        lon, lat = validate_point(centre[0], centre[1])
        return {"type": "Circle", "center": [lon, lat], "radius_m": radius}
    raise ValueError(
        f"geometry type {gtype!r}: expected Polygon, MultiPolygon, Circle, or Point with properties.radius_m"
    )


def feature(fence: Fence) -> dict[str, Any]:
    """A fence as a GeoJSON Feature (circles as a Point with `radius_m`)."""
    props: dict[str, Any] = {
        "kind": fence.kind,
        "name": fence.name,
        "active": fence.active,
        "subject_id": fence.subject_id,
        "created_at": fence.created_at.isoformat(),
    }
    geometry = dict(fence.geojson)
    if geometry.get("type") == "Circle":
        props["radius_m"] = geometry["radius_m"]
        geometry = {"type": "Point", "coordinates": geometry["center"]}
    return {"type": "Feature", "id": fence.id, "geometry": geometry, "properties": props}


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_NAME:
        raise ValueError(f"name: expected a text of 1 to {MAX_NAME} characters, got {_show(value)}")
    return value.strip()


def _writer(actor: User) -> None:
    if actor.role not in ("admin", "officer"):
        raise Forbidden(f"this needs the role admin or officer; you are {actor.role}")


def _one_allowed_area(session: Session, subject_id: str, kind: str, active: bool, fence_id: int | None) -> None:
    if kind != "allowed" or not active:
        return
    q = select(Fence.id).where(Fence.subject_id == subject_id, Fence.kind == "allowed", Fence.active.is_(True))
    if fence_id is not None:
        q = q.where(Fence.id != fence_id)
    other = session.execute(q).scalar()
    if other is not None:
        raise Conflict(f"subject {subject_id} has an allowed area already (fence {other}): change that one with PUT")


def _audit(session: Session, audit_key: bytes, actor: User, action: str, fence: Fence) -> None:
    audit.record(
        session,
        audit_key,
        actor=actor.username,
        action=action,
        subject_id=fence.subject_id,
        node_path=fence.node_path,
        detail={"fence_id": fence.id, "kind": fence.kind, "name": fence.name, "geometry": fence.geojson["type"]},
    )


def create_fence(
    session: Session,
    audit_key: bytes,
    actor: User,
    subject_id: str,
    *,
    kind: str,
    name: str,
    geometry: Any,
    properties: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Fence:
    """Add a fence to a subject of the actor's jurisdiction; audited."""
    _writer(actor)
    subject = subjects.get_scoped(session, actor, subject_id)
    geojson = normalise(kind, geometry, properties)
    _one_allowed_area(session, subject.id, kind, True, None)
    fence = Fence(
        subject_id=subject.id,
        node_path=subject.node_path,
        kind=kind,
        name=_name(name),
        geojson=geojson,
        active=True,
        created_by=actor.id,
        created_at=now or datetime.now(UTC),
    )
    session.add(fence)
    session.flush()
    _audit(session, audit_key, actor, "fence.create", fence)
    return fence


def list_fences(session: Session, viewer: User, subject_id: str, *, include_retired: bool = False) -> list[Fence]:
    """A subject's fences (active ones unless asked), oldest first."""
    subject = subjects.get_scoped(session, viewer, subject_id)
    q = select(Fence).where(Fence.subject_id == subject.id).order_by(Fence.id)
    if not include_retired:
        q = q.where(Fence.active.is_(True))
    return list(session.execute(q).scalars())


def get_fence(session: Session, viewer: User, subject_id: str, fence_id: int) -> Fence:
    """One fence of a subject of the viewer's jurisdiction."""
    subject = subjects.get_scoped(session, viewer, subject_id)
    fence = session.execute(
        select(Fence).where(Fence.id == fence_id, Fence.subject_id == subject.id).with_for_update()
    ).scalar_one_or_none()
    if fence is None:
        raise NotFound(f"no fence {fence_id} for subject {subject_id}")
    return fence


def update_fence(
    session: Session,
    audit_key: bytes,
    actor: User,
    subject_id: str,
    fence_id: int,
    *,
    kind: str,
    name: str,
    geometry: Any,
    properties: Mapping[str, Any] | None = None,
    active: bool = True,
) -> Fence:
    """Replace a fence's kind, name, geometry and active flag; audited."""
    _writer(actor)
    fence = get_fence(session, actor, subject_id, fence_id)
    try:
        geojson = normalise(kind, geometry, properties)
    except ValueError as exc:
        raise ValueError(f"fence {fence_id}: {exc}") from None
    _one_allowed_area(session, fence.subject_id, kind, active, fence.id)
    fence.kind, fence.name, fence.geojson, fence.active = kind, _name(name), geojson, active
    session.flush()
    _audit(session, audit_key, actor, "fence.update", fence)
    return fence


def retire_fence(session: Session, audit_key: bytes, actor: User, subject_id: str, fence_id: int) -> Fence:
    """Stop evaluating a fence; the row stays, since past alerts were raised against it; audited."""
    _writer(actor)
    fence = get_fence(session, actor, subject_id, fence_id)
    fence.active = False
    session.flush()
    _audit(session, audit_key, actor, "fence.retire", fence)
    return fence
