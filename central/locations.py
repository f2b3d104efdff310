"""The audited location view, and the legal limit on electronic positioning.

An ordinary screen never shows where a subject is. An officer who holds the `location`
permission and whose jurisdiction covers the subject may see the track, after stating a reason;
every view is audited with that reason (DOMAIN.md, "Monitoring and alerts"). Every refused
attempt is audited too (`location.refused`: who, which subject, why it was refused, the reason
given if any), under the officer's own node so their admins see it; the caller must commit that
row before answering with the error (the API route does).

Electronic positioning is allowed for a period of at most 3 months at a time, renewable by
approval (Community Corrections Law, Art. 29). The subject row holds the current period
(`positioning_from` … `positioning_until`, whole days in China time, UTC+8); a renewal that
follows on extends `positioning_until`, a new period after a gap starts a new
`positioning_from`. Fixes outside that period stay in the database but are never shown.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

import numpy as np
import numpy.typing as npt
import shapely  # type: ignore[import-untyped]  # shapely ships no type information
from sqlalchemy import select
from sqlalchemy.orm import Session

from central import audit, subjects
from central.db.models import Alert, Fix, Subject, User
from central.errors import CentralError, Forbidden, NotFound
from central.scoping import scoped

CHINA = timezone(timedelta(hours=8), "CST")
MIN_REASON_CHARS = 6
MAX_REASON_CHARS = 1000
MAX_RANGE = timedelta(days=31)
MAX_POINTS = 2000  # a longer track is simplified
DEFAULT_TOLERANCE_M = 10.0
MAX_TOLERANCE_M = 5000.0
POSITIONING_MONTHS = 3
EARTH_RADIUS_M = 6_371_008.8


def china_date(moment: datetime) -> date:
    """The calendar day in China of an aware moment."""
    return moment.astimezone(CHINA).date()


def day_start(day: date) -> datetime:
    """Midnight China time at the start of `day`, in UTC."""
    return datetime.combine(day, time(), CHINA).astimezone(UTC)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the last day of that month when it is shorter."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def positioning_window(subject: Subject) -> tuple[datetime, datetime] | None:
    """The current positioning period as [start, end) in UTC, or None when there is none."""
    if subject.positioning_until is None:
        return None
    # A period recorded without its start (before `positioning_from` existed) is taken at the legal maximum.
    start = subject.positioning_from or add_months(subject.positioning_until, -POSITIONING_MONTHS) + timedelta(days=1)
    return day_start(start), day_start(subject.positioning_until + timedelta(days=1))


def reason_text(reason: str | None) -> str:
    """The stated reason, stripped; ValueError when it is too short to say anything."""
    text = (reason or "").strip()
    if len(text) < MIN_REASON_CHARS:
        raise ValueError(
            f"reason: state why you need the location (at least {MIN_REASON_CHARS} characters), got {len(text)}"
        )
    if len(text) > MAX_REASON_CHARS:
        raise ValueError(f"reason: at most {MAX_REASON_CHARS} characters, got {len(text)}")
    return text


# --- track simplification (pure) -------------------------------------------------------------


def project(lats: npt.ArrayLike, lons: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Positions in metres on a plane tangent at their mean (equirectangular; fine for a city-sized track)."""
    lat = np.radians(np.asarray(lats, dtype=np.float64))
    lon = np.radians(np.asarray(lons, dtype=np.float64))
    lat0 = float(lat.mean()) if lat.size else 0.0
    lon0 = float(lon.mean()) if lon.size else 0.0
    return EARTH_RADIUS_M * np.cos(lat0) * (lon - lon0), EARTH_RADIUS_M * (lat - lat0)


def douglas_peucker(xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64], tolerance: float) -> list[int]:
    """Indices of the points Douglas–Peucker keeps; every dropped point lies within `tolerance` of the result.

    Distances are to the segment (not the infinite line), so a trip out and back to the same place
    keeps its far end.
    """
    n = len(xs)
    if n <= 2:
        return list(range(n))
    keep = np.zeros(n, dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        px, py = xs[a + 1 : b], ys[a + 1 : b]
        dx, dy = xs[b] - xs[a], ys[b] - ys[a]
        length2 = dx * dx + dy * dy
        # Where each point projects onto the segment, clamped to its ends (a zero-length segment: its start).
        t = np.clip(((px - xs[a]) * dx + (py - ys[a]) * dy) / length2, 0.0, 1.0) if length2 else np.zeros_like(px)
        dist = np.hypot(px - (xs[a] + t * dx), py - (ys[a] + t * dy))
        i = int(np.argmax(dist))
        if dist[i] > tolerance:
            k = a + 1 + i
            keep[k] = True
            stack.extend(((a, k), (k, b)))
    return [int(i) for i in np.flatnonzero(keep)]


@dataclass(frozen=True)
class TrackPoint:
    """One shown position."""

    event_id: str
    at: datetime
    lat: float
    lon: float
    accuracy_m: float
    source: str


def _simplifier(points: list[TrackPoint]) -> Callable[[float], list[int]]:
    """Project the track once; the returned function gives the indices Douglas–Peucker keeps at a tolerance.

    GEOS (through shapely) runs the same algorithm as `douglas_peucker` in C, a hundred times faster
    on a month of fixes; each vertex carries its index as z, so the kept points are known exactly.
    """
    xs, ys = project([p.lat for p in points], [p.lon for p in points])
    line = shapely.linestrings(np.column_stack([xs, ys, np.arange(len(points), dtype=np.float64)]))

    def kept(tolerance_m: float) -> list[int]:
        if len(points) > 2:
            coords = shapely.get_coordinates(
                shapely.simplify(line, tolerance_m, preserve_topology=False), include_z=True
            )
            indices = [int(i) for i in coords[:, 2]]
            if len(indices) >= 2 and indices[0] == 0 and indices[-1] == len(points) - 1:
                return indices
        return douglas_peucker(xs, ys, tolerance_m)  # short, or a degenerate line GEOS collapses

    return kept


def simplify(points: list[TrackPoint], tolerance_m: float) -> list[TrackPoint]:
    """The points Douglas–Peucker keeps at `tolerance_m` metres, in time order, first and last always kept."""
    return [points[i] for i in _simplifier(points)(tolerance_m)]


def fit(
    points: list[TrackPoint], tolerance_m: float | None, max_points: int = MAX_POINTS
) -> tuple[list[TrackPoint], float | None]:
    """Simplify at `tolerance_m` if given; beyond `max_points`, simplify, doubling the tolerance until it fits."""
    if tolerance_m is None and len(points) <= max_points:
        return points, None
    tolerance = tolerance_m if tolerance_m is not None else DEFAULT_TOLERANCE_M
    kept = _simplifier(points)
    shown = kept(tolerance)
    while len(shown) > max_points and tolerance < MAX_TOLERANCE_M:
        tolerance = min(tolerance * 2, MAX_TOLERANCE_M)
        shown = kept(tolerance)
    return [points[i] for i in shown], tolerance


# --- the audited view ------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackView:
    """What an officer is shown: visible positions in the range, the newest visible one, and what was left out."""

    subject_id: str
    since: datetime
    until: datetime
    points: list[TrackPoint]
    visible_fixes: int  # in the range and in the positioning period, before simplification
    hidden_fixes: int  # in the range but outside the positioning period: kept, never shown
    tolerance_m: float | None  # None when the track was not simplified
    last: TrackPoint | None  # newest visible position before `until`, even if before `since`
    positioning: tuple[datetime, datetime] | None


def _point(fix: Fix) -> TrackPoint:
    return TrackPoint(fix.event_id, fix.device_time, fix.lat, fix.lon, fix.accuracy_m, fix.source)


def _aware(name: str, moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} {moment.isoformat()}: give a zone (Z or +08:00)")
    return moment.astimezone(UTC)


def view_track(
    session: Session,
    audit_key: bytes,
    viewer: User,
    subject_id: str,
    *,
    reason: str,
    since: datetime,
    until: datetime,
    tolerance_m: float | None = None,
    alert_id: int | None = None,
    now: datetime | None = None,
) -> TrackView:
    """The track over [since, until) for an officer holding the `location` permission; audited with the reason.

    A refusal (no permission, not in the jurisdiction, no reason, a bad range) is audited as
    `location.refused` in `session` and then raised: commit before reporting it.
    """
    try:
        subject = subjects.get_scoped(session, viewer, subject_id)
        if "location" not in viewer.permissions:
            raise Forbidden("viewing a location needs the 'location' permission; ask an admin of your node for it")
        text = reason_text(reason)
        since, until = _aware("since", since), _aware("until", until)
        if until <= since:
            raise ValueError(f"until {until.isoformat()} is not after since {since.isoformat()}")
        if until - since > MAX_RANGE:
            raise ValueError(f"range of {(until - since).days} days: at most {MAX_RANGE.days} days per view")
        if tolerance_m is not None and not 0 < tolerance_m <= MAX_TOLERANCE_M:
            raise ValueError(
                f"tolerance_m {tolerance_m:g}: expected more than 0 and at most {MAX_TOLERANCE_M:g} metres"
            )
        if alert_id is not None:
            alert = session.execute(
                scoped(select(Alert).where(Alert.id == alert_id), Alert.node_path, viewer)
            ).scalar_one_or_none()
            if alert is None or alert.subject_id != subject.id:
                raise NotFound(f"no alert {alert_id} of subject {subject_id} in your jurisdiction")
    except (CentralError, ValueError) as exc:
        audit.record(
            session,
            audit_key,
            actor=viewer.username,
            action="location.refused",
            subject_id=subject_id[:64],
            node_path=viewer.node_path,
            detail={
                "why": str(exc),
                "status": exc.status if isinstance(exc, CentralError) else 400,
                "reason": (reason or "")[:MAX_REASON_CHARS],
                "alert_id": alert_id,
            },
            now=now,
        )
        raise

    in_range = (Fix.subject_id == subject.id, Fix.device_time >= since, Fix.device_time < until)
    # Plain columns, not ORM objects: a month of fixes loads several times faster (bench/web.py).
    columns = (Fix.event_id, Fix.device_time, Fix.lat, Fix.lon, Fix.accuracy_m, Fix.source)
    fixes = [
        TrackPoint(*row) for row in session.execute(select(*columns).where(*in_range).order_by(Fix.device_time, Fix.id))
    ]
    window = positioning_window(subject)
    visible = [p for p in fixes if window is not None and window[0] <= p.at < window[1]]
    last = None
    if window is not None and window[0] < until:
        newest = session.execute(
            select(Fix)
            .where(Fix.subject_id == subject.id, Fix.device_time >= window[0], Fix.device_time < min(until, window[1]))
            .order_by(Fix.device_time.desc(), Fix.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        last = _point(newest) if newest is not None else None
    shown, used_tolerance = fit(visible, tolerance_m)
    audit.record(
        session,
        audit_key,
        actor=viewer.username,
        action="location.view",
        subject_id=subject.id,
        node_path=subject.node_path,
        detail={
            "reason": text,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "shown": len(shown),
            "hidden": len(fixes) - len(visible),
            "alert_id": alert_id,
        },
        now=now,
    )
    return TrackView(
        subject_id=subject.id,
        since=since,
        until=until,
        points=shown,
        visible_fixes=len(visible),
        hidden_fixes=len(fixes) - len(visible),
        tolerance_m=used_tolerance,
        last=last,
        positioning=window,
    )


# --- the positioning period ------------------------------------------------------------------


def set_positioning(
    session: Session,
    audit_key: bytes,
    actor: User,
    subject_id: str,
    *,
    starts_on: date,
    ends_on: date,
    reason: str,
) -> Subject:
    """Record an approved positioning period (≤ 3 months, within the term); a period that follows on renews; audited."""
    if actor.role not in ("admin", "officer"):
        raise Forbidden(f"this needs the role admin or officer; you are {actor.role}")
    subject = subjects.get_scoped(session, actor, subject_id)
    text = reason_text(reason)
    if subject.status != "active":
        raise ValueError(f"subject {subject_id} is {subject.status}: positioning is for active subjects")
    if ends_on < starts_on:
        raise ValueError(f"positioning ends {ends_on} before it starts {starts_on}")
    limit = add_months(starts_on, POSITIONING_MONTHS) - timedelta(days=1)
    if ends_on > limit:
        raise ValueError(
            f"positioning {starts_on} to {ends_on}: at most {POSITIONING_MONTHS} months at a time "
            f"(until {limit} at the latest); renew it before it ends"
        )
    if ends_on > subject.term_end:
        raise ValueError(f"positioning ends {ends_on}, after the term ends {subject.term_end}")
    current = positioning_window(subject)
    follows_on = (
        current is not None
        and subject.positioning_until is not None
        and china_date(current[0]) <= starts_on <= subject.positioning_until + timedelta(days=1)
    )
    if follows_on:
        assert current is not None
        subject.positioning_from = china_date(current[0])
    else:
        subject.positioning_from = starts_on
    subject.positioning_until = ends_on
    audit.record(
        session,
        audit_key,
        actor=actor.username,
        action="positioning.renew" if follows_on else "positioning.start",
        subject_id=subject.id,
        node_path=subject.node_path,
        detail={"starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat(), "reason": text},
    )
    return subject


@dataclass(frozen=True)
class ExpiringPositioning:
    """A subject whose positioning period ends soon (a reminder to renew or let it end)."""

    subject_id: str
    node_path: str
    positioning_from: date | None
    positioning_until: date
    days_left: int


def expiring_positioning(session: Session, viewer: User, within_days: int, today: date) -> list[ExpiringPositioning]:
    """Active subjects of the viewer's jurisdiction whose period ends between `today` and `within_days` later."""
    if not 0 <= within_days <= 366:
        raise ValueError(f"within_days {within_days}: expected 0 to 366")
    q = scoped(select(Subject), Subject.node_path, viewer).where(
        Subject.status == "active",
        Subject.positioning_until >= today,
        Subject.positioning_until <= today + timedelta(days=within_days),
    )
    rows = session.execute(q.order_by(Subject.positioning_until, Subject.id)).scalars()
    return [
        ExpiringPositioning(
            s.id, s.node_path, s.positioning_from, s.positioning_until, (s.positioning_until - today).days
        )
        for s in rows
        if s.positioning_until is not None
    ]
