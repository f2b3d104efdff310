"""Monitoring: alerts and their lifecycle, fences, the audited location view, fence status, location confirmations.

Everything is scoped to the officer's jurisdiction (a subject or alert outside it answers 404).
Ordinary responses never hold a position; only `POST …/location-views` does, for officers with
the `location` permission, with a stated reason, audited.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from central import alerts, confirmations, fences, locations, subjects, users
from central.api.deps import CentralDep, SessionDep, UserDep, bearer_token, require_role
from central.db.models import Alert, Fence, Fix, JurisdictionNode, User
from central.errors import CentralError
from central.scoping import scoped

router = APIRouter(prefix="/api/v1", tags=["monitoring"])
Writer = Depends(require_role("admin", "officer"))
FENCE_KINDS = ("fence_breach", "exclusion_zone")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertOut(BaseModel):
    """An alert with its lifecycle; it says which rule was broken, never where the subject is."""

    id: int
    subject_id: str | None
    device_id: str | None
    node_path: str
    kind: str
    state: str = Field(description="open, acknowledged, handled or escalated")
    active: bool = Field(description="the condition still holds (the rule has not closed the episode)")
    summary: str
    evidence: list[str] = Field(description="ids of the events that caused it")
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    escalated_at: datetime | None
    escalated_by: str | None
    escalation_reason: str | None
    handled_at: datetime | None
    handled_by: str | None
    resolution: str | None


def _alert(a: Alert) -> AlertOut:
    columns = {name: getattr(a, name) for name in AlertOut.model_fields if name != "active"}
    return AlertOut(**columns, active=a.closed_at is None)


class HandleIn(_In):
    """How the alert was dealt with."""

    resolution: str = Field(description="what was done; required", max_length=alerts.MAX_TEXT)


class EscalateIn(_In):
    """Why the alert goes up."""

    reason: str = Field(description="why it is escalated; required", max_length=alerts.MAX_TEXT)


@router.get("/alerts", tags=["alerts"])
def list_alerts(
    user: UserDep,
    session: SessionDep,
    state: str | None = None,
    kind: str | None = None,
    subject_id: str | None = None,
    active: bool | None = Query(None, description="true: the condition still holds; false: the rule closed it"),
    since: datetime | None = Query(None, description="opened at or after"),
    until: datetime | None = Query(None, description="opened before"),
    limit: int = Query(200, ge=1, le=1000),
) -> list[AlertOut]:
    """Alerts in the officer's jurisdiction, newest first; they say which rule was broken, not where."""
    q = scoped(select(Alert), Alert.node_path, user).order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(limit)
    if state:
        q = q.where(Alert.state == state)
    if kind:
        q = q.where(Alert.kind == kind)
    if subject_id:
        q = q.where(Alert.subject_id == subject_id)
    if active is not None:
        q = q.where(Alert.closed_at.is_(None) if active else Alert.closed_at.is_not(None))
    if since:
        q = q.where(Alert.opened_at >= since)
    if until:
        q = q.where(Alert.opened_at < until)
    return [_alert(a) for a in session.execute(q).scalars()]


@router.get("/alerts/{alert_id}", tags=["alerts"])
def get_alert(alert_id: int, user: UserDep, session: SessionDep) -> AlertOut:
    """One alert of the officer's jurisdiction."""
    return _alert(alerts.get_scoped(session, user, alert_id))


@router.post("/alerts/{alert_id}/ack", tags=["alerts"])
def acknowledge(alert_id: int, central: CentralDep, session: SessionDep, user: User = Writer) -> AlertOut:
    """Acknowledge an open alert (someone is on it); audited."""
    return _alert(alerts.transition(session, central.audit_key, user, alert_id, "acknowledge"))


@router.post("/alerts/{alert_id}/handle", tags=["alerts"])
def handle(alert_id: int, body: HandleIn, central: CentralDep, session: SessionDep, user: User = Writer) -> AlertOut:
    """Close an acknowledged or escalated alert with what was done; audited."""
    return _alert(alerts.transition(session, central.audit_key, user, alert_id, "handle", body.resolution))


@router.post("/alerts/{alert_id}/escalate", tags=["alerts"])
def escalate(
    alert_id: int, body: EscalateIn, central: CentralDep, session: SessionDep, user: User = Writer
) -> AlertOut:
    """Escalate an acknowledged alert, saying why; audited."""
    return _alert(alerts.transition(session, central.audit_key, user, alert_id, "escalate", body.reason))


# --- fences ----------------------------------------------------------------------------------


class FenceProperties(BaseModel):
    """A fence's properties; map editors may add their own, which are ignored."""

    model_config = ConfigDict(extra="ignore")
    kind: str = Field(description="'allowed' (the area the subject must stay in) or 'exclusion' (禁止令)")
    name: str = Field(description="what the place is, e.g. '海沧区' or 'Bar street'")
    radius_m: float | None = Field(None, description="with a Point geometry: the exclusion circle's radius in metres")
    active: bool = Field(True, description="false: kept, not evaluated")


class FenceIn(BaseModel):
    """A GeoJSON Feature: Polygon / MultiPolygon, or for exclusion circles a `Circle` or a Point + radius_m."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Circle", "center": [118.05, 24.48], "radius_m": 200},
                    "properties": {"kind": "exclusion", "name": "bar street"},
                }
            ]
        },
    )
    type: Literal["Feature"]
    geometry: dict[str, Any]
    properties: FenceProperties


def _fence_args(body: FenceIn) -> dict[str, Any]:
    props = body.properties
    return {
        "kind": props.kind,
        "name": props.name,
        "geometry": body.geometry,
        "properties": props.model_dump(),
    }


@router.get("/subjects/{subject_id}/fences", tags=["fences"])
def list_fences(subject_id: str, user: UserDep, session: SessionDep, include_retired: bool = False) -> dict[str, Any]:
    """A subject's fences as a GeoJSON FeatureCollection."""
    rows = fences.list_fences(session, user, subject_id, include_retired=include_retired)
    return {"type": "FeatureCollection", "features": [fences.feature(f) for f in rows]}


@router.post("/subjects/{subject_id}/fences", status_code=201, tags=["fences"])
def create_fence(
    subject_id: str, body: FenceIn, central: CentralDep, session: SessionDep, user: User = Writer
) -> dict[str, Any]:
    """Add a fence (validated: empty, self-intersecting or out-of-range geometry is refused with the reason)."""
    return fences.feature(fences.create_fence(session, central.audit_key, user, subject_id, **_fence_args(body)))


@router.get("/subjects/{subject_id}/fences/{fence_id}", tags=["fences"])
def get_fence(subject_id: str, fence_id: int, user: UserDep, session: SessionDep) -> dict[str, Any]:
    """One fence as a GeoJSON Feature."""
    return fences.feature(fences.get_fence(session, user, subject_id, fence_id))


@router.put("/subjects/{subject_id}/fences/{fence_id}", tags=["fences"])
def update_fence(
    subject_id: str, fence_id: int, body: FenceIn, central: CentralDep, session: SessionDep, user: User = Writer
) -> dict[str, Any]:
    """Replace a fence's geometry, kind, name and active flag."""
    args = _fence_args(body)
    fence = fences.update_fence(
        session, central.audit_key, user, subject_id, fence_id, active=body.properties.active, **args
    )
    return fences.feature(fence)


@router.delete("/subjects/{subject_id}/fences/{fence_id}", status_code=204, tags=["fences"])
def retire_fence(
    subject_id: str, fence_id: int, central: CentralDep, session: SessionDep, user: User = Writer
) -> Response:
    """Retire a fence: no longer evaluated, kept for the record (listed with include_retired=true)."""
    fences.retire_fence(session, central.audit_key, user, subject_id, fence_id)
    return Response(status_code=204)


class FenceAlertOut(BaseModel):
    """A fence alert whose condition still holds (no position)."""

    id: int
    kind: str
    state: str
    opened_at: datetime


class FenceStatusOut(BaseModel):
    """Whether the subject is in breach of a fence now, without saying where they are."""

    subject_id: str
    allowed_areas: int
    exclusion_zones: int
    breach: bool = Field(description="a fence alert is open (its condition holds and it is not handled)")
    alerts: list[FenceAlertOut]
    last_fix_at: datetime | None = Field(description="device time of the newest position report")


@router.get("/subjects/{subject_id}/fence-status", tags=["fences"])
def fence_status(subject_id: str, user: UserDep, session: SessionDep) -> FenceStatusOut:
    """Fence counts, open fence alerts and when the last position came in; never a position."""
    subject = subjects.get_scoped(session, user, subject_id)
    counts = dict(
        session.execute(
            select(Fence.kind, func.count())
            .where(Fence.subject_id == subject.id, Fence.active.is_(True))
            .group_by(Fence.kind)
        ).all()
    )
    open_alerts = session.execute(
        select(Alert)
        .where(
            Alert.subject_id == subject.id,
            Alert.kind.in_(FENCE_KINDS),
            Alert.closed_at.is_(None),
            Alert.state != "handled",
        )
        .order_by(Alert.opened_at)
    ).scalars()
    shown = [FenceAlertOut(id=a.id, kind=a.kind, state=a.state, opened_at=a.opened_at) for a in open_alerts]
    last = session.execute(select(func.max(Fix.device_time)).where(Fix.subject_id == subject.id)).scalar()
    return FenceStatusOut(
        subject_id=subject.id,
        allowed_areas=counts.get("allowed", 0),
        exclusion_zones=counts.get("exclusion", 0),
        breach=bool(shown),
        alerts=shown,
        last_fix_at=last,
    )


# --- location view and positioning -----------------------------------------------------------


class LocationViewIn(_In):
    """Why and for when the officer needs the location."""

    reason: str = Field(
        "", description=f"why, for correction work (at least {locations.MIN_REASON_CHARS} characters); required"
    )
    since: datetime = Field(description="start of the range, with a zone")
    until: datetime = Field(description=f"end of the range (at most {locations.MAX_RANGE.days} days after since)")
    tolerance_m: float | None = Field(None, description="simplify the track to this many metres")
    alert_id: int | None = Field(None, description="the alert this view is for, recorded in the audit trail")


class PointOut(BaseModel):
    """A position."""

    event_id: str
    at: datetime
    lat: float
    lon: float
    accuracy_m: float
    source: str


class TrackOut(BaseModel):
    """The shown track: only fixes inside the positioning period; simplified when long."""

    subject_id: str
    since: datetime
    until: datetime
    points: list[PointOut]
    visible_fixes: int
    hidden_fixes: int = Field(description="fixes in the range outside the positioning period: kept, not shown")
    simplified: bool
    tolerance_m: float | None
    last: PointOut | None = Field(description="the newest shown position before `until`, even if before `since`")
    positioning_start: datetime | None = Field(description="the positioning period as [start, end), or null")
    positioning_end: datetime | None


def _point(p: locations.TrackPoint | None) -> PointOut | None:
    return None if p is None else PointOut(**p.__dict__)


@router.post("/subjects/{subject_id}/location-views", tags=["location"])
def view_location(
    subject_id: str, body: LocationViewIn, token: Annotated[str, Depends(bearer_token)], central: CentralDep
) -> TrackOut:
    """The track over a range, for officers with the `location` permission, after stating a reason; audited.

    A refused attempt (no permission, not in the jurisdiction, no reason) is audited as well.
    """
    # Its own transaction, as login does: the audit row of a refusal is committed, then the error answered.
    with central.sessions.begin() as session:
        user = users.user_for_token(session, token)
        try:
            view = locations.view_track(
                session,
                central.audit_key,
                user,
                subject_id,
                reason=body.reason,
                since=body.since,
                until=body.until,
                tolerance_m=body.tolerance_m,
                alert_id=body.alert_id,
            )
        except (CentralError, ValueError) as exc:
            refused = exc
        else:
            return _track(view)
    raise refused


def _track(view: locations.TrackView) -> TrackOut:
    return TrackOut(
        subject_id=view.subject_id,
        since=view.since,
        until=view.until,
        points=[PointOut(**p.__dict__) for p in view.points],
        visible_fixes=view.visible_fixes,
        hidden_fixes=view.hidden_fixes,
        simplified=view.tolerance_m is not None,
        tolerance_m=view.tolerance_m,
        last=_point(view.last),
        positioning_start=view.positioning[0] if view.positioning else None,
        positioning_end=view.positioning[1] if view.positioning else None,
    )


class PositioningIn(_In):
    """An approved electronic-positioning period (days in China time)."""

    starts_on: date
    ends_on: date = Field(description=f"at most {locations.POSITIONING_MONTHS} months after starts_on")
    reason: str = Field(description="the approval (document number, who approved)")


class PositioningOut(BaseModel):
    """A subject's current positioning period."""

    subject_id: str
    node_path: str
    positioning_from: date | None
    positioning_until: date | None
    days_left: int | None = None


@router.post("/subjects/{subject_id}/positioning", tags=["location"])
def set_positioning(
    subject_id: str, body: PositioningIn, central: CentralDep, session: SessionDep, user: User = Writer
) -> PositioningOut:
    """Record an approved positioning period; one that follows on from the current one renews it; audited."""
    s = locations.set_positioning(
        session,
        central.audit_key,
        user,
        subject_id,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        reason=body.reason,
    )
    return PositioningOut(
        subject_id=s.id,
        node_path=s.node_path,
        positioning_from=s.positioning_from,
        positioning_until=s.positioning_until,
    )


@router.get("/positioning/expiring", tags=["location"])
def expiring_positioning(
    user: UserDep, session: SessionDep, within_days: int = Query(7, ge=0, le=366)
) -> list[PositioningOut]:
    """Subjects whose positioning period ends within `within_days` days: renew it or let it end."""
    today = locations.china_date(datetime.now(UTC))
    return [
        PositioningOut(
            subject_id=e.subject_id,
            node_path=e.node_path,
            positioning_from=e.positioning_from,
            positioning_until=e.positioning_until,
            days_left=e.days_left,
        )
        for e in locations.expiring_positioning(session, user, within_days, today)
    ]


# --- location confirmation -------------------------------------------------------------------


class ConfirmationIn(_In):
    """When the subject must have confirmed by."""

    deadline: datetime = Field(
        description=f"with a zone; {confirmations.MIN_WINDOW} to {confirmations.MAX_WINDOW} from now"
    )


class ConfirmationOut(BaseModel):
    """A location-confirmation request and its outcome (no position)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    subject_id: str
    requested_by: str
    requested_at: datetime
    deadline: datetime
    state: str = Field(description="pending, answered or missed")
    answered_at: datetime | None
    answer_method: str | None = Field(description="phone_face (a fix with a passed face check) or checkin")
    answer_event_id: str | None
    alert_id: int | None


@router.post("/subjects/{subject_id}/confirmations", status_code=201, tags=["confirmations"])
def request_confirmation(
    subject_id: str, body: ConfirmationIn, central: CentralDep, session: SessionDep, user: User = Writer
) -> ConfirmationOut:
    """Ask the subject to confirm their location by the deadline; audited."""
    conf = confirmations.request_confirmation(
        session, central.audit_key, subject_id, deadline=body.deadline, actor=user
    )
    return ConfirmationOut.model_validate(conf)


@router.get("/subjects/{subject_id}/confirmations", tags=["confirmations"])
def list_confirmations(
    subject_id: str, user: UserDep, central: CentralDep, session: SessionDep, limit: int = Query(200, ge=1, le=1000)
) -> list[ConfirmationOut]:
    """The subject's requests, newest first, settled up to now."""
    rows = confirmations.list_for_subject(session, central.audit_key, user, subject_id, limit=limit)
    return [ConfirmationOut.model_validate(c) for c in rows]


class RateOut(BaseModel):
    """Counts and completion rate (answered / (answered + missed); null when nothing is settled)."""

    requested: int
    answered: int
    missed: int
    pending: int
    rate: float | None


class NodeRateOut(RateOut):
    """A node's figures, its descendants included."""

    code: str
    name: str
    level: str
    path: str


class SubjectRateOut(RateOut):
    """One subject's figures."""

    subject_id: str
    node_path: str


class RatesOut(BaseModel):
    """A month's location-confirmation figures for a node, each node below it and each subject."""

    month: str
    node: NodeRateOut
    nodes: list[NodeRateOut]
    subjects: list[SubjectRateOut]


def _rate(t: confirmations.Tally) -> dict[str, Any]:
    return {"requested": t.requested, "answered": t.answered, "missed": t.missed, "pending": t.pending, "rate": t.rate}


def _node_rate(n: JurisdictionNode, t: confirmations.Tally) -> NodeRateOut:
    return NodeRateOut(code=n.code, name=n.name, level=n.level, path=n.path, **_rate(t))


@router.get("/confirmations/rates", tags=["confirmations"])
def confirmation_rates(
    user: UserDep,
    central: CentralDep,
    session: SessionDep,
    month: str = Query(description="YYYY-MM (China time)"),
    node: str | None = Query(None, description="node code (default: yours); must lie in your jurisdiction"),
) -> RatesOut:
    """Monthly completion rate per node (aggregated over descendants) and per subject."""
    report = confirmations.completion_rates(session, central.audit_key, user, month, node)
    nodes = [_node_rate(n, t) for n, t in report.nodes]
    return RatesOut(
        month=report.month,
        node=next(r for r in nodes if r.path == report.node.path),
        nodes=nodes,
        subjects=[SubjectRateOut(subject_id=sid, node_path=path, **_rate(t)) for sid, path, t in report.subjects],
    )
