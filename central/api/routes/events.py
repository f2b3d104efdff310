"""The event log, check-ins and devices, scoped to the officer's jurisdiction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from central.api.deps import SessionDep, UserDep
from central.api.schemas import CheckinOut, DeviceOut, EventOut
from central.db.models import Checkin, Device, Event
from central.scoping import scoped

router = APIRouter(prefix="/api/v1", tags=["events"])

# An ordinary listing never shows where a subject is: positions need the audited location step.
_POSITION_FIELDS = ("lat", "lon", "accuracy_m", "speed_kmh", "heading_deg")


def _redacted(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in _POSITION_FIELDS}


@router.get("/events")
def list_events(
    user: UserDep,
    session: SessionDep,
    type: str | None = None,
    subject_id: str | None = None,
    device_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(200, ge=1, le=1000),
    before_received: datetime | None = None,
) -> list[EventOut]:
    """Events in the officer's jurisdiction, newest first."""
    q = scoped(select(Event), Event.node_path, user).order_by(Event.received_at.desc(), Event.event_id).limit(limit)
    if type:
        q = q.where(Event.type == type)
    if subject_id:
        q = q.where(Event.subject_id == subject_id)
    if device_id:
        q = q.where(Event.device_id == device_id)
    if since:
        q = q.where(Event.device_time >= since)
    if until:
        q = q.where(Event.device_time < until)
    if before_received:
        q = q.where(Event.received_at < before_received)
    out = []
    for e in session.execute(q).scalars():
        item = EventOut.model_validate(e)
        if e.type == "fix":
            item.payload = _redacted(e.payload)
        out.append(item)
    return out


@router.get("/checkins")
def list_checkins(
    user: UserDep,
    session: SessionDep,
    subject_id: str | None = None,
    limit: int = Query(200, ge=1, le=1000),
) -> list[CheckinOut]:
    """Kiosk check-ins in the officer's jurisdiction, newest first."""
    q = scoped(select(Checkin), Checkin.node_path, user).order_by(Checkin.device_time.desc()).limit(limit)
    if subject_id:
        q = q.where(Checkin.subject_id == subject_id)
    return [CheckinOut.model_validate(c) for c in session.execute(q).scalars()]


@router.get("/devices")
def list_devices(user: UserDep, session: SessionDep) -> list[DeviceOut]:
    """Devices of the officer's jurisdiction with their last status."""
    q = scoped(select(Device), Device.node_path, user).order_by(Device.id)
    return [DeviceOut.model_validate(d) for d in session.execute(q).scalars()]
