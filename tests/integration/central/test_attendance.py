"""Group-study sessions and daily attendance from stored check-ins and sightings, scoped, on both databases."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import select

from central.attendance import day_attendance
from central.db.models import Audit, User
from central.devices import add_device
from central.ingest.store import Incoming, store_batch
from central.locations import CHINA
from contracts import Checkin, Sighting, encode, topic_for
from tests.integration.central.conftest import Env

# Two days ago in China: in the past of the receiver's clock, as stored events are.
DAY: date = (datetime.now(CHINA) - timedelta(days=2)).date()


def at(hh: int, mm: int = 0) -> datetime:
    """A China-time moment of DAY."""
    return datetime.combine(DAY, time(hh, mm), tzinfo=CHINA)


def _checkin(subject_id: str, when: datetime, result: Literal["accepted", "refused"] = "accepted") -> Checkin:
    return Checkin(
        event_id=uuid.uuid4(),
        device_id="kiosk-haicang",
        device_time=when,
        subject_id=subject_id,
        methods=["id_card", "face"],
        face_score=0.8,
        result=result,
        reason=None if result == "accepted" else "face did not match",
    )


def _sighting(device: str, subject_id: str, first: datetime, minutes: int = 3) -> Sighting:
    return Sighting(
        event_id=uuid.uuid4(),
        device_id=device,
        device_time=first + timedelta(minutes=minutes),
        camera_id="classroom",
        subject_id=subject_id,
        score=0.66,
        track_id=7,
        first_seen=first,
        last_seen=first + timedelta(minutes=minutes),
        quality=0.8,
        bbox=[10, 10, 90, 120],
    )


def _store(env: Env, *messages: Checkin | Sighting) -> dict[str, str]:
    with env.central.sessions.begin() as s:
        result = store_batch(s, [Incoming(topic_for(m), encode(m)) for m in messages], audit_key=env.central.audit_key)
        assert result.dead == []
    return {f"{m.type}:{m.subject_id}:{m.device_time.isoformat()}": str(m.event_id) for m in messages}


def _session(env: Env, officer: str, node: str, start: datetime, end: datetime) -> Any:
    body = {"node": node, "title": "集中教育学习：法治讲座", "starts_at": start.isoformat(), "ends_at": end.isoformat()}
    return env.client.post("/api/v1/study-sessions", json=body, headers=env.login(officer))


def _fill(env: Env) -> dict[str, str]:
    """A camera in the township's classroom, and the day's check-ins and sightings."""
    with env.central.sessions.begin() as s:
        add_device(
            s,
            env.central.audit_key,
            device_id="edge-haicang-town",
            kind="edge",
            node_code="350205001",
            cipher=env.central.cipher,
        )
    return _store(
        env,
        _checkin("S-350205-0001", at(8, 45)),  # on arrival, 15 min early: counts for the morning session
        _checkin("S-350205-0002", at(9, 5), result="refused"),  # refused: proves nothing
        _sighting("edge-haicang-town", "S-350205-0002", at(9, 30)),  # seen in the classroom
        _checkin("S-350205-0001", at(13, 0)),  # an hour before the afternoon session: too early
        _sighting("edge-haicang", "S-350205-0002", at(14, 30)),  # a camera of the county, not of the township
        _checkin("S-350206-0001", at(9, 0)),  # Huli's subject, at a Haicang kiosk: not Huli's attendance
    )


def test_session_attendance_with_evidence(env: Env) -> None:
    """Morning: one present by check-in, one by a classroom sighting; afternoon: both absent."""
    _fill(env)
    morning = _session(env, "haicang.town", "350205001", at(9), at(11))
    afternoon = _session(env, "haicang.officer", "350205001", at(14), at(16))
    assert morning.status_code == 201, morning.text
    assert afternoon.status_code == 201, afternoon.text
    h = env.login("haicang.officer")
    r = env.client.get(f"/api/v1/study-sessions/{morning.json()['id']}/attendance", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["node"], body["expected"], body["present_checkin"], body["present_sighting"], body["absent"]) == (
        "350205001",
        2,
        1,
        1,
        0,
    )
    by_subject = {x["subject_id"]: x for x in body["subjects"]}
    assert set(by_subject) == {"S-350205-0001", "S-350205-0002"}  # S-350205-0003 is the county's, not the township's
    one, two = by_subject["S-350205-0001"], by_subject["S-350205-0002"]
    assert (one["present"], one["by"], len(one["checkins"]), one["checkins"][0]["device_id"]) == (
        True,
        "checkin",
        1,
        "kiosk-haicang",
    )
    assert (two["present"], two["by"], two["checkins"]) == (True, "sighting", [])
    assert [(s["device_id"], s["camera_id"]) for s in two["sightings"]] == [("edge-haicang-town", "classroom")]

    r = env.client.get(f"/api/v1/study-sessions/{afternoon.json()['id']}/attendance", headers=h).json()
    assert (r["present_checkin"], r["present_sighting"], r["absent"]) == (0, 0, 2)
    assert all(not x["present"] and x["checkins"] == [] and x["sightings"] == [] for x in r["subjects"])

    listed = env.client.get("/api/v1/study-sessions", headers=h, params={"node": "350205001"}).json()
    assert [x["id"] for x in listed] == [morning.json()["id"], afternoon.json()["id"]]
    window = {"from": at(12).isoformat(), "to": at(23).isoformat()}
    assert [x["id"] for x in env.client.get("/api/v1/study-sessions", headers=h, params=window).json()] == [
        afternoon.json()["id"]
    ]
    with env.central.sessions() as s:
        audited = s.execute(select(Audit).where(Audit.action == "study_session.create").order_by(Audit.id)).scalars()
        assert [(a.actor, a.detail["node"]) for a in audited] == [
            ("haicang.town", "350205001"),
            ("haicang.officer", "350205001"),
        ]


def test_day_attendance_per_centre(env: Env) -> None:
    """Per centre of the county: expected, present by check-in, by sighting only, absent."""
    _fill(env)
    r = env.client.get("/api/v1/attendance", headers=env.login("haicang.officer"), params={"day": DAY.isoformat()})
    assert r.status_code == 200, r.text
    centres = {c["node"]: c for c in r.json()}
    assert set(centres) == {"350205", "350205001"}
    town, county = centres["350205001"], centres["350205"]
    assert (town["expected"], town["present_checkin"], town["present_sighting"], town["absent"]) == (
        ["S-350205-0001", "S-350205-0002"],
        ["S-350205-0001"],
        ["S-350205-0002"],
        [],
    )
    assert (county["expected"], county["absent"]) == (["S-350205-0003"], ["S-350205-0003"])
    # The day before: everyone absent.
    before = env.client.get(
        "/api/v1/attendance",
        headers=env.login("haicang.officer"),
        params={"day": (DAY - timedelta(days=1)).isoformat(), "node": "350205001"},
    ).json()
    assert [(c["node"], c["absent"]) for c in before] == [("350205001", ["S-350205-0001", "S-350205-0002"])]
    # Huli sees only Huli; its subject's check-in at a Haicang kiosk is no presence at a Huli centre.
    huli = env.client.get("/api/v1/attendance", headers=env.login("huli.officer"), params={"day": DAY.isoformat()})
    assert {c["node"]: c["absent"] for c in huli.json()} == {
        "350206": ["S-350206-0002"],
        "350206001": ["S-350206-0001"],
    }
    # The function the officer web UI calls gives the same answer.
    with env.central.sessions() as s:
        viewer = s.execute(select(User).where(User.username == "haicang.officer")).scalar_one()
        days = day_attendance(s, viewer, DAY, "350205001")
    assert [(c.node_code, c.present_checkin, c.present_sighting) for c in days] == [
        ("350205001", ["S-350205-0001"], ["S-350205-0002"])
    ]


def test_sibling_county_is_refused_everywhere(env: Env) -> None:
    """Huli's officer can neither schedule at, list, nor read the attendance of a Haicang centre."""
    _fill(env)
    session_id = _session(env, "haicang.officer", "350205001", at(9), at(11)).json()["id"]
    h = env.login("huli.officer")
    r = _session(env, "huli.officer", "350205001", at(9), at(11))
    assert r.status_code == 404 and "jurisdiction" in r.json()["error"]
    assert env.client.get(f"/api/v1/study-sessions/{session_id}/attendance", headers=h).status_code == 404
    assert env.client.get("/api/v1/study-sessions", headers=h).json() == []
    assert env.client.get("/api/v1/study-sessions", headers=h, params={"node": "350205"}).status_code == 404
    assert (
        env.client.get("/api/v1/attendance", headers=h, params={"day": DAY.isoformat(), "node": "350205"}).status_code
        == 404
    )
    assert env.client.get("/api/v1/subjects/S-350205-0001/sightings", headers=h).status_code == 404
    assert _session(env, "huli.viewer", "350206001", at(9), at(11)).status_code == 403
    assert env.client.get("/api/v1/study-sessions").status_code == 401


def test_bad_sessions_refused_with_reasons(env: Env) -> None:
    """An inverted or over-long session, a blank title, a time without zone: each named."""
    r = _session(env, "haicang.officer", "350205001", at(11), at(9))
    assert r.status_code == 400 and "at or before starts_at" in r.json()["error"]
    r = _session(env, "haicang.officer", "350205001", at(0), at(0) + timedelta(hours=13))
    assert r.status_code == 400 and "at most" in r.json()["error"]
    body = {"node": "350205001", "title": "  ", "starts_at": at(9).isoformat(), "ends_at": at(10).isoformat()}
    r = env.client.post("/api/v1/study-sessions", json=body, headers=env.login("haicang.officer"))
    assert r.status_code == 400 and "title" in r.json()["error"]
    naive = {**body, "title": "学习", "starts_at": "2026-11-25T09:00:00"}
    r = env.client.post("/api/v1/study-sessions", json=naive, headers=env.login("haicang.officer"))
    assert r.status_code == 400 and "time zone" in r.json()["error"]
    r = env.client.get("/api/v1/attendance", headers=env.login("haicang.officer"), params={"day": "25/11/2026"})
    assert r.status_code == 422 and "day" in r.json()["error"]
