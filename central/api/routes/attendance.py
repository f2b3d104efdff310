"""Officer API: camera sightings, group-study sessions, attendance, voice-report recordings (all scoped)."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from central import attendance
from central.api.deps import CentralDep, SessionDep, UserDep, require_role
from central.db.models import User
from central.device_services import voice_report_audio
from central.presence import Presence

router = APIRouter(prefix="/api/v1", tags=["attendance"])


def _aware(name: str, moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise ValueError(f"{name} {moment.isoformat()}: give a time zone (Z or +08:00)")
    return moment


class SightingOut(BaseModel):
    """A camera sighting of the subject: which camera, when, how sure."""

    model_config = ConfigDict(from_attributes=True)
    event_id: str
    device_id: str
    camera_id: str
    track_id: int
    first_seen: datetime
    last_seen: datetime
    score: float
    quality: float


@router.get("/subjects/{subject_id}/sightings")
def subject_sightings(
    subject_id: str,
    user: UserDep,
    session: SessionDep,
    since: datetime | None = Query(None, alias="from", description="tracks that lasted until this time or later"),
    until: datetime | None = Query(None, alias="to", description="tracks that began before this time"),
    limit: int = Query(500, ge=1, le=5000),
) -> list[SightingOut]:
    """A subject's camera sightings in a time range, newest first."""
    rows = attendance.subject_sightings(
        session, user, subject_id, _aware("from", since), _aware("to", until), limit=limit
    )
    return [SightingOut.model_validate(r) for r in rows]


class StudySessionIn(BaseModel):
    """A group-study session at a node of your jurisdiction."""

    model_config = ConfigDict(extra="forbid")
    node: str = Field(min_length=1, max_length=32, description="node code, e.g. 350205001")
    title: str = Field(min_length=1, max_length=200)
    starts_at: datetime
    ends_at: datetime


class StudySessionOut(BaseModel):
    """A scheduled session."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    node_path: str
    title: str
    starts_at: datetime
    ends_at: datetime
    created_by: int | None
    created_at: datetime


@router.post("/study-sessions", status_code=201)
def create_study_session(
    body: StudySessionIn,
    central: CentralDep,
    session: SessionDep,
    user: User = Depends(require_role("admin", "officer")),
) -> StudySessionOut:
    """Schedule a group-study session (audited)."""
    row = attendance.create_study_session(
        session,
        central.audit_key,
        user,
        node_code=body.node,
        title=body.title,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
    )
    return StudySessionOut.model_validate(row)


@router.get("/study-sessions")
def list_study_sessions(
    user: UserDep,
    session: SessionDep,
    node: str | None = Query(None, description="node code: only its subtree (must lie in yours)"),
    since: datetime | None = Query(None, alias="from", description="sessions ending after this time"),
    until: datetime | None = Query(None, alias="to", description="sessions starting before this time"),
) -> list[StudySessionOut]:
    """Sessions in your jurisdiction, by start time."""
    rows = attendance.list_study_sessions(session, user, node, _aware("from", since), _aware("to", until))
    return [StudySessionOut.model_validate(r) for r in rows]


class CheckinEvidence(BaseModel):
    """An accepted kiosk check-in that counts as presence."""

    event_id: str
    device_id: str
    at: datetime


class SightingEvidence(BaseModel):
    """A camera sighting that counts as presence."""

    event_id: str
    device_id: str
    camera_id: str
    first_seen: datetime
    last_seen: datetime
    score: float


class PresenceOut(BaseModel):
    """One subject: present (by check-in, or by sighting only) or absent, and the evidence."""

    subject_id: str
    present: bool
    by: str | None
    checkins: list[CheckinEvidence]
    sightings: list[SightingEvidence]


def _presence(p: Presence) -> PresenceOut:
    return PresenceOut(
        subject_id=p.subject_id,
        present=p.present,
        by=p.by,
        checkins=[CheckinEvidence(event_id=c.event_id, device_id=c.device_id, at=c.at) for c in p.checkins],
        sightings=[
            SightingEvidence(
                event_id=s.event_id,
                device_id=s.device_id,
                camera_id=s.camera_id,
                first_seen=s.first_seen,
                last_seen=s.last_seen,
                score=s.score,
            )
            for s in p.sightings
        ],
    )


class SessionAttendanceOut(BaseModel):
    """Attendance of one session with counts."""

    session: StudySessionOut
    node: str
    expected: int
    present_checkin: int
    present_sighting: int
    absent: int
    subjects: list[PresenceOut]


@router.get("/study-sessions/{session_id}/attendance")
def session_attendance(session_id: int, user: UserDep, session: SessionDep) -> SessionAttendanceOut:
    """Each subject of the session's node: present (kiosk check-in or camera sighting at that node) or absent."""
    result = attendance.session_attendance(session, user, session_id)
    return SessionAttendanceOut(
        session=StudySessionOut.model_validate(result.study_session),
        node=result.node_code,
        expected=result.tally.expected,
        present_checkin=result.tally.by_checkin,
        present_sighting=result.tally.by_sighting_only,
        absent=result.tally.absent,
        subjects=[_presence(p) for p in result.results],
    )


class CentreDayOut(BaseModel):
    """One centre's day: subject ids by outcome, and each subject's evidence."""

    node: str
    node_name: str
    node_path: str
    day: date
    expected: list[str]
    present_checkin: list[str]
    present_sighting: list[str]
    absent: list[str]
    subjects: list[PresenceOut]


@router.get("/attendance")
def day_attendance(
    user: UserDep,
    session: SessionDep,
    day: date = Query(description="YYYY-MM-DD, China time"),
    node: str | None = Query(None, description="node code (default: yours); must lie in your jurisdiction"),
) -> list[CentreDayOut]:
    """Per centre of the node's subtree: expected, present by check-in, present by sighting only, absent."""
    return [
        CentreDayOut(
            node=c.node_code,
            node_name=c.node_name,
            node_path=c.node_path,
            day=c.day,
            expected=c.expected,
            present_checkin=c.present_checkin,
            present_sighting=c.present_sighting,
            absent=c.absent,
            subjects=[_presence(p) for p in c.results],
        )
        for c in attendance.day_attendance(session, user, day, node)
    ]


@router.get(
    "/voice-reports/{report_id}/audio",
    response_class=Response,
    responses={200: {"content": {"audio/wav": {}}, "description": "the recording"}},
)
def voice_report_recording(report_id: int, user: UserDep, central: CentralDep, session: SessionDep) -> Response:
    """The recording of a voice report, for playback (audited; the report's subject must be in your jurisdiction)."""
    data, content_type = voice_report_audio(session, central.cipher, central.audit_key, user, report_id)
    return Response(data, media_type=content_type, headers={"Cache-Control": "no-store"})
