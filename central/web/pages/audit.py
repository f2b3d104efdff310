"""The audit trail: search by actor, subject, action and time; verify the hash chain.

The rows and the check are the API's (`GET /api/v1/audit`, `GET /api/v1/audit/verify`), called
directly: the same jurisdiction rule (admins see their subtree; rows tied to no node go to
top-level admins) and the same restriction of the whole-chain check to top-level admins.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from central.api.deps import CentralDep, SessionDep
from central.api.routes import admin as admin_api
from central.errors import Forbidden
from central.web.layout import page
from central.web.pages.maps import china_moment
from central.web.render import PREFIX, render_html
from central.web.routing import OfficerDep, UiRoute

router = APIRouter(prefix=PREFIX, route_class=UiRoute, include_in_schema=False)
ROWS = 200
FIELDS = ("actor", "action", "subject", "since", "until")


@router.get("/audit")
def audit_page(request: Request, officer: OfficerDep, session: SessionDep) -> Response:
    """Audit rows about the admin's jurisdiction, newest first, filtered."""
    if officer.user.role != "admin":
        raise Forbidden("the audit trail is for administrators")
    f = {k: request.query_params.get(k, "").strip()[:100] for k in FIELDS}
    rows = admin_api.list_audit(
        session,
        admin=officer.user,
        actor=f["actor"] or None,
        action=f["action"] or None,
        subject_id=f["subject"] or None,
        since=china_moment("since", f["since"]) if f["since"] else None,
        until=china_moment("until", f["until"]) if f["until"] else None,
        limit=ROWS,
    )
    return page(request, officer, session, "audit.html", "audit", rows=rows, filters=f, rows_max=ROWS)


@router.get("/audit/verify")
def audit_verify(request: Request, officer: OfficerDep, central: CentralDep, session: SessionDep) -> Response:
    """Walk the whole chain and show the result (top-level admins only)."""
    if officer.user.role != "admin":
        raise Forbidden("the audit trail is for administrators")
    try:
        result = admin_api.verify_audit(central, session, admin=officer.user)
    except Forbidden:
        return render_html(request, "_audit_verify.html", officer, result=None)
    return render_html(request, "_audit_verify.html", officer, result=result)
