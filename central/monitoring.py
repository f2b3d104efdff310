"""Monitoring: the pure rule engines wired to the database, inside the transaction that stores the events.

`evaluate_stored` is called by `central.ingest.store.store_batch` right after the batch's new
events are inserted, in the same transaction. So a crash never leaves rules half-applied (the
events, the rule states and the alerts commit together or not at all), and a redelivered event,
which store_batch filters out as a duplicate, is never evaluated twice.

Per subject (ARCHITECTURE.md: "per-subject rule state is in the database"):

- `fix` events run the fence rule (allowed area + exclusion zones + approved leaves), the
  lost-contact rule, the device-alarm rule when the subject has device-alarm state (a fix shows
  the device is on, and its battery level), and the 人机分离 rule when it is awake (below);
- accepted `checkin`, matched `sighting` and `rollcall_answer` events are contact (lost-contact
  rule) and, at a device whose place is known (`device.place_lat/lon/radius_m`, set with
  `set_device_place`), put the subject at that place for the 人机分离 rule; a face check-in on one
  of the subject's phones (a `checkin` from a device of kind `phone` linked to the subject, or a
  fix from it carrying `face_verified`) feeds that rule's "phone moving without face check-ins";
- `device_alarm` events run the device-alarm rule.

A sighting counts only when the matched subject belongs to the edge device's node or below (the
same check the event projection makes): a camera is trusted for the subjects in its gallery.

人机分离 keeps recent fixes in its state only while it can use them: while a presence at a place
is within the rule's retention, while an episode is open, or when the subject has a phone
(whose movement is measured). Otherwise its state is stored empty ("dormant") and lone fixes
skip the rule; when a presence arrives, the subject's fixes stored around it (± the rule's
window) are read back from the `fix` table and fed first. That keeps a fleet of trackers that
never meet a camera from paying for the rule.

Each subject's states are rows of `rule_state` (one per rule), locked with SELECT … FOR UPDATE
on PostgreSQL (missing rows are first inserted empty, so there is always a row to lock); SQLite
serialises write transactions already. Events of a subject are fed in device-time order.
The decisions go to `central.alerts.apply_decisions`. A subject whose stored fences do not
compile is logged and its fence rule skipped: storing the events must not fail because of it.

Compiled fences are cached in-process by content (`fence.digest`): the subjects of one county
share one compiled allowed area, and a batch reads fence ids and digests, not geometry, unless
something is not compiled yet.

`tick_page` runs the lost-contact tick (the only thing that opens `lost_contact`) for one page
of active subjects that have been heard from; the scheduler (`central.scheduler`) pages through
all of them, one transaction per page. `tick_all` does every page in the caller's transaction.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from central import audit
from central.alerts import ApplyResult, apply_decisions
from central.db.models import Device, Event, Fence, Fix, LeaveRequest, RuleState, Subject
from central.errors import NotFound
from central.ingest.bulk import any_of, insert_rows, update_rows
from central.rules import contact, device_alarm, fence, separation
from central.rules.base import Decision, FixObservation
from central.rules.contact import (
    CheckinObservation,
    ContactObservation,
    ContactParams,
    ContactState,
    Place,
    RollcallObservation,
    SightingObservation,
)
from central.rules.device_alarm import AlarmObservation, DeviceAlarmParams, DeviceAlarmState, DeviceReport
from central.rules.fence import FENCE_LEVELS, FenceParams, FenceSet, FenceState, LeaveWindow, exclusion_zone
from central.rules.geometry import Area, validate_geojson
from central.rules.separation import FACE_CHECK_PERIODS, SeparationObservation, SeparationParams, SeparationState
from central.scoping import path_within
from contracts import Checkin as CheckinMsg
from contracts import DeviceAlarm as DeviceAlarmMsg
from contracts import Fix as FixMsg
from contracts import RollcallAnswer as RollcallMsg
from contracts import Sighting as SightingMsg

log = logging.getLogger("central.monitoring")

FENCE: Final = "fence"
CONTACT: Final = "contact"
DEVICE_ALARM: Final = "device_alarm"
SEPARATION: Final = "separation"
ALARM_PARAMS: Final = DeviceAlarmParams()
SEPARATION_BASE: Final = SeparationParams()
CACHE_SIZE: Final = 4096
AREA_CACHE_SIZE: Final = 256
TICK_PAGE: Final = 500


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
    alarms: list[AlarmObservation] = field(default_factory=list)
    batteries: list[float | None] = field(default_factory=list)  # of each of `fixes`: a device report each
    together: list[SeparationObservation] = field(default_factory=list)  # for the 人机分离 rule
    wakes: bool = False  # something in the batch needs the 人机分离 rule (a presence or a phone face check)


@dataclass(frozen=True, slots=True)
class SubjectInfo:
    """What ingest and the rules need of a subject (read without the encrypted columns)."""

    id: str
    node_path: str
    level: str
    reporting_interval_h: int
    status: str


SUBJECT_INFO_COLUMNS: Final = (
    Subject.id, Subject.node_path, Subject.supervision_level, Subject.reporting_interval_h, Subject.status,
)  # fmt: skip


@dataclass(frozen=True)
class _DeviceInfo:
    node_path: str
    kind: str
    subject_id: str | None
    place: Place | None


# --- the process ---------------------------------------------------------------------------------------


def tune_gc() -> None:
    """Collect garbage less often in a process that runs the rules (ingest workers, the tracker gateway).

    Such a process keeps tens of thousands of parsed rule states (frozen dataclasses) alive in its
    cache; with the default thresholds every full collection walks all of them, and measured on the
    monitoring bench that took a quarter of the rules' time. Young collections stay frequent enough
    to bound memory; the states themselves hold no reference cycles.
    """
    gc.set_threshold(50_000, 50, 100)


# --- device places ---------------------------------------------------------------------------------------


def set_device_place(
    session: Session,
    audit_key: bytes,
    device_id: str,
    *,
    lat: float | None,
    lon: float | None,
    radius_m: float = 30.0,
    actor: str = "cli",
) -> Device:
    """Record where a fixed device stands (None, None: unknown); check-ins and sightings there place the subject."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id}")
    if (lat is None) != (lon is None):
        raise ValueError("give both lat and lon, or neither (to forget the place)")
    if lat is not None and lon is not None:
        Place(lat, lon, radius_m)  # validates, with the reason
    device.place_lat, device.place_lon = lat, lon
    device.place_radius_m = None if lat is None else radius_m
    session.flush()
    audit.record(
        session,
        audit_key,
        actor=actor,
        action="device.place",
        node_path=device.node_path,
        detail={"device_id": device_id, "lat": lat, "lon": lon, "radius_m": device.place_radius_m},
    )
    return device


def _devices(session: Session, device_ids: set[str]) -> dict[str, _DeviceInfo]:
    if not device_ids:
        return {}
    q = select(
        Device.id, Device.node_path, Device.kind, Device.subject_id, Device.place_lat, Device.place_lon,
        Device.place_radius_m,
    ).where(any_of(session, Device.id, device_ids))  # fmt: skip
    out = {}
    for did, path, kind, subject_id, lat, lon, radius in session.connection().execute(q):
        place = None
        if lat is not None and lon is not None:
            try:
                place = Place(lat, lon, radius or 0.0)
            except ValueError as exc:
                log.error("device %s: stored place is not usable: %s", did, exc)
        out[did] = _DeviceInfo(path, kind, subject_id, place)
    return out


def _phones(session: Session, subject_ids: Sequence[str]) -> dict[str, frozenset[str]]:
    """The enabled phones linked to each subject."""
    if not subject_ids:
        return {}
    q = select(Device.subject_id, Device.id).where(
        any_of(session, Device.subject_id, subject_ids), Device.kind == "phone", Device.enabled.is_(True)
    )
    found: dict[str, set[str]] = {}
    for sid, did in session.connection().execute(q):
        if sid is not None:
            found.setdefault(sid, set()).add(did)
    return {sid: frozenset(ids) for sid, ids in found.items()}


# --- compiled fences, cached in-process by content ------------------------------------------------------

_areas: OrderedDict[str, Area] = OrderedDict()
_compiled: OrderedDict[tuple[Any, ...], FenceSet | str] = OrderedDict()


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any, size: int) -> None:
    cache[key] = value
    while len(cache) > size:
        cache.popitem(last=False)


def _digest(geojson: dict[str, Any] | None) -> str:
    return hashlib.sha256(json.dumps(geojson, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class _SubjectFences:
    allowed: tuple[int, str] | None = None  # (fence id, digest)
    zones: list[tuple[int, str]] = field(default_factory=list)
    leaves: list[LeaveRequest] = field(default_factory=list)


def _fence_key(f: _SubjectFences, level: str) -> tuple[Any, ...] | None:
    if f.allowed is None:
        return None
    leaves = tuple(
        (lv.id, lv.starts_at.isoformat(), lv.ends_at.isoformat(), _digest(lv.destination_geojson))
        for lv in sorted(f.leaves, key=lambda lv: lv.id)
        if lv.destination_geojson
    )
    return (f.allowed[1], tuple(sorted(f.zones)), leaves, level)


def _load_fences(session: Session, work: dict[str, _Work]) -> dict[str, _SubjectFences]:
    """Active fence ids and digests of the subjects with fixes, and their approved leaves; no geometry."""
    if not work:
        return {}
    out = {sid: _SubjectFences() for sid in work}
    q = (
        select(Fence.id, Fence.subject_id, Fence.kind, Fence.digest)
        .where(any_of(session, Fence.subject_id, work), Fence.active.is_(True))
        .order_by(Fence.id)
    )
    rows = session.connection().execute(q).all()
    missing = [fid for fid, _s, _k, digest in rows if digest is None]
    digests: dict[int, str] = {}
    if missing:  # written around the ORM: hash what is stored
        for fid, geojson in session.execute(select(Fence.id, Fence.geojson).where(Fence.id.in_(missing))):
            digests[fid] = _digest(geojson)
    for fid, sid, kind, digest in rows:
        entry = (fid, digest or digests[fid])
        if kind == "allowed":
            if out[sid].allowed is None:
                out[sid].allowed = entry
        else:
            out[sid].zones.append(entry)
    with_area = [sid for sid, f in out.items() if f.allowed is not None]
    if with_area:
        earliest = min(min(f.device_time for f in work[sid].fixes) for sid in with_area)
        q2 = select(LeaveRequest).where(
            any_of(session, LeaveRequest.subject_id, with_area),
            LeaveRequest.status == "approved",
            LeaveRequest.ends_at > earliest,
        )
        for lv in session.execute(q2).scalars():
            out[lv.subject_id].leaves.append(lv)
    return out


def _compile_missing(session: Session, wanted: dict[tuple[Any, ...], _SubjectFences]) -> None:
    """Compile the fence sets not in the cache (reading their geometry); a set that fails is cached as its error."""
    if not wanted:
        return
    ids = {f.allowed[0] for f in wanted.values() if f.allowed is not None and f.allowed[1] not in _areas}
    ids |= {zid for f in wanted.values() for zid, _ in f.zones}
    shapes: dict[int, dict[str, Any]] = {}
    if ids:
        shapes = {
            fid: g for fid, g in session.execute(select(Fence.id, Fence.geojson).where(Fence.id.in_(sorted(ids))))
        }
    for key, f in wanted.items():
        assert f.allowed is not None
        level = FENCE_LEVELS.get(key[3], FENCE_LEVELS["normal"])
        try:
            area = _areas.get(f.allowed[1])
            if area is None:
                area = Area.compile(validate_geojson(shapes[f.allowed[0]]))
                _remember(_areas, f.allowed[1], area, AREA_CACHE_SIZE)
            else:
                _areas.move_to_end(f.allowed[1])
            compiled: FenceSet | str = FenceSet.compile(
                area,
                [exclusion_zone(f"fence {zid}", shapes[zid]) for zid, _ in sorted(f.zones)],
                [
                    LeaveWindow(f"leave {lv.id}", lv.destination_geojson or {}, lv.starts_at, lv.ends_at)
                    for lv in sorted(f.leaves, key=lambda lv: lv.id)
                    if lv.destination_geojson
                ],
                level,
            )
        except ValueError as exc:
            compiled = str(exc)
        _remember(_compiled, key, compiled, CACHE_SIZE)


def _fence_sets(session: Session, stored: dict[str, _SubjectFences], levels: dict[str, str]) -> dict[str, FenceSet]:
    """Each subject's compiled fences (subjects without an allowed area, or whose fences fail, are left out)."""
    keys: dict[str, tuple[Any, ...]] = {}
    wanted: dict[tuple[Any, ...], _SubjectFences] = {}
    for sid, f in stored.items():
        key = _fence_key(f, levels[sid])
        if key is None:
            continue
        keys[sid] = key
        if key in _compiled:
            _compiled.move_to_end(key)
        else:
            wanted.setdefault(key, f)
    _compile_missing(session, wanted)
    out: dict[str, FenceSet] = {}
    for sid, key in keys.items():
        compiled = _compiled.get(key)
        if isinstance(compiled, FenceSet):
            out[sid] = compiled
        elif compiled is not None:
            log.error("subject %s: fences do not compile, fence rule skipped: %s", sid, compiled)
    return out


# --- rule state rows ------------------------------------------------------------------------------------

# The last state this process wrote or read for each (subject, rule), with its JSON text: when the row
# still holds that text, the parsed state is reused instead of parsing it again (states are frozen
# values). The row is always read, so another worker's write is never missed.
_parsed: OrderedDict[tuple[str, str], tuple[str, Any]] = OrderedDict()
STATE_CACHE_SIZE: Final = 65536


class _States:
    """The locked rule-state rows of a batch's subjects: read as text, parsed once, written back in one go."""

    def __init__(self, texts: dict[tuple[str, str], str]) -> None:
        self.texts = texts
        self.changed: dict[tuple[str, str], str] = {}

    def has(self, subject_id: str, rule: str) -> bool:
        return (subject_id, rule) in self.texts

    def text(self, subject_id: str, rule: str) -> str:
        return self.texts.get((subject_id, rule), "")

    def read(self, subject_id: str, rule: str, parse: Any, empty: Any) -> Any:
        """The state in the row (`empty` when the row is empty), parsed unless this process knows that text."""
        key = (subject_id, rule)
        text = self.texts.get(key, "")
        if not text:
            return empty
        hit = _parsed.get(key)
        if hit is not None and hit[0] == text:
            _parsed.move_to_end(key)
            return hit[1]
        state = parse(text)
        _remember(_parsed, key, (text, state), STATE_CACHE_SIZE)
        return state

    def write(self, subject_id: str, rule: str, state: Any) -> None:
        """Store a state (None: empty the row) if it differs from what the row holds."""
        key = (subject_id, rule)
        text = "" if state is None else state.to_json()
        if state is not None:
            _remember(_parsed, key, (text, state), STATE_CACHE_SIZE)
        if text != self.texts.get(key, ""):
            self.texts[key] = text
            self.changed[key] = text

    def flush(self, session: Session, now: datetime) -> None:
        """Every changed row in one statement (`central.ingest.bulk.update_rows`)."""
        if not self.changed:
            return
        rows = [(sid, rule, text, now) for (sid, rule), text in sorted(self.changed.items())]
        update_rows(session.connection(), RuleState, ("subject_id", "rule"), ("state_json", "updated_at"), rows)
        self.changed.clear()


def _lock_states(
    session: Session, wanted: Sequence[tuple[str, str]], subject_ids: Sequence[str], now: datetime
) -> _States:
    """Lock and read every state row of the subjects; the `wanted` (subject, rule) rows missing are created first.

    Rows are locked in (subject, rule) order (SELECT … FOR UPDATE on PostgreSQL; SQLite serialises
    writers). A missing row is inserted empty (another worker may insert it at the same moment:
    ON CONFLICT DO NOTHING) and then locked and read like the others.
    """

    def locked(ids: Sequence[str]) -> dict[tuple[str, str], str]:
        q = (
            select(RuleState.subject_id, RuleState.rule, RuleState.state_json)
            .where(any_of(session, RuleState.subject_id, ids))
            .order_by(RuleState.subject_id, RuleState.rule)
            .with_for_update()
        )
        return {(sid, rule): text for sid, rule, text in session.connection().execute(q)}

    texts = locked(subject_ids)
    missing = sorted(set(wanted) - set(texts))
    if missing:
        insert_rows(
            session,
            RuleState,
            ("subject_id", "rule", "state_json", "updated_at"),
            [(sid, rule, "", now) for sid, rule in missing],
        )
        texts.update(locked([sid for sid, _ in missing]))
    return _States(texts)


# --- the batch ------------------------------------------------------------------------------------------


def _presence_devices(messages: Sequence[tuple[str, Any]]) -> set[str]:
    return {
        m.device_id
        for _, m in messages
        if getattr(m, "subject_id", None) and isinstance(m, CheckinMsg | SightingMsg | RollcallMsg)
    }


def _face_verified(m: FixMsg) -> bool | None:
    value = (m.model_extra or {}).get("face_verified")
    return value if isinstance(value, bool) else None


def _observations(
    messages: Sequence[tuple[str, Any]],
    subjects: dict[str, SubjectInfo],
    devices: dict[str, _DeviceInfo],
    phones: dict[str, frozenset[str]],
) -> dict[str, _Work]:
    work: dict[str, _Work] = {}
    for event_id, m in messages:
        sid = getattr(m, "subject_id", None)
        if not sid or sid not in subjects:
            continue
        if isinstance(m, FixMsg):  # most of the traffic: neither the device's place nor its phone link matter
            w = work.get(sid) or work.setdefault(sid, _Work())
            face = _face_verified(m)
            obs = FixObservation(
                event_id, sid, m.device_time, m.lat, m.lon, m.accuracy_m, m.source, m.device_id, face_verified=face
            )
            w.fixes.append(obs)
            w.contacts.append(obs)
            w.batteries.append(m.battery_pct)
            if m.source != "camera":
                w.together.append(obs)
            continue
        info = devices.get(m.device_id)
        place = info.place if info is not None else None
        is_phone = m.device_id in phones.get(sid, frozenset())
        if isinstance(m, CheckinMsg):
            w = work.setdefault(sid, _Work())
            accepted, face = m.result == "accepted", "face" in m.methods
            checkin = CheckinObservation(event_id, sid, m.device_time, m.device_id, accepted, face, place)
            w.contacts.append(checkin)
            if (place is not None and accepted) or (is_phone and face):
                w.together.append(checkin)
                w.wakes = True
        elif isinstance(m, SightingMsg):
            if info is None or not path_within(subjects[sid].node_path, info.node_path):
                continue  # a camera vouches only for the subjects of its node (its gallery)
            w = work.setdefault(sid, _Work())
            sighting = SightingObservation(event_id, sid, m.last_seen, m.device_id, m.camera_id, place)
            w.contacts.append(sighting)
            if place is not None:
                w.together.append(sighting)
                w.wakes = True
        elif isinstance(m, RollcallMsg):
            w = work.setdefault(sid, _Work())
            answer = RollcallObservation(event_id, sid, m.answered_at, m.device_id, m.rollcall_id, place)
            w.contacts.append(answer)
            if place is not None:
                w.together.append(answer)
                w.wakes = True
        elif isinstance(m, DeviceAlarmMsg):
            work.setdefault(sid, _Work()).alarms.append(
                AlarmObservation(event_id, sid, m.device_time, m.device_id, m.kind)
            )
    return work


def read_subjects(session: Session, subject_ids: Collection[str]) -> dict[str, SubjectInfo]:
    """The subjects of these ids that exist, by id (one statement)."""
    if not subject_ids:
        return {}
    q = select(*SUBJECT_INFO_COLUMNS).where(any_of(session, Subject.id, subject_ids))
    return {row[0]: SubjectInfo(*row) for row in session.connection().execute(q)}


def evaluate_stored(
    session: Session,
    messages: Sequence[tuple[str, Any]],
    *,
    now: datetime,
    audit_key: bytes,
    subject_rows: Mapping[str, SubjectInfo] | None = None,
) -> MonitorResult:
    """Run the rules on newly stored events (event id, decoded message) and apply their decisions.

    Call inside the transaction that inserted the events, with only the events that were new.
    `subject_rows`: the batch's subjects as the caller read them in this transaction (any status), so
    they are not read twice; read here when not given.
    """
    result = MonitorResult()
    candidates = {m.subject_id for _, m in messages if getattr(m, "subject_id", None)}
    if not candidates:
        return result
    session.flush()  # what follows reads through the connection, which does not flush the session
    if subject_rows is None:
        subject_rows = read_subjects(session, candidates)
    subjects = {sid: row for sid in candidates if (row := subject_rows.get(sid)) is not None and row.status == "active"}
    if not subjects:
        return result
    devices = _devices(session, _presence_devices(messages))
    phones = _phones(session, sorted(subjects))
    work = _observations(messages, subjects, devices, phones)
    if not work:
        return result
    wanted: list[tuple[str, str]] = []
    for sid, w in work.items():
        if w.fixes:
            wanted.append((sid, FENCE))
        if w.contacts:
            wanted.append((sid, CONTACT))
        if w.alarms:
            wanted.append((sid, DEVICE_ALARM))
        if w.wakes or (w.together and sid in phones):
            wanted.append((sid, SEPARATION))
    states = _lock_states(session, wanted, list(work), now)
    with_fixes = {sid: w for sid, w in work.items() if w.fixes and states.has(sid, FENCE)}
    fence_sets = _fence_sets(
        session, _load_fences(session, with_fixes), {sid: subjects[sid].level for sid in with_fixes}
    )

    decisions: list[Decision] = []
    for sid in sorted(work):
        w, subject = work[sid], subjects[sid]
        result.subjects += 1
        if w.fixes and sid in fence_sets and states.has(sid, FENCE):
            decisions += _run_fence(states, subject, w.fixes, fence_sets[sid], now)
        if w.contacts and states.has(sid, CONTACT):
            params = ContactParams(timedelta(hours=subject.reporting_interval_h))
            c_stored = c_state = states.read(sid, CONTACT, ContactState.from_json, ContactState(sid))
            c_decided = False
            for obs in sorted(w.contacts, key=lambda o: (o.device_time, o.event_id)):
                c_state, out = contact.evaluate(c_state, obs, now, params)
                decisions += out
                c_decided |= bool(out)
            if c_decided or not _fix_contact_can_wait(c_stored, c_state, w.contacts, params):
                states.write(sid, CONTACT, c_state)
        if (w.alarms or w.fixes) and states.has(sid, DEVICE_ALARM):
            a_state = states.read(sid, DEVICE_ALARM, DeviceAlarmState.from_json, DeviceAlarmState(sid))
            reports = [
                DeviceReport(f.event_id, sid, f.device_time, f.device_id, battery)
                for f, battery in zip(w.fixes, w.batteries, strict=True)
            ]  # made only for subjects the device-alarm rule follows
            alarms: list[AlarmObservation | DeviceReport] = [*w.alarms, *reports]
            for a in sorted(alarms, key=lambda o: (o.device_time, o.event_id)):
                a_state, out = device_alarm.evaluate(a_state, a, now, ALARM_PARAMS)
                decisions += out
            states.write(sid, DEVICE_ALARM, a_state)
        awake = w.wakes or states.text(sid, SEPARATION) or sid in phones
        if w.together and states.has(sid, SEPARATION) and awake:
            decisions += _run_separation(session, states, subject, w, phones.get(sid, frozenset()), now)
    states.flush(session, now)
    result.decisions = len(decisions)
    if decisions:
        result.applied = apply_decisions(session, decisions, audit_key=audit_key, now=now)
    return result


CONTACT_LAG: Final = 8
"""Fixes move the stored last contact once it is 1/8 of the reporting interval old (_fix_contact_can_wait)."""


def _fix_contact_can_wait(
    stored: ContactState, new: ContactState, contacts: list[ContactObservation], params: ContactParams
) -> bool:
    """Whether writing the contact state can be skipped: only fixes, no episode change, the stored contact recent.

    Fixes are most of the traffic and each would rewrite the row. The stored last contact may
    therefore lag the newest fix by less than interval / CONTACT_LAG; the tick catches up from the
    `event` table before it opens anything (`_catch_up`), so the lag never raises an alert. Check-ins,
    sightings and roll-call answers are always written.
    """
    if stored.last_contact_at is None or new.last_contact_at is None or new.episode_key != stored.episode_key:
        return False
    if not all(isinstance(o, FixObservation) for o in contacts):
        return False
    return new.last_contact_at - stored.last_contact_at < params.reporting_interval / CONTACT_LAG


def _run_fence(
    states: _States, subject: SubjectInfo, fixes: list[FixObservation], fences: FenceSet, now: datetime
) -> list[Decision]:
    level = FENCE_LEVELS.get(subject.level, FENCE_LEVELS["normal"])  # type: ignore[call-overload]
    state = states.read(subject.id, FENCE, FenceState.from_json, FenceState(subject.id))
    state, decisions = fence.evaluate_batch(state, fixes, now, FenceParams(fences, level))
    states.write(subject.id, FENCE, state)
    return decisions


def separation_params(level: str, phones: frozenset[str]) -> SeparationParams:
    """The 人机分离 rule's settings for a subject of this supervision level with these phones."""
    period = FACE_CHECK_PERIODS.get(level, FACE_CHECK_PERIODS["normal"]) if phones else None
    return replace(SEPARATION_BASE, phone_device_ids=phones, face_check_period=period)


def _stored_fixes_around(
    session: Session, subject_id: str, moments: list[datetime], window: timedelta, skip: set[str]
) -> list[FixObservation]:
    """The subject's stored device fixes within `window` of any of `moments` (partners for late presences)."""
    if not moments:
        return []
    q = (
        select(Fix.event_id, Fix.device_time, Fix.lat, Fix.lon, Fix.accuracy_m, Fix.source, Event.device_id)
        .join(Event, Event.event_id == Fix.event_id)
        .where(
            Fix.subject_id == subject_id,
            Fix.device_time >= min(moments) - window,
            Fix.device_time <= max(moments) + window,
            Fix.source != "camera",
        )
        .order_by(Fix.device_time.desc())
        .limit(separation.MAX_FIXES)
    )
    out = []
    for event_id, at, lat, lon, accuracy, source, device_id in session.execute(q):
        if event_id not in skip and any(abs(at - m) <= window for m in moments):
            out.append(FixObservation(event_id, subject_id, at, lat, lon, accuracy, source, device_id))
    return out


def _run_separation(
    session: Session, states: _States, subject: SubjectInfo, w: _Work, phones: frozenset[str], now: datetime
) -> list[Decision]:
    params = separation_params(subject.level, phones)
    state = states.read(subject.id, SEPARATION, SeparationState.from_json, SeparationState(subject.id))
    presences = [o.device_time for o in w.together if not isinstance(o, FixObservation) and o.place is not None]
    known = {o.event_id for o in w.together} | set(state.recent_ids) | {f.event_id for f in state.fixes}
    events: list[SeparationObservation] = [
        *_stored_fixes_around(session, subject.id, presences, params.window, known),
        *w.together,
    ]
    decisions: list[Decision] = []
    for obs in sorted(events, key=lambda o: (o.device_time, o.event_id)):
        state, out = separation.evaluate(state, obs, now, params)
        decisions += out
    dormant = not state.presences and state.episode_key is None and not phones
    states.write(subject.id, SEPARATION, None if dormant else state)
    return decisions


# --- lost contact tick ----------------------------------------------------------------------------------


def tick_page(
    session: Session, *, now: datetime, audit_key: bytes, after: str | None = None, limit: int = TICK_PAGE
) -> tuple[MonitorResult, str | None]:
    """The lost-contact tick for up to `limit` subjects after `after` (by id); the last id done, None at the end.

    Rows another transaction holds (an ingest worker, a second monitor) are skipped on PostgreSQL
    rather than waited for: they are ticked again in the next round. A state is written back only
    when the tick decided something.
    """
    result = MonitorResult()
    q = (
        select(RuleState, Subject.reporting_interval_h)
        .join(Subject, Subject.id == RuleState.subject_id)
        .where(RuleState.rule == CONTACT, RuleState.state_json != "", Subject.status == "active")
        .order_by(RuleState.subject_id)
        .limit(limit)
        .with_for_update(of=RuleState, skip_locked=True)
    )
    if after is not None:
        q = q.where(RuleState.subject_id > after)
    decisions: list[Decision] = []
    last = None
    for row, hours in session.execute(q).all():
        result.subjects += 1
        last = row.subject_id
        params = ContactParams(timedelta(hours=hours))
        stored = ContactState.from_json(row.state_json)
        state, out = contact.tick(stored, now, params)
        if out:
            # The stored last contact may lag the newest fix (_fix_contact_can_wait): catch up first.
            caught_up = _catch_up(session, stored, now, params)
            if caught_up is not stored:
                state, out = contact.tick(caught_up, now, params)
                row.state_json, row.updated_at = state.to_json(), now
        if out:
            row.state_json, row.updated_at = state.to_json(), now
            decisions += out
    result.decisions = len(decisions)
    if decisions:
        result.applied = apply_decisions(session, decisions, audit_key=audit_key, now=now)
    return result, (last if result.subjects == limit else None)


def _catch_up(session: Session, state: ContactState, now: datetime, params: ContactParams) -> ContactState:
    """The contact state with the subject's newest stored fix taken in, if it is newer than the stored contact."""
    if state.last_contact_at is None:
        return state
    q = (
        select(Event.event_id, Event.device_time, Event.received_at, Event.device_id)
        .where(Event.subject_id == state.subject_id, Event.type == "fix", Event.device_time > state.last_contact_at)
        .order_by(Event.device_time.desc())
        .limit(1)
    )
    newest = session.execute(q).first()
    if newest is None:
        return state
    event_id, device_time, received_at, device_id = newest
    # Only the time matters to the contact rule; the position is not read.
    seen = FixObservation(event_id, state.subject_id, min(device_time, received_at), 0.0, 0.0, 0.0, "gnss", device_id)
    caught_up, _ = contact.evaluate(state, seen, min(received_at, now), params)
    return caught_up


def tick_all(session: Session, *, now: datetime, audit_key: bytes) -> MonitorResult:
    """Run the lost-contact tick for every active subject heard from at least once, in the caller's transaction."""
    total = MonitorResult()
    after: str | None = None
    while True:
        page, after = tick_page(session, now=now, audit_key=audit_key, after=after)
        total.subjects += page.subjects
        total.decisions += page.decisions
        total.applied.opened += page.applied.opened
        total.applied.updated += page.applied.updated
        total.applied.closed += page.applied.closed
        total.applied.skipped += page.applied.skipped
        if after is None:
            return total
