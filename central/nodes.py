"""The jurisdiction tree: province → city → county → township, stored with materialized paths."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.db.models import JurisdictionNode
from central.errors import Conflict, NotFound

LEVELS = ("province", "city", "county", "township")
_CODE = re.compile(r"^[A-Za-z0-9-]{1,32}$")


def add_node(session: Session, code: str, name: str, level: str, parent_code: str | None = None) -> JurisdictionNode:
    """Add a node under its parent; a province has no parent, every other level sits one below its parent's."""
    if not _CODE.match(code):
        raise ValueError(f"node code {code!r}: use 1-32 letters, digits or '-' (e.g. the division code 350205)")
    if level not in LEVELS:
        raise ValueError(f"node level {level!r}: expected one of {', '.join(LEVELS)}")
    if session.execute(select(JurisdictionNode).where(JurisdictionNode.code == code)).scalar_one_or_none():
        raise Conflict(f"node {code} exists already")
    parent = None
    if parent_code is None:
        if level != "province":
            raise ValueError(f"a {level} node needs a parent (--parent CODE)")
        path = f"/{code}/"
    else:
        parent = get_node(session, parent_code)
        expected = LEVELS[LEVELS.index(parent.level) + 1] if parent.level != LEVELS[-1] else None
        if expected != level:
            raise ValueError(
                f"node {code}: a {level} cannot sit under the {parent.level} {parent.code}"
                + (f" (expected a {expected})" if expected else " (townships have no children)")
            )
        path = f"{parent.path}{code}/"
    node = JurisdictionNode(
        code=code,
        name=name,
        level=level,
        parent_id=parent.id if parent else None,
        path=path,
        created_at=datetime.now(UTC),
    )
    session.add(node)
    session.flush()
    return node


def get_node(session: Session, code: str) -> JurisdictionNode:
    """The node with this code, or NotFound."""
    node = session.execute(select(JurisdictionNode).where(JurisdictionNode.code == code)).scalar_one_or_none()
    if node is None:
        raise NotFound(f"no jurisdiction node with code {code!r}")
    return node
