"""Request and response bodies of the API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LoginIn(BaseModel):
    """Credentials."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class UserOut(_Out):
    """An account as shown to officers (never the hash)."""

    username: str
    display_name: str
    role: str
    node_path: str
    permissions: list[str]
    disabled: bool


class LoginOut(BaseModel):
    """A token to send as `Authorization: Bearer …` until it expires."""

    token: str
    expires_at: datetime
    user: UserOut


class UserIn(BaseModel):
    """A new account (admins only, in their own subtree)."""

    model_config = ConfigDict(extra="forbid")
    username: str
    password: str
    role: str
    node: str = Field(description="code of the jurisdiction node")
    display_name: str = ""
    permissions: list[str] = []


class NodeOut(_Out):
    """A jurisdiction node."""

    code: str
    name: str
    level: str
    path: str


class SubjectOut(BaseModel):
    """A subject as an officer sees it."""

    id: str
    name: str
    id_number: str
    node_path: str
    category: str
    supervision_level: str
    status: str
    term_start: date
    term_end: date
    reporting_interval_h: int


class SubjectIn(BaseModel):
    """A subject to register."""

    model_config = ConfigDict(extra="forbid")
    id: str
    name: str = Field(min_length=1, max_length=100)
    id_number: str
    node: str
    category: str
    supervision_level: str
    term_start: date
    term_end: date
    reporting_interval_h: int = 24


class EventOut(_Out):
    """One event of the raw log (positions redacted: see the location endpoints)."""

    event_id: str
    type: str
    device_id: str
    subject_id: str | None
    device_time: datetime
    received_at: datetime
    payload: dict[str, Any]


class DeviceOut(_Out):
    """A device with its last reported status."""

    id: str
    kind: str
    node_path: str
    description: str
    enabled: bool
    online: bool
    last_seen: datetime | None
    status: dict[str, Any]


class CheckinOut(_Out):
    """A kiosk check-in."""

    event_id: str
    subject_id: str | None
    device_id: str
    device_time: datetime
    methods: list[str]
    face_score: float | None
    fingerprint_match: bool | None
    result: str
    reason: str | None


class DeadLetterOut(_Out):
    """A rejected message and why."""

    id: int
    received_at: datetime
    topic: str
    device_id: str | None
    reason: str
    payload_preview: str


class AuditOut(_Out):
    """An audit row."""

    id: int
    at: datetime
    actor: str
    action: str
    subject_id: str | None
    detail: dict[str, Any]
    hash: str


class AuditVerifyOut(BaseModel):
    """The result of walking the hash chain."""

    ok: bool
    rows: int
    head_id: int
    head_hash: str
    problem: str | None
