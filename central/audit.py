"""The append-only audit trail: who did what, to whom, when.

Each row's hash is HMAC-SHA256(audit_key, previous hash + canonical JSON of the row), so
editing, inserting or deleting a row breaks the chain at that point, and rebuilding the
chain needs the key, which is not in the database. Removing rows from the *end* leaves a
valid shorter chain: `verify` returns the head (id, hash) so an operator can record it
elsewhere and check it later with `expect_head`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.db.models import Audit, AuditHead

GENESIS = "0" * 64


def _canonical(
    row_id: int,
    at: datetime,
    actor: str,
    action: str,
    subject_id: str | None,
    node_path: str | None,
    detail: dict[str, Any],
) -> bytes:
    body = {
        "id": row_id,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "subject_id": subject_id,
        "node_path": node_path,
        "detail": detail,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(key: bytes, prev_hash: str, canonical: bytes) -> str:
    """The hash of one audit row given the previous row's hash."""
    return hmac.new(key, prev_hash.encode() + canonical, hashlib.sha256).hexdigest()


def record(
    session: Session,
    key: bytes,
    *,
    actor: str,
    action: str,
    subject_id: str | None = None,
    node_path: str | None = None,
    detail: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Audit:
    """Append one audit row inside the caller's transaction (it commits with the change it records)."""
    detail = detail or {}
    at = (now or datetime.now(UTC)).astimezone(UTC)
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
    row_id = head.last_id + 1
    digest = chain_hash(key, head.last_hash, _canonical(row_id, at, actor, action, subject_id, node_path, detail))
    row = Audit(
        id=row_id,
        at=at,
        actor=actor,
        action=action,
        subject_id=subject_id,
        node_path=node_path,
        detail=detail,
        prev_hash=head.last_hash,
        hash=digest,
    )
    session.add(row)
    head.last_id = row_id
    head.last_hash = digest
    session.flush()
    return row


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a chain check: ok, rows checked, the head, and the first problem found."""

    ok: bool
    rows: int
    head_id: int
    head_hash: str
    problem: str | None = None


def verify(session: Session, key: bytes, *, expect_head: tuple[int, str] | None = None) -> VerifyResult:
    """Walk the whole chain in id order and report the first row that does not hold."""
    prev_hash = GENESIS
    expected_id = 1
    count = 0
    last_id, last_hash = 0, GENESIS
    for row in session.execute(select(Audit).order_by(Audit.id)).scalars().yield_per(1000):
        count += 1
        if row.id != expected_id:
            return VerifyResult(
                False, count, last_id, last_hash, f"rows {expected_id}..{row.id - 1} are missing (deleted)"
            )
        if row.prev_hash != prev_hash:
            return VerifyResult(
                False,
                count,
                last_id,
                last_hash,
                f"row {row.id}: previous-hash link broken (a row before it was changed or removed)",
            )
        digest = chain_hash(
            key,
            prev_hash,
            _canonical(row.id, row.at, row.actor, row.action, row.subject_id, row.node_path, row.detail),
        )
        if not hmac.compare_digest(digest, row.hash):
            return VerifyResult(
                False, count, last_id, last_hash, f"row {row.id}: content does not match its hash (edited)"
            )
        prev_hash, expected_id = row.hash, row.id + 1
        last_id, last_hash = row.id, row.hash
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    if head is not None and (head.last_id, head.last_hash) != (last_id, last_hash):
        return VerifyResult(
            False,
            count,
            last_id,
            last_hash,
            f"chain ends at row {last_id} but the head says row {head.last_id}: rows at the end were removed",
        )
    if expect_head is not None and expect_head != (last_id, last_hash):
        if last_id < expect_head[0]:
            problem = f"chain ends at row {last_id}, an earlier check saw row {expect_head[0]}: rows were removed"
        else:
            problem = f"row {expect_head[0]} no longer has the hash recorded earlier"
            for row in session.execute(select(Audit).where(Audit.id == expect_head[0])).scalars():
                if row.hash == expect_head[1]:
                    problem = None  # chain only grew since the recorded head
        if problem is not None:
            return VerifyResult(False, count, last_id, last_hash, problem)
    return VerifyResult(True, count, last_id, last_hash)
