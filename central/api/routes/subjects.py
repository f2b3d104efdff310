"""Subjects: scoped listing with filters, one profile, registration."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from central import subjects
from central.api.deps import CentralDep, SessionDep, UserDep, require_role
from central.api.schemas import SubjectIn, SubjectOut
from central.db.models import Subject, User
from central.nodes import get_node
from central.scoping import scoped

router = APIRouter(prefix="/api/v1/subjects", tags=["subjects"])


def _out(view: subjects.SubjectView) -> SubjectOut:
    return SubjectOut(**view.__dict__)


@router.get("")
def list_subjects(
    user: UserDep,
    central: CentralDep,
    session: SessionDep,
    category: str | None = None,
    supervision_level: str | None = None,
    status: str | None = None,
    node: str | None = Query(None, description="only this node's subtree (must lie in yours)"),
    q: str | None = Query(None, description="part of the name or the subject id"),
    limit: int = Query(200, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> list[SubjectOut]:
    """Subjects in the officer's jurisdiction, filtered."""
    query = scoped(select(Subject), Subject.node_path, user).order_by(Subject.id)
    if category:
        query = query.where(Subject.category == category)
    if supervision_level:
        query = query.where(Subject.supervision_level == supervision_level)
    if status:
        query = query.where(Subject.status == status)
    if node:
        query = query.where(Subject.node_path.startswith(get_node(session, node).path, autoescape=True))
    views = (subjects.view(s, central.cipher, user) for s in session.execute(query).scalars())
    if q:
        # Names are encrypted at rest, so the text filter runs on the decrypted, already scoped rows.
        views = (v for v in views if q in v.name or q in v.id)
    return [_out(v) for i, v in enumerate(views) if offset <= i < offset + limit]


@router.get("/{subject_id}")
def get_subject(subject_id: str, user: UserDep, central: CentralDep, session: SessionDep) -> SubjectOut:
    """One subject's profile, if it lies in the officer's jurisdiction."""
    return _out(subjects.view(subjects.get_scoped(session, user, subject_id), central.cipher, user))


@router.post("", status_code=201)
def register(
    body: SubjectIn,
    central: CentralDep,
    session: SessionDep,
    user: User = Depends(require_role("admin", "officer")),
) -> SubjectOut:
    """Register a subject at a node of the officer's jurisdiction."""
    subject = subjects.register_subject(
        session,
        central.cipher,
        central.hmac_key,
        central.audit_key,
        subject_id=body.id,
        name=body.name,
        id_number=body.id_number,
        node_code=body.node,
        category=body.category,
        supervision_level=body.supervision_level,
        term_start=body.term_start,
        term_end=body.term_end,
        reporting_interval_h=body.reporting_interval_h,
        actor=user,
    )
    return _out(subjects.view(subject, central.cipher, user))
