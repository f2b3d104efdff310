"""Subjects under correction: registration with encrypted personal data, lookup, scoped views."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from central import audit
from central.db.models import Subject, User
from central.errors import Conflict, Forbidden, NotFound
from central.nodes import get_node
from central.scoping import path_within, scoped
from central.security import FieldCipher, lookup_hmac, mask_id_number, normalise_id_number

CATEGORIES = ("control", "probation", "parole", "outside_execution", "deprivation")
LEVELS = ("strict", "normal", "lenient")
STATUSES = ("active", "released", "terminated")
_SUBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ID_NUMBER = re.compile(r"[0-9]{17}[0-9X]")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_number_problem(id_number: str) -> str | None:
    """Why a resident ID number is invalid (GB 11643-1999: 18 characters, MOD 11-2 check), or None."""
    if not _ID_NUMBER.fullmatch(id_number):
        return "expected 17 ASCII digits and a check character (digit or X)"
    expected = _CHECK[sum(int(c) * w for c, w in zip(id_number[:17], _WEIGHTS, strict=True)) % 11]
    if id_number[17] != expected:
        return f"check character is {id_number[17]}, the first 17 digits give {expected}"
    return None


def register_subject(
    session: Session,
    cipher: FieldCipher,
    hmac_key: bytes,
    audit_key: bytes,
    *,
    subject_id: str,
    name: str,
    id_number: str,
    node_code: str,
    category: str,
    supervision_level: str,
    term_start: date,
    term_end: date,
    reporting_interval_h: int = 24,
    actor: User | None = None,
) -> Subject:
    """Register a subject at a node; name and ID number are encrypted, the ID number also HMAC'd for lookup."""
    if not _SUBJECT_ID.match(subject_id):
        raise ValueError(f"subject id {subject_id!r}: letters, digits, '_', '.', '-' (max 64)")
    id_number = normalise_id_number(id_number)
    problem = id_number_problem(id_number)
    if problem:
        raise ValueError(f"ID number {mask_id_number(id_number)}: {problem}")
    if category not in CATEGORIES:
        raise ValueError(f"category {category!r}: expected one of {', '.join(CATEGORIES)}")
    if supervision_level not in LEVELS:
        raise ValueError(f"supervision level {supervision_level!r}: expected one of {', '.join(LEVELS)}")
    if term_end <= term_start:
        raise ValueError(f"term ends {term_end} on or before it starts {term_start}")
    if not 1 <= reporting_interval_h <= 24 * 31:
        raise ValueError(f"reporting interval {reporting_interval_h} h: expected 1 to {24 * 31} hours")
    node = get_node(session, node_code)
    if actor is not None and not path_within(node.path, actor.node_path):
        raise Forbidden(f"node {node_code} is outside your jurisdiction")
    digest = lookup_hmac(hmac_key, id_number)
    if session.get(Subject, subject_id) is not None:
        raise Conflict(f"subject {subject_id} exists already")
    if session.execute(select(Subject.id).where(Subject.id_number_hmac == digest)).first():
        raise Conflict(f"a subject with ID number {mask_id_number(id_number)} exists already")
    subject = Subject(
        id=subject_id,
        node_id=node.id,
        node_path=node.path,
        name_enc=cipher.encrypt_text(name, "subject.name"),
        id_number_enc=cipher.encrypt_text(id_number, "subject.id_number"),
        id_number_hmac=digest,
        category=category,
        supervision_level=supervision_level,
        status="active",
        term_start=term_start,
        term_end=term_end,
        reporting_interval_h=reporting_interval_h,
        created_at=datetime.now(UTC),
    )
    session.add(subject)
    session.flush()
    audit.record(
        session,
        audit_key,
        actor=actor.username if actor else "cli",
        action="subject.register",
        subject_id=subject_id,
        node_path=node.path,
        detail={"category": category},
    )
    return subject


def find_by_id_number(session: Session, hmac_key: bytes, id_number: str) -> Subject | None:
    """The subject holding this ID number, found by its HMAC (no decryption of other rows)."""
    digest = lookup_hmac(hmac_key, normalise_id_number(id_number))
    return session.execute(select(Subject).where(Subject.id_number_hmac == digest)).scalar_one_or_none()


@dataclass(frozen=True)
class SubjectView:
    """What an officer is shown of a subject; the ID number masked unless they hold the right."""

    id: str
    name: str
    id_number: str
    node_path: str
    category: str
    supervision_level: str
    status: str
    term_start: date
    term_end: date
    reporting_interval_h: int


def view(subject: Subject, cipher: FieldCipher, viewer: User) -> SubjectView:
    """Decrypt for display; only officers with the `id_number` permission see the full number."""
    id_number = cipher.decrypt_text(subject.id_number_enc, "subject.id_number")
    return SubjectView(
        id=subject.id,
        name=cipher.decrypt_text(subject.name_enc, "subject.name"),
        id_number=id_number if "id_number" in viewer.permissions else mask_id_number(id_number),
        node_path=subject.node_path,
        category=subject.category,
        supervision_level=subject.supervision_level,
        status=subject.status,
        term_start=subject.term_start,
        term_end=subject.term_end,
        reporting_interval_h=subject.reporting_interval_h,
    )


def get_scoped(session: Session, viewer: User, subject_id: str) -> Subject:
    """One subject if it lies in the viewer's jurisdiction; NotFound otherwise (no hint that it exists)."""
    row = session.execute(scoped(select(Subject).where(Subject.id == subject_id), Subject.node_path, viewer)).scalar()
    if row is None:
        raise NotFound(f"no subject {subject_id} in your jurisdiction")
    return row
