"""Officer accounts: creation, login with lockout, bearer tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from central import audit
from central.config import SecuritySection
from central.db.models import AuthToken, User
from central.errors import Conflict, Forbidden, Unauthorized
from central.nodes import get_node
from central.scoping import path_within
from central.security import hash_password, new_token, token_digest, verify_password

ROLES = ("admin", "officer", "viewer")
PERMISSIONS = ("id_number", "location")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,63}$")
MIN_PASSWORD = 10


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    node_code: str,
    display_name: str = "",
    permissions: list[str] | None = None,
    created_by: User | None = None,
    audit_key: bytes,
) -> User:
    """Create an account; an admin may create accounts only in their own subtree (top-down allocation)."""
    if not _USERNAME.match(username):
        raise ValueError(f"username {username!r}: 3-64 lower-case letters, digits, '_', '.' or '-'")
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password: at least {MIN_PASSWORD} characters, got {len(password)}")
    for perm in permissions or []:
        if perm not in PERMISSIONS:
            raise ValueError(f"permission {perm!r}: expected one of {', '.join(PERMISSIONS)}")
    node = get_node(session, node_code)
    if created_by is not None:
        if created_by.role != "admin":
            raise Forbidden("only an admin may create accounts")
        if not path_within(node.path, created_by.node_path):
            raise Forbidden(f"node {node_code} is outside your jurisdiction")
    if session.execute(select(User).where(User.username == username)).scalar_one_or_none():
        raise Conflict(f"user {username} exists already")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        node_id=node.id,
        node_path=node.path,
        permissions=list(permissions or []),
        created_at=datetime.now(UTC),
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        audit_key,
        actor=created_by.username if created_by else "cli",
        action="user.create",
        node_path=node.path,
        detail={"username": username, "role": role, "node": node_code},
    )
    return user


@dataclass(frozen=True)
class LoginResult:
    """A fresh token and when it expires."""

    token: str
    expires_at: datetime
    user: User


@dataclass(frozen=True)
class LoginRefused:
    """Why a login failed; returned, not raised, so the caller commits the failure count and audit row."""

    message: str


def login(
    session: Session,
    policy: SecuritySection,
    audit_key: bytes,
    username: str,
    password: str,
    now: datetime | None = None,
) -> LoginResult | LoginRefused:
    """Check the password; lock the account after `max_failed_logins` failures in a row.

    A refusal changes the database (failure count, lock, audit row): the caller must commit
    before telling the client, which is why it is returned rather than raised.
    """
    now = now or datetime.now(UTC)
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        audit.record(session, audit_key, actor=username[:100], action="login.failed", detail={"why": "unknown user"})
        return LoginRefused("wrong username or password")
    if user.disabled:
        audit.record(
            session,
            audit_key,
            actor=username,
            action="login.failed",
            node_path=user.node_path,
            detail={"why": "disabled"},
        )
        return LoginRefused("this account is disabled; ask an administrator of your office")
    if user.locked_until is not None and user.locked_until > now:
        audit.record(
            session,
            audit_key,
            actor=username,
            action="login.failed",
            node_path=user.node_path,
            detail={"why": "locked"},
        )
        return LoginRefused(
            f"account locked after {policy.max_failed_logins} failed logins; "
            f"try again after {user.locked_until.strftime('%Y-%m-%d %H:%M:%S')} UTC"
        )
    if not verify_password(user.password_hash, password):
        user.failed_logins += 1
        detail: dict[str, object] = {"why": "wrong password", "failures": user.failed_logins}
        if user.failed_logins >= policy.max_failed_logins:
            user.locked_until = now + timedelta(seconds=policy.lockout_s)
            user.failed_logins = 0
            detail["locked_until"] = user.locked_until.isoformat()
        audit.record(session, audit_key, actor=username, action="login.failed", node_path=user.node_path, detail=detail)
        return LoginRefused("wrong username or password")
    user.failed_logins = 0
    user.locked_until = None
    token = new_token()
    expires = now + timedelta(seconds=policy.token_ttl_s)
    session.add(AuthToken(token_hash=token_digest(token), user_id=user.id, created_at=now, expires_at=expires))
    audit.record(session, audit_key, actor=username, action="login", node_path=user.node_path)
    return LoginResult(token, expires, user)


TOUCH_EVERY = timedelta(seconds=60)
"""How stale a token's last_used_at may get before a request writes it again (one write a minute, not per request)."""


class SessionExpired(Unauthorized):
    """The token was valid but its lifetime or its idle time ran out."""


def user_for_token(session: Session, token: str, now: datetime | None = None, idle_s: int = 0) -> User:
    """The user a bearer token belongs to, or Unauthorized when it is unknown, revoked or expired.

    With `idle_s` the token also ends that long after the last request it authenticated; each use
    moves that point on (written to the row at most once per TOUCH_EVERY, committed with the
    request's transaction).
    """
    now = now or datetime.now(UTC)
    row = session.get(AuthToken, token_digest(token))
    if row is None or row.revoked_at is not None:
        raise Unauthorized("not logged in (unknown or revoked token)")
    if row.expires_at <= now:
        raise SessionExpired("session expired; log in again")
    last_used = row.last_used_at or row.created_at
    if idle_s and last_used + timedelta(seconds=idle_s) <= now:
        raise SessionExpired(f"session ended after {idle_s // 60} minutes without activity; log in again")
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        raise Unauthorized("this account is disabled")
    if now - last_used >= TOUCH_EVERY:
        row.last_used_at = now
    return user


def logout(session: Session, token: str, audit_key: bytes, now: datetime | None = None) -> None:
    """Revoke a token."""
    row = session.get(AuthToken, token_digest(token))
    if row is not None and row.revoked_at is None:
        row.revoked_at = now or datetime.now(UTC)
        user = session.get(User, row.user_id)
        audit.record(session, audit_key, actor=user.username if user else "?", action="logout")
