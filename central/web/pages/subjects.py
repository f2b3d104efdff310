"""Subjects: the searchable, filterable list and the profile.

The profile shows the record (ID number masked unless the officer holds `id_number`), the
supervision level and term, which biometrics are enrolled and when (never the templates),
check-ins, camera sightings and voice reports (transcript, key elements, the recording on
request, audited). It never shows a position: that is the map's audited step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from central import attendance, subjects
from central.api.deps import CentralDep, SessionDep
from central.api.routes.monitoring import fence_status
from central.db.models import Alert, AudioBlob, Checkin, JurisdictionNode, Subject, Template, User, VoiceReport
from central.device_services import voice_report_audio
from central.nodes import get_node
from central.scoping import scoped
from central.security import FieldCipher
from central.web.layout import node_names, page
from central.web.render import PREFIX, is_htmx, render_html
from central.web.routing import OfficerDep, UiRoute

router = APIRouter(prefix=PREFIX, route_class=UiRoute, include_in_schema=False)

PAGE_SIZE = 50
PROFILE_ROWS = 20


@dataclass(frozen=True)
class Filters:
    """The list's filters, as given in the query string (empty: no filter)."""

    q: str = ""
    category: str = ""
    level: str = ""
    status: str = ""
    node: str = ""


@dataclass(frozen=True)
class SubjectRow:
    """One line of the list."""

    id: str
    name: str
    category: str
    supervision_level: str
    status: str
    node_path: str
    term_end: date


@dataclass(frozen=True)
class SubjectPage:
    """One page of the list."""

    rows: list[SubjectRow]
    total: int
    page: int
    pages: int


def _filtered(session: Session, viewer: User, f: Filters) -> Select[str, bytes, str, str, str, str, date]:
    q = scoped(
        select(
            Subject.id,
            Subject.name_enc,
            Subject.category,
            Subject.supervision_level,
            Subject.status,
            Subject.node_path,
            Subject.term_end,
        ),
        Subject.node_path,
        viewer,
    )
    if f.category:
        q = q.where(Subject.category == f.category)
    if f.level:
        q = q.where(Subject.supervision_level == f.level)
    if f.status:
        q = q.where(Subject.status == f.status)
    if f.node:
        q = q.where(Subject.node_path.startswith(get_node(session, f.node).path, autoescape=True))
    return q


def search(session: Session, cipher: FieldCipher, viewer: User, f: Filters, page_no: int) -> SubjectPage:
    """Subjects of the viewer's jurisdiction matching the filters, by id, one page at a time.

    Names are encrypted at rest, so a text search decrypts the names of the (already scoped and
    filtered) rows; without one, only the page's names are decrypted.
    """
    q = _filtered(session, viewer, f).order_by(Subject.id)

    def row(r: Row[str, bytes, str, str, str, str, date], name: str | None = None) -> SubjectRow:
        sid, enc, category, level, status, path, term_end = r
        name = name if name is not None else cipher.decrypt_text(enc, "subject.name")
        return SubjectRow(sid, name, category, level, status, path, term_end)

    if f.q:
        needle = f.q.casefold()
        matches = []
        for r in session.execute(q):
            name = cipher.decrypt_text(r[1], "subject.name")
            if needle in name.casefold() or needle in r[0].casefold():
                matches.append(row(r, name))
        total = len(matches)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        page_no = min(max(page_no, 1), pages)
        return SubjectPage(matches[(page_no - 1) * PAGE_SIZE : page_no * PAGE_SIZE], total, page_no, pages)
    total = int(session.execute(select(func.count()).select_from(q.order_by(None).subquery())).scalar_one())
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page_no = min(max(page_no, 1), pages)
    rows = session.execute(q.limit(PAGE_SIZE).offset((page_no - 1) * PAGE_SIZE))
    return SubjectPage([row(r) for r in rows], total, page_no, pages)


def _nodes(session: Session, viewer: User) -> list[JurisdictionNode]:
    q = scoped(select(JurisdictionNode), JurisdictionNode.path, viewer).order_by(JurisdictionNode.path)
    return list(session.execute(q).scalars())


@router.get("/subjects")
def subject_list(request: Request, officer: OfficerDep, central: CentralDep, session: SessionDep) -> Response:
    """The list with its filter form; an htmx request gets only the results."""
    p = request.query_params
    filters = Filters(
        q=p.get("q", "").strip()[:100],
        category=p.get("category", ""),
        level=p.get("level", ""),
        status=p.get("status", ""),
        node=p.get("node", ""),
    )
    try:
        page_no = int(p.get("page", "1"))
    except ValueError:
        page_no = 1
    result = search(session, central.cipher, officer.user, filters, page_no)
    context: dict[str, Any] = {
        "result": result,
        "filters": filters,
        "names": node_names(session, officer.user),
        "query": {k: v for k, v in filters.__dict__.items() if v},
    }
    if is_htmx(request) and request.headers.get("HX-Target") == "results":
        return render_html(request, "_subject_results.html", officer, **context)
    return page(
        request,
        officer,
        session,
        "subjects.html",
        "subjects",
        nodes=_nodes(session, officer.user),
        categories=subjects.CATEGORIES,
        levels=subjects.LEVELS,
        statuses=subjects.STATUSES,
        **context,
    )


@dataclass(frozen=True)
class Biometric:
    """An enrolled template's kind and date (never the template)."""

    kind: str
    model: str
    enrolled_at: datetime


@router.get("/subjects/{subject_id}")
def profile(
    subject_id: str, request: Request, officer: OfficerDep, central: CentralDep, session: SessionDep
) -> Response:
    """One subject's profile; outside the officer's jurisdiction it is 404, as if absent."""
    user = officer.user
    subject = subjects.get_scoped(session, user, subject_id)
    shown = subjects.view(subject, central.cipher, user)
    biometrics = [
        Biometric(kind, model, at)
        for kind, model, at in session.execute(
            select(Template.kind, Template.model, Template.created_at)
            .where(Template.subject_id == subject.id)
            .order_by(Template.created_at)
        )
    ]
    checkins = session.execute(
        select(Checkin).where(Checkin.subject_id == subject.id).order_by(Checkin.device_time.desc()).limit(PROFILE_ROWS)
    ).scalars()
    reports = list(
        session.execute(
            select(VoiceReport)
            .where(VoiceReport.subject_id == subject.id)
            .order_by(VoiceReport.device_time.desc())
            .limit(PROFILE_ROWS)
        ).scalars()
    )
    uploaded = set(
        session.execute(
            select(AudioBlob.sha256).where(AudioBlob.sha256.in_([r.audio_sha256 for r in reports]))
        ).scalars()
    )
    alerts = session.execute(
        select(Alert).where(Alert.subject_id == subject.id).order_by(Alert.opened_at.desc()).limit(PROFILE_ROWS)
    ).scalars()
    return page(
        request,
        officer,
        session,
        "subject.html",
        "subjects",
        s=shown,
        subject=subject,
        masked="id_number" not in user.permissions,
        names=node_names(session, user),
        biometrics=biometrics,
        checkins=list(checkins),
        sightings=attendance.subject_sightings(session, user, subject.id, limit=PROFILE_ROWS),
        reports=reports,
        uploaded=uploaded,
        fences=fence_status(subject.id, user, session),
        alerts=list(alerts),
        rows_max=PROFILE_ROWS,
    )


@router.get("/voice-reports/{report_id}/audio")
def report_audio(report_id: int, officer: OfficerDep, central: CentralDep, session: SessionDep) -> Response:
    """A voice report's recording for the profile's player (fetched only on play; each listen audited)."""
    data, content_type = voice_report_audio(session, central.cipher, central.audit_key, officer.user, report_id)
    return Response(data, media_type=content_type, headers={"Cache-Control": "no-store"})
