"""Mount the officer UI on central's FastAPI application."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

from central.web import assets
from central.web.pages import alerts, audit, dashboard, devices, login, maps, subjects, users
from central.web.render import PREFIX, STATIC

log = logging.getLogger("central.web")


def mount_ui(app: FastAPI) -> None:
    """Add the UI's pages under /ui/, its static files under /ui/static/, and send / to the UI."""
    gaps = assets.missing()
    if gaps:
        log.warning("officer UI: front-end libraries missing (%s); run `python -m central.web.assets fetch`", gaps)
    for module in (login, dashboard, subjects, maps, alerts, devices, audit, users):
        app.include_router(module.router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="ui-static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        """The officer UI is the front door."""
        return RedirectResponse(f"{PREFIX}/", status_code=307)
