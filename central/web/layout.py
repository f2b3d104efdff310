"""What every logged-in page shows around its content: navigation, the officer, the open-alert count."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse

from central.db.models import Alert, JurisdictionNode, User
from central.scoping import Scoped, scoped
from central.web.render import render_html
from central.web.session import Officer

UNRESOLVED = ("open", "acknowledged", "escalated")

# (key, path) of the pages; None: a later issue brings the page and its workflow.
NAV: list[tuple[str, str | None, bool]] = [
    ("dashboard", "/dashboard", False),
    ("subjects", "/subjects", False),
    ("map", "/map", False),
    ("alerts", "/alerts", False),
    ("devices", "/devices", False),
    ("audit", "/audit", True),
    ("users", "/users", True),
    ("leave", None, False),
    ("rollcall", None, False),
    ("assessment", None, False),
    ("statistics", None, False),
]


def unresolved_alerts(session: Session, viewer: Scoped) -> int:
    """Alerts of the viewer's jurisdiction not yet handled."""
    q = scoped(select(func.count()).select_from(Alert), Alert.node_path, viewer).where(Alert.state.in_(UNRESOLVED))
    return int(session.execute(q).scalar_one())


def node_names(session: Session, viewer: Scoped) -> dict[str, str]:
    """Name of every node of the viewer's subtree, by path."""
    q = scoped(select(JurisdictionNode.path, JurisdictionNode.name), JurisdictionNode.path, viewer)
    return {path: name for path, name in session.execute(q)}


def own_node_name(session: Session, user: User) -> str:
    """The name of the officer's own node."""
    name = session.execute(select(JurisdictionNode.name).where(JurisdictionNode.id == user.node_id)).scalar()
    return name or user.node_path


def page(
    request: Request, officer: Officer, session: Session, template: str, nav: str, status: int = 200, **context: Any
) -> HTMLResponse:
    """A full page: the template inside the layout, with the navigation state."""
    return render_html(
        request,
        template,
        officer,
        status,
        nav=NAV,
        nav_active=nav,
        open_alerts=unresolved_alerts(session, officer.user),
        my_node=own_node_name(session, officer.user),
        **context,
    )
