"""The encrypted gallery file central serves to an edge agent or kiosk, and the key both sides derive.

Central builds the file from the enrolled face templates a device may see (its node and below),
encrypts it for that one device, and announces it with a retained `gallery` command (version,
URL, sha256 of the file). The device downloads it over HTTPS, checks the sha256, opens it in
memory and never writes the templates in clear: the file on disk stays encrypted.

Key: AES-256-GCM with `gallery_key(device secret)` = HKDF-SHA256 of the device's secret (the one
`corr-central devices add` printed, which is also its MQTT password). The device derives it from
the secret it already has; central stores the derived key (encrypted with its data key) when it
registers the device, since it keeps only hashes of the secret itself. A file made for one
device does not open on another.

Format, version 1:

    offset  size  field
    0       8     magic b"CORRGAL1"
    8       12    random nonce
    20      ...   AES-GCM ciphertext + 16-byte tag of the UTF-8 JSON body

The associated data is the magic plus "<device id>:<version>", so a file replayed under another
version number or to another device does not open. The JSON body:

    {"version": 7, "device_id": "edge-haicang",
     "entries": [{"subject_id": "S-350205-0001", "template": "<base64 of Template.to_bytes()>"}, ...]}

Only the standard library and `cryptography` are needed (central builds galleries without numpy).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vision.errors import TemplateError
from vision.template import Template

MAGIC = b"CORRGAL1"
_NONCE = 12
_TAG = 16
_INFO = b"corr/v1 gallery key"


class GalleryFileError(TemplateError):
    """A gallery file that does not open or parse; the message says what is wrong with it."""


def gallery_key(device_secret: str) -> bytes:
    """The 32-byte AES key of a device's galleries, derived from its secret."""
    if not device_secret:
        raise GalleryFileError("device secret is empty: cannot derive the gallery key")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(device_secret.encode())


def _aad(device_id: str, version: int) -> bytes:
    return MAGIC + f"{device_id}:{version}".encode()


def seal_gallery(entries: Sequence[tuple[str, Template]], *, version: int, device_id: str, key: bytes) -> bytes:
    """The encrypted gallery file for `device_id`: (subject id, template) pairs, any number (zero is valid)."""
    if version < 1:
        raise GalleryFileError(f"gallery version must be >= 1, got {version}")
    if len(key) != 32:
        raise GalleryFileError(f"gallery key must be 32 bytes, got {len(key)}")
    body = {
        "version": version,
        "device_id": device_id,
        "entries": [
            {"subject_id": subject_id, "template": base64.b64encode(t.to_bytes()).decode()} for subject_id, t in entries
        ],
    }
    nonce = os.urandom(_NONCE)
    plain = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, plain, _aad(device_id, version))


def open_gallery(blob: bytes, *, version: int, device_id: str, key: bytes) -> list[tuple[str, Template]]:
    """Decrypt and parse a gallery file in memory; any wrong key, version, device or byte is a GalleryFileError."""
    if len(blob) < len(MAGIC) or blob[: len(MAGIC)] != MAGIC:
        raise GalleryFileError(f"not a gallery file: expected magic {MAGIC!r}, got {bytes(blob[: len(MAGIC)])!r}")
    if len(blob) < len(MAGIC) + _NONCE + _TAG:
        raise GalleryFileError(f"gallery file truncated: {len(blob)} bytes")
    if len(key) != 32:
        raise GalleryFileError(f"gallery key must be 32 bytes, got {len(key)}")
    nonce = blob[len(MAGIC) : len(MAGIC) + _NONCE]
    try:
        plain = AESGCM(key).decrypt(nonce, blob[len(MAGIC) + _NONCE :], _aad(device_id, version))
    except InvalidTag:
        raise GalleryFileError(
            f"gallery file does not open for device {device_id!r} version {version}: "
            "wrong key, wrong device or version, or altered bytes"
        ) from None
    try:
        body = json.loads(plain)
        if body.get("version") != version or body.get("device_id") != device_id:
            raise GalleryFileError(
                f"gallery body says device {body.get('device_id')!r} version {body.get('version')!r}, "
                f"expected {device_id!r} version {version}"
            )
        entries = body["entries"]
        if not isinstance(entries, list):
            raise GalleryFileError("gallery body: 'entries' must be a list")
        out: list[tuple[str, Template]] = []
        for i, entry in enumerate(entries):
            subject_id = entry.get("subject_id") if isinstance(entry, dict) else None
            if not isinstance(subject_id, str) or not subject_id:
                raise GalleryFileError(f"gallery entry {i}: 'subject_id' must be a non-empty string")
            try:
                raw = base64.b64decode(entry.get("template", ""), validate=True)
            except (binascii.Error, ValueError, TypeError):
                raise GalleryFileError(f"gallery entry {i} ({subject_id}): 'template' is not base64") from None
            out.append((subject_id, Template.from_bytes(raw)))
        return out
    except GalleryFileError:
        raise
    except TemplateError as exc:
        raise GalleryFileError(f"gallery file: {exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GalleryFileError(f"gallery body is not the expected JSON: {exc}") from None
