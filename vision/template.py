"""Face templates: a versioned binary format, and AES-256-GCM sealing so a template is never stored in clear.

Plain format, version 1 (all integers little-endian):

    offset  size  field
    0       4     magic b"CTPL"
    4       1     format version (1)
    5       1     n = length of the backend name (1..64)
    6       n     backend name, ASCII (the embedder's configuration `type`, e.g. "sface")
    6+n     32    sha256 of the embedder's model file (raw bytes)
    38+n    2     d = dimension (1..4096)
    40+n    4d    the embedding, float32, unit length

Sealed format, version 1: magic b"CTPE", version (1), 12-byte random nonce, then AES-GCM
ciphertext of the plain template with its 16-byte tag. The associated data is the 5-byte header
plus the caller's `context` (for example "subject:S-350205-0001/face"), so a sealed template
moved to another subject or field no longer opens.

This module needs only the standard library and `cryptography` (central reads templates without
numpy or OpenCV).
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
import struct
import sys
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vision.atomic_file import atomic_write
from vision.errors import TemplateError

MAGIC = b"CTPL"
VERSION = 1
SEALED_MAGIC = b"CTPE"
SEALED_VERSION = 1
MAX_DIM = 4096
_NONCE = 12
_TAG = 16
_BACKEND = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_NORM_TOLERANCE = 1e-3


def _floats(data: bytes) -> array[float]:
    values = array("f")
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    return values


@dataclass(frozen=True)
class Template:
    """One embedding with the backend and model that made it."""

    backend: str
    model_sha256: str
    vector: bytes  # float32 little-endian, unit length

    def __post_init__(self) -> None:
        if not _BACKEND.match(self.backend):
            raise TemplateError(
                f"template backend {self.backend!r}: expected 1-64 characters of a-z, 0-9, '_', '.', ':', '-'"
            )
        if not _SHA.match(self.model_sha256):
            raise TemplateError(f"template model sha256 {self.model_sha256!r}: expected 64 lower-case hex digits")
        if len(self.vector) == 0 or len(self.vector) % 4:
            raise TemplateError(f"template vector of {len(self.vector)} bytes; expected a whole number of float32")
        if self.dim > MAX_DIM:
            raise TemplateError(f"template dimension {self.dim}; at most {MAX_DIM}")
        values = _floats(self.vector)
        if not all(math.isfinite(v) for v in values):
            raise TemplateError("template vector holds NaN or infinite values")
        norm = math.sqrt(math.fsum(v * v for v in values))
        if abs(norm - 1.0) > _NORM_TOLERANCE:
            raise TemplateError(f"template vector has length {norm:.4f}; expected unit length")

    @property
    def dim(self) -> int:
        """Number of values in the embedding."""
        return len(self.vector) // 4

    def values(self) -> list[float]:
        """The embedding as Python floats."""
        return list(_floats(self.vector))

    @classmethod
    def from_values(cls, backend: str, model_sha256: str, values: Iterable[float]) -> Template:
        """Build a template from any float sequence (a numpy array works); the vector is scaled to unit length."""
        floats = [float(v) for v in values]
        if not floats:
            raise TemplateError("template vector is empty")
        if not all(math.isfinite(v) for v in floats):
            raise TemplateError("template vector holds NaN or infinite values")
        norm = math.sqrt(math.fsum(v * v for v in floats))
        if norm < 1e-12:
            raise TemplateError("template vector is all zeros")
        packed = array("f", (v / norm for v in floats))
        if sys.byteorder == "big":
            packed.byteswap()
        return cls(backend=backend, model_sha256=model_sha256.lower(), vector=packed.tobytes())

    def to_bytes(self) -> bytes:
        """The plain binary form (see the module docstring)."""
        name = self.backend.encode("ascii")
        return (
            MAGIC
            + bytes([VERSION, len(name)])
            + name
            + bytes.fromhex(self.model_sha256)
            + struct.pack("<H", self.dim)
            + self.vector
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Template:
        """Parse the plain binary form; anything malformed is a TemplateError naming the fault."""
        if len(data) < 6 or data[:4] != MAGIC:
            raise TemplateError(f"not a face template: expected magic {MAGIC!r}, got {bytes(data[:4])!r}")
        if data[4] != VERSION:
            raise TemplateError(f"face template format version {data[4]}; this software reads version {VERSION}")
        n = data[5]
        fixed = 6 + n + 32 + 2
        if n == 0 or len(data) < fixed:
            raise TemplateError(f"face template truncated: {len(data)} bytes, header alone needs {max(fixed, 7)}")
        try:
            backend = data[6 : 6 + n].decode("ascii")
        except UnicodeDecodeError as exc:
            raise TemplateError("face template backend name is not ASCII") from exc
        sha = data[6 + n : 6 + n + 32].hex()
        (dim,) = struct.unpack("<H", data[6 + n + 32 : fixed])
        if len(data) != fixed + 4 * dim:
            raise TemplateError(
                f"face template of dimension {dim} should be {fixed + 4 * dim} bytes, got {len(data)} "
                "(truncated or trailing bytes)"
            )
        return cls(backend=backend, model_sha256=sha, vector=bytes(data[fixed:]))


def check_comparable(a: Template, b: Template) -> None:
    """Raise TemplateError unless the two templates come from the same backend and model."""
    if a.backend != b.backend or a.model_sha256 != b.model_sha256:
        raise TemplateError(
            f"cannot compare a '{a.backend}' template (model {a.model_sha256[:12]}…) with a '{b.backend}' template "
            f"(model {b.model_sha256[:12]}…): scores of different models mean nothing to each other; "
            "enrol the person again with the configured backend"
        )
    if a.dim != b.dim:
        raise TemplateError(f"cannot compare templates of dimension {a.dim} and {b.dim}")


class TemplateCipher:
    """AES-256-GCM sealing of templates with a key from configuration."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise TemplateError(f"template key must be 32 bytes (AES-256), got {len(key)}")
        self._aead = AESGCM(key)

    @classmethod
    def from_base64(cls, text: str) -> TemplateCipher:
        """A cipher from the base64 text the configuration holds."""
        try:
            key = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise TemplateError("template key is not valid base64 (expected 32 random bytes, base64-encoded)") from exc
        return cls(key)

    def seal(self, template: Template, context: str) -> bytes:
        """Encrypt a template; `context` is authenticated, not stored, and must be given again to open it."""
        header = SEALED_MAGIC + bytes([SEALED_VERSION])
        nonce = os.urandom(_NONCE)
        return header + nonce + self._aead.encrypt(nonce, template.to_bytes(), header + context.encode())

    def open(self, blob: bytes, context: str) -> Template:
        """Decrypt and parse a sealed template; a wrong key, wrong context or any altered byte is a TemplateError."""
        if len(blob) < 5 or blob[:4] != SEALED_MAGIC:
            raise TemplateError(f"not a sealed face template: expected magic {SEALED_MAGIC!r}, got {bytes(blob[:4])!r}")
        if blob[4] != SEALED_VERSION:
            raise TemplateError(f"sealed template version {blob[4]}; this software reads version {SEALED_VERSION}")
        if len(blob) < 5 + _NONCE + _TAG:
            raise TemplateError(f"sealed template truncated: {len(blob)} bytes")
        header, nonce, body = blob[:5], blob[5 : 5 + _NONCE], blob[5 + _NONCE :]
        try:
            plain = self._aead.decrypt(nonce, body, header + context.encode())
        except InvalidTag as exc:
            raise TemplateError(
                f"sealed template for {context!r} does not open: wrong key, wrong context, or altered bytes"
            ) from exc
        return Template.from_bytes(plain)


def write_sealed(path: Path, template: Template, cipher: TemplateCipher, context: str) -> None:
    """Store a template sealed (never in clear), replacing the file atomically, readable by the owner only."""
    atomic_write(path, cipher.seal(template, context))


def read_sealed(path: Path, cipher: TemplateCipher, context: str) -> Template:
    """Open a template stored with write_sealed."""
    try:
        blob = path.read_bytes()
    except FileNotFoundError as exc:
        raise TemplateError(f"template file {path} does not exist") from exc
    return cipher.open(blob, context)
