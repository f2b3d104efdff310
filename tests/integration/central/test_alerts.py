"""Rule decisions applied to the alert table: once per episode, evidence merged, closed episodes stay closed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from central.alerts import RULE_ACTOR, apply_decisions
from central.db.models import Alert, Audit
from central.ingest.store import Incoming, store_batch
from central.rules.base import CloseAlert, OpenAlert, UpdateEvidence
from contracts import DeviceAlarm, Fix, encode, topic_for
from tests.integration.central.conftest import Env

SUBJECT = "S-350205-0001"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _fixes(env: Env, n: int) -> list[str]:
    """Store `n` fixes of SUBJECT from a phone and return their event ids."""
    messages = [
        Fix(
            event_id=uuid.uuid4(),
            device_id="phone-0001",
            device_time=T0 + timedelta(minutes=i),
            subject_id=SUBJECT,
            lat=24.60,
            lon=118.20,
            accuracy_m=10,
            source="gnss",
        )
        for i in range(n)
    ]
    with env.central.sessions.begin() as s:
        assert (
            store_batch(
                s,
                [Incoming(topic_for(m), encode(m)) for m in messages],
                now=T0 + timedelta(hours=1),
                audit_key=env.central.audit_key,
            ).dead
            == []
        )
    return [str(m.event_id) for m in messages]


def test_decisions_apply_once_per_episode(env: Env) -> None:
    """Repeated opens, evidence and closes leave one row, each id once, one open and one close audited."""
    e = _fixes(env, 5)
    key = env.central.audit_key
    open_ = OpenAlert(SUBJECT, "fence_breach", e[0], T0, "outside the allowed area", (e[0], e[1]))
    with env.central.sessions.begin() as s:
        first = apply_decisions(s, [open_], audit_key=key, now=T0)
        again = apply_decisions(
            s,
            [open_, UpdateEvidence(SUBJECT, "fence_breach", e[0], T0, (e[1], e[2])), open_],
            audit_key=key,
            now=T0,
        )
    assert len(first.opened) == 1 and again.opened == []
    alert_id = first.opened[0]
    assert again.updated == [alert_id]

    close = CloseAlert(SUBJECT, "fence_breach", e[0], T0 + timedelta(minutes=4), "back inside", (e[3], e[4]))
    with env.central.sessions.begin() as s:
        closed = apply_decisions(s, [close], audit_key=key, now=T0)
        repeat = apply_decisions(
            s, [close, open_, UpdateEvidence(SUBJECT, "fence_breach", e[0], T0, (e[2],))], audit_key=key, now=T0
        )
    assert closed.closed == [alert_id]
    assert repeat.opened == repeat.closed == repeat.updated == []

    with env.central.sessions() as s:
        [alert] = s.execute(select(Alert)).scalars().all()
        assert alert.id == alert_id
        assert alert.evidence == e  # each id once, in the order the rule cited them
        assert (alert.state, alert.node_path, alert.device_id) == ("open", "/35/3502/350205/350205001/", "phone-0001")
        assert alert.closed_at == T0 + timedelta(minutes=4) and alert.close_reason == "back inside"
        actions = s.execute(select(Audit.action).where(Audit.actor == RULE_ACTOR).order_by(Audit.id)).scalars().all()
        assert actions == ["alert.open", "alert.close"]


def test_decisions_without_a_target_are_skipped_with_the_reason(env: Env) -> None:
    """Evidence or a close for an episode never opened, or an alert for an unknown subject, change nothing."""
    key = env.central.audit_key
    with env.central.sessions.begin() as s:
        result = apply_decisions(
            s,
            [
                UpdateEvidence(SUBJECT, "lost_contact", "ep-1", T0, ("x",)),
                CloseAlert(SUBJECT, "lost_contact", "ep-1", T0, "contact again", ()),
                OpenAlert("S-NOBODY", "tamper", "ep-2", T0, "strap cut", ()),
            ],
            audit_key=key,
            now=T0,
        )
    assert result.opened == result.updated == result.closed == []
    assert result.skipped == [
        f"evidence for lost_contact episode ep-1 of {SUBJECT}: no such alert",
        f"close lost_contact episode ep-1 of {SUBJECT}: no such alert",
        "open tamper for subject S-NOBODY: no such subject",
    ]
    with env.central.sessions() as s:
        assert s.execute(select(Alert)).first() is None


def _alarm(env: Env, at: datetime, received: datetime, kind: str = "tamper") -> str:
    """Store a device alarm of SUBJECT's wristband at device time `at`, received at `received`; its event id."""
    message = DeviceAlarm(
        event_id=uuid.uuid4(),
        device_id="band-0001",
        device_time=at,
        subject_id=SUBJECT,
        kind=kind,  # type: ignore[arg-type]
        detail="strap opened",
    )
    with env.central.sessions.begin() as s:
        incoming = [Incoming(topic_for(message), encode(message))]
        assert store_batch(s, incoming, now=received, audit_key=env.central.audit_key).dead == []
    return str(message.event_id)


def _tamper_alerts(env: Env) -> list[tuple[str, str, bool, list[str]]]:
    with env.central.sessions() as s:
        rows = s.execute(select(Alert).where(Alert.kind == "tamper").order_by(Alert.id)).scalars().all()
        return [(a.episode_key, a.state, a.closed_at is not None, list(a.evidence)) for a in rows]


def test_handling_a_tamper_alert_ends_its_episode_for_the_rule(env: Env) -> None:
    """Handled by an officer: the episode closes, its late or repeated alarms stay in it, a new alarm opens anew."""
    # The API handles at the wall clock, so the alarms are placed around it.
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    first = _alarm(env, base, base)
    second = _alarm(env, base + timedelta(minutes=1), base + timedelta(minutes=1))
    [(episode, state, closed, evidence)] = _tamper_alerts(env)
    assert (episode, state, closed, evidence) == (f"tamper:{first}", "open", False, [first, second])

    c, h = env.client, env.login("haicang.officer")
    [listed] = c.get("/api/v1/alerts", headers=h, params={"kind": "tamper"}).json()
    assert c.post(f"/api/v1/alerts/{listed['id']}/ack", headers=h).status_code == 200
    r = c.post(f"/api/v1/alerts/{listed['id']}/handle", headers=h, json={"resolution": "visited: strap replaced"})
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["active"]) == ("handled", False)
    assert r.json()["close_reason"] == "handled by haicang.officer"
    with env.central.sessions() as s:
        [audited] = s.execute(select(Audit).where(Audit.action == "alert.handle")).scalars().all()
        assert audited.detail["alarm_rule_told"] is True and audited.detail["closed"] is True

    handled_at = base + timedelta(hours=1, minutes=5)  # received after the officer's handling
    _alarm(env, base + timedelta(seconds=30), handled_at)  # an alarm of the handled episode, delivered late
    _alarm(env, base + timedelta(minutes=30), handled_at)  # a repeat from before the handling (device clock)
    assert _tamper_alerts(env) == [(f"tamper:{first}", "handled", True, [first, second])]

    again = _alarm(env, handled_at, handled_at)  # after the handling: a new episode
    assert [(e, st, cl) for e, st, cl, _ in _tamper_alerts(env)] == [
        (f"tamper:{first}", "handled", True),
        (f"tamper:{again}", "open", False),
    ]


def test_handling_a_fence_alert_leaves_the_rule_alone(env: Env) -> None:
    """Only device alarms end when handled; a fence breach closes when the subject is back inside."""
    e = _fixes(env, 2)
    key = env.central.audit_key
    with env.central.sessions.begin() as s:
        [alert_id] = apply_decisions(
            s, [OpenAlert(SUBJECT, "fence_breach", e[0], T0, "outside the allowed area", (e[0],))], audit_key=key
        ).opened
    c, h = env.client, env.login("haicang.officer")
    assert c.post(f"/api/v1/alerts/{alert_id}/ack", headers=h).status_code == 200
    r = c.post(f"/api/v1/alerts/{alert_id}/handle", headers=h, json={"resolution": "called, coming back"})
    assert (r.json()["state"], r.json()["active"], r.json()["close_reason"]) == ("handled", True, None)
