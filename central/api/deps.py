"""Request dependencies: the database session and the logged-in officer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from central.context import Central
from central.db.models import User
from central.errors import Forbidden, Unauthorized
from central.users import user_for_token

_bearer = HTTPBearer(auto_error=False)


def get_central(request: Request) -> Central:
    """The process-wide runtime."""
    central: Central = request.app.state.central
    return central


def get_session(central: Annotated[Central, Depends(get_central)]) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back if it raises."""
    with central.sessions() as session, session.begin():
        yield session


def bearer_token(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """The bearer token of the request."""
    if creds is None:
        raise Unauthorized("not logged in: send 'Authorization: Bearer <token>' from POST /api/v1/auth/login")
    return creds.credentials


def current_user(
    token: Annotated[str, Depends(bearer_token)],
    session: Annotated[Session, Depends(get_session)],
    central: Annotated[Central, Depends(get_central)],
) -> User:
    """The officer behind the token."""
    return user_for_token(session, token, idle_s=central.config.security.session_idle_s)


def require_role(*roles: str):  # type: ignore[no-untyped-def]
    """Dependency factory: the user must hold one of `roles`."""

    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in roles:
            raise Forbidden(f"this needs the role {' or '.join(roles)}; you are {user.role}")
        return user

    return check


SessionDep = Annotated[Session, Depends(get_session)]
UserDep = Annotated[User, Depends(current_user)]
CentralDep = Annotated[Central, Depends(get_central)]
