"""Monitoring wired into ingest: stored fixes run the rules in the same transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from central.db.models import Alert, Device, Fence, RuleState
from central.devices import add_device
from central.gateways.gt06 import Gt06Gateway
from central.ingest.store import Incoming, store_batch
from central.monitoring import tick_all
from contracts import Checkin, Fix, encode, topic_for
from peripherals.tracker.sim import SimTracker, imei_for, run_tracker
from tests.integration.central.conftest import Env
from tests.unit.central.rules.strategies import HAICANG_GEOJSON, HOME, WEST

SUBJECT = "S-350205-0001"  # supervision level "normal": 3 outside fixes confirm, 2 inside close
SUBJECT_PATH = "/35/3502/350205/350205001/"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
RECEIVED = T0 + timedelta(hours=1)


def allowed_haicang(env: Env) -> None:
    """Give SUBJECT the Haicang district as its allowed area."""
    with env.central.sessions.begin() as s:
        s.add(
            Fence(
                subject_id=SUBJECT,
                node_path=SUBJECT_PATH,
                kind="allowed",
                name="Haicang district",
                geojson=HAICANG_GEOJSON,
                active=True,
                created_at=T0,
            )
        )


def fix(i: int, where: tuple[float, float]) -> Incoming:
    """A phone fix of SUBJECT, `i` half-minutes after T0, at (lon, lat) `where`; the same `i` gives the same event."""
    message = Fix(
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"monitoring-test/{i}"),
        device_id="phone-0001",
        device_time=T0 + timedelta(seconds=30 * i),
        subject_id=SUBJECT,
        lon=where[0],
        lat=where[1],
        accuracy_m=10,
        source="gnss",
    )
    return Incoming(topic_for(message), encode(message))


def store(env: Env, batch: list[Incoming]) -> int:
    """Store a batch with the rules on; the number of rule decisions taken."""
    with env.central.sessions.begin() as s:
        result = store_batch(s, batch, now=RECEIVED, audit_key=env.central.audit_key)
    assert result.dead == []
    return result.decisions


def alerts(env: Env) -> list[tuple[str, str, bool, list[str]]]:
    """(kind, state, closed, evidence) of every alert."""
    with env.central.sessions() as s:
        rows = s.execute(select(Alert).order_by(Alert.id)).scalars().all()
        return [(a.kind, a.state, a.closed_at is not None, list(a.evidence)) for a in rows]


def states(env: Env) -> dict[str, str]:
    """The stored rule states of SUBJECT by rule."""
    with env.central.sessions() as s:
        rows = s.execute(select(RuleState).where(RuleState.subject_id == SUBJECT)).scalars().all()
        return {r.rule: r.state_json for r in rows}


def test_walk_out_opens_one_breach_after_the_evidence_and_return_closes_it(env: Env) -> None:
    """Two outside fixes are not enough, the third opens; two inside close; redelivery changes nothing."""
    allowed_haicang(env)
    first = [fix(0, HOME), fix(1, HOME), fix(2, WEST), fix(3, WEST)]
    store(env, first)
    assert alerts(env) == []

    store(env, [fix(4, WEST)])
    [(kind, state, closed, evidence)] = alerts(env)
    assert (kind, state, closed) == ("fence_breach", "open", False)
    assert len(evidence) == 3  # the three outside fixes that confirmed it

    rest = [fix(5, WEST), fix(6, HOME), fix(7, HOME)]
    store(env, rest)
    [(kind, state, closed, evidence)] = alerts(env)
    assert (kind, state, closed) == ("fence_breach", "open", True)  # the rule closed it; the officer still handles it
    assert len(evidence) == 6  # 4 outside + the 2 inside fixes that closed it

    before = (alerts(env), states(env))
    assert set(before[1]) == {"fence", "contact"}
    assert store(env, [*first, fix(4, WEST), *rest]) == 0  # every event a duplicate: the rules do not run
    assert (alerts(env), states(env)) == before


def test_fixes_out_of_order_in_one_batch_decide_as_in_device_time_order(env: Env) -> None:
    """A backlog uploaded newest first still opens and closes the one episode."""
    allowed_haicang(env)
    walk = [fix(0, HOME), fix(1, WEST), fix(2, WEST), fix(3, WEST), fix(4, HOME), fix(5, HOME)]
    store(env, list(reversed(walk)))
    [(kind, _state, closed, evidence)] = alerts(env)
    assert (kind, closed, len(evidence)) == ("fence_breach", True, 5)


def test_no_allowed_area_no_fence_alert_and_tick_raises_lost_contact(env: Env) -> None:
    """No fences, no breach; a silence longer than the interval opens lost contact, a check-in closes it."""
    store(env, [fix(0, WEST), fix(1, WEST), fix(2, WEST)])
    assert alerts(env) == []
    key = env.central.audit_key
    with env.central.sessions.begin() as s:  # reporting interval is 24 h
        assert tick_all(s, now=RECEIVED, audit_key=key).decisions == 0
    with env.central.sessions.begin() as s:
        assert tick_all(s, now=T0 + timedelta(hours=25), audit_key=key).decisions == 1
    with env.central.sessions.begin() as s:
        assert tick_all(s, now=T0 + timedelta(hours=26), audit_key=key).decisions == 0  # one episode
    assert [(k, c) for k, _s, c, _e in alerts(env)] == [("lost_contact", False)]
    checkin = Checkin(
        event_id=uuid.uuid4(),
        device_id="kiosk-haicang",
        device_time=T0 + timedelta(hours=27),
        subject_id=SUBJECT,
        methods=["id_card", "face"],
        face_score=0.8,
        result="accepted",
    )
    with env.central.sessions.begin() as s:
        store_batch(s, [Incoming(topic_for(checkin), encode(checkin))], now=T0 + timedelta(hours=27), audit_key=key)
    assert [(k, c) for k, _s, c, _e in alerts(env)] == [("lost_contact", True)]


def test_tracker_walking_out_of_the_district_is_an_alert_in_the_api(env: Env) -> None:
    """Simulated GT06 tracker → real gateway → store_batch → rules → GET /api/v1/alerts, without coordinates."""
    allowed_haicang(env)
    imei = imei_for(1)
    with env.central.sessions.begin() as s:
        add_device(s, env.central.audit_key, device_id=imei, kind="tracker", node_code="350205001")
        s.execute(update(Device).where(Device.id == imei).values(subject_id=SUBJECT))
    # (lat, lon): home to 5 km outside the western border and back; steps 4..8 are outside, 9.. inside.
    route = [(HOME[1], HOME[0]), (WEST[1], WEST[0])]
    tracker = SimTracker(imei, route=route, start=RECEIVED - timedelta(minutes=30), steps_per_leg=6)

    async def scenario() -> None:
        gateway = Gt06Gateway(
            env.central.sessions, host="127.0.0.1", port=0, clock=lambda: RECEIVED, audit_key=env.central.audit_key
        )
        await gateway.start()
        try:
            run = await run_tracker("127.0.0.1", gateway.port, tracker, 11)
            assert (run.refused, run.positions) == (False, 11)
        finally:
            await gateway.close()

    asyncio.run(scenario())
    [(kind, state, closed, evidence)] = alerts(env)
    assert (kind, state, closed, len(evidence)) == ("fence_breach", "open", True, 7)

    r = env.client.get("/api/v1/alerts", headers=env.login("haicang.officer"))
    assert r.status_code == 200, r.text
    [listed] = [a for a in r.json() if a["subject_id"] == SUBJECT]
    assert listed["kind"] == "fence_breach"
    assert not {"lat", "lon", "location", "position", "coordinates"} & set(listed)
    text = json.dumps(listed)
    for number in ("117.9", "118.0", "24.4", "24.5"):
        assert number not in text
    with env.central.sessions() as s:
        assert s.execute(select(func.count()).select_from(RuleState)).scalar_one() == 2  # fence + contact


def test_stored_contact_may_lag_fixes_but_the_tick_catches_up(env: Env) -> None:
    """Fixes within 1/8 of the interval do not rewrite the contact row; the tick reads them before it opens."""
    key = env.central.audit_key
    first = fix(0, HOME)
    store(env, [first])
    for i in range(1, 5):  # every 30 minutes for 2 hours, each its own batch
        store(env, [fix(60 * i, HOME)])
    stored = json.loads(states(env)["contact"])
    assert stored["last_contact_id"] == str(uuid.uuid5(uuid.NAMESPACE_URL, "monitoring-test/0"))
    newest = str(uuid.uuid5(uuid.NAMESPACE_URL, "monitoring-test/240"))
    with env.central.sessions.begin() as s:  # 24.5 h after the stored contact, 22.5 h after the newest fix
        assert tick_all(s, now=T0 + timedelta(hours=24, minutes=30), audit_key=key).decisions == 0
    assert json.loads(states(env)["contact"])["last_contact_id"] == newest  # caught up and written
    with env.central.sessions.begin() as s:
        assert tick_all(s, now=T0 + timedelta(hours=26, minutes=1), audit_key=key).decisions == 1
    [(kind, _state, closed, evidence)] = alerts(env)
    assert (kind, closed, evidence) == ("lost_contact", False, [newest])
