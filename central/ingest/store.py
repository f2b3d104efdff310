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

from central.db.models import Base, Checkin, DeadLetter, Device, Event, Fix, Sighting, Subject, VoiceReport
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


def store_batch(
    session: Session, batch: Sequence[Incoming], now: datetime | None = None, *, audit_key: bytes
) -> StoreResult:
    """Validate and store a batch inside the caller's transaction; the caller commits, then acknowledges.

    The monitoring rules run on the new events in this same transaction
    (`central.monitoring.evaluate_stored`), recording their decisions in the audit trail with
    `audit_key`: every path into the event log (ingest worker, tracker gateway) is watched.
    """
    now = now or datetime.now(UTC)
    result = StoreResult()
    accepted: dict[str, tuple[Any, dict[str, Any], str]] = {}
    dead_rows: list[dict[str, Any]] = []
    for item in batch:
        try:
            message, raw = decode_with_object(item.topic, item.payload, now=now)
        except ContractError as exc:
            reason = str(exc)
            result.dead.append(reason)
            dead_rows.append(
                {
                    "received_at": now,
                    "topic": item.topic[:1000],
                    "device_id": _device_id_of(item.topic),
                    "payload": bytes(item.payload),
                    "reason": reason,
                }
            )
            continue
        key = str(message.event_id)
        if key in accepted:
            result.duplicates += 1
            continue
        accepted[key] = (message, raw, item.topic)

    if dead_rows:
        session.execute(insert(cast(Table, DeadLetter.__table__)), dead_rows)
    if not accepted:
        return result

    existing = set(session.execute(select(Event.event_id).where(Event.event_id.in_(list(accepted)))).scalars())
    result.duplicates += len(existing)
    fresh = [(k, v) for k, v in accepted.items() if k not in existing]
    if not fresh:
        return result

    paths = _node_paths(session, [m for _, (m, _, _) in fresh])
    events, fixes, checkins, reports, sightings = [], [], [], [], []
    statuses: list[StatusMsg] = []
    for key, (message, raw, topic) in fresh:
        subject_id = getattr(message, "subject_id", None)
        node_path = paths.get(("subject", subject_id)) if subject_id else None
        node_path = node_path or paths.get(("device", message.device_id))
        events.append(
            {
                "event_id": key,
                "type": message.type,
                "device_id": message.device_id,
                "subject_id": subject_id,
                "node_path": node_path,
                "device_time": message.device_time,
                "received_at": now,
                "topic": topic,
                "payload": raw,
            }
        )
        if isinstance(message, FixMsg):
            fixes.append(
                {
                    "event_id": key,
                    "subject_id": message.subject_id,
                    "tracker_serial": message.tracker_serial,
                    "node_path": node_path,
                    "device_time": message.device_time,
                    "lat": message.lat,
                    "lon": message.lon,
                    "accuracy_m": message.accuracy_m,
                    "source": message.source,
                    "speed_kmh": message.speed_kmh,
                    "battery_pct": message.battery_pct,
                }
            )
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

    # Another worker may commit the same event between our check and our insert: ignore, don't fail.
    inserted = insert_ignoring_duplicates(session, Event, events, returning="event_id")
    insert_ignoring_duplicates(session, Fix, fixes)
    insert_ignoring_duplicates(session, Checkin, checkins)
    insert_ignoring_duplicates(session, VoiceReport, reports)
    insert_ignoring_duplicates(session, Sighting, sightings)
    for status in statuses:
        _apply_status(session, status, now)
    result.stored = len(events)
    from central.monitoring import evaluate_stored  # it imports this module

    new = [(key, message) for key, (message, _, _) in fresh if key in inserted]
    result.decisions = evaluate_stored(session, new, now=now, audit_key=audit_key).decisions
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


def _node_paths(session: Session, messages: Sequence[Any]) -> dict[tuple[str, str], str]:
    subject_ids = {m.subject_id for m in messages if getattr(m, "subject_id", None)}
    device_ids = {m.device_id for m in messages}
    paths: dict[tuple[str, str], str] = {}
    if subject_ids:
        for sid, path in session.execute(select(Subject.id, Subject.node_path).where(Subject.id.in_(subject_ids))):
            paths[("subject", sid)] = path
    for did, path in session.execute(select(Device.id, Device.node_path).where(Device.id.in_(device_ids))):
        paths[("device", did)] = path
    return paths


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
