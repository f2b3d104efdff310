"""Ingest storage: valid events stored once, bad input dead-lettered with a reason, on both databases."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select, text

from central.db.models import Checkin, DeadLetter, Device, Event, Fix
from central.ingest.store import Incoming, store_batch
from contracts import Fix as FixMsg
from contracts import Status, encode, topic_for
from tests.integration.central.conftest import Env

NOW = datetime(2026, 11, 23, 8, 5, 30, tzinfo=UTC)
GOOD_FIX = {
    "v": 1,
    "type": "fix",
    "event_id": "0b6f6c1e-4f8e-4a51-9a63-8d1f2f0e7c11",
    "device_id": "kiosk-haicang",
    "device_time": "2026-11-23T08:05:00Z",
    "subject_id": "S-350205-0001",
    "lat": 24.5158,
    "lon": 117.99,
    "accuracy_m": 15,
    "source": "gnss",
    "speed_kmh": 4.2,
    "battery_pct": 81,
}
TOPIC = "corr/v1/dev/kiosk-haicang/fix"


def _store(env: Env, items: list[Incoming]):
    with env.central.sessions.begin() as s:
        return store_batch(s, items, now=NOW, audit_key=env.central.audit_key)


def _count(env: Env, model) -> int:
    with env.central.sessions() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def test_valid_fix_stored_with_projection(env: Env) -> None:
    """A fix lands in the event log (both times kept) and in the fix table, scoped to the subject's node."""
    r = _store(env, [Incoming(TOPIC, json.dumps(GOOD_FIX).encode())])
    assert (r.stored, r.duplicates, r.dead) == (1, 0, [])
    with env.central.sessions() as s:
        ev = s.get(Event, GOOD_FIX["event_id"])
        assert ev is not None and ev.received_at == NOW and ev.device_time == datetime(2026, 11, 23, 8, 5, tzinfo=UTC)
        assert ev.node_path == "/35/3502/350205/350205001/"
        fix = s.execute(select(Fix)).scalar_one()
        assert (fix.lat, fix.lon, fix.accuracy_m) == (24.5158, 117.99, 15)


def test_redelivery_stored_once(env: Env) -> None:
    """The same event in one batch, in a later batch, and again later: one row."""
    payload = json.dumps(GOOD_FIX).encode()
    r1 = _store(env, [Incoming(TOPIC, payload), Incoming(TOPIC, payload)])
    r2 = _store(env, [Incoming(TOPIC, payload)])
    assert (r1.stored, r1.duplicates, r2.stored, r2.duplicates) == (1, 1, 0, 1)
    assert _count(env, Event) == 1 and _count(env, Fix) == 1


BAD = [
    (TOPIC, b"{not json", "not valid JSON"),
    (TOPIC, b"[1, 2]", "JSON object"),
    (TOPIC, json.dumps({**GOOD_FIX, "v": 2}).encode(), "unsupported contract version 2"),
    (TOPIC, json.dumps({**GOOD_FIX, "type": "teleport"}).encode(), "unknown message type 'teleport'"),
    (TOPIC, json.dumps({**GOOD_FIX, "lat": 95.0}).encode(), "lat"),
    (TOPIC, json.dumps({**GOOD_FIX, "device_time": "2026-11-23T08:05:00"}).encode(), "zone"),
    (TOPIC, json.dumps({k: v for k, v in GOOD_FIX.items() if k != "event_id"}).encode(), "event_id"),
    ("corr/v1/dev/kiosk-huli/fix", json.dumps(GOOD_FIX).encode(), "kiosk-huli"),
    ("corr/v1/dev/kiosk-haicang/teleport", json.dumps(GOOD_FIX).encode(), "teleport"),
    ("other/topic", json.dumps(GOOD_FIX).encode(), "topic"),
    (TOPIC, b"{" + b'"x":"' + b"a" * 70000 + b'"}', "65536"),
    (
        TOPIC,
        json.dumps({**GOOD_FIX, "device_time": "2026-11-25T08:05:00Z"}).encode(),
        "more than 25 hours after",
    ),
]


def test_bad_input_dead_lettered_with_reason(env: Env) -> None:
    """Every kind of bad message goes to dead_letter with a reason naming the problem; good ones still land."""
    items = [Incoming(t, p) for t, p, _ in BAD] + [Incoming(TOPIC, json.dumps(GOOD_FIX).encode())]
    r = _store(env, items)
    assert r.stored == 1 and len(r.dead) == len(BAD)
    with env.central.sessions() as s:
        rows = s.execute(select(DeadLetter).order_by(DeadLetter.id)).scalars().all()
    assert len(rows) == len(BAD)
    for row, (topic, payload, fragment) in zip(rows, BAD, strict=True):
        assert row.topic == topic and bytes(row.payload) == payload
        assert fragment.lower() in row.reason.lower(), (fragment, row.reason)


def test_checkin_projection_and_status(env: Env) -> None:
    """A check-in is projected; a status updates the device, and an older status never overwrites a newer one."""
    from contracts import Checkin as CheckinMsg

    c = CheckinMsg(
        event_id=uuid.uuid4(),
        device_id="kiosk-huli",
        device_time=NOW,
        subject_id=None,
        methods=["id_card"],
        result="refused",
        reason="not enrolled",
    )
    newer = Status(event_id=uuid.uuid4(), device_id="kiosk-huli", device_time=NOW, online=True, queue_depth=7)
    older = Status(
        event_id=uuid.uuid4(),
        device_id="kiosk-huli",
        device_time=datetime(2026, 11, 23, 7, tzinfo=UTC),
        online=False,
    )
    _store(env, [Incoming(topic_for(m), encode(m)) for m in (c, newer, older)])
    with env.central.sessions() as s:
        row = s.execute(select(Checkin)).scalar_one()
        assert (
            row.result == "refused" and row.reason == "not enrolled" and row.node_path == "/35/3502/350206/350206001/"
        )
        dev = s.get(Device, "kiosk-huli")
        assert dev is not None and dev.online is True and dev.status["queue_depth"] == 7


def test_event_log_is_append_only(env: Env) -> None:
    """The database itself refuses to change or delete a stored event."""
    import pytest
    from sqlalchemy.exc import DBAPIError

    _store(env, [Incoming(TOPIC, json.dumps(GOOD_FIX).encode())])
    with pytest.raises(DBAPIError, match="append-only"), env.central.engine.begin() as c:
        c.execute(text("DELETE FROM event"))


def test_personal_data_encrypted_at_rest(env: Env) -> None:
    """Names and ID numbers are not in the database in clear; lookup by ID number works through the HMAC."""
    from central.seed import id_number_for
    from central.subjects import find_by_id_number

    with env.central.engine.connect() as c:
        rows = c.execute(text("SELECT name_enc, id_number_enc, id_number_hmac FROM subject")).all()
    number = id_number_for(1, "350205")
    for name_enc, id_enc, digest in rows:
        blob = bytes(name_enc) + bytes(id_enc)
        assert "张伟".encode() not in blob and number.encode() not in blob and number not in digest
    with env.central.sessions() as s:
        found = find_by_id_number(s, env.central.hmac_key, number.lower())
        assert found is not None and found.id == "S-350205-0001"


def test_fix_message_class_round_trip_into_store(env: Env) -> None:
    """A message built with the contracts classes is accepted as-is."""
    m = FixMsg(
        event_id=uuid.uuid4(),
        device_id="kiosk-haicang",
        device_time=NOW,
        subject_id="S-350205-0002",
        lat=24.49,
        lon=118.1,
        accuracy_m=8,
        source="wifi",
    )
    assert _store(env, [Incoming(topic_for(m), encode(m))]).stored == 1
