"""Store a batch of raw MQTT messages: valid ones in the event log (once each), invalid ones in dead_letter.

No MQTT here: the worker hands in (topic, payload) pairs and acknowledges them after
the transaction this runs in has committed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from central.db.models import Base, Checkin, DeadLetter, Device, Event, Fix, Sighting, VoiceReport
from central.ingest.bulk import any_of, insert_rows
from central.monitoring import evaluate_stored, read_subjects
from central.scoping import path_within
from contracts import Checkin as CheckinMsg
from contracts import ContractError, decode_with_object
from contracts import Fix as FixMsg
from contracts import Sighting as SightingMsg
from contracts import Status as StatusMsg
from contracts import VoiceReport as VoiceReportMsg
from contracts.topics import parse_topic

log = logging.getLogger("central.ingest")


@dataclass(frozen=True)
class Incoming:
    """One message as it came off the broker."""

    topic: str
    payload: bytes


@dataclass
class StoreResult:
    """What a batch did: new events, duplicates skipped, messages dead-lettered (with reasons)."""

    stored: int = 0
    duplicates: int = 0
    dead: list[str] = field(default_factory=list)
    decisions: int = 0  # rule decisions taken on the new events (only when the rules ran)


def insert_ignoring_duplicates(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]], returning: str | None = None
) -> set[Any]:
    """INSERT … ON CONFLICT DO NOTHING, on SQLite and PostgreSQL alike (Core insert: the ORM bulk path is slower).

    With `returning` (a column name), the values of that column for the rows actually inserted.
    """
    if not rows:
        return set()
    table = cast(Table, model.__table__)
    stmt: Any
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table).on_conflict_do_nothing()
    if returning is None:
        session.execute(stmt, list(rows))
        return set()
    return set(session.execute(stmt.returning(table.c[returning]), list(rows)).scalars())


def _device_id_of(topic: str) -> str | None:
    try:
        return parse_topic(topic).device_id
    except ContractError:
        return None


_EVENT_COLUMNS = (
    "event_id", "type", "device_id", "subject_id", "node_path", "device_time", "received_at", "topic", "payload",
)  # fmt: skip
_FIX_COLUMNS = (
    "event_id", "subject_id", "tracker_serial", "node_path", "device_time", "lat", "lon", "accuracy_m", "source",
    "speed_kmh", "battery_pct",
)  # fmt: skip


@dataclass
class Decoded:
    """A batch decoded, before any statement: the accepted messages by event id, and the rejects."""

    now: datetime
    accepted: dict[str, tuple[Any, str, str]]  # event id → (message, topic, payload text)
    dead_rows: list[dict[str, Any]] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    duplicates: int = 0  # the same event twice in the batch


def decode_batch(batch: Sequence[Incoming], now: datetime | None = None) -> Decoded:
    """Validate a batch without the database: what `store_decoded` stores.

    Pure CPU: the ingest worker does it before taking the database's write lock.
    """
    decoded = Decoded(now or datetime.now(UTC), {})
    for item in batch:
        try:
            message, _raw = decode_with_object(item.topic, item.payload, now=decoded.now)
        except ContractError as exc:
            reason = str(exc)
            decoded.dead.append(reason)
            decoded.dead_rows.append(
                {
                    "received_at": decoded.now,
                    "topic": item.topic[:1000],
                    "device_id": _device_id_of(item.topic),
                    "payload": bytes(item.payload),
                    "reason": reason,
                }
            )
            continue
        key = str(message.event_id)
        if key in decoded.accepted:
            decoded.duplicates += 1
            continue
        # The event keeps the payload as the device sent it (valid UTF-8 JSON: decoding checked it).
        text = item.payload if isinstance(item.payload, str) else bytes(item.payload).decode("utf-8")
        decoded.accepted[key] = (message, item.topic, text)
    return decoded


def store_batch(
    session: Session, batch: Sequence[Incoming], now: datetime | None = None, *, audit_key: bytes
) -> StoreResult:
    """Validate and store a batch inside the caller's transaction; the caller commits, then acknowledges.

    The monitoring rules run on the new events in this same transaction
    (`central.monitoring.evaluate_stored`), recording their decisions in the audit trail with
    `audit_key`: every path into the event log (ingest worker, tracker gateway) is watched.
    """
    return store_decoded(session, decode_batch(batch, now), audit_key=audit_key)


def store_decoded(session: Session, decoded: Decoded, *, audit_key: bytes) -> StoreResult:
    """`store_batch` of an already decoded batch (`decoded` is not changed: a failed transaction may be retried).

    Statements per batch, not per message: the events go in with one INSERT … ON CONFLICT DO
    NOTHING RETURNING (what it returns is what is new: a redelivery, or an event another worker
    stored first, is a duplicate), their projections (fix, check-in, …) only for the new ones.
    """
    now, accepted, dead_rows = decoded.now, decoded.accepted, decoded.dead_rows
    result = StoreResult(duplicates=decoded.duplicates, dead=list(decoded.dead))
    if dead_rows:
        session.execute(insert(cast(Table, DeadLetter.__table__)), dead_rows)
    if not accepted:
        return result

    session.flush()  # the statements below go through the connection, which does not flush the session
    subjects = read_subjects(session, {m.subject_id for m, _, _ in accepted.values() if getattr(m, "subject_id", None)})
    devices = _device_paths(session, {m.device_id for m, _, _ in accepted.values()})
    events: list[tuple[Any, ...]] = []
    for key, (message, topic, text) in accepted.items():
        subject_id = getattr(message, "subject_id", None)
        subject = subjects.get(subject_id) if subject_id else None
        node_path = (subject.node_path if subject is not None else None) or devices.get(message.device_id)
        events.append(
            (key, message.type, message.device_id, subject_id, node_path, message.device_time, now, topic, text)
        )
    events.sort()  # by event id: workers storing the same redelivered events wait on them in one order
    inserted = set(insert_rows(session, Event, _EVENT_COLUMNS, events, returning="event_id"))
    result.stored = len(inserted)
    result.duplicates += len(accepted) - len(inserted)
    if not inserted:
        return result

    paths = {("subject", sid): s.node_path for sid, s in subjects.items()}
    paths.update({("device", did): path for did, path in devices.items()})
    fixes: list[tuple[Any, ...]] = []
    checkins, reports, sightings = [], [], []
    statuses: list[StatusMsg] = []
    new: list[tuple[str, Any]] = []
    for event in events:
        key, node_path = event[0], event[4]
        if key not in inserted:
            continue
        message = accepted[key][0]
        new.append((key, message))
        if isinstance(message, FixMsg):
            fixes.append(
                (
                    key, message.subject_id, message.tracker_serial, node_path, message.device_time, message.lat,
                    message.lon, message.accuracy_m, message.source, message.speed_kmh, message.battery_pct,
                )
            )  # fmt: skip
        elif isinstance(message, CheckinMsg):
            checkins.append(
                {
                    "event_id": key,
                    "subject_id": message.subject_id,
                    "device_id": message.device_id,
                    "node_path": node_path,
                    "device_time": message.device_time,
                    "methods": list(message.methods),
                    "face_score": message.face_score,
                    "fingerprint_match": message.fingerprint_match,
                    "result": message.result,
                    "reason": message.reason,
                }
            )
        elif isinstance(message, VoiceReportMsg):
            reports.append(
                {
                    "event_id": key,
                    "subject_id": message.subject_id,
                    "node_path": node_path,
                    "device_time": message.device_time,
                    "transcript": message.transcript,
                    "audio_sha256": message.audio_sha256,
                    "duration_s": message.duration_s,
                    "model": message.model,
                    "key_elements": message.key_elements,
                }
            )
        elif isinstance(message, SightingMsg):
            sightings.append(_sighting_row(key, message, paths, now))
        elif isinstance(message, StatusMsg):
            statuses.append(message)

    insert_rows(session, Fix, _FIX_COLUMNS, fixes)
    insert_ignoring_duplicates(session, Checkin, checkins)
    insert_ignoring_duplicates(session, VoiceReport, reports)
    insert_ignoring_duplicates(session, Sighting, sightings)
    for status in statuses:
        _apply_status(session, status, now)
    result.decisions = evaluate_stored(session, new, now=now, audit_key=audit_key, subject_rows=subjects).decisions
    return result


def _sighting_row(key: str, message: SightingMsg, paths: dict[tuple[str, str], str], now: datetime) -> dict[str, Any]:
    """A `sighting` row: linked to its subject only when the subject lies in the camera's jurisdiction.

    An edge agent whose gallery is built by central cannot name anyone else; if one does (a stale or
    foreign gallery, a misconfigured device), the sighting is kept unlinked and the mismatch logged.
    """
    device_path = paths.get(("device", message.device_id))
    subject_id = message.subject_id
    if subject_id is not None:
        subject_path = paths.get(("subject", subject_id))
        if subject_path is None:
            log.warning(
                "sighting %s from %s names unknown subject %s: stored unlinked", key, message.device_id, subject_id
            )
            subject_id = None
        elif device_path is None or not path_within(subject_path, device_path):
            log.warning(
                "sighting %s from %s (node %s) names subject %s of node %s, outside the camera's jurisdiction: "
                "stored unlinked",
                key,
                message.device_id,
                device_path,
                subject_id,
                subject_path,
            )
            subject_id = None
    return {
        "event_id": key,
        "subject_id": subject_id,
        "reported_subject_id": message.subject_id,
        "device_id": message.device_id,
        "camera_id": message.camera_id,
        "node_path": device_path,
        "track_id": message.track_id,
        "first_seen": message.first_seen,
        "last_seen": message.last_seen,
        "score": message.score,
        "quality": message.quality,
        "created_at": now,
    }


def _device_paths(session: Session, ids: set[str]) -> dict[str, str]:
    q = select(Device.id, Device.node_path).where(any_of(session, Device.id, ids))
    return {did: path for did, path in session.connection().execute(q)}


def _apply_status(session: Session, status: StatusMsg, now: datetime) -> None:
    """Keep the newest status per device (by device time): a late heartbeat never overwrites a newer one."""
    device = session.get(Device, status.device_id)
    if device is None:
        return
    seen = device.status.get("device_time") if device.status else None
    if seen is not None and datetime.fromisoformat(seen) > status.device_time:
        return
    session.execute(
        update(Device)
        .where(Device.id == status.device_id)
        .values(
            online=status.online,
            last_seen=now,
            status=status.model_dump(mode="json"),
        )
    )
