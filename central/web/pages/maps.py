"""The map: a subject's fences, and their track only after the audited "show location" step.

Fences are drawn from the start (they are rules, not positions). The track comes from
`central.locations.view_track`, the same function behind `POST /api/v1/subjects/{id}/location-views`:
it needs the `location` permission and a stated reason, shows only fixes inside the positioning
period, and writes the audit row. Tiles come from `[api] tile_url`; with none configured the map
draws on a plain background and makes no request beyond central.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, RedirectResponse, Response

from central import fences, locations, subjects
from central.api.deps import CentralDep, SessionDep
from central.errors import CentralError
from central.locations import CHINA
from central.web.layout import page
from central.web.render import PREFIX, local_seconds
from central.web.routing import OfficerDep, UiRoute
from central.web.session import CSRF_HEADER, SESSION_COOKIE, check_csrf, resolve

router = APIRouter(prefix=PREFIX, route_class=UiRoute, include_in_schema=False)
DEFAULT_RANGE = timedelta(hours=24)
INPUT_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends


@router.get("/map")
def choose_subject(request: Request, officer: OfficerDep, session: SessionDep) -> Response:
    """Pick a subject by id (the subject list links each profile's map too)."""
    subject_id = request.query_params.get("subject", "").strip()
    if subject_id:
        subjects.get_scoped(session, officer.user, subject_id)  # 404 outside the jurisdiction
        return RedirectResponse(f"{PREFIX}/subjects/{subject_id}/map", status_code=303)
    return page(request, officer, session, "map_choose.html", "map")


@router.get("/subjects/{subject_id}/map")
def subject_map(
    subject_id: str, request: Request, officer: OfficerDep, central: CentralDep, session: SessionDep
) -> Response:
    """The subject's fences on the map, and the form that shows the track (for officers with the right)."""
    subject = subjects.get_scoped(session, officer.user, subject_id)
    shown = subjects.view(subject, central.cipher, officer.user)
    features = [fences.feature(f) for f in fences.list_fences(session, officer.user, subject.id)]
    alert_param = request.query_params.get("alert", "")
    alert_id = int(alert_param) if alert_param.isdigit() else None
    now = datetime.now(CHINA).replace(second=0, microsecond=0) + timedelta(minutes=1)
    data: dict[str, Any] = {
        "subject_id": subject.id,
        "tile_url": central.config.api.tile_url,
        "fences": {"type": "FeatureCollection", "features": features},
        "track_url": f"{PREFIX}/subjects/{subject.id}/track",
        "alert_id": alert_id,
    }
    return page(
        request,
        officer,
        session,
        "map.html",
        "map",
        s=shown,
        map_data=data,
        can_view="location" in officer.user.permissions,
        fence_count=len(features),
        alert_id=alert_id,
        since=(now - DEFAULT_RANGE).strftime(INPUT_FORMAT),
        until=now.strftime(INPUT_FORMAT),
    )


class TrackIn(BaseModel):
    """The "show location" form: why, and for when (China time when no zone is given)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(max_length=locations.MAX_REASON_CHARS)
    since: str = Field(max_length=40)
    until: str = Field(max_length=40)
    alert_id: int | None = None


def china_moment(name: str, text: str) -> datetime:
    """A time from the form: ISO 8601, taken as China time when it has no zone; ValueError naming the field."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{name} {text!r}: expected a date and time such as 2026-11-23T08:00") from exc
    return moment.replace(tzinfo=CHINA) if moment.tzinfo is None else moment


def _point(p: locations.TrackPoint) -> dict[str, Any]:
    return {
        "at": p.at.astimezone(UTC).isoformat(),
        "local": local_seconds(p.at),
        "lat": p.lat,
        "lon": p.lon,
        "accuracy_m": p.accuracy_m,
        "source": p.source,
    }


@router.post("/subjects/{subject_id}/track")
def show_track(subject_id: str, body: TrackIn, request: Request, central: CentralDep) -> Response:
    """The audited location view: the track over the range, with the reason recorded in the audit trail.

    Its own transaction, like the API's: a refused attempt is audited (`location.refused`) and
    that row committed before the refusal is answered.
    """
    with central.sessions.begin() as session:
        officer = resolve(
            session, request.cookies.get(SESSION_COOKIE), central.hmac_key, central.config.security.session_idle_s
        )
        check_csrf(officer.csrf, request.headers.get(CSRF_HEADER))
        since, until = china_moment("since", body.since), china_moment("until", body.until)
        try:
            view = locations.view_track(
                session,
                central.audit_key,
                officer.user,
                subject_id,
                reason=body.reason,
                since=since,
                until=until,
                alert_id=body.alert_id,
            )
        except (CentralError, ValueError) as exc:
            refused = exc
        else:
            return JSONResponse(
                {
                    "subject_id": view.subject_id,
                    "points": [_point(p) for p in view.points],
                    "visible_fixes": view.visible_fixes,
                    "hidden_fixes": view.hidden_fixes,
                    "tolerance_m": view.tolerance_m,
                    "last": _point(view.last) if view.last else None,
                },
                headers={"Cache-Control": "no-store"},
            )
    raise refused
