"""Passwords, login tokens, field encryption and lookup HMACs.

- Passwords: argon2id (argon2-cffi), never stored or logged in clear.
- Tokens: random, shown to the client once; only their SHA-256 is stored, so a leaked
  database does not hand out sessions.
- Personal data at rest: AES-256-GCM with a random 96-bit nonce per value; the column
  name is bound in as associated data so a ciphertext cannot be moved to another column.
- Lookup: HMAC-SHA256 of the normalised ID number, so a card read finds its subject
  without decrypting every row.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from argon2 import Parameters, PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_hasher = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)
_FORMAT = b"\x01"  # version byte in front of every ciphertext, so the scheme can change later


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def use_password_parameters(parameters: Parameters) -> None:
    """Hash new passwords in this process with other argon2 parameters (verification reads them from the hash).

    Only the test suite calls this, with argon2's CHEAPEST profile, so that seeding dozens of centrals
    does not spend minutes in argon2; every process that serves users keeps RFC 9106's low-memory profile.
    """
    global _hasher
    _hasher = PasswordHasher.from_parameters(parameters)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches the stored hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A fresh opaque bearer token (256 bits)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What the database stores for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class DecryptionError(ValueError):
    """A stored ciphertext does not open with the configured key (wrong key, or tampered)."""


class FieldCipher:
    """AES-256-GCM for personal data and biometric templates at rest."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError(f"data key must be 32 bytes, got {len(key)}")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes, context: str) -> bytes:
        """Encrypt bytes; `context` (e.g. 'subject.id_number') is authenticated, not stored."""
        nonce = os.urandom(12)
        return _FORMAT + nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def decrypt(self, blob: bytes, context: str) -> bytes:
        """Open a value made by `encrypt` with the same context."""
        if len(blob) < 1 + 12 + 16 or blob[:1] != _FORMAT:
            raise DecryptionError(f"{context}: not a ciphertext of this format")
        try:
            return self._aead.decrypt(blob[1:13], blob[13:], context.encode())
        except InvalidTag as exc:
            raise DecryptionError(f"{context}: ciphertext does not open with the configured data key") from exc

    def encrypt_text(self, text: str, context: str) -> bytes:
        """Encrypt a string (UTF-8)."""
        return self.encrypt(text.encode(), context)

    def decrypt_text(self, blob: bytes, context: str) -> str:
        """Open a string made by `encrypt_text`."""
        return self.decrypt(blob, context).decode()


def normalise_id_number(id_number: str) -> str:
    """Resident ID numbers compare upper-case, without spaces (the check character may be 'x')."""
    return "".join(id_number.split()).upper()


def lookup_hmac(key: bytes, value: str) -> str:
    """Keyed hash for equality lookup of an encrypted value."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def mask_id_number(id_number: str) -> str:
    """Show the region prefix and the last four characters only: 350205********123X."""
    if len(id_number) <= 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]
