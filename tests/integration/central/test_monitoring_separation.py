"""人机分离 and contact wired into ingest: kiosk check-ins, camera sightings and roll-call answers at known places.

Real geometry: the kiosk and the centre camera stand at a township office in Haicang; the
subject's wristband reports either there or 11 km away in Jiaomei (Longhai). On SQLite and
PostgreSQL, through `store_batch` as the ingest worker calls it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from central.db.models import Alert, RuleState
from central.devices import add_device
from central.ingest.store import Incoming, store_batch
from central.monitoring import set_device_place
from central.scheduler import lost_contact
from contracts import Checkin, Envelope, Fix, RollcallAnswer, Sighting, encode, topic_for
from tests.integration.central.conftest import Env

SUBJECT = "S-350205-0001"  # normal level: a phone may move for 24 h without a face check-in
HULI_SUBJECT = "S-350206-0001"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
OFFICE = (24.4900, 118.0100)  # lat, lon: the township office, where kiosk-haicang and edge-haicang stand
JIAOMEI = (24.4900, 117.9000)  # 11 km west, outside the district
BAND = "band-0001"
PHONE = "phone-0001"


def at(seconds: float) -> datetime:
    """T0 plus seconds."""
    return T0 + timedelta(seconds=seconds)


def place_devices(env: Env) -> None:
    """The kiosk and the centre camera's edge host stand at the office."""
    with env.central.sessions.begin() as s:
        for device in ("kiosk-haicang", "edge-haicang"):
            set_device_place(s, env.central.audit_key, device, lat=OFFICE[0], lon=OFFICE[1], radius_m=50)


def fix(seconds: float, where: tuple[float, float], device: str = BAND, **extra: object) -> Fix:
    """A fix of SUBJECT from `device` at T0 + seconds."""
    return Fix(
        event_id=uuid.uuid4(),
        device_id=device,
        device_time=at(seconds),
        subject_id=SUBJECT,
        lat=where[0],
        lon=where[1],
        accuracy_m=15,
        source="gnss",
        **extra,  # type: ignore[arg-type]
    )


def checkin(seconds: float, subject: str = SUBJECT, device: str = "kiosk-haicang", **extra: object) -> Checkin:
    """An accepted face check-in at T0 + seconds."""
    values: dict[str, object] = {"methods": ["id_card", "face"], "face_score": 0.8, "result": "accepted", **extra}
    return Checkin(event_id=uuid.uuid4(), device_id=device, device_time=at(seconds), subject_id=subject, **values)  # type: ignore[arg-type]


def sighting(seconds: float, subject: str = SUBJECT) -> Sighting:
    """The centre camera matching `subject` at T0 + seconds."""
    return Sighting(
        event_id=uuid.uuid4(),
        device_id="edge-haicang",
        device_time=at(seconds),
        camera_id="hall-entrance",
        subject_id=subject,
        score=0.71,
        track_id=4412,
        first_seen=at(seconds - 5),
        last_seen=at(seconds),
        quality=0.83,
        bbox=[412, 96, 520, 230],
    )


def store(env: Env, messages: Sequence[Fix | Checkin | Sighting | RollcallAnswer], received: datetime) -> int:
    """Store a batch with the rules on; the number of rule decisions."""
    with env.central.sessions.begin() as s:
        batch = [Incoming(topic_for(m), encode(m)) for m in messages]
        result = store_batch(s, batch, now=received, audit_key=env.central.audit_key)
    assert result.dead == []
    return result.decisions


def alerts(env: Env, kind: str) -> list[tuple[bool, set[str]]]:
    """(closed, evidence) of the alerts of one kind, oldest first."""
    with env.central.sessions() as s:
        rows = s.execute(select(Alert).where(Alert.kind == kind).order_by(Alert.id)).scalars().all()
        return [(a.closed_at is not None, set(a.evidence)) for a in rows]


def separation_state(env: Env, subject: str = SUBJECT) -> str | None:
    """The stored 人机分离 state of a subject ("" when dormant), None when it has no row."""
    with env.central.sessions() as s:
        return s.execute(
            select(RuleState.state_json).where(RuleState.subject_id == subject, RuleState.rule == "separation")
        ).scalar()


def ids(*messages: Envelope) -> set[str]:
    """The event ids of messages."""
    return {str(m.event_id) for m in messages}


def test_checkin_at_the_kiosk_while_the_wristband_is_elsewhere_opens_and_agreement_closes(env: Env) -> None:
    """Kiosk check-in at the office, the wristband 11 km away within the window: open; both at the office: close."""
    place_devices(env)
    here, away = checkin(0), fix(30, JIAOMEI)
    store(env, [here, away], at(60))
    assert alerts(env, "separation") == [(False, ids(here, away))]

    again, band_here = checkin(600), fix(620, OFFICE)
    store(env, [band_here, again], at(660))
    assert alerts(env, "separation") == [(True, ids(here, away, again, band_here))]
    # Nothing more to pair with once the presences are out of the rule's memory: the state goes dormant.
    store(env, [fix(3600, OFFICE)], at(3660))
    assert separation_state(env) == ""


def test_a_late_checkin_pairs_with_the_fixes_already_stored(env: Env) -> None:
    """Fixes alone keep no 人机分离 state; a check-in delivered later is compared with the stored fixes around it."""
    place_devices(env)
    away = [fix(0, JIAOMEI), fix(50, JIAOMEI), fix(400, JIAOMEI)]
    store(env, away, at(420))
    assert separation_state(env) is None  # no row: a wristband that never meets a kiosk costs nothing
    late = checkin(60)
    store(env, [late], at(900))
    [(closed, evidence)] = alerts(env, "separation")
    assert not closed and ids(late) <= evidence and evidence <= ids(late, *away)
    assert str(away[2].event_id) not in evidence  # 340 s after the check-in: outside the 2-minute window


def test_kiosk_without_a_place_and_refused_checkins_prove_nothing(env: Env) -> None:
    """Without the kiosk's place, or with a refused check-in, a far fix raises nothing."""
    store(env, [checkin(0), fix(30, JIAOMEI)], at(60))  # places not set yet
    place_devices(env)
    refused = checkin(300, methods=["id_card", "face"], face_score=0.2, result="refused", reason="face mismatch")
    store(env, [refused, fix(320, JIAOMEI)], at(360))
    assert alerts(env, "separation") == []


def test_camera_sighting_is_a_presence_and_contact_for_its_own_jurisdiction_only(env: Env) -> None:
    """A sighting at the centre with the wristband away opens; it ends lost contact; a foreign one is ignored."""
    place_devices(env)
    store(env, [fix(0, OFFICE)], at(60))
    # 25 h of silence: the monitor's tick opens lost contact.
    assert lost_contact(env.central.sessions, env.central.audit_key, at(25 * 3600), 100).applied.opened
    seen, away = sighting(25 * 3600 + 60), fix(25 * 3600 + 90, JIAOMEI)
    store(env, [seen, away], at(25 * 3600 + 120))
    assert alerts(env, "separation") == [(False, ids(seen, away))]
    [(closed, _)] = alerts(env, "lost_contact")
    assert closed  # the sighting was contact again

    foreign = sighting(25 * 3600 + 60, subject=HULI_SUBJECT)  # edge-haicang cannot vouch for a Huli subject
    store(env, [foreign], at(25 * 3600 + 120))
    with env.central.sessions() as s:
        rows = s.execute(select(RuleState.rule).where(RuleState.subject_id == HULI_SUBJECT)).scalars().all()
    assert rows == []


def test_rollcall_answer_is_contact_again(env: Env) -> None:
    """A roll-call answer at the kiosk closes a lost-contact episode."""
    place_devices(env)
    store(env, [fix(0, OFFICE)], at(60))
    lost_contact(env.central.sessions, env.central.audit_key, at(25 * 3600), 100)
    answer = RollcallAnswer(
        event_id=uuid.uuid4(),
        device_id="kiosk-haicang",
        device_time=at(26 * 3600),
        rollcall_id="rc-2026-11-24",
        subject_id=SUBJECT,
        face_score=0.77,
        answered_at=at(26 * 3600),
    )
    store(env, [answer], at(26 * 3600 + 30))
    [(closed, evidence)] = alerts(env, "lost_contact")
    assert closed and ids(answer) <= evidence


def test_phone_moving_without_face_checks_opens_and_a_verified_fix_closes(env: Env) -> None:
    """The subject's phone travels for more than 24 h with only failed face checks: open; a passed one: close."""
    with env.central.sessions.begin() as s:
        add_device(s, env.central.audit_key, device_id=PHONE, kind="phone", node_code="350205001", subject_id=SUBJECT)
    hour = 3600
    verified = fix(0, OFFICE, device=PHONE, face_verified=True)
    start = fix(60, OFFICE, device=PHONE)
    failed = fix(12 * hour, JIAOMEI, device=PHONE, face_verified=False)
    early = fix(20 * hour, JIAOMEI, device=PHONE)  # moved, but within the 24 h
    store(env, [verified, start], at(120))
    store(env, [failed], at(12 * hour + 60))
    store(env, [early], at(20 * hour + 60))
    assert alerts(env, "separation") == []
    late = fix(25 * hour, JIAOMEI, device=PHONE)
    store(env, [late], at(25 * hour + 60))
    [(closed, evidence)] = alerts(env, "separation")
    assert not closed and ids(verified, start, late, failed) <= evidence

    passed = fix(26 * hour, JIAOMEI, device=PHONE, face_verified=True)
    store(env, [passed], at(26 * hour + 60))
    assert alerts(env, "separation")[0][0] is True


def test_phone_checkin_message_counts_as_a_face_check(env: Env) -> None:
    """A `checkin` from the subject's phone with a face match keeps the moving phone from alarming."""
    with env.central.sessions.begin() as s:
        add_device(s, env.central.audit_key, device_id=PHONE, kind="phone", node_code="350205001", subject_id=SUBJECT)
    hour = 3600
    store(env, [fix(0, OFFICE, device=PHONE)], at(60))
    store(env, [checkin(23 * hour, device=PHONE, methods=["face"])], at(23 * hour + 60))
    store(env, [fix(23 * hour + 60, OFFICE, device=PHONE), fix(30 * hour, JIAOMEI, device=PHONE)], at(30 * hour + 60))
    assert alerts(env, "separation") == []
    store(env, [fix(48 * hour, JIAOMEI, device=PHONE), fix(48 * hour + 60, OFFICE, device=PHONE)], at(48 * hour + 90))
    [(closed, _)] = alerts(env, "separation")
    assert not closed
