"""Administration: accounts (top-down), the audit trail, dead letters."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query
from sqlalchemy import or_, select

from central import audit, users
from central.api.deps import CentralDep, SessionDep, require_role
from central.api.schemas import AuditOut, AuditVerifyOut, DeadLetterOut, UserIn, UserOut
from central.db.models import Audit, DeadLetter, Device, User
from central.errors import Forbidden, NotFound
from central.scoping import path_within, scoped

router = APIRouter(prefix="/api/v1", tags=["admin"])


def _is_root(user: User) -> bool:
    """A user of a top-level node (a province bureau): path '/35/'."""
    return user.node_path.count("/") == 2


Admin = Depends(require_role("admin"))


@router.get("/users")
def list_users(session: SessionDep, admin: User = Admin) -> list[UserOut]:
    """Accounts of the admin's node and below."""
    q = scoped(select(User), User.node_path, admin).order_by(User.node_path, User.username)
    return [UserOut.model_validate(u) for u in session.execute(q).scalars()]


@router.post("/users", status_code=201)
def create_user(body: UserIn, central: CentralDep, session: SessionDep, admin: User = Admin) -> UserOut:
    """Create an account at the admin's node or below."""
    user = users.create_user(
        session,
        username=body.username,
        password=body.password,
        role=body.role,
        node_code=body.node,
        display_name=body.display_name,
        permissions=body.permissions,
        created_by=admin,
        audit_key=central.audit_key,
    )
    return UserOut.model_validate(user)


@router.post("/users/{username}/disable")
def disable_user(username: str, central: CentralDep, session: SessionDep, admin: User = Admin) -> UserOut:
    """Disable an account of the admin's subtree; its tokens stop working at once."""
    user = session.execute(scoped(select(User).where(User.username == username), User.node_path, admin)).scalar()
    if user is None:
        raise NotFound(f"no user {username} in your jurisdiction")
    if user.id == admin.id:
        raise Forbidden("you cannot disable your own account")
    user.disabled = True
    audit.record(
        session,
        central.audit_key,
        actor=admin.username,
        action="user.disable",
        node_path=user.node_path,
        detail={"username": username},
    )
    return UserOut.model_validate(user)


@router.get("/audit")
def list_audit(
    session: SessionDep,
    admin: User = Admin,
    actor: str | None = None,
    action: str | None = None,
    subject_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(200, ge=1, le=1000),
) -> list[AuditOut]:
    """Audit rows about the admin's subtree, newest first."""
    q = select(Audit).order_by(Audit.id.desc()).limit(limit)
    if _is_root(admin):
        # Rows tied to no node (e.g. a login attempt for an unknown username) go to the top-level admins.
        q = q.where(or_(Audit.node_path.is_(None), Audit.node_path.startswith(admin.node_path, autoescape=True)))
    else:
        q = scoped(q, Audit.node_path, admin)
    if actor:
        q = q.where(Audit.actor == actor)
    if action:
        q = q.where(Audit.action == action)
    if subject_id:
        q = q.where(Audit.subject_id == subject_id)
    if since:
        q = q.where(Audit.at >= since)
    if until:
        q = q.where(Audit.at < until)
    return [AuditOut.model_validate(a) for a in session.execute(q).scalars()]


@router.get("/audit/verify")
def verify_audit(central: CentralDep, session: SessionDep, admin: User = Admin) -> AuditVerifyOut:
    """Walk the whole hash chain (the chain is global, so only a root-node admin may)."""
    if not _is_root(admin):
        raise Forbidden("only an admin of a top-level node may verify the whole audit chain")
    r = audit.verify(session, central.audit_key)
    return AuditVerifyOut(ok=r.ok, rows=r.rows, head_id=r.head_id, head_hash=r.head_hash, problem=r.problem)


@router.get("/dead-letters")
def list_dead_letters(
    session: SessionDep, admin: User = Admin, limit: int = Query(200, ge=1, le=1000)
) -> list[DeadLetterOut]:
    """Rejected messages from devices of the admin's subtree (or from unknown devices, for a root admin)."""
    q = select(DeadLetter, Device.node_path).outerjoin(Device, Device.id == DeadLetter.device_id)
    q = q.order_by(DeadLetter.id.desc()).limit(limit)
    root = _is_root(admin)
    out = []
    for dl, path in session.execute(q):
        if (path is None and root) or path_within(path, admin.node_path):
            out.append(
                DeadLetterOut(
                    id=dl.id,
                    received_at=dl.received_at,
                    topic=dl.topic,
                    device_id=dl.device_id,
                    reason=dl.reason,
                    payload_preview=dl.payload[:200].decode("utf-8", "replace"),
                )
            )
    return out
