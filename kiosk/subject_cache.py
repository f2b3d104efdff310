"""The kiosk's encrypted offline stores: the subject cache (lookups without central) and the audio spool.

**Why a cache of its own.** Central's gallery (vision/gallery_file.py) carries subject ids and face
templates only: no ID-card numbers, names, status or fingerprints, and the device API looks subjects
up by ID number alone. So the kiosk keeps what central told it at each successful online lookup
(write-through) and answers from that while central is unreachable. A person who was never looked
up at this kiosk while it was online cannot be looked up offline (the lookup fails with a clear
reason); central could pre-fill the cache by sealing a card index into the gallery (see docs/kiosk.md).

**Nothing personal in clear at rest.** Both keys are derived from the device secret with HKDF (other
`info` strings than the gallery key, so no key serves two purposes):

- rows are found by HMAC-SHA256(index key, normalised ID number) and HMAC(index key, subject id), so
  the file shows neither numbers nor ids;
- each row's record (name, status, level, enrolled kinds, fingerprint templates) is AES-256-GCM
  sealed, its associated data binding it to its own card index, so rows cannot be swapped;
- an entry not refreshed online for `max_age_s` is not used (a subject released meanwhile must not
  check in forever from a stale cache); central answering "not at this centre" deletes it at once.

Recordings waiting for central (`AudioSpool`) are sealed the same way, one file per sha256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vision.atomic_file import atomic_write, remove_temp_files

log = logging.getLogger(__name__)

_NONCE = 12
CACHE_KEY_INFO = b"corr/v1 kiosk subject cache key"
INDEX_KEY_INFO = b"corr/v1 kiosk subject cache index"
SPOOL_KEY_INFO = b"corr/v1 kiosk audio spool key"


class CacheError(Exception):
    """A cache or spool entry that cannot be used (wrong key, damaged file); the message says which."""


def derive_key(secret: str, info: bytes) -> bytes:
    """A 32-byte key for one purpose, derived from the device secret."""
    if not secret:
        raise CacheError("device secret is empty: cannot derive the kiosk's storage keys")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


def normalise_id_number(id_number: str) -> str:
    """The ID number as central normalises it: trimmed, a final x as X."""
    return id_number.strip().upper()


@dataclass(frozen=True)
class CachedSubject:
    """What the kiosk remembers of a subject from central's last answer."""

    subject_id: str
    name: str
    status: str
    supervision_level: str
    enrolled: tuple[str, ...] = ()
    requires_fingerprint: bool = False
    fingerprints: tuple[bytes, ...] = ()
    refreshed_at: float = field(default=0.0, compare=False)
    """Unix time of the online lookup this came from."""

    def to_json(self) -> bytes:
        """The sealed record's clear form."""
        return json.dumps(
            {
                "subject_id": self.subject_id,
                "name": self.name,
                "status": self.status,
                "supervision_level": self.supervision_level,
                "enrolled": list(self.enrolled),
                "requires_fingerprint": self.requires_fingerprint,
                "fingerprints": [base64.b64encode(t).decode() for t in self.fingerprints],
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes, refreshed_at: float) -> CachedSubject:
        """Parse a record; CacheError when it is not one."""
        try:
            body = json.loads(raw)
            return cls(
                subject_id=str(body["subject_id"]),
                name=str(body["name"]),
                status=str(body["status"]),
                supervision_level=str(body["supervision_level"]),
                enrolled=tuple(str(k) for k in body.get("enrolled", ())),
                requires_fingerprint=bool(body.get("requires_fingerprint", False)),
                fingerprints=tuple(base64.b64decode(t, validate=True) for t in body.get("fingerprints", ())),
                refreshed_at=refreshed_at,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CacheError(f"subject cache record is not valid: {exc!r}") from None


class SubjectCache:
    """Subjects by card (HMAC of the ID number) and by subject id (HMAC), records sealed; thread-safe."""

    def __init__(
        self,
        path: Path,
        secret: str,
        *,
        max_age_s: float = 30 * 86400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.max_age_s = max_age_s
        self._clock = clock
        self._aead = AESGCM(derive_key(secret, CACHE_KEY_INFO))
        self._index_key = derive_key(secret, INDEX_KEY_INFO)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        os.chmod(path, 0o600)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS subject ("
            " card TEXT PRIMARY KEY, subject TEXT NOT NULL, sealed BLOB NOT NULL, refreshed_at REAL NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS subject_by_subject ON subject(subject)")

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def _mac(self, kind: str, value: str) -> str:
        return hmac.new(self._index_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def card_index(self, id_number: str) -> str:
        """The row key of a card (what the file shows instead of the number)."""
        return self._mac("card", normalise_id_number(id_number))

    def _aad(self, card: str) -> bytes:
        return f"corr-kiosk-subject:{card}".encode()

    def put(self, id_number: str, subject: CachedSubject) -> None:
        """Remember central's answer for this card (replacing an older one, and any row for the same subject)."""
        card = self.card_index(id_number)
        nonce = os.urandom(_NONCE)
        sealed = nonce + self._aead.encrypt(nonce, subject.to_json(), self._aad(card))
        sid = self._mac("subject", subject.subject_id)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM subject WHERE subject = ? AND card != ?", (sid, card))
                self._db.execute(
                    "INSERT OR REPLACE INTO subject (card, subject, sealed, refreshed_at) VALUES (?, ?, ?, ?)",
                    (card, sid, sealed, self._clock()),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def forget_card(self, id_number: str) -> bool:
        """Delete the entry of a card central no longer knows here; True when there was one."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM subject WHERE card = ?", (self.card_index(id_number),))
        return cursor.rowcount > 0

    def _open(self, row: tuple[str, bytes, float] | None) -> CachedSubject | None:
        if row is None:
            return None
        card, sealed, refreshed_at = row
        if self._clock() - refreshed_at > self.max_age_s:
            log.info(
                "subject cache: an entry last refreshed %.0f days ago is too old to use",
                (self._clock() - refreshed_at) / 86400,
            )
            return None
        try:
            plain = self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], self._aad(card))
        except (InvalidTag, ValueError):
            log.error("subject cache: an entry does not open with this kiosk's key (other secret, or damaged); ignored")
            return None
        try:
            return CachedSubject.from_json(plain, refreshed_at)
        except CacheError as exc:
            log.error("%s; ignored", exc)
            return None

    def by_card(self, id_number: str) -> CachedSubject | None:
        """The subject central last named for this card, if fresh enough."""
        with self._lock:
            row = self._db.execute(
                "SELECT card, sealed, refreshed_at FROM subject WHERE card = ?", (self.card_index(id_number),)
            ).fetchone()
        return self._open(row)

    def by_subject(self, subject_id: str) -> CachedSubject | None:
        """The subject's latest entry, if any and fresh enough."""
        with self._lock:
            row = self._db.execute(
                "SELECT card, sealed, refreshed_at FROM subject WHERE subject = ? ORDER BY refreshed_at DESC LIMIT 1",
                (self._mac("subject", subject_id),),
            ).fetchone()
        return self._open(row)

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM subject").fetchone()
        return int(count)


class AudioSpool:
    """Recordings waiting for central: `<sha256>.bin`, AES-GCM sealed, written atomically; thread-safe."""

    def __init__(self, folder: Path, secret: str) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        self._aead = AESGCM(derive_key(secret, SPOOL_KEY_INFO))
        self._lock = threading.Lock()
        remove_temp_files(folder)

    def _path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise CacheError(f"audio spool: {sha256[:80]!r} is not a sha256 (64 lower-case hex digits)")
        return self.folder / f"{sha256}.bin"

    def put(self, sha256: str, wav: bytes) -> None:
        """Keep a recording until it is uploaded; its bytes must have the sha256 it is filed under."""
        path = self._path(sha256)
        if hashlib.sha256(wav).hexdigest() != sha256:
            raise CacheError(f"audio spool: the recording's bytes do not have sha256 {sha256}")
        nonce = os.urandom(_NONCE)
        sealed = nonce + self._aead.encrypt(nonce, wav, sha256.encode())
        with self._lock:
            atomic_write(path, sealed)

    def get(self, sha256: str) -> bytes:
        """The recording's bytes, checked against its sha256; CacheError when it cannot be read back."""
        path = self._path(sha256)
        try:
            sealed = path.read_bytes()
        except OSError as exc:
            raise CacheError(f"audio spool: cannot read {path.name}: {exc.strerror}") from None
        try:
            wav = self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], sha256.encode())
        except (InvalidTag, ValueError):
            raise CacheError(f"audio spool: {path.name} does not open with this kiosk's key (damaged?)") from None
        if hashlib.sha256(wav).hexdigest() != sha256:
            raise CacheError(f"audio spool: {path.name} holds other bytes than its name says")
        return wav

    def remove(self, sha256: str) -> None:
        """Forget an uploaded recording."""
        with self._lock:
            self._path(sha256).unlink(missing_ok=True)

    def pending(self) -> list[str]:
        """Sha256s of the recordings waiting, oldest first."""
        files = sorted(self.folder.glob("*.bin"), key=lambda p: p.stat().st_mtime)
        return [p.stem for p in files if len(p.stem) == 64]
