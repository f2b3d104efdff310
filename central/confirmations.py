"""Location confirmation (位置确认): "please confirm your location now", answered by a deadline.

An officer (or a schedule, `actor=None`) asks a subject to confirm. The request is answered by
either of these, with a device time between the request and the deadline:

- a `fix` of the subject from the phone app that carries ``"face_verified": true`` (an optional
  contract field: the app's 1:1 face check of the person holding the phone passed);
- an accepted check-in of the subject at a kiosk.

The answer must also reach central within `ANSWER_GRACE` after the deadline, so an outbox
delivering late still counts but a device clock set back does not. After that, an unanswered
request is `missed` and opens an alert of kind `location_unconfirmed` (one per request).
`sweep` settles requests; the scheduler runs it, and the read endpoints run it for what they
show. Monthly completion rate = answered / (answered + missed), months in China time.

Scheduled requests (`corr-central monitor`, central/scheduler.py) carry their slot
(`schedule_slot`, e.g. "2026-11-23#1"); (subject, slot) is unique, so a slot is asked once
however many monitors run and however often they restart.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from central import alerts, audit, subjects
from central.db.models import Alert, Event, JurisdictionNode, LocationConfirmation, Subject, User
from central.errors import Conflict, Forbidden, NotFound
from central.locations import CHINA
from central.nodes import get_node
from central.rules.base import OpenAlert
from central.scoping import path_within

ANSWER_GRACE = timedelta(minutes=10)
MIN_WINDOW = timedelta(minutes=5)
MAX_WINDOW = timedelta(hours=24)
SCHEDULE = "schedule"
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def settles_at(confirmation: LocationConfirmation) -> datetime:
    """When an unanswered request becomes missed."""
    return confirmation.deadline + ANSWER_GRACE


def answer_method(event_type: str, payload: dict[str, object]) -> str | None:
    """How an event answers a confirmation ('phone_face', 'checkin'), or None when it does not."""
    if event_type == "fix" and payload.get("face_verified") is True:
        return "phone_face"
    if event_type == "checkin" and payload.get("result") == "accepted":
        return "checkin"
    return None


def find_answer(session: Session, confirmation: LocationConfirmation) -> tuple[Event, str] | None:
    """The earliest event answering the request, with how it answered."""
    q = (
        select(Event)
        .where(
            Event.subject_id == confirmation.subject_id,
            Event.type.in_(("fix", "checkin")),
            Event.device_time >= confirmation.requested_at,
            Event.device_time <= confirmation.deadline,
            Event.received_at <= settles_at(confirmation),
        )
        .order_by(Event.device_time, Event.event_id)
    )
    for event in session.execute(q).scalars():
        method = answer_method(event.type, event.payload)
        if method is not None:
            return event, method
    return None


@dataclass
class SweepResult:
    """Requests settled by one sweep."""

    answered: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)


def sweep(
    session: Session,
    audit_key: bytes,
    *,
    now: datetime | None = None,
    node_path: str | None = None,
    subject_id: str | None = None,
) -> SweepResult:
    """Settle pending requests (all, or one subtree, or one subject): answered, or missed with an alert."""
    now = now or datetime.now(UTC)
    result = SweepResult()
    q = select(LocationConfirmation).where(
        LocationConfirmation.state == "pending", LocationConfirmation.requested_at <= now
    )
    if node_path is not None:
        q = q.where(LocationConfirmation.node_path.startswith(node_path, autoescape=True))
    if subject_id is not None:
        q = q.where(LocationConfirmation.subject_id == subject_id)
    # Rows another sweep holds are skipped (PostgreSQL), not waited for: it settles them.
    for conf in session.execute(q.order_by(LocationConfirmation.id).with_for_update(skip_locked=True)).scalars():
        answer = find_answer(session, conf)
        if answer is not None:
            event, method = answer
            conf.state, conf.answered_at = "answered", event.device_time
            conf.answer_event_id, conf.answer_method = event.event_id, method
            result.answered.append(conf.id)
        elif now >= settles_at(conf):
            conf.state = "missed"
            episode = f"confirmation-{conf.id}"
            decision = OpenAlert(
                subject_id=conf.subject_id,
                kind="location_unconfirmed",
                episode_key=episode,
                at=conf.deadline,
                summary=f"location confirmation {conf.id} was not answered by its deadline",
                evidence=(),
            )
            alerts.apply_decisions(session, [decision], audit_key=audit_key, now=now)
            conf.alert_id = session.execute(
                select(Alert.id).where(
                    Alert.subject_id == conf.subject_id,
                    Alert.kind == "location_unconfirmed",
                    Alert.episode_key == episode,
                )
            ).scalar_one()
            result.missed.append(conf.id)
    session.flush()
    return result


def request_confirmation(
    session: Session,
    audit_key: bytes,
    subject_id: str,
    *,
    deadline: datetime,
    actor: User | None = None,
    now: datetime | None = None,
    schedule_slot: str | None = None,
) -> LocationConfirmation:
    """Ask a subject to confirm their location by `deadline`; `actor` None means the schedule asked; audited.

    `schedule_slot` names the scheduler's slot; asking the same slot twice fails on the unique key.
    """
    now = now or datetime.now(UTC)
    if actor is not None:
        if actor.role not in ("admin", "officer"):
            raise Forbidden(f"this needs the role admin or officer; you are {actor.role}")
        subject = subjects.get_scoped(session, actor, subject_id)
    else:
        found = session.get(Subject, subject_id)
        if found is None:
            raise ValueError(f"no subject {subject_id}")
        subject = found
    if deadline.tzinfo is None:
        raise ValueError(f"deadline {deadline.isoformat()}: give a zone (Z or +08:00)")
    window = deadline - now
    if not MIN_WINDOW <= window <= MAX_WINDOW:
        raise ValueError(
            f"deadline {deadline.astimezone(UTC).isoformat()}: expected {_minutes(MIN_WINDOW)} to "
            f"{_minutes(MAX_WINDOW)} from now, got {_minutes(window)}"
        )
    if subject.status != "active":
        raise ValueError(f"subject {subject_id} is {subject.status}: confirmations are for active subjects")
    sweep(session, audit_key, now=now, subject_id=subject.id)
    pending = session.execute(
        select(LocationConfirmation.id).where(
            LocationConfirmation.subject_id == subject.id, LocationConfirmation.state == "pending"
        )
    ).scalar()
    if pending is not None:
        raise Conflict(f"subject {subject_id} has confirmation {pending} pending; wait for it to be answered or missed")
    conf = LocationConfirmation(
        subject_id=subject.id,
        node_path=subject.node_path,
        requested_by=actor.username if actor else SCHEDULE,
        requested_at=now,
        deadline=deadline.astimezone(UTC),
        state="pending",
        schedule_slot=schedule_slot,
    )
    session.add(conf)
    session.flush()
    detail: dict[str, object] = {"confirmation_id": conf.id, "deadline": conf.deadline.isoformat()}
    if schedule_slot is not None:
        detail["slot"] = schedule_slot
    audit.record(
        session,
        audit_key,
        actor=conf.requested_by,
        action="confirmation.request",
        subject_id=subject.id,
        node_path=subject.node_path,
        detail=detail,
        now=now,
    )
    return conf


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:g} minutes"


def list_for_subject(
    session: Session, audit_key: bytes, viewer: User, subject_id: str, *, now: datetime | None = None, limit: int = 200
) -> list[LocationConfirmation]:
    """A subject's requests, newest first, settled up to `now`."""
    subject = subjects.get_scoped(session, viewer, subject_id)
    sweep(session, audit_key, now=now, subject_id=subject.id)
    q = (
        select(LocationConfirmation)
        .where(LocationConfirmation.subject_id == subject.id)
        .order_by(LocationConfirmation.requested_at.desc(), LocationConfirmation.id.desc())
        .limit(limit)
    )
    return list(session.execute(q).scalars())


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a YYYY-MM month in China time."""
    match = _MONTH.match(month)
    if match is None:
        raise ValueError(f"month {month!r}: expected YYYY-MM, e.g. 2026-11")
    year, mon = int(match[1]), int(match[2])
    start = datetime(year, mon, 1, tzinfo=CHINA)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=CHINA)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass
class Tally:
    """Counts of one subject or node for a month; `rate` is None until something was answered or missed."""

    answered: int = 0
    missed: int = 0
    pending: int = 0

    @property
    def requested(self) -> int:
        """All requests with a deadline in the month."""
        return self.answered + self.missed + self.pending

    @property
    def rate(self) -> float | None:
        """answered / (answered + missed)."""
        settled = self.answered + self.missed
        return self.answered / settled if settled else None

    def add(self, state: str, count: int = 1) -> None:
        """Count `count` requests in `state`."""
        setattr(self, state, getattr(self, state) + count)


@dataclass
class RateReport:
    """Completion rates of a month for a node, each node of its subtree (descendants included) and each subject."""

    month: str
    node: JurisdictionNode
    nodes: list[tuple[JurisdictionNode, Tally]]
    subjects: list[tuple[str, str, Tally]]  # subject id, node path, tally


def completion_rates(
    session: Session,
    audit_key: bytes,
    viewer: User,
    month: str,
    node_code: str | None = None,
    *,
    now: datetime | None = None,
) -> RateReport:
    """Monthly rates for `node_code` (default: the viewer's node), which must lie in the viewer's jurisdiction."""
    start, end = month_bounds(month)
    if node_code is None:
        node = session.execute(select(JurisdictionNode).where(JurisdictionNode.path == viewer.node_path)).scalar_one()
    else:
        node = get_node(session, node_code)
        if not path_within(node.path, viewer.node_path):
            raise NotFound(f"no jurisdiction node with code {node_code!r} in your jurisdiction")
    sweep(session, audit_key, now=now, node_path=node.path)
    q = select(LocationConfirmation.subject_id, LocationConfirmation.node_path, LocationConfirmation.state).where(
        LocationConfirmation.node_path.startswith(node.path, autoescape=True),
        LocationConfirmation.deadline >= start,
        LocationConfirmation.deadline < end,
    )
    counts = Counter((sid, path, state) for sid, path, state in session.execute(q))
    in_subtree = JurisdictionNode.path.startswith(node.path, autoescape=True)
    tree = list(session.execute(select(JurisdictionNode).where(in_subtree).order_by(JurisdictionNode.path)).scalars())
    by_path = {n.path: Tally() for n in tree}
    per_subject: dict[tuple[str, str], Tally] = {}
    for (sid, path, state), count in counts.items():
        per_subject.setdefault((sid, path), Tally()).add(state, count)
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            tally = by_path.get("/" + "/".join(parts[:depth]) + "/")
            if tally is not None:
                tally.add(state, count)
    return RateReport(
        month=month,
        node=node,
        nodes=[(n, by_path[n.path]) for n in tree],
        subjects=[(sid, path, t) for (sid, path), t in sorted(per_subject.items())],
    )
