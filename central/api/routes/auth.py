"""Login, logout, who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from central import users
from central.api.deps import CentralDep, SessionDep, UserDep, bearer_token
from central.api.schemas import LoginIn, LoginOut, UserOut
from central.errors import Unauthorized

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/login")
def login(body: LoginIn, central: CentralDep) -> LoginOut:
    """Exchange a username and password for a bearer token; repeated failures lock the account."""
    with central.sessions.begin() as session:
        result = users.login(session, central.config.security, central.audit_key, body.username, body.password)
        if isinstance(result, users.LoginResult):
            return LoginOut(token=result.token, expires_at=result.expires_at, user=UserOut.model_validate(result.user))
    # Committed: the failure count and the audit row stay even though the request fails.
    raise Unauthorized(result.message)


@router.post("/logout", status_code=204)
def logout(token: Annotated[str, Depends(bearer_token)], central: CentralDep, session: SessionDep) -> None:
    """Revoke the current token."""
    users.logout(session, token, central.audit_key)


@router.get("/me")
def me(user: UserDep) -> UserOut:
    """The logged-in officer."""
    return UserOut.model_validate(user)
