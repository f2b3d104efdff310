"""The dashboard: today's check-ins and attendance per centre, open alerts by kind, what ends soon, devices offline.

Everything is scoped to the officer's jurisdiction. Attendance per centre is central/attendance.py's
(check-ins and camera sightings); for a province it weighs every subject, so the page asks for it
separately (htmx, on load) and shows its other figures at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter, Request
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from central import attendance, locations
from central.api.deps import CentralDep, SessionDep
from central.db.models import Alert, Checkin, Device, Subject, User
from central.scoping import scoped
from central.security import FieldCipher
from central.web.layout import UNRESOLVED, node_names, page
from central.web.render import PREFIX, render_html
from central.web.routing import OfficerDep, UiRoute

router = APIRouter(prefix=PREFIX, route_class=UiRoute, include_in_schema=False)

TERM_SOON_DAYS = 30
POSITIONING_SOON_DAYS = 7
LIST_MAX = 20


@dataclass(frozen=True)
class KioskDay:
    """Check-ins at one kiosk today."""

    device_id: str
    node_path: str
    accepted: int
    refused: int


@dataclass(frozen=True)
class Ending:
    """A subject whose term or positioning period ends soon."""

    subject_id: str
    name: str
    ends_on: date
    days_left: int


@dataclass(frozen=True)
class Dashboard:
    """What the dashboard shows."""

    active_subjects: int
    checkins_accepted: int
    checkins_refused: int
    kiosks: list[KioskDay]
    alerts_by_kind: list[tuple[str, int]]
    terms_ending: list[Ending]
    positioning_ending: list[Ending]
    offline: list[Device]
    offline_total: int


def kiosk_checkins(session: Session, viewer: User, start: datetime, end: datetime) -> list[KioskDay]:
    """Accepted and refused check-ins of the viewer's subjects in [start, end), per kiosk."""
    accepted = func.sum(case((Checkin.result == "accepted", 1), else_=0))
    q = (
        select(Checkin.device_id, Device.node_path, accepted, func.count())
        .join(Device, Device.id == Checkin.device_id)
        .where(Checkin.device_time >= start, Checkin.device_time < end)
        .group_by(Checkin.device_id, Device.node_path)
        .order_by(Device.node_path, Checkin.device_id)
    )
    rows = session.execute(scoped(q, Checkin.node_path, viewer)).all()
    return [KioskDay(dev, path, int(acc or 0), int(total) - int(acc or 0)) for dev, path, acc, total in rows]


def _names(session: Session, cipher: FieldCipher, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.execute(select(Subject.id, Subject.name_enc).where(Subject.id.in_(ids)))
    return {sid: cipher.decrypt_text(enc, "subject.name") for sid, enc in rows}


def build(session: Session, cipher: FieldCipher, viewer: User, today: date) -> Dashboard:
    """The dashboard figures for a China-time day."""
    start, end = attendance.china_day(today)
    kiosks = kiosk_checkins(session, viewer, start, end)
    active = session.execute(
        scoped(select(func.count()).select_from(Subject), Subject.node_path, viewer).where(Subject.status == "active")
    ).scalar_one()
    by_kind = session.execute(
        scoped(select(Alert.kind, func.count()), Alert.node_path, viewer)
        .where(Alert.state.in_(UNRESOLVED))
        .group_by(Alert.kind)
        .order_by(func.count().desc(), Alert.kind)
    ).all()
    terms = session.execute(
        scoped(select(Subject.id, Subject.term_end), Subject.node_path, viewer)
        .where(
            Subject.status == "active",
            Subject.term_end >= today,
            Subject.term_end <= today + timedelta(days=TERM_SOON_DAYS),
        )
        .order_by(Subject.term_end, Subject.id)
        .limit(LIST_MAX)
    ).all()
    positioning = locations.expiring_positioning(session, viewer, POSITIONING_SOON_DAYS, today)[:LIST_MAX]
    names = _names(session, cipher, [sid for sid, _ in terms] + [p.subject_id for p in positioning])
    offline_q = scoped(select(Device), Device.node_path, viewer).where(
        Device.kind != "central", Device.enabled.is_(True), Device.online.is_(False)
    )
    offline_total = session.execute(select(func.count()).select_from(offline_q.subquery())).scalar_one()
    offline = session.execute(
        offline_q.order_by(Device.last_seen.desc().nulls_last(), Device.id).limit(LIST_MAX)
    ).scalars()
    return Dashboard(
        active_subjects=int(active),
        checkins_accepted=sum(k.accepted for k in kiosks),
        checkins_refused=sum(k.refused for k in kiosks),
        kiosks=kiosks,
        alerts_by_kind=[(kind, int(n)) for kind, n in by_kind],
        terms_ending=[Ending(sid, names.get(sid, ""), end_day, (end_day - today).days) for sid, end_day in terms],
        positioning_ending=[
            Ending(p.subject_id, names.get(p.subject_id, ""), p.positioning_until, p.days_left) for p in positioning
        ],
        offline=list(offline),
        offline_total=int(offline_total),
    )


@router.get("/dashboard")
def dashboard(request: Request, officer: OfficerDep, central: CentralDep, session: SessionDep) -> Response:
    """The officer's dashboard for today (China time)."""
    today = locations.china_date(datetime.now(UTC))
    data = build(session, central.cipher, officer.user, today)
    return page(
        request,
        officer,
        session,
        "dashboard.html",
        "dashboard",
        d=data,
        today=today,
        names=node_names(session, officer.user),
        term_days=TERM_SOON_DAYS,
        positioning_days=POSITIONING_SOON_DAYS,
    )


@router.get("/dashboard/attendance")
def attendance_today(request: Request, officer: OfficerDep, session: SessionDep) -> Response:
    """Today's attendance per centre (the dashboard loads it after the page)."""
    today = locations.china_date(datetime.now(UTC))
    centres = attendance.day_attendance(session, officer.user, today)
    return render_html(request, "_attendance.html", officer, centres=centres)
