"""Group-study sessions, attendance and camera sightings, scoped to the officer's jurisdiction.

The decisions are pure (`central.presence`); this module only fetches the evidence:

- a **session** at node N expects every active subject of N's subtree whose term covers the day;
  evidence is an accepted check-in at a kiosk of N's subtree from `SESSION_EARLY` before the
  start to the end, or a sighting by a camera of N's subtree overlapping the session;
- a **day** at a centre (every node of the requested subtree that has subjects registered
  directly at it) expects its active subjects; evidence is an accepted check-in at a kiosk whose
  jurisdiction covers the subject, or a sighting linked to the subject (ingest links a sighting
  only when the camera's node covers the subject), during that China-time day.

For the officer web UI and the API alike:

    day_attendance(session, viewer, day, node_code=None) -> list[CentreDay]
    session_attendance(session, viewer, session_id) -> SessionAttendance
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from central import audit, subjects
from central.db.models import Checkin, Device, JurisdictionNode, Sighting, StudySession, Subject, User
from central.errors import Forbidden, NotFound
from central.locations import CHINA
from central.nodes import get_node
from central.presence import CheckinSeen, Presence, SightingSeen, Tally, presence, tally
from central.scoping import path_within, scoped

SESSION_EARLY = timedelta(minutes=30)  # a check-in on arrival, shortly before the start, counts
MAX_SESSION = timedelta(hours=12)
MAX_SIGHTING_RANGE = timedelta(days=92)


def _node_in_scope(session: Session, viewer: User, node_code: str | None) -> JurisdictionNode:
    if node_code is None:
        return session.execute(select(JurisdictionNode).where(JurisdictionNode.path == viewer.node_path)).scalar_one()
    node = get_node(session, node_code)
    if not path_within(node.path, viewer.node_path):
        raise NotFound(f"no jurisdiction node with code {node_code!r} in your jurisdiction")
    return node


def china_day(day: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a calendar day in China time."""
    start = datetime.combine(day, time(0), tzinfo=CHINA)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


# -- sightings -------------------------------------------------------------------------------------


def subject_sightings(
    session: Session,
    viewer: User,
    subject_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> list[Sighting]:
    """A subject's camera sightings overlapping [since, until), newest first (the subject must be in scope)."""
    subject = subjects.get_scoped(session, viewer, subject_id)
    if since is not None and until is not None and until <= since:
        raise ValueError(f"'to' {until.isoformat()} is at or before 'from' {since.isoformat()}")
    q = select(Sighting).where(Sighting.subject_id == subject.id)
    if since is not None:
        q = q.where(Sighting.last_seen >= since)
    if until is not None:
        q = q.where(Sighting.first_seen < until)
    q = q.order_by(Sighting.first_seen.desc(), Sighting.id.desc()).limit(limit)
    return list(session.execute(q).scalars())


# -- study sessions --------------------------------------------------------------------------------


def create_study_session(
    session: Session,
    audit_key: bytes,
    viewer: User,
    *,
    node_code: str,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
) -> StudySession:
    """Schedule a group-study session at a node of the officer's jurisdiction (audited)."""
    if viewer.role not in ("admin", "officer"):
        raise Forbidden(f"scheduling a study session needs the role admin or officer; you are {viewer.role}")
    title = title.strip()
    if not title:
        raise ValueError("title: empty; say what the session is about")
    if len(title) > 200:
        raise ValueError(f"title: {len(title)} characters; at most 200")
    for name, moment in (("starts_at", starts_at), ("ends_at", ends_at)):
        if moment.tzinfo is None:
            raise ValueError(f"{name} {moment.isoformat()}: give a time zone (Z or +08:00)")
    if ends_at <= starts_at:
        raise ValueError(f"ends_at {ends_at.isoformat()} is at or before starts_at {starts_at.isoformat()}")
    if ends_at - starts_at > MAX_SESSION:
        raise ValueError(f"a session of {ends_at - starts_at}; at most {MAX_SESSION}")
    node = _node_in_scope(session, viewer, node_code)
    row = StudySession(
        node_id=node.id,
        node_path=node.path,
        title=title,
        starts_at=starts_at.astimezone(UTC),
        ends_at=ends_at.astimezone(UTC),
        created_by=viewer.id,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        audit_key,
        actor=viewer.username,
        action="study_session.create",
        node_path=node.path,
        detail={
            "session_id": row.id,
            "node": node.code,
            "title": title,
            "starts_at": row.starts_at.isoformat(),
            "ends_at": row.ends_at.isoformat(),
        },
    )
    return row


def list_study_sessions(
    session: Session,
    viewer: User,
    node_code: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> list[StudySession]:
    """Sessions in the viewer's jurisdiction (or a node's subtree of it) overlapping [since, until), by start."""
    q = scoped(select(StudySession), StudySession.node_path, viewer)
    if node_code is not None:
        q = q.where(StudySession.node_path.startswith(_node_in_scope(session, viewer, node_code).path, autoescape=True))
    if since is not None:
        q = q.where(StudySession.ends_at > since)
    if until is not None:
        q = q.where(StudySession.starts_at < until)
    return list(session.execute(q.order_by(StudySession.starts_at, StudySession.id).limit(limit)).scalars())


def get_study_session(session: Session, viewer: User, session_id: int) -> StudySession:
    """One session if its node lies in the viewer's jurisdiction; NotFound otherwise."""
    q = scoped(select(StudySession).where(StudySession.id == session_id), StudySession.node_path, viewer)
    row = session.execute(q).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no study session {session_id} in your jurisdiction")
    return row


def _expected(session: Session, node_path: str, day: date) -> list[Row[str, int, str]]:
    """Active subjects of a subtree whose term covers `day`: (id, node_id, node_path) rows.

    Columns, not ORM objects: a province's 10 000 subjects load ten times faster (bench/web.py).
    """
    q = (
        select(Subject.id, Subject.node_id, Subject.node_path)
        .where(
            Subject.node_path.startswith(node_path, autoescape=True),
            Subject.status == "active",
            Subject.term_start <= day,
            Subject.term_end >= day,
        )
        .order_by(Subject.id)
    )
    return list(session.execute(q).all())


@dataclass(frozen=True)
class SessionAttendance:
    """Each expected subject of a session, present or absent, with the evidence."""

    study_session: StudySession
    node_code: str
    results: list[Presence]
    tally: Tally


def session_attendance(session: Session, viewer: User, session_id: int) -> SessionAttendance:
    """Attendance of a group-study session: check-ins at, and sightings by, devices of the session's node."""
    row = get_study_session(session, viewer, session_id)
    node = session.get(JurisdictionNode, row.node_id)
    assert node is not None
    start, end = row.starts_at, row.ends_at
    expected = _expected(session, row.node_path, start.astimezone(CHINA).date())
    checkins = session.execute(
        select(Checkin.subject_id, Checkin.device_time, Checkin.device_id, Checkin.event_id, Checkin.result)
        .join(Device, Device.id == Checkin.device_id)
        .join(Subject, Subject.id == Checkin.subject_id)
        .where(
            Device.node_path.startswith(row.node_path, autoescape=True),
            Subject.node_path.startswith(row.node_path, autoescape=True),
            Checkin.device_time >= start - SESSION_EARLY,
            Checkin.device_time < end,
        )
    )
    sightings = session.execute(
        select(Sighting).where(
            Sighting.node_path.startswith(row.node_path, autoescape=True),
            Sighting.subject_id.is_not(None),
            Sighting.first_seen < end,
            Sighting.last_seen >= start,
        )
    ).scalars()
    results = presence(
        [s.id for s in expected],
        start,
        end,
        [CheckinSeen(sid, at, dev, eid, result == "accepted") for sid, at, dev, eid, result in checkins if sid],
        [_seen(s) for s in sightings],
        early=SESSION_EARLY,
    )
    return SessionAttendance(row, node.code, results, tally(results))


def _seen(s: Sighting) -> SightingSeen:
    assert s.subject_id is not None
    return SightingSeen(s.subject_id, s.first_seen, s.last_seen, s.device_id, s.camera_id, s.event_id, s.score)


# -- a centre's day --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CentreDay:
    """One centre's day: the subjects registered at that node, by outcome (subject ids, sorted)."""

    node_code: str
    node_name: str
    node_path: str
    day: date
    expected: list[str]
    present_checkin: list[str]
    present_sighting: list[str]
    absent: list[str]
    results: list[Presence]


def day_attendance(session: Session, viewer: User, day: date, node_code: str | None = None) -> list[CentreDay]:
    """Per centre of `node_code`'s subtree (default: the viewer's node), who was present on a China-time day.

    A centre is a node with subjects registered directly at it; each subject counts once, at its
    own node. Present by check-in (an accepted check-in at a kiosk whose jurisdiction covers the
    subject), present by sighting only (a camera sighting linked to the subject), or absent.
    """
    root = _node_in_scope(session, viewer, node_code)
    start, end = china_day(day)
    expected = _expected(session, root.path, day)
    if not expected:
        return []
    subject_path: dict[str, str] = {s.id: s.node_path for s in expected}
    checkins = [
        CheckinSeen(sid, at, dev, eid, result == "accepted")
        for sid, at, dev, eid, result, device_path in session.execute(
            select(
                Checkin.subject_id,
                Checkin.device_time,
                Checkin.device_id,
                Checkin.event_id,
                Checkin.result,
                Device.node_path,
            )
            .join(Device, Device.id == Checkin.device_id)
            .join(Subject, Subject.id == Checkin.subject_id)
            .where(
                Subject.node_path.startswith(root.path, autoescape=True),
                Checkin.device_time >= start,
                Checkin.device_time < end,
            )
        )
        if sid in subject_path and path_within(subject_path[sid], device_path)
    ]
    sightings = [
        _seen(s)
        for s in session.execute(
            select(Sighting)
            .join(Subject, Subject.id == Sighting.subject_id)
            .where(
                Subject.node_path.startswith(root.path, autoescape=True),
                Sighting.first_seen < end,
                Sighting.last_seen >= start,
            )
        ).scalars()
    ]
    results = {p.subject_id: p for p in presence(list(subject_path), start, end, checkins, sightings)}
    by_node: dict[int, list[Row[str, int, str]]] = defaultdict(list)
    for s in expected:
        by_node[s.node_id].append(s)
    nodes = session.execute(select(JurisdictionNode).where(JurisdictionNode.id.in_(list(by_node)))).scalars()
    out = []
    for node in sorted(nodes, key=lambda n: n.path):
        here = [results[s.id] for s in by_node[node.id]]
        out.append(
            CentreDay(
                node_code=node.code,
                node_name=node.name,
                node_path=node.path,
                day=day,
                expected=[p.subject_id for p in here],
                present_checkin=[p.subject_id for p in here if p.by == "checkin"],
                present_sighting=[p.subject_id for p in here if p.by == "sighting"],
                absent=[p.subject_id for p in here if not p.present],
                results=here,
            )
        )
    return out
