"""Rule decisions applied to the alert table: once per episode, evidence merged, closed episodes stay closed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from central.alerts import RULE_ACTOR, apply_decisions
from central.db.models import Alert, Audit
from central.ingest.store import Incoming, store_batch
from central.rules.base import CloseAlert, OpenAlert, UpdateEvidence
from contracts import Fix, encode, topic_for
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
            store_batch(s, [Incoming(topic_for(m), encode(m)) for m in messages], now=T0 + timedelta(hours=1)).dead
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
