"""The officer UI's browser session: the API's opaque login token in a cookie, and CSRF tokens.

The cookie holds the same token `POST /api/v1/auth/login` hands out (central/users.py: only its
SHA-256 is stored, logout and disabling revoke it at once, it expires after `token_ttl_s`, or
`session_idle_s` after the officer's last request). It is
HttpOnly (scripts never see it), SameSite=Strict (no other site's page can make the browser send
it) and Secure when the UI is served over HTTPS.

Every state-changing request must also carry a CSRF token, as a form field or an `X-CSRF-Token`
header: for a logged-in officer it is HMAC(hmac_key, "csrf" + session token), so it is bound to
the session, needs no storage, and reveals nothing about the token itself; the login form, which
has no session yet, uses a random double-submit cookie instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from central.db.models import User
from central.errors import Unauthorized
from central.users import SessionExpired, user_for_token

SESSION_COOKIE = "corr_session"
LOGIN_CSRF_COOKIE = "corr_login_csrf"
LANG_COOKIE = "corr_lang"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
COOKIE_PATH = "/ui"


class LoginRequired(Exception):
    """No valid session: `reason` is 'none' (never logged in, revoked, disabled) or 'expired'."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRejected(Exception):
    """A state-changing request without the right CSRF token."""


@dataclass(frozen=True)
class Officer:
    """The logged-in officer of a UI request, with the CSRF token their forms must carry."""

    user: User
    token: str
    csrf: str


def csrf_for(key: bytes, token: str) -> str:
    """The CSRF token bound to a session token."""
    return hmac.new(key, b"csrf\x00" + token.encode(), hashlib.sha256).hexdigest()


def new_login_csrf() -> str:
    """A random value for the login form's double-submit cookie."""
    return secrets.token_hex(32)


def check_csrf(expected: str | None, given: str | None) -> None:
    """Raise CsrfRejected unless `given` equals `expected` (compared in constant time)."""
    if not expected or not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise CsrfRejected("missing or wrong CSRF token")


def resolve(session: Session, token: str | None, key: bytes, idle_s: int = 0, now: datetime | None = None) -> Officer:
    """The officer behind a session cookie, or LoginRequired saying whether the session expired.

    A session ends `idle_s` after the last request it made (see central.users.user_for_token);
    within that time every request keeps it alive, up to the token's lifetime.
    """
    if not token:
        raise LoginRequired("none")
    try:
        user = user_for_token(session, token, now or datetime.now(UTC), idle_s)
    except SessionExpired as exc:
        raise LoginRequired("expired") from exc
    except Unauthorized as exc:
        raise LoginRequired("none") from exc
    return Officer(user=user, token=token, csrf=csrf_for(key, token))
