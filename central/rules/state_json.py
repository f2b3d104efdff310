"""Reading a rule state back from JSON: type checks whose errors name the state, the field and the value.

Rule states are stored as JSON in the database; a row that does not read back (edited by hand,
written by an incompatible version) must fail with a message saying exactly what is wrong.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any


class StateReader:
    """Typed accessors for one kind of state; errors read "<state>: <field> must be <expected>, got <value>"."""

    def __init__(self, state: str) -> None:
        self.state = state

    def fail(self, what: str, expected: str, value: Any) -> ValueError:
        """The error for a field that is not what it must be."""
        return ValueError(f"{self.state}: {what} must be {expected}, got {value!r}")

    def mapping(self, value: Any, what: str) -> dict[str, Any]:
        """A JSON object."""
        if not isinstance(value, dict):
            raise self.fail(what, "a JSON object", value)
        return value

    def array(self, value: Any, what: str) -> list[Any]:
        """A JSON array."""
        if not isinstance(value, list):
            raise self.fail(what, "a list", value)
        return value

    def string(self, value: Any, what: str) -> str:
        """A string, possibly empty."""
        if not isinstance(value, str):
            raise self.fail(what, "a string", value)
        return value

    def text(self, value: Any, what: str) -> str:
        """A non-empty string."""
        if not isinstance(value, str) or not value:
            raise self.fail(what, "a non-empty string", value)
        return value

    def number(self, value: Any, what: str) -> float:
        """A finite number (booleans refused)."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(what, "a finite number", value)
        return float(value)

    def time(self, value: Any, what: str) -> datetime:
        """An ISO 8601 time with a zone."""
        moment = None
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                moment = None
        if moment is None or moment.utcoffset() is None:
            raise self.fail(what, "an ISO 8601 time with a zone", value)
        return moment
