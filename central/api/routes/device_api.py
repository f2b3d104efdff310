"""The HTTPS API devices call, under /device-api/v1/ (HTTP Basic: device id + device secret).

Errors are JSON `{"detail": "…"}` (with the same text under "error", like the officer API) that a
kiosk can show or log as they are. A device only ever reaches its own gallery and the subjects of
its own node and below.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Coroutine
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from central import device_services, gallery
from central.api.deps import CentralDep
from central.api.device_auth import AuthenticatedDevice, require_device_kind
from central.commands import CommandError, publish_galleries
from central.context import Central
from central.errors import CentralError
from central.security import DecryptionError

log = logging.getLogger("central.device_api")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message, "error": message}, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if p not in ("body", "query", "path")) or "request"


class DeviceRoute(APIRoute):
    """Every refusal of this router as `{"detail": …}` with the right status, whatever raised it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}))
            except RequestValidationError as exc:
                errors = [f"field '{_field(tuple(e['loc']))}': {e['msg']}" for e in exc.errors()]
                return _error(422, "; ".join(errors))
            except CentralError as exc:
                return _error(exc.status, str(exc))
            except DecryptionError:
                log.exception("stored data does not open with the configured key")
                return _error(500, "stored data does not open with the configured key")
            except ValueError as exc:
                return _error(400, str(exc))

        return wrapped


router = APIRouter(prefix=gallery.DEVICE_API_PREFIX, tags=["device API"], route_class=DeviceRoute)

GalleryDevice = Annotated[AuthenticatedDevice, Depends(require_device_kind("edge", "kiosk"))]
Kiosk = Annotated[AuthenticatedDevice, Depends(require_device_kind("kiosk"))]


class GalleryOut(BaseModel):
    """The calling device's current gallery: fetch `url` (this API, same credentials), check `sha256`."""

    version: int
    sha256: str
    url: str
    entries: int


@router.get("/gallery")
def current_gallery(device: GalleryDevice, central: CentralDep) -> GalleryOut:
    """The device's current gallery, rebuilt first if the enrolled faces of its jurisdiction changed."""
    with central.sessions.begin() as s:
        info = gallery.refresh_gallery(s, central.cipher, central.hmac_key, device.id)
    return GalleryOut(
        version=info.version, sha256=info.sha256, url=info.url(central.config.public_url()), entries=info.entries
    )


@router.get(
    "/gallery/{version}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the sealed gallery file"}},
)
def gallery_file(version: int, device: GalleryDevice, central: CentralDep) -> Response:
    """The sealed gallery file of the current version (vision.gallery_file format, the device's key)."""
    with central.sessions() as s:
        blob = gallery.current_file(s, device.id, version)
    return Response(
        blob,
        media_type="application/octet-stream",
        headers={"X-Content-SHA256": hashlib.sha256(blob).hexdigest(), "Cache-Control": "no-store"},
    )


class LookupIn(BaseModel):
    """The ID number read from a card."""

    id_number: str = Field(min_length=1, max_length=64)


class LookupOut(BaseModel):
    """The subject holding the card, as the kiosk needs it for a check-in."""

    subject_id: str
    name: str
    status: str
    supervision_level: str
    category: str
    requires_fingerprint: bool
    term_ends: date
    enrolled: list[str]


@router.post("/subjects/lookup")
def lookup(body: LookupIn, device: Kiosk, central: CentralDep) -> LookupOut:
    """Find the subject by ID number within this kiosk's centre; 404 'not enrolled at this centre' otherwise."""
    with central.sessions.begin() as s:
        found = device_services.lookup_subject(
            s,
            central.cipher,
            central.hmac_key,
            central.audit_key,
            device_id=device.id,
            device_node_path=device.node_path,
            id_number=body.id_number,
            fingerprint_nodes=central.config.device_api.fingerprint_nodes,
        )
    return LookupOut(**found.__dict__)


class FingerprintTemplate(BaseModel):
    """One enrolled fingerprint template (the sensor's own format), base64."""

    id: int
    model: str
    template: str
    created_at: str


class FingerprintsOut(BaseModel):
    """A subject's fingerprint templates for 1:1 matching on the kiosk's sensor."""

    subject_id: str
    templates: list[FingerprintTemplate]


@router.get("/subjects/{subject_id}/fingerprints")
def fingerprints(subject_id: str, device: Kiosk, central: CentralDep) -> FingerprintsOut:
    """The subject's fingerprint templates (audited); 404 when the subject is not at this centre."""
    with central.sessions.begin() as s:
        rows = device_services.fingerprint_templates(
            s,
            central.cipher,
            central.audit_key,
            device_id=device.id,
            device_node_path=device.node_path,
            subject_id=subject_id,
        )
    return FingerprintsOut(subject_id=subject_id, templates=[FingerprintTemplate(**r) for r in rows])


class TemplateIn(BaseModel):
    """An enrolled template: a face template is vision.template.Template.to_bytes(), base64."""

    kind: Literal["face", "fingerprint"]
    model: str = Field(min_length=1, max_length=100)
    template: str = Field(min_length=1, max_length=200_000)
    enrolled_by: str = Field(min_length=1, max_length=64, description="username of the staff member present")


class GalleryAnnounced(BaseModel):
    """A device gallery rebuilt after the enrolment, and whether its `gallery` command went out."""

    device_id: str
    version: int
    published: bool


class TemplateOut(BaseModel):
    """The stored template and the galleries it changed."""

    template_id: int
    subject_id: str
    kind: str
    galleries: list[GalleryAnnounced]
    publish_error: str | None = None


@router.post("/subjects/{subject_id}/templates", status_code=201)
def upload_template(subject_id: str, body: TemplateIn, device: Kiosk, central: CentralDep) -> TemplateOut:
    """Store an enrolled template encrypted at rest (audited); a face republishes the galleries that hold it."""
    changed: list[gallery.GalleryInfo] = []
    with central.sessions.begin() as s:
        row, subject = device_services.store_template(
            s,
            central.cipher,
            central.audit_key,
            device_id=device.id,
            device_node_path=device.node_path,
            subject_id=subject_id,
            kind=body.kind,
            model=body.model,
            template_b64=body.template,
            enrolled_by=body.enrolled_by,
        )
        template_id = row.id
        if body.kind == "face" and subject.status == "active":
            for target in gallery.devices_seeing(s, subject.node_path):
                info = gallery.refresh_gallery(s, central.cipher, central.hmac_key, target)
                if info.changed:
                    changed.append(info)
    # Announced only after the commit, so a device that fetches at once finds the new version.
    error = _publish(central, changed)
    return TemplateOut(
        template_id=template_id,
        subject_id=subject_id,
        kind=body.kind,
        galleries=[
            GalleryAnnounced(device_id=i.device_id, version=i.version, published=error is None) for i in changed
        ],
        publish_error=error,
    )


def _publish(central: Central, changed: list[gallery.GalleryInfo]) -> str | None:
    """Publish the gallery commands; on failure the template stays stored, and the error is reported."""
    try:
        publish_galleries(central.config, changed)
    except CommandError as exc:
        log.error("gallery commands not published (%s); run `corr-central gallery publish`", exc)
        return f"{exc}; run `corr-central gallery publish` once the broker is reachable"
    return None


AUDIO_TYPES = ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave")


class AudioOut(BaseModel):
    """The stored recording."""

    sha256: str
    size: int
    created: bool


@router.put(
    "/audio/{sha256}",
    responses={201: {"description": "stored"}, 200: {"description": "already stored (idempotent)"}},
    openapi_extra={"requestBody": {"content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def upload_audio(sha256: str, request: Request, device: Kiosk, central: CentralDep) -> JSONResponse:
    """Store a voice-report recording addressed by its sha256, encrypted at rest; PUT twice is harmless."""
    device_services.check_sha256(sha256)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in AUDIO_TYPES:
        raise HTTPException(415, f"content type {content_type or 'missing'!r}: expected audio/wav")
    limit = central.config.device_api.audio_max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"recording of {declared} bytes; at most {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"recording larger than {limit} bytes")
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data:
        raise HTTPException(422, "empty body: expected the WAV file")

    def store() -> bool:
        with central.sessions.begin() as s:
            return device_services.store_audio(
                s,
                central.cipher,
                central.audit_key,
                device_id=device.id,
                sha256=sha256,
                data=data,
                content_type=content_type,
            )

    created = await run_in_threadpool(store)
    body = AudioOut(sha256=sha256, size=len(data), created=created)
    return JSONResponse(body.model_dump(), status_code=201 if created else 200)
