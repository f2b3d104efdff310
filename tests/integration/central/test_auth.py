"""Officer login: lockout, expiry, logout, disabled accounts, messages that say what happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from central.db.models import AuthToken, User
from tests.integration.central.conftest import PASSWORD, Env


def _login(env: Env, username: str, password: str):
    return env.client.post("/api/v1/auth/login", json={"username": username, "password": password})


def test_login_and_me(env: Env) -> None:
    """A right password gives a token that identifies the officer."""
    h = env.login("huli.officer")
    me = env.client.get("/api/v1/auth/me", headers=h).json()
    assert me["username"] == "huli.officer" and me["node_path"] == "/35/3502/350206/"
    assert "password" not in str(me)


def test_no_token_and_bad_token(env: Env) -> None:
    """Requests without or with an unknown token are refused with a clear reason."""
    r = env.client.get("/api/v1/subjects")
    assert r.status_code == 401 and "not logged in" in r.json()["error"]
    r = env.client.get("/api/v1/subjects", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and "unknown or revoked" in r.json()["error"]


def test_lockout_after_repeated_failures(env: Env) -> None:
    """Five wrong passwords lock the account; even the right one is refused until the lock ends."""
    for _ in range(5):
        r = _login(env, "huli.officer", "wrong-password")
        assert r.status_code == 401 and r.json()["error"] == "wrong username or password"
    r = _login(env, "huli.officer", PASSWORD)
    assert r.status_code == 401 and "locked after 5 failed logins" in r.json()["error"]
    with env.central.sessions.begin() as s:
        user = s.execute(select(User).where(User.username == "huli.officer")).scalar_one()
        user.locked_until = datetime.now(UTC) - timedelta(seconds=1)
    assert _login(env, "huli.officer", PASSWORD).status_code == 200


def test_unknown_user_gets_same_message(env: Env) -> None:
    """An unknown username is not told apart from a wrong password."""
    r = _login(env, "nobody", "whatever-password")
    assert r.status_code == 401 and r.json()["error"] == "wrong username or password"


def test_expired_token(env: Env) -> None:
    """A token past its expiry is refused and says the session expired."""
    h = env.login("huli.officer")
    with env.central.sessions.begin() as s:
        for tok in s.execute(select(AuthToken)).scalars():
            tok.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    r = env.client.get("/api/v1/auth/me", headers=h)
    assert r.status_code == 401 and "expired" in r.json()["error"]


def _last_used(env: Env) -> list[tuple[datetime, datetime | None]]:
    with env.central.sessions() as s:
        return [(t.created_at, t.last_used_at) for t in s.execute(select(AuthToken)).scalars()]


def test_idle_session_ends_and_use_renews_it(env: Env) -> None:
    """A token unused for session_idle_s ends ('without activity'); a request within that time moves the end on."""
    idle = env.central.config.security.session_idle_s
    assert idle == 30 * 60  # the default
    h = env.login("huli.officer")
    # Used 20 minutes after login: still valid, and the use is recorded, so the idle clock restarts.
    with env.central.sessions.begin() as s:
        for tok in s.execute(select(AuthToken)).scalars():
            tok.created_at = datetime.now(UTC) - timedelta(minutes=20)
    assert env.client.get("/api/v1/auth/me", headers=h).status_code == 200
    [(created, used)] = _last_used(env)
    assert used is not None and used - created >= timedelta(minutes=19)
    # Another request within a minute does not write again.
    assert env.client.get("/api/v1/auth/me", headers=h).status_code == 200
    assert _last_used(env) == [(created, used)]
    # 40 minutes after login but 20 after the last use: valid (a fixed window from login would have ended).
    with env.central.sessions.begin() as s:
        for tok in s.execute(select(AuthToken)).scalars():
            tok.created_at = datetime.now(UTC) - timedelta(minutes=40)
            tok.last_used_at = datetime.now(UTC) - timedelta(minutes=20)
    assert env.client.get("/api/v1/auth/me", headers=h).status_code == 200
    # Then 31 minutes without a request: refused, saying why.
    with env.central.sessions.begin() as s:
        for tok in s.execute(select(AuthToken)).scalars():
            tok.last_used_at = datetime.now(UTC) - timedelta(minutes=31)
    r = env.client.get("/api/v1/auth/me", headers=h)
    assert r.status_code == 401 and r.json()["error"] == "session ended after 30 minutes without activity; log in again"


def test_logout_revokes(env: Env) -> None:
    """After logout the token no longer works."""
    h = env.login("huli.officer")
    assert env.client.post("/api/v1/auth/logout", headers=h).status_code == 204
    assert env.client.get("/api/v1/auth/me", headers=h).status_code == 401


def test_disabled_account(env: Env) -> None:
    """An admin disables an account: its live token stops at once and new logins are refused."""
    h = env.login("huli.viewer")
    admin = env.login("prov.admin")
    assert env.client.post("/api/v1/users/huli.viewer/disable", headers=admin).status_code == 200
    assert env.client.get("/api/v1/auth/me", headers=h).status_code == 401
    r = _login(env, "huli.viewer", PASSWORD)
    assert r.status_code == 401 and "disabled" in r.json()["error"]


def test_admin_creates_accounts_only_below(env: Env) -> None:
    """Top-down allocation: a county admin creates accounts in its county, not in the sibling county."""
    prov = env.login("prov.admin")
    body = {"username": "haicang.admin", "password": "long-enough-pw", "role": "admin", "node": "350205"}
    assert env.client.post("/api/v1/users", json=body, headers=prov).status_code == 201
    county = env.login("haicang.admin", "long-enough-pw")
    ok = {"username": "haicang.new", "password": "long-enough-pw", "role": "officer", "node": "350205001"}
    assert env.client.post("/api/v1/users", json=ok, headers=county).status_code == 201
    bad = {**ok, "username": "huli.new", "node": "350206"}
    r = env.client.post("/api/v1/users", json=bad, headers=county)
    assert r.status_code == 403 and "outside your jurisdiction" in r.json()["error"]
    short = {**ok, "username": "short.pw", "password": "short"}
    r = env.client.post("/api/v1/users", json=short, headers=county)
    assert r.status_code == 400 and "at least 10 characters" in r.json()["error"]


def test_login_actions_are_audited(env: Env) -> None:
    """Logins and failures land in the audit trail."""
    _login(env, "huli.officer", "wrong-password")
    env.login("huli.officer")
    rows = env.client.get("/api/v1/audit", headers=env.login("prov.admin"), params={"actor": "huli.officer"}).json()
    assert {"login", "login.failed"} <= {r["action"] for r in rows}
