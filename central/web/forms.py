"""Reading the UI's HTML forms (application/x-www-form-urlencoded) without a multipart parser.

Every form of the officer UI is a plain urlencoded form (htmx sends the same), so the standard
library's `parse_qs` is all it takes; nothing here accepts file uploads.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.requests import Request

MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 200
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Form:
    """The fields of one submitted form."""

    fields: dict[str, list[str]]

    def get(self, name: str, default: str = "") -> str:
        """The first value of a field, stripped, or `default`."""
        values = self.fields.get(name)
        return values[0].strip() if values else default

    def getlist(self, name: str) -> list[str]:
        """Every value of a field (checkboxes)."""
        return [v.strip() for v in self.fields.get(name, [])]


def parse_form(content_type: str, body: bytes) -> Form:
    """Decode a urlencoded body; ValueError saying what was wrong with it."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype != FORM_TYPE:
        raise ValueError(f"request body: expected {FORM_TYPE}, got {ctype or 'none'}")
    if len(body) > MAX_FORM_BYTES:
        raise ValueError(f"request body: at most {MAX_FORM_BYTES} bytes, got {len(body)}")
    try:
        text = body.decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except UnicodeDecodeError as exc:
        raise ValueError(f"request body: not UTF-8 ({exc.reason})") from exc
    return Form(fields)


async def read_form(request: Request) -> Form:
    """The submitted form of a request."""
    return parse_form(request.headers.get("content-type", ""), await request.body())
