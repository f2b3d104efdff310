"""Log in, log out, choose the language.

The login form calls the same `central.users.login` as the API (argon2 check, lockout after
`max_failed_logins`, audit row), then keeps the API token in the session cookie. A refused
login says why: wrong credentials, a disabled account, or a lockout and until when; like the API,
an unknown username and a wrong password get the same answer.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from central import users
from central.api.deps import CentralDep, SessionDep
from central.db.models import User
from central.web.forms import read_form
from central.web.i18n import LANGS, Translator
from central.web.render import PREFIX, lang_of, local_time, render_html, safe_next
from central.web.routing import FormDep, OfficerDep, UiRoute
from central.web.session import (
    COOKIE_PATH,
    LANG_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfRejected,
    check_csrf,
    new_login_csrf,
)

router = APIRouter(prefix=PREFIX, route_class=UiRoute, include_in_schema=False)
LANG_COOKIE_AGE = 365 * 24 * 3600
NOTICES = {"expired": "login.expired", "logged_out": "login.logged_out", "none": "login.required"}


def _login_page(
    request: Request, status: int = 200, *, problem: str = "", username: str = "", next_url: str = ""
) -> Response:
    """The login form with a fresh double-submit CSRF value in a cookie and the form."""
    token = new_login_csrf()
    reason = request.query_params.get("reason", "")
    notice = Translator(lang_of(request))(NOTICES[reason]) if reason in NOTICES and not problem else ""
    response = render_html(
        request,
        "login.html",
        None,
        status,
        login_csrf=token,
        problem=problem,
        notice=notice,
        username=username,
        next_url=next_url or request.query_params.get("next", ""),
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=COOKIE_PATH,
    )
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    """The login page."""
    return _login_page(request)


@router.post("/login")
async def login(request: Request, central: CentralDep) -> Response:
    """Check the credentials; on success keep the token in an HttpOnly, SameSite=Strict cookie."""
    form = await read_form(request)
    t = Translator(lang_of(request))
    username, password, next_url = form.get("username"), form.fields.get("password", [""])[0], form.get("next")
    try:
        check_csrf(request.cookies.get(LOGIN_CSRF_COOKIE), form.get("csrf"))
    except CsrfRejected:
        return _login_page(request, 403, problem=t("login.csrf"), username=username, next_url=next_url)
    if not username or not password:
        return _login_page(request, 400, problem=t("login.missing"), username=username, next_url=next_url)
    policy = central.config.security
    with central.sessions.begin() as session:
        result = users.login(session, policy, central.audit_key, username, password)
        if isinstance(result, users.LoginResult):
            token, ttl = result.token, int((result.expires_at - datetime.now(UTC)).total_seconds())
            problem = ""
        else:
            problem = _refusal(session, username, t, policy.max_failed_logins)
    # Committed: a refusal's failure count, lock and audit row stay.
    if problem:
        return _login_page(request, 401, problem=problem, username=username, next_url=next_url)
    response = RedirectResponse(safe_next(next_url), status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE, token, max_age=ttl, httponly=True, samesite="strict", secure=secure, path=COOKIE_PATH
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=COOKIE_PATH)
    return response


def _refusal(session: Session, username: str, t: Translator, max_failed: int) -> str:
    """What to tell the officer after `users.login` refused: the account's state decides, as the API's message does."""
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    now = datetime.now(UTC)
    if user is not None and user.disabled:
        return t("login.disabled")
    if user is not None and user.locked_until is not None and user.locked_until > now:
        return t("login.locked", n=max_failed, until=local_time(user.locked_until))
    return t("login.wrong")


@router.post("/logout")
def logout(officer: OfficerDep, central: CentralDep, session: SessionDep, _form: FormDep) -> Response:
    """Revoke the session's token and forget the cookie."""
    users.logout(session, officer.token, central.audit_key)
    response = RedirectResponse(f"{PREFIX}/login?reason=logged_out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


@router.get("/lang/{lang}")
def choose_language(lang: str, request: Request) -> Response:
    """Remember the language in a cookie and go back where the officer was."""
    response = RedirectResponse(safe_next(request.query_params.get("next")) if lang in LANGS else PREFIX, 303)
    if lang in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=LANG_COOKIE_AGE, samesite="lax", path=COOKIE_PATH)
    return response


@router.get("")
@router.get("/")
def home() -> Response:
    """The UI starts at the dashboard."""
    return RedirectResponse(f"{PREFIX}/dashboard", status_code=303)
