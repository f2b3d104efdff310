"""Jurisdiction scoping: the one place that decides which rows an officer may see.

An officer sees the rows of their own node and its descendants, never a sibling's or a
parent's. Every listing and lookup an officer can cause goes through `scoped`.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

Q = TypeVar("Q", bound=Select[*tuple[Any, ...]])  # any number of columns (SQLAlchemy 2.1)


class Scoped(Protocol):
    """Anything with a node path: an officer, a node."""

    @property
    def node_path(self) -> str: ...


def path_within(path: str | None, scope_path: str) -> bool:
    """True when `path` is the scope's node or below it (paths end with '/', so siblings never match)."""
    return path is not None and path.startswith(scope_path)


def scoped(query: Q, column: InstrumentedAttribute[Any], viewer: Scoped) -> Q:
    """Restrict a query to rows whose `column` (a node_path) lies in the viewer's subtree."""
    return query.where(column.startswith(viewer.node_path, autoescape=True))
