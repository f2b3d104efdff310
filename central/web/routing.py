"""How a UI request is handled: the logged-in officer, CSRF on every POST, errors as pages.

`UiRoute` wraps every UI endpoint: a missing or expired session goes back to the login page
saying why; central's own errors (404 outside the jurisdiction, 403, 409 wrong transition,
ValueError with what was wrong) become a page, or an htmx fragment in the page's flash area; and
every response gets the security headers (central/web/render.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import Response

from central.api.deps import CentralDep, SessionDep
from central.errors import CentralError
from central.security import DecryptionError
from central.web.forms import Form, read_form
from central.web.render import error_response, login_redirect, secure
from central.web.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    CsrfRejected,
    LoginRequired,
    Officer,
    check_csrf,
    resolve,
)

log = logging.getLogger("central.web")


class UiRoute(APIRoute):
    """An endpoint of the officer UI: failures are shown to the officer, not returned as API JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler so every outcome is something the browser can show."""
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await original(request)
            except LoginRequired as exc:
                response = login_redirect(request, exc.reason)
            except CsrfRejected:
                response = error_response(request, 403, None, "error.csrf")
            except CentralError as exc:
                response = error_response(request, exc.status, str(exc))
            except RequestValidationError as exc:
                fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
                response = error_response(request, 422, fields)
            except DecryptionError:
                log.exception("stored data does not open with the configured key")
                response = error_response(request, 500, "stored data does not open with the configured key")
            except ValueError as exc:
                response = error_response(request, 400, str(exc))
            return secure(response, request.app.state.central.config.api.tile_url)

        return handler


def current_officer(request: Request, central: CentralDep, session: SessionDep) -> Officer:
    """The officer of the session cookie, or LoginRequired."""
    return resolve(
        session, request.cookies.get(SESSION_COOKIE), central.hmac_key, central.config.security.session_idle_s
    )


OfficerDep = Annotated[Officer, Depends(current_officer)]


async def checked_form(request: Request, officer: OfficerDep) -> Form:
    """The posted form, after checking its CSRF token (form field or header)."""
    try:
        form = await read_form(request)
    except ValueError:
        check_csrf(officer.csrf, request.headers.get(CSRF_HEADER))  # a forged request hears CSRF, not why
        raise
    check_csrf(officer.csrf, request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD))
    return form


FormDep = Annotated[Form, Depends(checked_form)]
