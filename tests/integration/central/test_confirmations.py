"""Location confirmation: answered by a face-checked fix or a kiosk check-in, missed → alert, monthly rates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select

from central import confirmations
from central.db.models import Alert, LocationConfirmation
from central.ingest.store import Incoming, store_batch
from contracts import Checkin, Fix, encode, topic_for
from tests.integration.central.conftest import Env

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in China
DEADLINE = T0 + timedelta(minutes=30)


def _fix(subject_id: str, at: datetime, **extra: Any) -> Fix:
    return Fix(
        event_id=uuid.uuid4(),
        device_id="phone-0001",
        device_time=at,
        subject_id=subject_id,
        lat=24.5,
        lon=118.1,
        accuracy_m=12,
        source="gnss",
        **extra,
    )


def _checkin(subject_id: str, at: datetime, result: Literal["accepted", "refused"] = "accepted") -> Checkin:
    return Checkin(
        event_id=uuid.uuid4(),
        device_id="kiosk-haicang",
        device_time=at,
        subject_id=subject_id,
        methods=["id_card", "face"],
        face_score=0.8,
        result=result,
        reason=None if result == "accepted" else "face did not match",
    )


def _store(env: Env, received: datetime, *messages: Fix | Checkin) -> None:
    with env.central.sessions.begin() as s:
        assert (
            store_batch(
                s,
                [Incoming(topic_for(m), encode(m)) for m in messages],
                now=received,
                audit_key=env.central.audit_key,
            ).dead
            == []
        )


def test_answers_misses_and_monthly_rates(env: Env) -> None:
    """Face-checked fix and accepted check-in answer; silence or a too-late delivery is missed, with one alert each."""
    key = env.central.audit_key
    subjects = ["S-350205-0001", "S-350205-0002", "S-350205-0003", "S-350206-0001"]
    with env.central.sessions.begin() as s:
        ids = {sid: confirmations.request_confirmation(s, key, sid, deadline=DEADLINE, now=T0).id for sid in subjects}
    one, two, three, huli = subjects
    _store(env, T0 + timedelta(minutes=11), _fix(one, T0 + timedelta(minutes=10), face_verified=True))
    _store(
        env,
        T0 + timedelta(minutes=21),
        _fix(two, T0 + timedelta(minutes=5)),  # no face check: proves where the phone is, not who holds it
        _checkin(two, T0 + timedelta(minutes=15), result="refused"),
        _checkin(two, T0 + timedelta(minutes=20)),
    )
    # Made in time by the device clock, but delivered long after the deadline: does not count.
    _store(env, DEADLINE + timedelta(hours=2), _fix(huli, T0 + timedelta(minutes=25), face_verified=True))

    with env.central.sessions.begin() as s:
        during = confirmations.sweep(s, key, now=T0 + timedelta(minutes=25))
        assert sorted(during.answered) == [ids[one], ids[two]] and during.missed == []
        after = confirmations.sweep(s, key, now=DEADLINE + timedelta(hours=3))
        assert sorted(after.missed) == [ids[three], ids[huli]]
        again = confirmations.sweep(s, key, now=DEADLINE + timedelta(hours=4))
        assert again.answered == again.missed == []

    with env.central.sessions() as s:
        rows = {c.subject_id: c for c in s.execute(select(LocationConfirmation)).scalars()}
        assert (rows[one].state, rows[one].answer_method) == ("answered", "phone_face")
        assert (rows[two].state, rows[two].answer_method) == ("answered", "checkin")
        assert rows[two].answered_at == T0 + timedelta(minutes=20)
        alerts = s.execute(select(Alert).order_by(Alert.id)).scalars().all()
        assert [(a.subject_id, a.kind, a.id) for a in alerts] == [
            (three, "location_unconfirmed", rows[three].alert_id),
            (huli, "location_unconfirmed", rows[huli].alert_id),
        ]

    c = env.client
    county = c.get("/api/v1/confirmations/rates", headers=env.login("haicang.officer"), params={"month": "2026-11"})
    assert county.status_code == 200, county.text
    report = county.json()
    assert (report["node"]["code"], report["node"]["answered"], report["node"]["missed"]) == ("350205", 2, 1)
    assert report["node"]["rate"] == 2 / 3
    assert {n["code"]: n["rate"] for n in report["nodes"]} == {"350205": 2 / 3, "350205001": 1.0}
    assert {s["subject_id"]: s["rate"] for s in report["subjects"]} == {one: 1.0, two: 1.0, three: 0.0}

    city = c.get("/api/v1/confirmations/rates", headers=env.login("city.officer"), params={"month": "2026-11"}).json()
    assert (city["node"]["requested"], city["node"]["rate"]) == (4, 0.5)
    assert {n["code"]: n["requested"] for n in city["nodes"]} == {
        "3502": 4,
        "350205": 3,
        "350205001": 2,
        "350206": 1,
        "350206001": 1,
    }
    sibling = c.get(
        "/api/v1/confirmations/rates",
        headers=env.login("haicang.officer"),
        params={"month": "2026-11", "node": "350206"},
    )
    assert sibling.status_code == 404
    other_month = c.get("/api/v1/confirmations/rates", headers=env.login("city.officer"), params={"month": "2026-12"})
    assert other_month.json()["node"]["requested"] == 0 and other_month.json()["node"]["rate"] is None


def test_confirmation_api(env: Env) -> None:
    """Request, refuse a second pending one, roles and scoping; a past-due request shows as missed with its alert."""
    c, h = env.client, env.login("haicang.town")
    url = "/api/v1/subjects/S-350205-0001/confirmations"
    deadline = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    r = c.post(url, headers=h, json={"deadline": deadline})
    assert r.status_code == 201, r.text
    assert (r.json()["state"], r.json()["requested_by"]) == ("pending", "haicang.town")
    second = c.post(url, headers=h, json={"deadline": deadline})
    assert second.status_code == 409 and f"confirmation {r.json()['id']} pending" in second.json()["error"]
    soon = c.post(url, headers=h, json={"deadline": datetime.now(UTC).isoformat()})
    assert soon.status_code == 400 and "expected 5 minutes to 1440 minutes from now" in soon.json()["error"]
    assert c.post(url, headers=env.login("huli.officer"), json={"deadline": deadline}).status_code == 404
    viewer = c.post(
        "/api/v1/subjects/S-350206-0001/confirmations", headers=env.login("huli.viewer"), json={"deadline": deadline}
    )
    assert viewer.status_code == 403

    # Asked by the schedule two hours ago, never answered.
    earlier = datetime.now(UTC) - timedelta(hours=2)
    with env.central.sessions.begin() as s:
        confirmations.request_confirmation(
            s, env.central.audit_key, "S-350205-0002", deadline=earlier + timedelta(minutes=30), now=earlier
        )
    listed = c.get("/api/v1/subjects/S-350205-0002/confirmations", headers=h).json()
    assert [(x["state"], x["requested_by"]) for x in listed] == [("missed", "schedule")]
    alert = c.get(f"/api/v1/alerts/{listed[0]['alert_id']}", headers=h).json()
    assert (alert["kind"], alert["subject_id"], alert["state"]) == ("location_unconfirmed", "S-350205-0002", "open")
    assert [x["state"] for x in c.get(url, headers=h).json()] == ["pending"]
