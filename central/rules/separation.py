"""Phone or wristband left behind (人机分离): sources that should agree on where the subject is do not.

Two kinds of evidence that a device D is *apart* from the subject:
- at a place: the subject is vouched for at a known place (a camera sighting, an accepted kiosk
  check-in or a roll-call answer there) while a fix of D within `window` of that moment is farther
  than `max_distance_m` + the fix's accuracy + the place's radius;
- moving unverified (only for the subject's phones, `phone_device_ids`, when
  `face_check_period` is set): the phone has moved more than `move_distance_m` (+ both fixes'
  accuracy) since the first fix after its latest accepted face check-in, and that check-in (or,
  without one, that first fix) is at least `face_check_period` old. Failed face check-ins on the
  phone in that time are cited as well. A face check-in on a phone is a `checkin` from it with
  `face` among its methods, or a fix from it that says how the app's face check went
  (`face_verified` true or false): such a fix counts both as a fix and as a check-in.

Evidence that D is *with* the subject: a fix of D within `window` of a place presence whose whole
accuracy circle lies within `max_distance_m` + the place's radius, or an accepted face check-in on
D. Between the two thresholds a pair proves nothing either way.

Per device the latest evidence by device time wins (ties go to "with", so contradictory fixes
never raise an alert); an accepted face check-in less than `face_check_period` before
moving-unverified evidence also withdraws it, because that evidence assumed no check-in then. One
`separation` episode per subject is open while any device is apart; it closes when every device
is with the subject again, that is when sources agree again.

Order guarantee. An event's time is its device time but never later than `now` (its receipt), and
because each device keeps only the latest evidence of each sort, the verdict after a set of events
does not depend on their arrival order: a late pair older than newer opposite evidence neither
opens nor closes. (Moving-unverified evidence is the exception in part: it is measured from the
earliest fix known when a fix arrives, so a late fix can only add to it, not take it back.)
Pairs need both events in memory: fixes and presences are kept for `retention`
behind the newest event time (and at most `MAX_FIXES` / `MAX_PRESENCES` of them); an event older
than that is too late to pair and decides nothing. A fix whose source is `camera` is not a device
fix (the camera pipeline reports those as sightings) and is ignored. The per-device records are
bounded by the subject's devices; nothing here forgets a device that is no longer used.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

from central.rules.base import CloseAlert, Decision, FixObservation, OpenAlert, UpdateEvidence
from central.rules.contact import CheckinObservation, Place, RollcallObservation, SightingObservation
from central.rules.state_json import StateReader

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean Earth radius
MAX_FIXES = 64
MAX_PRESENCES = 16
MAX_FAILED_CITED = 3
RECENT_IDS = 64

SeparationObservation = FixObservation | CheckinObservation | SightingObservation | RollcallObservation

FACE_CHECK_PERIODS: Final[Mapping[str, timedelta]] = {
    "strict": timedelta(hours=12),
    "normal": timedelta(hours=24),
    "lenient": timedelta(hours=72),
}
"""Per supervision level (严管 / 普管 / 宽管): how long a subject's phone may move without an accepted face check-in."""


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS-84 points on a spherical Earth."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class SeparationParams:
    """Thresholds of the rule (per supervision level) and the subject's phones."""

    window: timedelta = timedelta(minutes=2)  # a presence and a fix farther apart in time are not compared
    max_distance_m: float = 500.0
    retention: timedelta = timedelta(minutes=15)  # how late a partner event may still arrive
    phone_device_ids: frozenset[str] = field(default_factory=frozenset)
    face_check_period: timedelta | None = None  # None: the subject has no face check-ins on a phone
    move_distance_m: float = 300.0

    def __post_init__(self) -> None:
        if self.window < timedelta(0):
            raise ValueError(f"window must be >= 0, got {self.window}")
        if self.retention < self.window:
            raise ValueError(f"retention must be at least window ({self.window}), got {self.retention}")
        if not self.max_distance_m >= 0:
            raise ValueError(f"max_distance_m must be >= 0, got {self.max_distance_m}")
        if not self.move_distance_m >= 0:
            raise ValueError(f"move_distance_m must be >= 0, got {self.move_distance_m}")
        if self.face_check_period is not None and self.face_check_period <= timedelta(0):
            raise ValueError(f"face_check_period must be positive or None, got {self.face_check_period}")


@dataclass(frozen=True, slots=True)
class Evidence:
    """A verdict's device time and the event ids that support it."""

    at: datetime
    event_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeviceFix:
    """A device fix kept for pairing with presences and for the phone's movement."""

    event_id: str
    device_id: str
    at: datetime
    lat: float
    lon: float
    accuracy_m: float


@dataclass(frozen=True, slots=True)
class Presence:
    """The subject vouched for at a known place at a moment."""

    event_id: str
    at: datetime
    place: Place


@dataclass(frozen=True, slots=True)
class DeviceVerdict:
    """The latest evidence about one device: apart (at a place, moving unverified) and with the subject."""

    device_id: str
    apart_at_place: Evidence | None = None
    apart_moving: Evidence | None = None
    together: Evidence | None = None
    face_ok: Evidence | None = None  # the latest accepted face check-in on this phone
    anchor: DeviceFix | None = None  # the first fix after face_ok
    face_failed: tuple[str, ...] = ()  # failed face check-ins after face_ok, the latest few

    def outweighs(self, evidence: Evidence | None) -> bool:
        """Whether this apart evidence is newer than the latest evidence that the device is with the subject."""
        return evidence is not None and (self.together is None or evidence.at > self.together.at)

    def apart(self) -> bool:
        """Whether the newest evidence says the device is not with the subject."""
        return self.outweighs(self.apart_at_place) or self.outweighs(self.apart_moving)


@dataclass(frozen=True, slots=True)
class SeparationState:
    """What the rule remembers of one subject: recent fixes and presences, verdicts, the open episode."""

    subject_id: str
    fixes: tuple[DeviceFix, ...] = ()
    presences: tuple[Presence, ...] = ()
    devices: tuple[DeviceVerdict, ...] = ()  # sorted by device_id
    newest_at: datetime | None = None  # the newest event time seen
    episode_key: str | None = None
    recent_ids: tuple[str, ...] = ()

    def to_json(self) -> str:
        """The state as compact JSON, for the subject's row."""
        return json.dumps(
            {
                "subject_id": self.subject_id,
                "fixes": [_fix_json(item) for item in self.fixes],
                "presences": [
                    {
                        "event_id": p.event_id,
                        "at": p.at.isoformat(),
                        "place": [p.place.lat, p.place.lon, p.place.radius_m],
                    }
                    for p in self.presences
                ],
                "devices": [
                    {
                        "device_id": d.device_id,
                        "apart_at_place": _evidence_json(d.apart_at_place),
                        "apart_moving": _evidence_json(d.apart_moving),
                        "together": _evidence_json(d.together),
                        "face_ok": _evidence_json(d.face_ok),
                        "anchor": None if d.anchor is None else _fix_json(d.anchor),
                        "face_failed": list(d.face_failed),
                    }
                    for d in self.devices
                ],
                "newest_at": None if self.newest_at is None else self.newest_at.isoformat(),
                "episode_key": self.episode_key,
                "recent_ids": list(self.recent_ids),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> SeparationState:
        """The state `to_json` wrote; a malformed text raises ValueError naming the field."""
        data = _object(json.loads(text), "state")
        fixes = tuple(_fix(item) for item in _list(data.get("fixes"), "fixes"))
        presences = []
        for item in _list(data.get("presences"), "presences"):
            p = _object(item, "presences[]")
            place = _list(p.get("place"), "presences[].place")
            if len(place) != 3:
                raise ValueError(f"separation state: presences[].place must be [lat, lon, radius_m], got {place!r}")
            lat, lon, radius = (_number(value, "presences[].place") for value in place)
            presences.append(
                Presence(
                    _text(p.get("event_id"), "presences[].event_id"),
                    _time(p.get("at"), "presences[].at"),
                    Place(lat, lon, radius),
                )
            )
        devices = []
        for item in _list(data.get("devices"), "devices"):
            d = _object(item, "devices[]")
            anchor = d.get("anchor")
            devices.append(
                DeviceVerdict(
                    device_id=_str(d.get("device_id"), "devices[].device_id"),
                    apart_at_place=_evidence(d.get("apart_at_place"), "devices[].apart_at_place"),
                    apart_moving=_evidence(d.get("apart_moving"), "devices[].apart_moving"),
                    together=_evidence(d.get("together"), "devices[].together"),
                    face_ok=_evidence(d.get("face_ok"), "devices[].face_ok"),
                    anchor=None if anchor is None else _fix(anchor),
                    face_failed=tuple(
                        _text(x, "devices[].face_failed") for x in _list(d.get("face_failed"), "devices[].face_failed")
                    ),
                )
            )
        newest = data.get("newest_at")
        episode = data.get("episode_key")
        return cls(
            subject_id=_text(data.get("subject_id"), "subject_id"),
            fixes=fixes,
            presences=tuple(presences),
            devices=tuple(devices),
            newest_at=None if newest is None else _time(newest, "newest_at"),
            episode_key=None if episode is None else _text(episode, "episode_key"),
            recent_ids=tuple(_text(x, "recent_ids") for x in _list(data.get("recent_ids"), "recent_ids")),
        )


def _newer(current: Evidence | None, candidate: Evidence) -> Evidence:
    # Equal times keep the first: a redelivered or re-paired event must not count as new evidence.
    return candidate if current is None or candidate.at > current.at else current


def _presence_of(observation: SeparationObservation) -> Place | None:
    if isinstance(observation, FixObservation) or observation.place is None:
        return None
    if isinstance(observation, CheckinObservation) and not observation.accepted:
        return None
    return observation.place


def _pair(params: SeparationParams, presence: Presence, fix: DeviceFix) -> tuple[str, Evidence] | None:
    """Compare one presence with one device fix: ("apart" | "together", evidence), or None if inconclusive."""
    if abs(presence.at - fix.at) > params.window:
        return None
    distance = haversine_m(presence.place.lat, presence.place.lon, fix.lat, fix.lon)
    evidence = Evidence(max(presence.at, fix.at), (presence.event_id, fix.event_id))
    if distance > params.max_distance_m + fix.accuracy_m + presence.place.radius_m:
        return "apart", evidence
    if distance + fix.accuracy_m <= params.max_distance_m + presence.place.radius_m:
        return "together", evidence
    return None


def _moved(params: SeparationParams, anchor: DeviceFix, fix: DeviceFix) -> bool:
    distance = haversine_m(anchor.lat, anchor.lon, fix.lat, fix.lon)
    return distance > params.move_distance_m + anchor.accuracy_m + fix.accuracy_m


class _Devices:
    """The per-device verdicts being changed by one event (a mutable working copy)."""

    def __init__(self, devices: tuple[DeviceVerdict, ...]) -> None:
        self.by_id = {d.device_id: d for d in devices}

    def get(self, device_id: str) -> DeviceVerdict:
        return self.by_id.get(device_id) or DeviceVerdict(device_id)

    def put(self, verdict: DeviceVerdict) -> None:
        self.by_id[verdict.device_id] = verdict

    def frozen(self) -> tuple[DeviceVerdict, ...]:
        return tuple(self.by_id[key] for key in sorted(self.by_id))


def _judge(devices: _Devices, verdict: str, evidence: Evidence, device_id: str) -> None:
    current = devices.get(device_id)
    if verdict == "apart":
        devices.put(replace(current, apart_at_place=_newer(current.apart_at_place, evidence)))
    else:
        devices.put(replace(current, together=_newer(current.together, evidence)))


def _measure(
    current: DeviceVerdict, anchor: DeviceFix, later: list[DeviceFix], params: SeparationParams
) -> DeviceVerdict:
    """Record moving-unverified evidence for each later fix that moved from the anchor after the period."""
    period = params.face_check_period
    current = replace(current, anchor=anchor)
    if period is None:
        return current
    reference = anchor.at if current.face_ok is None else current.face_ok.at
    for fix in later:
        if fix.at - reference >= period and _moved(params, anchor, fix):
            cited: tuple[str, ...] = (anchor.event_id, fix.event_id)
            if current.face_ok is not None:
                cited += current.face_ok.event_ids
            cited += current.face_failed
            current = replace(current, apart_moving=_newer(current.apart_moving, Evidence(fix.at, cited)))
    return current


def _phone_fix(devices: _Devices, fixes: tuple[DeviceFix, ...], fix: DeviceFix, params: SeparationParams) -> None:
    """Movement of a phone without a recent accepted face check-in."""
    if params.face_check_period is None or fix.device_id not in params.phone_device_ids:
        return
    current = devices.get(fix.device_id)
    if current.face_ok is not None and fix.at <= current.face_ok.at:
        return
    if current.anchor is None or fix.at < current.anchor.at:
        # A late fix can become the anchor: the later fixes still in memory are measured from it.
        later = [f for f in fixes if f.device_id == fix.device_id and f.at > fix.at]
        devices.put(_measure(current, fix, later, params))
    else:
        devices.put(_measure(current, current.anchor, [fix], params))


def _phone_checkin(
    devices: _Devices, fixes: tuple[DeviceFix, ...], checkin: CheckinObservation, at: datetime, params: SeparationParams
) -> None:
    """A face check-in on a phone: accepted, the phone is with the subject; refused, cited later."""
    current = devices.get(checkin.device_id)
    if not checkin.accepted:
        if current.face_ok is None or at > current.face_ok.at:
            failed = (*current.face_failed, checkin.event_id)[-MAX_FAILED_CITED:]
            devices.put(replace(current, face_failed=failed))
        return
    evidence = Evidence(at, (checkin.event_id,))
    current = replace(current, together=_newer(current.together, evidence))
    period = params.face_check_period
    moving = current.apart_moving
    if period is not None and moving is not None and at > moving.at - period:
        # That evidence assumed no accepted check-in during the period before it.
        current = replace(current, apart_moving=None)
    if current.face_ok is None or at > current.face_ok.at:
        current = replace(current, face_ok=evidence, anchor=None, face_failed=())
        after = sorted((f for f in fixes if f.device_id == checkin.device_id and f.at > at), key=lambda f: f.at)
        if after:
            # A late check-in: the fixes after it that are still in memory are measured from it.
            current = _measure(current, after[0], after[1:], params)
    devices.put(current)


def evaluate(
    state: SeparationState, observation: SeparationObservation, now: datetime, params: SeparationParams
) -> tuple[SeparationState, list[Decision]]:
    """Take in one event of the subject (received at `now`); open, update or close the separation episode."""
    if observation.subject_id != state.subject_id:
        raise ValueError(
            f"event {observation.event_id} is for subject {observation.subject_id!r}, expected {state.subject_id!r}"
        )
    if observation.event_id in state.recent_ids:
        return state, []
    recent = (*state.recent_ids, observation.event_id)[-RECENT_IDS:]
    at = min(observation.device_time, now)
    newest = at if state.newest_at is None else max(state.newest_at, at)
    horizon = newest - params.retention
    state = replace(
        state,
        recent_ids=recent,
        newest_at=newest,
        fixes=tuple(f for f in state.fixes if f.at >= horizon),
        presences=tuple(p for p in state.presences if p.at >= horizon),
    )
    devices = _Devices(state.devices)
    before = {d.device_id: d for d in state.devices}
    fixes, presences = state.fixes, state.presences
    place = _presence_of(observation)
    if isinstance(observation, FixObservation) and observation.source == "camera":
        return state, []
    if (isinstance(observation, FixObservation) or place is not None) and at < horizon:
        # Pairing needs the partner in memory: an event older than what is kept is too late.
        return state, []
    if isinstance(observation, FixObservation):
        fix = DeviceFix(
            observation.event_id, observation.device_id, at, observation.lat, observation.lon, observation.accuracy_m
        )
        fixes = tuple(sorted((*fixes, fix), key=lambda f: f.at))[-MAX_FIXES:]
        for presence in presences:
            judged = _pair(params, presence, fix)
            if judged is not None:
                _judge(devices, judged[0], judged[1], fix.device_id)
        _phone_fix(devices, fixes, fix, params)
        if observation.face_verified is not None and observation.device_id in params.phone_device_ids:
            check = CheckinObservation(
                observation.event_id,
                observation.subject_id,
                observation.device_time,
                observation.device_id,
                accepted=observation.face_verified,
                face=True,
            )
            _phone_checkin(devices, fixes, check, at, params)
    elif place is not None:
        presence = Presence(observation.event_id, at, place)
        presences = tuple(sorted((*presences, presence), key=lambda p: p.at))[-MAX_PRESENCES:]
        for fix in fixes:
            judged = _pair(params, presence, fix)
            if judged is not None:
                _judge(devices, judged[0], judged[1], fix.device_id)
    elif (
        isinstance(observation, CheckinObservation)
        and observation.face
        and observation.device_id in params.phone_device_ids
    ):
        _phone_checkin(devices, fixes, observation, at, params)
    state = replace(state, fixes=fixes, presences=presences, devices=devices.frozen())
    return _decide(state, before, at, observation.event_id)


def _decide(
    state: SeparationState,
    before: dict[str, DeviceVerdict],
    at: datetime,
    event_id: str,
) -> tuple[SeparationState, list[Decision]]:
    """The decisions that turn the episode into what the verdicts now say."""
    was_open = state.episode_key is not None
    now_open = any(d.apart() for d in state.devices)
    new_apart: list[str] = []
    new_together: list[str] = []
    for device in state.devices:
        old = before.get(device.device_id, DeviceVerdict(device.device_id))
        for current, previous in ((device.apart_at_place, old.apart_at_place), (device.apart_moving, old.apart_moving)):
            if current is not None and current != previous and device.outweighs(current):
                new_apart.extend(i for i in current.event_ids if i not in new_apart)
        if device.together is not None and device.together != old.together:
            new_together.extend(i for i in device.together.event_ids if i not in new_together)
    subject = state.subject_id
    if now_open and not was_open:
        key = f"separation:{event_id}"
        summary = "a phone or wristband is not with the subject: sources disagree on where the subject is"
        cited = new_apart or [
            i
            for d in state.devices
            for evidence in (d.apart_at_place, d.apart_moving)
            if evidence is not None and d.outweighs(evidence)
            for i in evidence.event_ids
        ]
        opened = OpenAlert(subject, "separation", key, at, summary, tuple(dict.fromkeys(cited)))
        return replace(state, episode_key=key), [opened]
    if now_open and new_apart and state.episode_key is not None:
        return state, [UpdateEvidence(subject, "separation", state.episode_key, at, tuple(new_apart))]
    if not now_open and state.episode_key is not None:
        reason = "sources agree again: every device is with the subject"
        closed = CloseAlert(subject, "separation", state.episode_key, at, reason, tuple(new_together) or (event_id,))
        return replace(state, episode_key=None), [closed]
    return state, []


def _fix_json(fix: DeviceFix) -> dict[str, Any]:
    return {
        "event_id": fix.event_id,
        "device_id": fix.device_id,
        "at": fix.at.isoformat(),
        "lat": fix.lat,
        "lon": fix.lon,
        "accuracy_m": fix.accuracy_m,
    }


def _evidence_json(evidence: Evidence | None) -> dict[str, Any] | None:
    return None if evidence is None else {"at": evidence.at.isoformat(), "event_ids": list(evidence.event_ids)}


def _evidence(value: Any, what: str) -> Evidence | None:
    if value is None:
        return None
    data = _object(value, what)
    ids = tuple(_text(x, f"{what}.event_ids") for x in _list(data.get("event_ids"), f"{what}.event_ids"))
    if not ids:
        raise _fail(f"{what}.event_ids", "a non-empty list", ids)
    return Evidence(_time(data.get("at"), f"{what}.at"), ids)


def _fix(value: Any) -> DeviceFix:
    data = _object(value, "fix")
    return DeviceFix(
        event_id=_text(data.get("event_id"), "fix.event_id"),
        device_id=_str(data.get("device_id"), "fix.device_id"),
        at=_time(data.get("at"), "fix.at"),
        lat=_number(data.get("lat"), "fix.lat"),
        lon=_number(data.get("lon"), "fix.lon"),
        accuracy_m=_number(data.get("accuracy_m"), "fix.accuracy_m"),
    )


_READ = StateReader("separation state")
_fail = _READ.fail
_object = _READ.mapping
_list = _READ.array
_str = _READ.string
_text = _READ.text
_number = _READ.number
_time = _READ.time
