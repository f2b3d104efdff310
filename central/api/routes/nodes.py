"""The jurisdiction nodes an officer may see: their own and those below."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from central.api.deps import SessionDep, UserDep
from central.api.schemas import NodeOut
from central.db.models import JurisdictionNode
from central.scoping import scoped

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"])


@router.get("")
def list_nodes(user: UserDep, session: SessionDep) -> list[NodeOut]:
    """Nodes in the officer's subtree, parents before children."""
    q = scoped(select(JurisdictionNode), JurisdictionNode.path, user).order_by(JurisdictionNode.path)
    return [NodeOut.model_validate(n) for n in session.execute(q).scalars()]
