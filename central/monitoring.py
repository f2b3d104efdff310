"""Monitoring: the pure rule engines wired to the database, inside the transaction that stores the events.

`evaluate_stored` is called by `central.ingest.store.store_batch` right after the batch's new
events are inserted, in the same transaction. So a crash never leaves rules half-applied (the
events, the rule states and the alerts commit together or not at all), and a redelivered event,
which store_batch filters out as a duplicate, is never evaluated twice.

Per subject (ARCHITECTURE.md: "per-subject rule state is in the database"):

- `fix` events run the fence rule (allowed area + exclusion zones + approved leaves), the
  lost-contact rule, and, when the subject has device-alarm state, the device-alarm rule (a fix
  shows the device is on, and its battery level);
- accepted `checkin` events run the lost-contact rule;
- `device_alarm` events run the device-alarm rule.

Each subject's states are rows of `rule_state` (one per rule), locked with SELECT … FOR UPDATE
on PostgreSQL (missing rows are first inserted empty, so there is always a row to lock); SQLite
serialises write transactions already. Events of a subject are fed in device-time order.
The decisions go to `central.alerts.apply_decisions`. A subject whose stored fences do not
compile is logged and its fence rule skipped: storing the events must not fail because of it.

`tick_all` runs the lost-contact tick (the only thing that opens `lost_contact`) for every
active subject that has been heard from; `corr-central tick` calls it once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.alerts import ApplyResult, apply_decisions
from central.db.models import Fence, LeaveRequest, RuleState, Subject
from central.rules import contact, device_alarm, fence
from central.rules.base import Decision, FixObservation
from central.rules.contact import CheckinObservation, ContactObservation, ContactParams, ContactState
from central.rules.device_alarm import AlarmObservation, DeviceAlarmParams, DeviceAlarmState, DeviceReport
from central.rules.fence import FENCE_LEVELS, FenceParams, FenceSet, FenceState, LeaveWindow, exclusion_zone
from contracts import Checkin as CheckinMsg
from contracts import DeviceAlarm as DeviceAlarmMsg
from contracts import Fix as FixMsg

log = logging.getLogger("central.monitoring")

FENCE: Final = "fence"
CONTACT: Final = "contact"
DEVICE_ALARM: Final = "device_alarm"
ALARM_PARAMS: Final = DeviceAlarmParams()
CACHE_SIZE: Final = 4096


@dataclass
class MonitorResult:
    """What the rules did for a batch: subjects evaluated, decisions taken, and how they were applied."""

    subjects: int = 0
    decisions: int = 0
    applied: ApplyResult = field(default_factory=ApplyResult)


@dataclass
class _Work:
    fixes: list[FixObservation] = field(default_factory=list)
    contacts: list[ContactObservation] = field(default_factory=list)
    alarms: list[AlarmObservation | DeviceReport] = field(default_factory=list)


# --- compiled fences, cached in-process by content ------------------------------------------------------

_compiled: OrderedDict[str, FenceSet] = OrderedDict()


def _fence_set(fences: Sequence[Fence], leaves: Sequence[LeaveRequest], level: fence.FenceLevel) -> FenceSet | None:
    """The subject's compiled fences, or None when it has no active allowed area; ValueError when they don't compile.

    Cached by a hash of what goes in (geometry, leave windows, level): fences are edited in place,
    so ids alone would not do.
    """
    allowed = [f for f in fences if f.kind == "allowed"]
    if not allowed:
        return None
    zones = sorted((f for f in fences if f.kind == "exclusion"), key=lambda f: f.id)
    windows = sorted(leaves, key=lambda lv: lv.id)
    material = json.dumps(
        [
            allowed[0].geojson,
            [[z.id, z.geojson] for z in zones],
            [[lv.id, lv.destination_geojson, lv.starts_at.isoformat(), lv.ends_at.isoformat()] for lv in windows],
            repr(level),
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    key = hashlib.sha256(material.encode()).hexdigest()
    found = _compiled.get(key)
    if found is not None:
        _compiled.move_to_end(key)
        return found
    compiled = FenceSet.compile(
        allowed[0].geojson,
        [exclusion_zone(f"fence {z.id}", z.geojson) for z in zones],
        [
            LeaveWindow(f"leave {lv.id}", lv.destination_geojson or {}, lv.starts_at, lv.ends_at)
            for lv in windows
            if lv.destination_geojson
        ],
        level,
    )
    _compiled[key] = compiled
    while len(_compiled) > CACHE_SIZE:
        _compiled.popitem(last=False)
    return compiled


# --- rule state rows ------------------------------------------------------------------------------------


def _lock_states(
    session: Session, wanted: Sequence[tuple[str, str]], subject_ids: Sequence[str], now: datetime
) -> dict[tuple[str, str], RuleState]:
    """Make sure the `wanted` (subject, rule) rows exist, then lock and return every state row of the subjects."""
    from central.ingest.store import insert_ignoring_duplicates  # store imports this module

    insert_ignoring_duplicates(
        session,
        RuleState,
        [{"subject_id": s, "rule": r, "state_json": "", "updated_at": now} for s, r in sorted(set(wanted))],
    )
    q = (
        select(RuleState)
        .where(RuleState.subject_id.in_(sorted(set(subject_ids))))
        .order_by(RuleState.subject_id, RuleState.rule)
        .with_for_update()
    )
    return {(row.subject_id, row.rule): row for row in session.execute(q).scalars()}


def _save(row: RuleState, text: str, now: datetime) -> None:
    if row.state_json != text:
        row.state_json = text
        row.updated_at = now


# --- the batch ------------------------------------------------------------------------------------------


def _observations(messages: Sequence[tuple[str, Any]]) -> dict[str, _Work]:
    work: dict[str, _Work] = {}
    for event_id, m in messages:
        subject_id = getattr(m, "subject_id", None)
        if not subject_id:
            continue
        if isinstance(m, FixMsg):
            w = work.setdefault(subject_id, _Work())
            obs = FixObservation(event_id, subject_id, m.device_time, m.lat, m.lon, m.accuracy_m, m.source, m.device_id)
            w.fixes.append(obs)
            w.contacts.append(obs)
            w.alarms.append(DeviceReport(event_id, subject_id, m.device_time, m.device_id, m.battery_pct))
        elif isinstance(m, CheckinMsg):
            work.setdefault(subject_id, _Work()).contacts.append(
                CheckinObservation(
                    event_id,
                    subject_id,
                    m.device_time,
                    m.device_id,
                    accepted=m.result == "accepted",
                    face="face" in m.methods,
                )
            )
        elif isinstance(m, DeviceAlarmMsg):
            work.setdefault(subject_id, _Work()).alarms.append(
                AlarmObservation(event_id, subject_id, m.device_time, m.device_id, m.kind)
            )
    return work


def evaluate_stored(
    session: Session, messages: Sequence[tuple[str, Any]], *, now: datetime, audit_key: bytes
) -> MonitorResult:
    """Run the rules on newly stored events (event id, decoded message) and apply their decisions.

    Call inside the transaction that inserted the events, with only the events that were new.
    """
    result = MonitorResult()
    work = _observations(messages)
    if not work:
        return result
    subjects = {
        s.id: s
        for s in session.execute(
            select(Subject).where(Subject.id.in_(sorted(work)), Subject.status == "active")
        ).scalars()
    }
    work = {sid: w for sid, w in work.items() if sid in subjects}
    if not work:
        return result
    wanted: list[tuple[str, str]] = []
    for sid, w in work.items():
        if w.fixes:
            wanted.append((sid, FENCE))
        if w.contacts:
            wanted.append((sid, CONTACT))
        if any(isinstance(a, AlarmObservation) for a in w.alarms):
            wanted.append((sid, DEVICE_ALARM))
    states = _lock_states(session, wanted, list(work), now)
    fences_of = _load_fences(session, {sid: w for sid, w in work.items() if w.fixes})

    decisions: list[Decision] = []
    for sid in sorted(work):
        w, subject = work[sid], subjects[sid]
        result.subjects += 1
        row = states.get((sid, FENCE))
        if row is not None and w.fixes:
            decisions += _run_fence(row, sid, subject, w.fixes, fences_of.get(sid, ([], [])), now)
        row = states.get((sid, CONTACT))
        if row is not None and w.contacts:
            params = ContactParams(timedelta(hours=subject.reporting_interval_h))
            c_state = ContactState.from_json(row.state_json) if row.state_json else ContactState(sid)
            for obs in sorted(w.contacts, key=lambda o: (o.device_time, o.event_id)):
                c_state, out = contact.evaluate(c_state, obs, now, params)
                decisions += out
            _save(row, c_state.to_json(), now)
        row = states.get((sid, DEVICE_ALARM))
        if row is not None and w.alarms:
            a_state = DeviceAlarmState.from_json(row.state_json) if row.state_json else DeviceAlarmState(sid)
            for a in sorted(w.alarms, key=lambda o: (o.device_time, o.event_id)):
                a_state, out = device_alarm.evaluate(a_state, a, now, ALARM_PARAMS)
                decisions += out
            _save(row, a_state.to_json(), now)
    result.decisions = len(decisions)
    if decisions:
        result.applied = apply_decisions(session, decisions, audit_key=audit_key, now=now)
    return result


def _load_fences(session: Session, work: dict[str, _Work]) -> dict[str, tuple[list[Fence], list[LeaveRequest]]]:
    if not work:
        return {}
    out: dict[str, tuple[list[Fence], list[LeaveRequest]]] = {sid: ([], []) for sid in work}
    q = select(Fence).where(Fence.subject_id.in_(sorted(work)), Fence.active.is_(True))
    for f in session.execute(q).scalars():
        out[f.subject_id][0].append(f)
    earliest = min(min(f.device_time for f in w.fixes) for w in work.values())
    q2 = select(LeaveRequest).where(
        LeaveRequest.subject_id.in_(sorted(work)),
        LeaveRequest.status == "approved",
        LeaveRequest.ends_at > earliest,
    )
    for lv in session.execute(q2).scalars():
        out[lv.subject_id][1].append(lv)
    return out


def _run_fence(
    row: RuleState,
    subject_id: str,
    subject: Subject,
    fixes: list[FixObservation],
    stored: tuple[list[Fence], list[LeaveRequest]],
    now: datetime,
) -> list[Decision]:
    level = FENCE_LEVELS.get(subject.supervision_level, FENCE_LEVELS["normal"])  # type: ignore[call-overload]
    try:
        fences = _fence_set(stored[0], stored[1], level)
    except ValueError as exc:
        log.error("subject %s: fences do not compile, fence rule skipped: %s", subject_id, exc)
        return []
    if fences is None:
        return []
    state = FenceState.from_json(row.state_json) if row.state_json else FenceState(subject_id)
    state, decisions = fence.evaluate_batch(state, fixes, now, FenceParams(fences, level))
    _save(row, state.to_json(), now)
    return decisions


# --- lost contact tick ----------------------------------------------------------------------------------


def tick_all(session: Session, *, now: datetime, audit_key: bytes) -> MonitorResult:
    """Run the lost-contact tick for every active subject heard from at least once; apply the decisions."""
    result = MonitorResult()
    q = (
        select(RuleState, Subject.reporting_interval_h)
        .join(Subject, Subject.id == RuleState.subject_id)
        .where(RuleState.rule == CONTACT, RuleState.state_json != "", Subject.status == "active")
        .order_by(RuleState.subject_id)
        .with_for_update(of=RuleState)
    )
    decisions: list[Decision] = []
    for row, hours in session.execute(q).all():
        result.subjects += 1
        state, out = contact.tick(ContactState.from_json(row.state_json), now, ContactParams(timedelta(hours=hours)))
        _save(row, state.to_json(), now)
        decisions += out
    result.decisions = len(decisions)
    if decisions:
        result.applied = apply_decisions(session, decisions, audit_key=audit_key, now=now)
    return result
