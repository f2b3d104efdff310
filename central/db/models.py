"""The central tables (ARCHITECTURE.md, "Central data").

Scoping: every row an officer can reach carries `node_path`, the materialized path of
the jurisdiction node it belongs to (e.g. `/35/3502/350205/350205001/`). An officer
sees rows whose path starts with their own node's path (central/scoping.py).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from central.db.types import UTCDateTime


class Base(DeclarativeBase):
    """Declarative base of every central table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class JurisdictionNode(Base):
    """A justice bureau or township office; the tree province → city → county → township."""

    __tablename__ = "jurisdiction_node"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))  # province | city | county | township
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("jurisdiction_node.id"))
    path: Mapped[str] = mapped_column(String(400), unique=True)
    created_at: Mapped[datetime]


class User(Base):
    """An officer account; `role` is admin, officer or viewer; scoped to its node and below."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    node_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction_node.id"))
    node_path: Mapped[str] = mapped_column(String(400), index=True)
    permissions: Mapped[list[Any]] = mapped_column(default=list)  # e.g. ["id_number", "location"]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]


class AuthToken(Base):
    """A login session; only the SHA-256 of the bearer token is stored."""

    __tablename__ = "auth_token"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # The last request the token authenticated, to end idle sessions (written at most once a minute).
    last_used_at: Mapped[datetime | None]


class Subject(Base):
    """A person under community correction (社区矫正对象); name and ID number encrypted at rest."""

    __tablename__ = "subject"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction_node.id"))
    node_path: Mapped[str] = mapped_column(String(400), index=True)
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_hmac: Mapped[str] = mapped_column(String(64), unique=True)
    category: Mapped[str] = mapped_column(String(32))  # control | probation | parole | outside_execution | deprivation
    supervision_level: Mapped[str] = mapped_column(String(16))  # strict | normal | lenient
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | released | terminated
    term_start: Mapped[date] = mapped_column(Date)
    term_end: Mapped[date] = mapped_column(Date)
    reporting_interval_h: Mapped[int] = mapped_column(Integer, default=24)
    positioning_until: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]
    # First day of the current electronic-positioning period (China time); renewals keep it (central/locations.py).
    positioning_from: Mapped[date | None] = mapped_column(Date)


class Template(Base):
    """An enrolled biometric template (face or fingerprint), encrypted; never sent to the officer UI."""

    __tablename__ = "template"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subject.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # face | fingerprint
    model: Mapped[str] = mapped_column(String(100))
    vector_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class Device(Base):
    """A kiosk, edge agent, gateway or tracker, or a central process that logs in to the broker."""

    __tablename__ = "device"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # kiosk | edge | gateway | tracker | phone | central
    node_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction_node.id"))
    node_path: Mapped[str] = mapped_column(String(400), index=True)
    description: Mapped[str] = mapped_column(String(400), default="")
    mqtt_password_hash: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(200))  # argon2 of the device secret, for HTTPS
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen: Mapped[datetime | None]
    status: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    subject_id: Mapped[str | None] = mapped_column(ForeignKey("subject.id"), index=True)  # a tracker's wearer
    # vision.gallery_file.gallery_key(secret), encrypted with the data key; None for devices registered
    # before galleries existed (they must rotate their secret to get one).
    gallery_key_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Failed HTTPS authentications in a row; at the login limit the device is refused until auth_locked_until.
    failed_auths: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    auth_locked_until: Mapped[datetime | None]
    # Where a fixed device (a kiosk, a centre camera's edge host) stands, WGS-84, and how far from that point it
    # sees people: check-ins and sightings there place the subject (人机分离, central/monitoring.py). None: unknown.
    place_lat: Mapped[float | None] = mapped_column(Float)
    place_lon: Mapped[float | None] = mapped_column(Float)
    place_radius_m: Mapped[float | None] = mapped_column(Float)


class Event(Base):
    """The immutable raw log of every accepted device message; `event_id` makes ingest idempotent."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_subject_time", "subject_id", "device_time"),)

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(32), index=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    subject_id: Mapped[str | None] = mapped_column(String(64))
    node_path: Mapped[str | None] = mapped_column(String(400), index=True)
    device_time: Mapped[datetime]
    received_at: Mapped[datetime]
    topic: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]


class DeadLetter(Base):
    """A message central could not accept, kept with the reason for an operator to look at."""

    __tablename__ = "dead_letter"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    topic: Mapped[str] = mapped_column(Text)
    device_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)


class Fix(Base):
    """A position report, projected from a `fix` event."""

    __tablename__ = "fix"
    __table_args__ = (Index("ix_fix_subject_time", "subject_id", "device_time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("event.event_id"), unique=True)
    subject_id: Mapped[str | None] = mapped_column(String(64))
    tracker_serial: Mapped[str | None] = mapped_column(String(64), index=True)
    node_path: Mapped[str | None] = mapped_column(String(400), index=True)
    device_time: Mapped[datetime]
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    battery_pct: Mapped[float | None] = mapped_column(Float)


class Fence(Base):
    """An allowed area or an exclusion zone (禁止令) of one subject, as GeoJSON."""

    __tablename__ = "fence"
    # Ingest reads a subject's active fence ids and digests for every batch; the index holds them all, so
    # the row (and its GeoJSON, often several overflow pages) is read only when a fence's geometry changed.
    __table_args__ = (Index("ix_fence_subject_active", "subject_id", "active", "kind", "digest", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subject.id"), index=True)
    node_path: Mapped[str] = mapped_column(String(400), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # allowed | exclusion
    name: Mapped[str] = mapped_column(String(200))
    geojson: Mapped[dict[str, Any]]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime]
    # geojson_digest(geojson), kept up to date on every ORM assignment: compiled fences are cached by it.
    digest: Mapped[str | None] = mapped_column(String(64))


def geojson_digest(geojson: dict[str, Any]) -> str:
    """SHA-256 of a geometry's canonical JSON: equal fences of many subjects share one compiled form."""
    return hashlib.sha256(json.dumps(geojson, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@event.listens_for(Fence.geojson, "set", propagate=True)
def _fence_digest(target: Fence, value: dict[str, Any] | None, _old: object, _initiator: object) -> None:
    target.digest = None if value is None else geojson_digest(value)


class LeaveRequest(Base):
    """A request to leave the allowed area (外出申请); approved ones open their destination for the window."""

    __tablename__ = "leave_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subject.id"), index=True)
    node_path: Mapped[str] = mapped_column(String(400), index=True)
    destination: Mapped[str] = mapped_column(String(400))
    destination_geojson: Mapped[dict[str, Any] | None]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | approved | rejected | cancelled
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Alert(Base):
    """An alert with its lifecycle; evidence lists the event ids that caused it."""

    __tablename__ = "alert"
    __table_args__ = (UniqueConstraint("subject_id", "kind", "episode_key", name="uq_alert_episode"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[str | None] = mapped_column(String(64), index=True)
    device_id: Mapped[str | None] = mapped_column(String(64))
    node_path: Mapped[str] = mapped_column(String(400), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # fence_breach | lost_contact | separation | tamper | ...
    episode_key: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | acknowledged | handled | escalated
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    summary: Mapped[str] = mapped_column(Text, default="")
    resolution: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The rule saw the condition end (back inside, contact again); the officer's lifecycle goes on regardless.
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    handled_at: Mapped[datetime | None]
    handled_by: Mapped[str | None] = mapped_column(String(64))
    escalated_at: Mapped[datetime | None]
    escalated_by: Mapped[str | None] = mapped_column(String(64))
    escalation_reason: Mapped[str | None] = mapped_column(Text)


class LocationConfirmation(Base):
    """A request that a subject confirm their location (位置确认) by a deadline, and its outcome."""

    __tablename__ = "location_confirmation"
    __table_args__ = (
        Index("ix_location_confirmation_node_deadline", "node_path", "deadline"),
        UniqueConstraint("subject_id", "schedule_slot", name="uq_confirmation_slot"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subject.id"), index=True)
    node_path: Mapped[str] = mapped_column(String(400))
    requested_by: Mapped[str] = mapped_column(String(64))  # an officer's username, or "schedule"
    requested_at: Mapped[datetime]
    deadline: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending | answered | missed
    answered_at: Mapped[datetime | None]
    answer_event_id: Mapped[str | None] = mapped_column(String(36))
    answer_method: Mapped[str | None] = mapped_column(String(16))  # phone_face | checkin
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id"))
    # The scheduler's slot ("2026-11-23#1", China date and slot number) for scheduled requests: asked once.
    schedule_slot: Mapped[str | None] = mapped_column(String(32))


class Rollcall(Base):
    """An on-site or video roll-call (点验) sent to a kiosk."""

    __tablename__ = "rollcall"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    node_path: Mapped[str] = mapped_column(String(400), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    subject_ids: Mapped[list[Any]]
    deadline: Mapped[datetime]
    started_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime]


class Checkin(Base):
    """A kiosk check-in (报到/签到), accepted or refused, projected from a `checkin` event."""

    __tablename__ = "checkin"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("event.event_id"), unique=True)
    subject_id: Mapped[str | None] = mapped_column(String(64), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    node_path: Mapped[str | None] = mapped_column(String(400), index=True)
    device_time: Mapped[datetime]
    methods: Mapped[list[Any]]
    face_score: Mapped[float | None] = mapped_column(Float)
    fingerprint_match: Mapped[bool | None] = mapped_column(Boolean)
    result: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)


class VoiceReport(Base):
    """A spoken report (思想汇报) with its transcript, projected from a `voice_report` event."""

    __tablename__ = "voice_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("event.event_id"), unique=True)
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    node_path: Mapped[str | None] = mapped_column(String(400), index=True)
    device_time: Mapped[datetime]
    transcript: Mapped[str] = mapped_column(Text)
    audio_sha256: Mapped[str] = mapped_column(String(64))
    duration_s: Mapped[float] = mapped_column(Float)
    model: Mapped[str] = mapped_column(String(100))
    key_elements: Mapped[dict[str, Any] | None]


class ScoreEntry(Base):
    """One assessment (考核) entry: a rule's points with the event that caused it, or an officer's with a reason."""

    __tablename__ = "score_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subject.id"), index=True)
    node_path: Mapped[str] = mapped_column(String(400), index=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    points: Mapped[float] = mapped_column(Float)
    rule: Mapped[str] = mapped_column(String(64))
    cause_event_id: Mapped[str | None] = mapped_column(String(36))
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class Audit(Base):
    """Append-only audit trail; each row's `hash` covers its content and the previous row's hash."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_id: Mapped[str | None] = mapped_column(String(64), index=True)
    node_path: Mapped[str | None] = mapped_column(String(400))
    detail: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """One row: the newest audit hash, locked while appending so concurrent writers form one chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class RuleState(Base):
    """One rule engine's state for one subject (fence, contact, device_alarm), as the engine's own JSON.

    Kept in the database so that any ingest worker can evaluate any subject: the worker locks the
    subject's rows (SELECT … FOR UPDATE on PostgreSQL) for the transaction that stores the events.
    An empty `state_json` means "no state yet" (a row created only to be locked).
    """

    __tablename__ = "rule_state"

    subject_id: Mapped[str] = mapped_column(ForeignKey("subject.id"), primary_key=True)
    rule: Mapped[str] = mapped_column(String(32), primary_key=True)  # fence | contact | device_alarm
    state_json: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime]


class DeviceGallery(Base):
    """The current encrypted gallery file of one device (central/gallery.py).

    `content_hmac` is a keyed hash of the entries it holds: the version only goes up when that changes,
    so re-publishing an unchanged gallery does not make every device download it again. `blob` is the
    sealed file itself (already encrypted for the device), served as-is so its sha256 stays stable.
    """

    __tablename__ = "device_gallery"

    device_id: Mapped[str] = mapped_column(ForeignKey("device.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content_hmac: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    built_at: Mapped[datetime]


class Sighting(Base):
    """A face track seen by an edge camera, projected from a `sighting` event.

    `subject_id` is set only when the reported subject exists and belongs to the device's node or
    below; otherwise it is None and `reported_subject_id` keeps what the device claimed.
    """

    __tablename__ = "sighting"
    __table_args__ = (
        Index("ix_sighting_subject_time", "subject_id", "first_seen"),
        Index("ix_sighting_node_time", "node_path", "first_seen"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("event.event_id"), unique=True)
    subject_id: Mapped[str | None] = mapped_column(String(64))
    reported_subject_id: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    camera_id: Mapped[str] = mapped_column(String(64))
    node_path: Mapped[str | None] = mapped_column(String(400))
    track_id: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    score: Mapped[float] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime]


class StudySession(Base):
    """A group-study session (集中教育学习) at a centre; attendance is derived from check-ins and sightings."""

    __tablename__ = "study_session"
    __table_args__ = (Index("ix_study_session_node_time", "node_path", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction_node.id"))
    node_path: Mapped[str] = mapped_column(String(400))
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime]


class AudioBlob(Base):
    """A voice-report recording uploaded by a kiosk, addressed by the sha256 of its clear bytes, encrypted."""

    __tablename__ = "audio_blob"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64))
    data_enc: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
