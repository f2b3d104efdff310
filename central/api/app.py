"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from central.api.routes import admin, attendance, auth, device_api, events, monitoring, nodes, subjects
from central.context import Central
from central.errors import CentralError
from central.security import DecryptionError


def _field(loc: tuple[object, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "request"


def create_app(central: Central) -> FastAPI:
    """Central's API; `central` holds the config, database and keys."""
    app = FastAPI(title="corr central", version="1", description="Community-corrections central API")
    app.state.central = central
    for module in (auth, nodes, subjects, events, admin, monitoring, attendance, device_api):
        app.include_router(module.router)

    @app.exception_handler(CentralError)
    async def _central_error(_r: Request, exc: CentralError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=headers)

    @app.exception_handler(ValueError)
    async def _value_error(_r: Request, exc: ValueError) -> JSONResponse:
        if isinstance(exc, DecryptionError):
            return JSONResponse({"error": "stored data does not open with the configured key"}, status_code=500)
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [f"field '{_field(tuple(e['loc']))}': {e['msg']}" for e in exc.errors()]
        return JSONResponse({"error": "; ".join(errors)}, status_code=422)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness."""
        return {"status": "ok"}

    from central.web import mount_ui  # the officer UI (central/web/) under /ui/

    mount_ui(app)
    return app
