"""What kiosks ask central for over HTTPS: subject lookup, fingerprint templates, enrolment, audio.

Every function takes the calling device's node path and only reaches subjects of that node and
below: a kiosk at one centre can neither look up nor enrol a subject of another. Reads of personal
or biometric data are audited with the device as the actor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central import audit
from central.db.models import AudioBlob, Subject, User, VoiceReport
from central.db.models import Template as TemplateRow
from central.errors import CentralError, Forbidden, NotFound
from central.gallery import template_context
from central.ingest.store import insert_ignoring_duplicates
from central.scoping import path_within
from central.security import FieldCipher, lookup_hmac, mask_id_number, normalise_id_number
from central.subjects import get_scoped, id_number_problem
from vision.errors import TemplateError
from vision.template import Template

TEMPLATE_KINDS = ("face", "fingerprint")
MAX_FINGERPRINT_BYTES = 64 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+/-]{0,99}$")
NOT_AT_CENTRE = "not enrolled at this centre"


class Unprocessable(CentralError):
    """A well-formed request whose content is wrong (bad ID number, template, hash): 422."""

    status = 422


def _actor(device_id: str) -> str:
    return f"device:{device_id}"[:100]


def _scoped_subject(session: Session, subject_id: str, device_node_path: str) -> Subject:
    subject = session.get(Subject, subject_id)
    if subject is None or not path_within(subject.node_path, device_node_path):
        raise NotFound(f"subject {subject_id}: {NOT_AT_CENTRE}")
    return subject


def node_codes(path: str) -> list[str]:
    """The node codes along a materialized path: '/35/3502/350205/' → ['35', '3502', '350205']."""
    return [part for part in path.split("/") if part]


@dataclass(frozen=True)
class LookupResult:
    """What a kiosk learns about the person holding a card (it shows the name to that person)."""

    subject_id: str
    name: str
    status: str
    supervision_level: str
    category: str
    requires_fingerprint: bool
    term_ends: date
    enrolled: list[str]


def lookup_subject(
    session: Session,
    cipher: FieldCipher,
    hmac_key: bytes,
    audit_key: bytes,
    *,
    device_id: str,
    device_node_path: str,
    id_number: str,
    fingerprint_nodes: list[str],
) -> LookupResult:
    """Find a subject by ID number (through its HMAC, never by clear text), within the kiosk's centre."""
    number = normalise_id_number(id_number)
    problem = id_number_problem(number)
    if problem:
        raise Unprocessable(f"ID number {mask_id_number(number)}: {problem}")
    digest = lookup_hmac(hmac_key, number)
    subject = session.execute(select(Subject).where(Subject.id_number_hmac == digest)).scalar_one_or_none()
    if subject is None or not path_within(subject.node_path, device_node_path):
        # Same answer whether the person is unknown or belongs elsewhere: a kiosk learns nothing more.
        raise NotFound(f"ID number {mask_id_number(number)}: {NOT_AT_CENTRE}")
    kinds = sorted(set(session.execute(select(TemplateRow.kind).where(TemplateRow.subject_id == subject.id)).scalars()))
    policy = any(code in fingerprint_nodes for code in node_codes(subject.node_path))
    audit.record(
        session,
        audit_key,
        actor=_actor(device_id),
        action="device.subject_lookup",
        subject_id=subject.id,
        node_path=subject.node_path,
        detail={"device_id": device_id},
    )
    return LookupResult(
        subject_id=subject.id,
        name=cipher.decrypt_text(subject.name_enc, "subject.name"),
        status=subject.status,
        supervision_level=subject.supervision_level,
        category=subject.category,
        requires_fingerprint=subject.supervision_level == "strict" or policy,
        term_ends=subject.term_end,
        enrolled=kinds,
    )


def fingerprint_templates(
    session: Session, cipher: FieldCipher, audit_key: bytes, *, device_id: str, device_node_path: str, subject_id: str
) -> list[dict[str, Any]]:
    """The subject's fingerprint templates, opened, for 1:1 matching on the kiosk's sensor; audited."""
    subject = _scoped_subject(session, subject_id, device_node_path)
    rows = session.execute(
        select(TemplateRow)
        .where(TemplateRow.subject_id == subject.id, TemplateRow.kind == "fingerprint")
        .order_by(TemplateRow.id)
    ).scalars()
    out = [
        {
            "id": row.id,
            "model": row.model,
            "template": base64.b64encode(
                cipher.decrypt(row.vector_enc, template_context(subject.id, "fingerprint"))
            ).decode(),
            "created_at": row.created_at.isoformat(),
        }
        for row in rows
    ]
    audit.record(
        session,
        audit_key,
        actor=_actor(device_id),
        action="device.fingerprints_read",
        subject_id=subject.id,
        node_path=subject.node_path,
        detail={"device_id": device_id, "templates": len(out)},
    )
    return out


def decode_template(kind: str, model: str, template_b64: str) -> bytes:
    """The raw template bytes, checked: a face template must parse as vision's Template format."""
    if kind not in TEMPLATE_KINDS:
        raise Unprocessable(f"kind {kind!r}: expected one of {', '.join(TEMPLATE_KINDS)}")
    if not _MODEL.match(model):
        raise Unprocessable(f"model {model!r}: 1-100 letters, digits, '_', '.', ':', '+', '/', '-'")
    try:
        raw = base64.b64decode(template_b64, validate=True)
    except (binascii.Error, ValueError):
        raise Unprocessable("template: not base64 (standard alphabet, padded)") from None
    if not raw:
        raise Unprocessable("template: empty")
    if kind == "face":
        try:
            Template.from_bytes(raw)
        except TemplateError as exc:
            raise Unprocessable(f"template: {exc} (a face template is vision.template.Template.to_bytes())") from None
    elif len(raw) > MAX_FINGERPRINT_BYTES:
        raise Unprocessable(f"template: fingerprint template of {len(raw)} bytes; at most {MAX_FINGERPRINT_BYTES}")
    return raw


def store_template(
    session: Session,
    cipher: FieldCipher,
    audit_key: bytes,
    *,
    device_id: str,
    device_node_path: str,
    subject_id: str,
    kind: str,
    model: str,
    template_b64: str,
    enrolled_by: str,
    now: datetime | None = None,
) -> tuple[TemplateRow, Subject]:
    """Store an enrolled template encrypted at rest; the staff member named must cover the subject."""
    raw = decode_template(kind, model, template_b64)
    subject = _scoped_subject(session, subject_id, device_node_path)
    staff = session.execute(select(User).where(User.username == enrolled_by)).scalar_one_or_none()
    if staff is None or staff.disabled or staff.role not in ("admin", "officer"):
        raise Unprocessable(f"enrolled_by {enrolled_by!r}: no active officer or admin with that username")
    if not path_within(subject.node_path, staff.node_path):
        raise Forbidden(f"enrolled_by {enrolled_by}: subject {subject_id} is outside that officer's jurisdiction")
    row = TemplateRow(
        subject_id=subject.id,
        kind=kind,
        model=model,
        vector_enc=cipher.encrypt(raw, template_context(subject.id, kind)),
        created_at=now or datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        audit_key,
        actor=enrolled_by,
        action="template.enrol",
        subject_id=subject.id,
        node_path=subject.node_path,
        detail={"kind": kind, "model": model, "template_id": row.id, "device_id": device_id},
    )
    return row, subject


AUDIO_CONTEXT = "audio"


def check_sha256(value: str) -> str:
    """A sha256 as 64 lower-case hex digits, else Unprocessable."""
    if not _SHA256.match(value):
        raise Unprocessable(f"sha256 {value[:80]!r}: expected 64 lower-case hex digits")
    return value


def store_audio(
    session: Session,
    cipher: FieldCipher,
    audit_key: bytes,
    *,
    device_id: str,
    sha256: str,
    data: bytes,
    content_type: str,
    now: datetime | None = None,
) -> bool:
    """Store a recording under the sha256 of its bytes, encrypted; True if new, False if it was there already."""
    check_sha256(sha256)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise Unprocessable(f"body sha256 is {actual}, the path says {sha256}: upload damaged or wrong path")
    if session.get(AudioBlob, sha256) is not None:
        return False
    inserted = insert_ignoring_duplicates(
        session,
        AudioBlob,
        [
            {
                "sha256": sha256,
                "device_id": device_id,
                "data_enc": cipher.encrypt(data, f"{AUDIO_CONTEXT}:{sha256}"),
                "size": len(data),
                "content_type": content_type,
                "created_at": now or datetime.now(UTC),
            }
        ],
        returning="sha256",
    )
    if inserted:
        audit.record(
            session,
            audit_key,
            actor=_actor(device_id),
            action="audio.upload",
            detail={"sha256": sha256, "size": len(data)},
        )
    return bool(inserted)


def voice_report_audio(
    session: Session, cipher: FieldCipher, audit_key: bytes, viewer: User, report_id: int
) -> tuple[bytes, str]:
    """The recording of a voice report, for an officer whose jurisdiction holds the report's subject; audited."""
    report = session.get(VoiceReport, report_id)
    if report is None:
        raise NotFound(f"no voice report {report_id} in your jurisdiction")
    try:
        subject = get_scoped(session, viewer, report.subject_id)
    except NotFound:
        raise NotFound(f"no voice report {report_id} in your jurisdiction") from None
    blob = session.get(AudioBlob, report.audio_sha256)
    if blob is None:
        raise NotFound(f"voice report {report_id}: its recording {report.audio_sha256} has not been uploaded yet")
    data = cipher.decrypt(blob.data_enc, f"{AUDIO_CONTEXT}:{blob.sha256}")
    audit.record(
        session,
        audit_key,
        actor=viewer.username,
        action="voice_report.listen",
        subject_id=subject.id,
        node_path=subject.node_path,
        detail={"report_id": report_id, "sha256": blob.sha256},
    )
    return data, blob.content_type
