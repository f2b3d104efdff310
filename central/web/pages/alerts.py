"""The alert queue: filters, acknowledge / handle / escalate, and live updates over server-sent events.

An alert says which rule was broken, never where the subject is; the location is the map's
audited step (a link carries the alert id into that step's audit row). The lifecycle is
central/alerts.py's `transition` (wrong transitions answer 409 with the reason; every step
audited). `GET /ui/alerts/stream` is an event stream that polls the database for a change in
the officer's scoped alerts (count, newest id, newest update) and tells the page, which then
reloads the queue with htmx; several central processes can serve it, as the state is in the
database. Each stream ends after `STREAM_SECONDS` and the browser reconnects (EventSource does
this by itself), so a server shutdown never waits long for open streams.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response, StreamingResponse

from central import alerts
from central.api.deps import CentralDep, SessionDep
from central.context import Central
from central.db.models import Alert, Subject, User
from central.scoping import scoped
from central.web.i18n import ALERT_KINDS
from central.web.layout import UNRESOLVED, page, unresolved_alerts
from central.web.render import PREFIX, is_htmx, render_html
from central.web.routing import FormDep, OfficerDep, UiRoute
from central.web.session import SESSION_COOKIE, LoginRequired, Officer, resolve

router = APIRouter(prefix=PREFIX, route_class=UiRoute, include_in_schema=False)

QUEUE_MAX = 200
POLL_SECONDS = 1.0
STREAM_SECONDS = 15.0
STATE_FILTERS = ("", "all", *alerts.STATES)  # "": not yet handled
ACTIONS = {"ack": "acknowledge", "handle": "handle", "escalate": "escalate"}


@dataclass(frozen=True)
class QueueFilters:
    """The queue's filters from the query string or the filter form."""

    state: str = ""
    kind: str = ""
    subject: str = ""

    @classmethod
    def of(cls, values: dict[str, str]) -> QueueFilters:
        """Filters from request values; unknown states fall back to 'not yet handled'."""
        state = values.get("state", "")
        return cls(
            state=state if state in STATE_FILTERS else "",
            kind=values.get("kind", "").strip()[:32],
            subject=values.get("subject", "").strip()[:64],
        )


def version(session: Session, viewer: User) -> str:
    """A fingerprint of the viewer's scoped alerts that changes whenever one is opened or changes state."""
    count, newest, updated = session.execute(
        scoped(select(func.count(), func.max(Alert.id), func.max(Alert.updated_at)), Alert.node_path, viewer)
    ).one()
    return f"{count}:{newest or 0}:{updated.isoformat() if updated else ''}"


def queue(session: Session, viewer: User, f: QueueFilters) -> list[Alert]:
    """The viewer's alerts matching the filters, newest first."""
    q = scoped(select(Alert), Alert.node_path, viewer).order_by(Alert.opened_at.desc(), Alert.id.desc())
    if f.state == "":
        q = q.where(Alert.state.in_(UNRESOLVED))
    elif f.state != "all":
        q = q.where(Alert.state == f.state)
    if f.kind:
        q = q.where(Alert.kind == f.kind)
    if f.subject:
        q = q.where(Alert.subject_id == f.subject)
    return list(session.execute(q.limit(QUEUE_MAX)).scalars())


def _queue_context(central: Central, session: Session, officer: Officer, f: QueueFilters) -> dict[str, Any]:
    rows = queue(session, officer.user, f)
    ids = sorted({a.subject_id for a in rows if a.subject_id})
    names: dict[str, str] = {}
    if ids:
        found = session.execute(select(Subject.id, Subject.name_enc).where(Subject.id.in_(ids)))
        names = {sid: central.cipher.decrypt_text(enc, "subject.name") for sid, enc in found}
    user = officer.user
    return {
        "rows": rows,
        "subject_names": names,
        "filters": f,
        "version": version(session, user),
        "can_act": user.role in ("admin", "officer"),
        "can_locate": "location" in user.permissions,
    }


@router.get("/alerts")
def alert_page(request: Request, officer: OfficerDep, central: CentralDep, session: SessionDep) -> Response:
    """The queue with its filters."""
    f = QueueFilters.of(dict(request.query_params))
    return page(
        request,
        officer,
        session,
        "alerts.html",
        "alerts",
        kinds=ALERT_KINDS,
        states=alerts.STATES,
        **_queue_context(central, session, officer, f),
    )


@router.get("/alerts/queue")
def alert_queue(request: Request, officer: OfficerDep, central: CentralDep, session: SessionDep) -> Response:
    """Just the queue (htmx reloads it when the stream reports a change)."""
    f = QueueFilters.of(dict(request.query_params))
    return render_html(request, "_alert_queue.html", officer, **_queue_context(central, session, officer, f))


@router.post("/alerts/{alert_id}/{action}")
def alert_action(
    alert_id: int,
    action: str,
    request: Request,
    form: FormDep,
    officer: OfficerDep,
    central: CentralDep,
    session: SessionDep,
) -> Response:
    """Acknowledge, handle (with a resolution) or escalate (with a reason); then show the queue again."""
    if action not in ACTIONS:
        raise ValueError(f"alert action {action!r}: expected one of {', '.join(ACTIONS)}")
    text = form.get("resolution") if action == "handle" else form.get("reason") if action == "escalate" else None
    alerts.transition(session, central.audit_key, officer.user, alert_id, ACTIONS[action], text)
    session.flush()
    f = QueueFilters.of({k: form.get(k) for k in ("state", "kind", "subject")})
    if not is_htmx(request):
        query = "&".join(f"{k}={v}" for k, v in f.__dict__.items() if v)
        return RedirectResponse(f"{PREFIX}/alerts" + (f"?{query}" if query else ""), status_code=303)
    return render_html(request, "_alert_queue.html", officer, **_queue_context(central, session, officer, f))


def _poll(central: Central, token: str | None) -> dict[str, object] | None:
    """The stream's view of the database: None once the session is gone (expired, revoked, disabled)."""
    with central.sessions() as session:
        try:
            officer = resolve(session, token, central.hmac_key, central.config.security.session_idle_s)
        except LoginRequired:
            return None
        return {"version": version(session, officer.user), "unresolved": unresolved_alerts(session, officer.user)}


def _event(name: str, data: object) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


@router.get("/alerts/stream")
async def alert_stream(request: Request, central: CentralDep) -> Response:
    """Server-sent events: `alerts` with {version, unresolved} on every change, `expired` when the session ends."""
    token = request.cookies.get(SESSION_COOKIE)
    first = await anyio.to_thread.run_sync(_poll, central, token)

    async def events() -> AsyncIterator[str]:
        state = first
        if state is None:  # said as an event: a failed EventSource cannot tell a 401 from a server error
            yield _event("expired", {})
            return
        yield "retry: 1000\n\n" + _event("alerts", state)
        last_sent, deadline = state, time.monotonic() + STREAM_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            if await request.is_disconnected():
                return
            state = await anyio.to_thread.run_sync(_poll, central, token)
            if state is None:
                yield _event("expired", {})
                return
            if state != last_sent:
                yield _event("alerts", state)
                last_sent = state

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
