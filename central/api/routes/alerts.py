"""Alerts (the rule engines that open them come with the monitoring work)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from central.api.deps import SessionDep, UserDep
from central.api.schemas import AlertOut
from central.db.models import Alert
from central.scoping import scoped

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


@router.get("")
def list_alerts(
    user: UserDep,
    session: SessionDep,
    state: str | None = None,
    kind: str | None = None,
    limit: int = Query(200, ge=1, le=1000),
) -> list[AlertOut]:
    """Alerts in the officer's jurisdiction, newest first; they say which rule was broken, not where."""
    q = scoped(select(Alert), Alert.node_path, user).order_by(Alert.opened_at.desc()).limit(limit)
    if state:
        q = q.where(Alert.state == state)
    if kind:
        q = q.where(Alert.kind == kind)
    return [AlertOut.model_validate(a) for a in session.execute(q).scalars()]
