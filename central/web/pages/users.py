"""Accounts: admins create and disable the accounts of their node and below (top-down allocation).

Creation is `central.users.create_user` with the admin as creator (it refuses a node outside the
admin's subtree); disabling is the API's `POST /api/v1/users/{name}/disable`, called directly
(scoped, not one's own account, tokens stop at once). Both are audited.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from central import users
from central.api.deps import CentralDep, SessionDep
from central.api.routes import admin as admin_api
from central.db.models import JurisdictionNode
from central.errors import CentralError, Forbidden
from central.scoping import scoped
from central.web.forms import Form
from central.web.i18n import Translator
from central.web.layout import node_names, page
from central.web.render import PREFIX, lang_of
from central.web.routing import FormDep, OfficerDep, UiRoute

router = APIRouter(prefix=PREFIX, route_class=UiRoute, include_in_schema=False)
DONE = {"created": "users.created", "disabled": "users.disabled_done"}


def _page(request: Request, officer: OfficerDep, session: SessionDep, status: int = 200, **extra: object) -> Response:
    admin = officer.user
    if admin.role != "admin":
        raise Forbidden("accounts are managed by administrators")
    nodes = session.execute(
        scoped(select(JurisdictionNode), JurisdictionNode.path, admin).order_by(JurisdictionNode.path)
    ).scalars()
    context: dict[str, Any] = {"problem": "", "detail": "", "notice": "", "form": Form({})}
    context.update(extra)
    return page(
        request,
        officer,
        session,
        "users.html",
        "users",
        status,
        accounts=admin_api.list_users(session, admin=admin),
        nodes=list(nodes),
        names=node_names(session, admin),
        roles=users.ROLES,
        permissions=users.PERMISSIONS,
        **context,
    )


@router.get("/users")
def user_page(request: Request, officer: OfficerDep, session: SessionDep) -> Response:
    """The accounts of the admin's subtree and the form for a new one."""
    done, who = request.query_params.get("done", ""), request.query_params.get("who", "")[:64]
    notice = Translator(lang_of(request))(DONE[done], username=who) if done in DONE else ""
    return _page(request, officer, session, notice=notice)


@router.post("/users")
def create_account(
    request: Request, form: FormDep, officer: OfficerDep, central: CentralDep, session: SessionDep
) -> Response:
    """Create an account at the admin's node or below; a refusal keeps what was typed (except the password)."""
    if officer.user.role != "admin":
        raise Forbidden("accounts are managed by administrators")
    username = form.get("username")
    try:
        with session.begin_nested():
            users.create_user(
                session,
                username=username,
                password=form.fields.get("password", [""])[0],
                role=form.get("role"),
                node_code=form.get("node"),
                display_name=form.get("display_name"),
                permissions=form.getlist("permissions"),
                created_by=officer.user,
                audit_key=central.audit_key,
            )
    except (CentralError, ValueError) as exc:
        status = exc.status if isinstance(exc, CentralError) else 400
        t = Translator(lang_of(request))
        return _page(request, officer, session, status, problem=t(f"error.{status}"), detail=str(exc), form=form)
    return RedirectResponse(f"{PREFIX}/users?done=created&who={quote(username)}", status_code=303)


@router.post("/users/{username}/disable")
def disable_account(
    username: str, _form: FormDep, officer: OfficerDep, central: CentralDep, session: SessionDep
) -> Response:
    """Disable an account of the admin's subtree."""
    if officer.user.role != "admin":
        raise Forbidden("accounts are managed by administrators")
    admin_api.disable_user(username, central, session, admin=officer.user)
    return RedirectResponse(f"{PREFIX}/users?done=disabled&who={quote(username)}", status_code=303)
