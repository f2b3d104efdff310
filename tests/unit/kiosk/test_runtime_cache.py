"""kiosk/subject_cache.py: the offline subject cache and the audio spool, sealed at rest under the device secret."""

from __future__ import annotations

import hashlib
import io
import sqlite3
import wave
from pathlib import Path

import pytest

from kiosk.subject_cache import AudioSpool, CachedSubject, CacheError, SubjectCache, derive_key

SECRET = "device-secret-123456"
ID_NUMBER = "35020519880512001X"
SUBJECT = CachedSubject(
    subject_id="S-350205-0002",
    name="王芳",
    status="active",
    supervision_level="strict",
    enrolled=("face", "fingerprint"),
    requires_fingerprint=True,
    fingerprints=(b"\x01template-one", b"\x02template-two"),
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_subject_is_found_by_card_and_by_subject_id(tmp_path: Path) -> None:
    """Write-through from an online lookup; read back by the card (any x/X case) and by the subject id."""
    cache = SubjectCache(tmp_path / "subjects.db", SECRET)
    cache.put(ID_NUMBER, SUBJECT)
    assert cache.by_card(ID_NUMBER) == SUBJECT
    assert cache.by_card(ID_NUMBER.lower() + " ") == SUBJECT
    assert cache.by_subject("S-350205-0002") == SUBJECT
    assert cache.by_card("350205198805120028") is None and cache.by_subject("S-350205-0001") is None
    assert len(cache) == 1


def test_nothing_personal_is_stored_in_clear(tmp_path: Path) -> None:
    """Neither the ID number, the name, the subject id nor a fingerprint template appears in the file."""
    path = tmp_path / "subjects.db"
    cache = SubjectCache(path, SECRET)
    cache.put(ID_NUMBER, SUBJECT)
    cache.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("subjects.db"))
    for secret_text in (ID_NUMBER.encode(), "王芳".encode(), b"S-350205-0002", b"template-one", b"strict"):
        assert secret_text not in raw
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_another_secret_opens_nothing(tmp_path: Path) -> None:
    """A cache file copied to another kiosk (another secret) finds and opens nothing."""
    path = tmp_path / "subjects.db"
    SubjectCache(path, SECRET).put(ID_NUMBER, SUBJECT)
    other = SubjectCache(path, "another-secret-7890")
    assert other.by_card(ID_NUMBER) is None and other.by_subject("S-350205-0002") is None


def test_a_row_moved_to_another_card_does_not_open(tmp_path: Path) -> None:
    """The sealed record is bound to its card index: swapping rows between cards is detected and ignored."""
    path = tmp_path / "subjects.db"
    cache = SubjectCache(path, SECRET)
    cache.put(ID_NUMBER, SUBJECT)
    other = CachedSubject("S-350205-0001", "张伟", "active", "normal")
    cache.put("350205198805120010", other)
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT card, sealed FROM subject ORDER BY card").fetchall()
        db.execute("UPDATE subject SET sealed = ? WHERE card = ?", (rows[1][1], rows[0][0]))
        db.execute("UPDATE subject SET sealed = ? WHERE card = ?", (rows[0][1], rows[1][0]))
    assert cache.by_card(ID_NUMBER) is None and cache.by_card("350205198805120010") is None


def test_stale_entries_are_not_used_and_forgotten_cards_are_gone(tmp_path: Path) -> None:
    """An entry older than max_age is ignored; central's 'not here' deletes it; a newer card replaces the old."""
    clock = Clock()
    cache = SubjectCache(tmp_path / "subjects.db", SECRET, max_age_s=3600, clock=clock)
    cache.put(ID_NUMBER, SUBJECT)
    clock.now += 3601
    assert cache.by_card(ID_NUMBER) is None
    cache.put(ID_NUMBER, SUBJECT)
    assert cache.by_card(ID_NUMBER) == SUBJECT
    cache.put("350205198805120028", SUBJECT)  # the subject's new card replaces the old one
    assert cache.by_card(ID_NUMBER) is None and len(cache) == 1
    assert cache.forget_card("350205198805120028") and cache.by_subject(SUBJECT.subject_id) is None


def test_purposes_get_different_keys() -> None:
    """The cache, its index and the spool never share a key (nor with the gallery's HKDF info)."""
    keys = {derive_key(SECRET, info) for info in (b"a", b"b")}
    assert len(keys) == 2
    with pytest.raises(CacheError, match="device secret is empty"):
        derive_key("", b"a")


def _wav(seconds: float = 0.5) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x01\x00" * int(16000 * seconds))
    return out.getvalue()


def test_the_spool_keeps_recordings_sealed_until_removed(tmp_path: Path) -> None:
    """put → pending → get (checked) → remove; the file on disk is not the WAV."""
    spool = AudioSpool(tmp_path / "spool", SECRET)
    wav = _wav()
    sha = hashlib.sha256(wav).hexdigest()
    spool.put(sha, wav)
    assert spool.pending() == [sha]
    assert wav[:44] not in (tmp_path / "spool" / f"{sha}.bin").read_bytes()
    assert spool.get(sha) == wav
    spool.remove(sha)
    assert spool.pending() == []


def test_the_spool_refuses_wrong_names_and_damaged_files(tmp_path: Path) -> None:
    """Bytes filed under another sha256, a name that is not one, or a file another key sealed are refused."""
    spool = AudioSpool(tmp_path / "spool", SECRET)
    wav = _wav()
    sha = hashlib.sha256(wav).hexdigest()
    with pytest.raises(CacheError, match="do not have sha256"):
        spool.put("0" * 64, wav)
    with pytest.raises(CacheError, match="is not a sha256"):
        spool.put("../etc/passwd", wav)
    spool.put(sha, wav)
    with pytest.raises(CacheError, match="does not open with this kiosk's key"):
        AudioSpool(tmp_path / "spool", "another-secret-7890").get(sha)
