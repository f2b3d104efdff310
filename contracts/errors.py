"""The one error the wire raises, and how it shows the values it complains about."""

import json
import math
from typing import Any

_MAX_SHOWN = 60


class ContractError(ValueError):
    """A payload, topic or message that breaks contract v1.

    `field` is the dotted path of the offending field (``bbox.2``), or None when the
    problem is with the payload or topic as a whole; `reason` says what was wrong and
    what was expected.
    """

    def __init__(self, field: str | None, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"field {field!r}: {reason}" if field is not None else reason)


def show(value: Any) -> str:
    """Render a value for an error message: Python-style quotes for text, JSON otherwise, truncated."""
    if isinstance(value, str):
        return repr(value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "…")
    if isinstance(value, float) and not math.isfinite(value):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except Exception:  # any value must be showable, even one whose __str__ fails
            text = f"<{type(value).__name__}>"
    if len(text) > _MAX_SHOWN + 2:
        text = text[:_MAX_SHOWN] + "…"
    return text
