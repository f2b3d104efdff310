"""Devices and their broker accounts: central is the only writer of Mosquitto's password file and ACL."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from central import audit
from central.broker_auth import BrokerAccount, mosquitto_password_hash, reload_broker, write_broker_files
from central.db.models import Device, Subject
from central.errors import Conflict, NotFound
from central.nodes import get_node
from central.scoping import path_within
from central.security import FieldCipher, hash_password
from vision.gallery_file import gallery_key

KINDS = ("kiosk", "edge", "gateway", "tracker", "phone", "central")
GALLERY_KINDS = ("kiosk", "edge")  # devices that receive a face gallery
GALLERY_KEY_CONTEXT = "device.gallery_key"
_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class NewDevice:
    """A registered device and its secret (shown once: it is the MQTT password and the HTTPS token)."""

    device: Device
    secret: str


def add_device(
    session: Session,
    audit_key: bytes,
    *,
    device_id: str,
    kind: str,
    node_code: str,
    description: str = "",
    secret: str | None = None,
    actor: str = "cli",
    subject_id: str | None = None,
    cipher: FieldCipher | None = None,
) -> NewDevice:
    """Register a device; its secret is stored only as hashes (argon2 for HTTPS, PBKDF2 for Mosquitto).

    `subject_id` links a worn device (a tracker) to its wearer, who must belong to the device's node
    or below, so a tracker's positions land in the wearer's jurisdiction.

    `cipher` (central's data key) stores the device's gallery key, derived from the secret, encrypted:
    central keeps no secret in clear, yet must seal galleries the device can open. Kiosks and edge
    agents need it; other kinds get one too when it is given.
    """
    if not _DEVICE_ID.match(device_id):
        raise ValueError(f"device id {device_id!r}: letters, digits, '_', '.', '-' (max 64), no '/', '+' or '#'")
    if kind not in KINDS:
        raise ValueError(f"device kind {kind!r}: expected one of {', '.join(KINDS)}")
    if session.get(Device, device_id) is not None:
        raise Conflict(f"device {device_id} exists already")
    node = get_node(session, node_code)
    if subject_id is not None:
        wearer = session.get(Subject, subject_id)
        if wearer is None:
            raise NotFound(f"no subject {subject_id} to link device {device_id} to")
        if not path_within(wearer.node_path, node.path):
            raise ValueError(
                f"subject {subject_id} is not under node {node_code}, where device {device_id} is registered"
            )
    if cipher is None and kind in GALLERY_KINDS:
        raise ValueError(f"a {kind} device needs central's data key (cipher) to store its gallery key")
    secret = secret or secrets.token_urlsafe(24)
    device = Device(
        id=device_id,
        kind=kind,
        node_id=node.id,
        node_path=node.path,
        description=description,
        mqtt_password_hash=mosquitto_password_hash(secret),
        token_hash=hash_password(secret),
        enabled=True,
        online=False,
        subject_id=subject_id,
        status={},
        created_at=datetime.now(UTC),
        gallery_key_enc=_sealed_gallery_key(cipher, secret, device_id) if cipher is not None else None,
        failed_auths=0,
    )
    session.add(device)
    session.flush()
    audit.record(
        session,
        audit_key,
        actor=actor,
        action="device.add",
        node_path=node.path,
        subject_id=subject_id,
        detail={"device_id": device_id, "kind": kind, "subject_id": subject_id},
    )
    return NewDevice(device, secret)


def _sealed_gallery_key(cipher: FieldCipher, secret: str, device_id: str) -> bytes:
    # The device id is bound into the ciphertext, so a key copied to another device row does not open.
    return cipher.encrypt(gallery_key(secret), f"{GALLERY_KEY_CONTEXT}:{device_id}")


def device_gallery_key(device: Device, cipher: FieldCipher) -> bytes:
    """The device's gallery key, or Conflict when it was registered before galleries existed."""
    if device.gallery_key_enc is None:
        raise Conflict(
            f"device {device.id} has no gallery key (registered before galleries existed): re-register the "
            f"device or rotate its secret with `corr-central devices rotate-secret {device.id}`"
        )
    return cipher.decrypt(device.gallery_key_enc, f"{GALLERY_KEY_CONTEXT}:{device.id}")


def rotate_secret(
    session: Session,
    cipher: FieldCipher,
    audit_key: bytes,
    device_id: str,
    *,
    secret: str | None = None,
    actor: str = "cli",
) -> NewDevice:
    """Give a device a new secret: both hashes and the gallery key change; the old secret stops working.

    The caller rewrites the broker's password file (`sync_broker`) so the MQTT password changes too,
    and republishes the device's gallery (its key changed, so the old file no longer opens).
    """
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id}")
    secret = secret or secrets.token_urlsafe(24)
    device.mqtt_password_hash = mosquitto_password_hash(secret)
    device.token_hash = hash_password(secret)
    device.gallery_key_enc = _sealed_gallery_key(cipher, secret, device_id)
    device.failed_auths = 0
    device.auth_locked_until = None
    session.flush()
    audit.record(
        session,
        audit_key,
        actor=actor,
        action="device.rotate_secret",
        node_path=device.node_path,
        subject_id=device.subject_id,
        detail={"device_id": device_id, "kind": device.kind},
    )
    return NewDevice(device, secret)


def broker_accounts(session: Session) -> list[BrokerAccount]:
    """Every enabled device as a broker login; `central` devices get the central role."""
    rows = session.execute(select(Device).where(Device.enabled.is_(True))).scalars()
    return [BrokerAccount(d.id, d.mqtt_password_hash, "central" if d.kind == "central" else "device") for d in rows]


def sync_broker(session: Session, password_file: Path, acl_file: Path, pid_file: Path | None = None) -> bool:
    """Rewrite the broker's password file and ACL from the database; SIGHUP the broker if it runs."""
    write_broker_files(broker_accounts(session), password_file, acl_file)
    return reload_broker(pid_file)
