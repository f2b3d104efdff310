"""Alerts: rule decisions applied to the `alert` table, and the officer's lifecycle.

Two things happen to an alert, independently:

- the **rule** opens it, adds evidence and, when the condition ends (back inside, contact
  again), closes the episode (`closed_at`, `close_reason`). Applying a decision twice changes
  nothing: an episode (subject, kind, episode key) has one row (unique constraint), evidence
  is merged without duplicates, and a closed episode is never opened again;
- the **officer** moves it through `open → acknowledged → handled` (with a resolution) or
  `acknowledged → escalated → handled`. Anything else is refused with the reason.

Device alarms (tamper / strap cut, SOS, sensor fault, and low battery or power off if handled
before the device recovers) end when an officer handles them: handling tells the device-alarm
rule (its state row), so alarms of that episode, repeated or delivered late, do not reopen it,
and marks the alert closed. A later alarm opens a new episode.

Every lifecycle step, every opening and every closing is audited. Alerts say which rule was
broken, never where the subject is (DOMAIN.md, "Monitoring and alerts").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from central import audit
from central.db.models import Alert, Event, RuleState, Subject, User
from central.errors import Conflict, Forbidden, NotFound
from central.rules import device_alarm
from central.rules.base import CloseAlert, Decision, OpenAlert, UpdateEvidence
from central.scoping import scoped

STATES = ("open", "acknowledged", "handled", "escalated")
RULE_ACTOR = "rules"
DEVICE_ALARM_RULE = "device_alarm"  # the rule_state row of the device-alarm rule
# A long breach cites a fix every few seconds; the first ones are what confirmed it.
MAX_EVIDENCE = 1000
MAX_TEXT = 4000

# action → (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "acknowledge": (("open",), "acknowledged"),
    "escalate": (("acknowledged",), "escalated"),
    "handle": (("acknowledged", "escalated"), "handled"),
}


def next_state(alert_id: int, state: str, action: str) -> str:
    """The state `action` leads to from `state`, or Conflict saying which states it needs."""
    if action not in TRANSITIONS:
        raise ValueError(f"alert action {action!r}: expected one of {', '.join(TRANSITIONS)}")
    sources, target = TRANSITIONS[action]
    if state not in sources:
        raise Conflict(f"alert {alert_id} is {state}: {action} needs an alert that is {' or '.join(sources)}")
    return target


def merge_evidence(existing: Sequence[str], new: Iterable[str], limit: int = MAX_EVIDENCE) -> list[str]:
    """`existing` followed by the ids of `new` not seen yet, in order, at most `limit` in all."""
    merged = list(existing)
    seen = set(merged)
    for event_id in new:
        if len(merged) >= limit:
            break
        if event_id not in seen:
            seen.add(event_id)
            merged.append(event_id)
    return merged


def required_text(what: str, text: str | None) -> str:
    """`text` stripped; ValueError naming `what` when it is missing, blank or too long."""
    value = (text or "").strip()
    if not value:
        raise ValueError(f"{what}: required, say what was done (got an empty text)")
    if len(value) > MAX_TEXT:
        raise ValueError(f"{what}: at most {MAX_TEXT} characters, got {len(value)}")
    return value


@dataclass
class ApplyResult:
    """What a batch of decisions did; `skipped` says why a decision had no effect."""

    opened: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _insert_ignoring_conflict(session: Session, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING on the episode key; True when the row was new."""
    table = cast(Table, Alert.__table__)
    stmt: Any
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table).values(values).on_conflict_do_nothing(constraint="uq_alert_episode")
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table).values(values).on_conflict_do_nothing()
    # RETURNING rather than rowcount: psycopg reports a row even when the conflict skipped it.
    return session.execute(stmt.returning(table.c.id)).first() is not None


def _episode(session: Session, subject_id: str, kind: str, episode_key: str) -> Alert | None:
    q = select(Alert).where(Alert.subject_id == subject_id, Alert.kind == kind, Alert.episode_key == episode_key)
    return session.execute(q.with_for_update()).scalar_one_or_none()


def apply_decisions(
    session: Session, decisions: Iterable[Decision], *, audit_key: bytes, now: datetime | None = None
) -> ApplyResult:
    """Apply rule decisions in order inside the caller's transaction; repeating them changes nothing."""
    now = now or datetime.now(UTC)
    result = ApplyResult()
    for decision in decisions:
        if isinstance(decision, OpenAlert):
            _open(session, decision, audit_key, now, result)
        elif isinstance(decision, UpdateEvidence):
            _update(session, decision, now, result)
        else:
            _close(session, decision, audit_key, now, result)
    return result


def _open(session: Session, d: OpenAlert, audit_key: bytes, now: datetime, result: ApplyResult) -> None:
    node_path = session.execute(select(Subject.node_path).where(Subject.id == d.subject_id)).scalar_one_or_none()
    if node_path is None:
        result.skipped.append(f"open {d.kind} for subject {d.subject_id}: no such subject")
        return
    device_id = None
    if d.evidence:
        device_id = session.execute(select(Event.device_id).where(Event.event_id == d.evidence[0])).scalar()
    inserted = _insert_ignoring_conflict(
        session,
        {
            "subject_id": d.subject_id,
            "device_id": device_id,
            "node_path": node_path,
            "kind": d.kind,
            "episode_key": d.episode_key,
            "state": "open",
            "evidence": merge_evidence([], d.evidence),
            "summary": d.summary,
            "opened_at": d.at,
            "updated_at": now,
        },
    )
    alert = _episode(session, d.subject_id, d.kind, d.episode_key)
    assert alert is not None  # inserted now or by an earlier (or concurrent) application
    if inserted:
        result.opened.append(alert.id)
        audit.record(
            session,
            audit_key,
            actor=RULE_ACTOR,
            action="alert.open",
            subject_id=d.subject_id,
            node_path=node_path,
            detail={"alert_id": alert.id, "kind": d.kind, "episode_key": d.episode_key},
            now=now,
        )
    elif _merge(alert, d.evidence, now):
        result.updated.append(alert.id)


def _merge(alert: Alert, evidence: Sequence[str], now: datetime) -> bool:
    merged = merge_evidence(alert.evidence, evidence)
    if merged == alert.evidence:
        return False
    alert.evidence = merged
    alert.updated_at = now
    return True


def _update(session: Session, d: UpdateEvidence, now: datetime, result: ApplyResult) -> None:
    alert = _episode(session, d.subject_id, d.kind, d.episode_key)
    if alert is None:
        result.skipped.append(f"evidence for {d.kind} episode {d.episode_key} of {d.subject_id}: no such alert")
    elif _merge(alert, d.evidence, now):
        result.updated.append(alert.id)


def _close(session: Session, d: CloseAlert, audit_key: bytes, now: datetime, result: ApplyResult) -> None:
    alert = _episode(session, d.subject_id, d.kind, d.episode_key)
    if alert is None:
        result.skipped.append(f"close {d.kind} episode {d.episode_key} of {d.subject_id}: no such alert")
        return
    if alert.closed_at is not None:
        if _merge(alert, d.evidence, now):
            result.updated.append(alert.id)
        return
    _merge(alert, d.evidence, now)
    alert.closed_at = d.at
    alert.close_reason = d.reason
    alert.updated_at = now
    result.closed.append(alert.id)
    audit.record(
        session,
        audit_key,
        actor=RULE_ACTOR,
        action="alert.close",
        subject_id=alert.subject_id,
        node_path=alert.node_path,
        detail={"alert_id": alert.id, "kind": alert.kind, "reason": d.reason},
        now=now,
    )


def get_scoped(session: Session, viewer: User, alert_id: int, *, for_update: bool = False) -> Alert:
    """One alert of the viewer's jurisdiction; NotFound otherwise (no hint that it exists)."""
    q = scoped(select(Alert).where(Alert.id == alert_id), Alert.node_path, viewer)
    if for_update:
        q = q.with_for_update().execution_options(populate_existing=True)
    row = session.execute(q).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no alert {alert_id} in your jurisdiction")
    return row


def transition(
    session: Session,
    audit_key: bytes,
    actor: User,
    alert_id: int,
    action: str,
    text: str | None = None,
    now: datetime | None = None,
) -> Alert:
    """Acknowledge, escalate (text = reason) or handle (text = resolution) an alert; audited."""
    now = now or datetime.now(UTC)
    if actor.role not in ("admin", "officer"):
        raise Forbidden(f"this needs the role admin or officer; you are {actor.role}")
    alert = get_scoped(session, actor, alert_id)
    alarm = action == "handle" and alert.kind in device_alarm.ALARM_KINDS and alert.subject_id is not None
    alarm_state = None
    if alarm and alert.subject_id is not None:
        # Lock the rule's state before the alert: ingest locks them in that order.
        alarm_state = _alarm_state(session, alert.subject_id)
    alert = get_scoped(session, actor, alert_id, for_update=True)
    # Check the text before the state so a refused request says everything that is wrong with it at once.
    if action == "handle":
        text = required_text("resolution", text)
    elif action == "escalate":
        text = required_text("reason", text)
    before = alert.state
    alert.state = next_state(alert.id, before, action)
    alert.updated_at = now
    if action == "acknowledge":
        alert.acknowledged_at, alert.acknowledged_by = now, actor.username
    elif action == "escalate":
        alert.escalated_at, alert.escalated_by, alert.escalation_reason = now, actor.username, text
    else:
        alert.handled_at, alert.handled_by, alert.resolution = now, actor.username, text
    detail: dict[str, Any] = {"alert_id": alert.id, "kind": alert.kind, "from": before, "to": alert.state}
    if text is not None:
        detail["text"] = text
    if alarm:
        detail["alarm_rule_told"] = _tell_alarm_rule(alarm_state, alert.kind, alert.episode_key, now)
        if alert.closed_at is None:
            alert.closed_at, alert.close_reason = now, f"handled by {actor.username}"
            detail["closed"] = True
    audit.record(
        session,
        audit_key,
        actor=actor.username,
        action=f"alert.{action}",
        subject_id=alert.subject_id,
        node_path=alert.node_path,
        detail=detail,
        now=now,
    )
    return alert


def _alarm_state(session: Session, subject_id: str) -> RuleState | None:
    """The subject's device-alarm rule state row, locked."""
    q = select(RuleState).where(RuleState.subject_id == subject_id, RuleState.rule == DEVICE_ALARM_RULE)
    return session.execute(q.with_for_update()).scalar_one_or_none()


def _tell_alarm_rule(row: RuleState | None, kind: str, episode_key: str, at: datetime) -> bool:
    """Record in the rule's state that an officer handled the episode (`device_alarm.handled`); True if it was open."""
    if row is None or not row.state_json:
        return False
    state = device_alarm.DeviceAlarmState.from_json(row.state_json)
    known = next((k for k in device_alarm.ALARM_KINDS if k == kind), None)
    if known is None:
        return False
    after = device_alarm.handled(state, known, episode_key, at)
    if after == state:
        return False
    row.state_json, row.updated_at = after.to_json(), at
    return True
