"""Per-device face galleries: which templates a device may hold, sealed for that device alone.

A kiosk or edge agent gets the face templates of the *active* subjects of its node and below (its
jurisdiction, like an officer's), sealed with `vision.gallery_file.seal_gallery` under the device's
own gallery key, so a file fetched by or leaked from one device opens nowhere else.

Versions: each device has one current gallery (`device_gallery`). `refresh_gallery` rebuilds the
entry list and compares a keyed hash of it with the stored one; only a change makes a new version
(version + 1, a new sealed file and sha256). An unchanged gallery keeps its version, file and
sha256, so re-announcing it makes no device download anything.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.db.models import Device, DeviceGallery, Subject
from central.db.models import Template as TemplateRow
from central.devices import GALLERY_KINDS, device_gallery_key
from central.errors import Conflict, NotFound
from central.scoping import path_within
from central.security import FieldCipher
from vision.gallery_file import seal_gallery
from vision.template import Template

DEVICE_API_PREFIX = "/device-api/v1"


def template_context(subject_id: str, kind: str) -> str:
    """The associated data of a stored template: a ciphertext moved to another subject or kind does not open."""
    return f"template:{subject_id}/{kind}"


@dataclass(frozen=True)
class GalleryInfo:
    """A device's current gallery as announced: version, sha256 of the sealed file, entry count."""

    device_id: str
    version: int
    sha256: str
    entries: int
    changed: bool  # True when this call made a new version

    def url(self, public_url: str) -> str:
        """Where the device downloads this version."""
        return f"{public_url.rstrip('/')}{DEVICE_API_PREFIX}/gallery/{self.version}"


def gallery_entries(session: Session, cipher: FieldCipher, device: Device) -> list[tuple[str, Template]]:
    """(subject id, face template) of every active subject in the device's node subtree, in a stable order."""
    rows = session.execute(
        select(TemplateRow.subject_id, TemplateRow.vector_enc)
        .join(Subject, Subject.id == TemplateRow.subject_id)
        .where(
            TemplateRow.kind == "face",
            Subject.status == "active",
            Subject.node_path.startswith(device.node_path, autoescape=True),
        )
        .order_by(TemplateRow.subject_id, TemplateRow.id)
    )
    return [
        (subject_id, Template.from_bytes(cipher.decrypt(blob, template_context(subject_id, "face"))))
        for subject_id, blob in rows
    ]


def content_hmac(hmac_key: bytes, device_id: str, entries: Sequence[tuple[str, Template]]) -> str:
    """A keyed digest of what a gallery holds (keyed: a plain hash of biometric data is not stored)."""
    mac = hmac.new(hmac_key, f"gallery:{device_id}\n".encode(), hashlib.sha256)
    for subject_id, template in entries:
        raw = template.to_bytes()
        mac.update(f"{subject_id}\n{len(raw)}\n".encode())
        mac.update(raw)
    return mac.hexdigest()


def gallery_device(session: Session, device_id: str, *, lock: bool = False) -> Device:
    """A kiosk or edge device by id (locked for the transaction with `lock`), else NotFound / Conflict."""
    query = select(Device).where(Device.id == device_id)
    device = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if device is None:
        raise NotFound(f"no device {device_id}")
    if device.kind not in GALLERY_KINDS:
        raise Conflict(
            f"device {device_id} is a {device.kind}; only {' and '.join(GALLERY_KINDS)} devices get galleries"
        )
    return device


def refresh_gallery(
    session: Session, cipher: FieldCipher, hmac_key: bytes, device_id: str, now: datetime | None = None
) -> GalleryInfo:
    """Make the device's gallery current: a new version only when its content changed.

    Locks the device row (PostgreSQL), so two requests refreshing at once make one version, not two.
    """
    device = gallery_device(session, device_id, lock=True)
    key = device_gallery_key(device, cipher)
    entries = gallery_entries(session, cipher, device)
    digest = content_hmac(hmac_key, device_id, entries)
    current = session.get(DeviceGallery, device_id)
    if current is not None and hmac.compare_digest(current.content_hmac, digest):
        return GalleryInfo(device_id, current.version, current.sha256, current.entries, changed=False)
    version = 1 if current is None else current.version + 1
    blob = seal_gallery(entries, version=version, device_id=device_id, key=key)
    sha = hashlib.sha256(blob).hexdigest()
    values = {
        "version": version,
        "sha256": sha,
        "content_hmac": digest,
        "entries": len(entries),
        "blob": blob,
        "built_at": now or datetime.now(UTC),
    }
    if current is None:
        session.add(DeviceGallery(device_id=device_id, **values))
    else:
        for name, value in values.items():
            setattr(current, name, value)
    session.flush()
    return GalleryInfo(device_id, version, sha, len(entries), changed=True)


def forget_gallery(session: Session, device_id: str) -> None:
    """Drop a device's stored gallery (after its key changed): the next refresh seals a new version."""
    current = session.get(DeviceGallery, device_id)
    if current is not None:
        # Keep the version counter going up, so a device never sees a number it has seen before.
        current.content_hmac = ""
        session.flush()


def current_file(session: Session, device_id: str, version: int) -> bytes:
    """The device's current sealed gallery file; another version is NotFound, naming the current one."""
    current = session.get(DeviceGallery, device_id)
    if current is None:
        raise NotFound(f"no gallery built yet for device {device_id}: GET {DEVICE_API_PREFIX}/gallery first")
    if version != current.version:
        raise NotFound(f"gallery version {version} is no longer served, current is {current.version}")
    return current.blob


def devices_seeing(session: Session, subject_node_path: str) -> list[str]:
    """Ids of the enabled kiosks and edge agents (with a gallery key) whose gallery may hold a subject of this node."""
    rows = session.execute(
        select(Device.id, Device.node_path)
        .where(Device.kind.in_(GALLERY_KINDS), Device.enabled.is_(True), Device.gallery_key_enc.is_not(None))
        .order_by(Device.id)
    )
    return [device_id for device_id, path in rows if path_within(subject_node_path, path)]


def gallery_devices(session: Session) -> list[str]:
    """Ids of every enabled kiosk and edge agent that has a gallery key."""
    rows = session.execute(
        select(Device.id)
        .where(Device.kind.in_(GALLERY_KINDS), Device.enabled.is_(True), Device.gallery_key_enc.is_not(None))
        .order_by(Device.id)
    )
    return list(rows.scalars())
