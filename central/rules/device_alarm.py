"""Device alarms (`device_alarm` events): tamper / strap cut (防拆), low battery, power off, sensor fault, SOS.

Each alarm kind raises an alert of the same kind, one episode per subject and kind: while it is
open, further alarms of that kind (from any of the subject's devices) add evidence to it.

How an episode ends:
- `low_battery`: every device that raised it reports again (a `status` or a fix with its battery)
  at or above `battery_recovered_pct`;
- `power_off`: every device that raised it is heard from again (any later report or fix);
- `tamper`, `sos` and `sensor_fault` never end by themselves: a cut strap stays cut and a pressed
  SOS needs a person, and no message says a sensor is well again. They stay open until an officer
  handles the alert; the caller then passes that on with `handled(state, kind, episode_key, at)`,
  which decides nothing (the officer's action is the close) and covers every alarm of the episode
  and every alarm of that kind up to `at`. Any kind may be handled this way, also before the
  device recovers; a later alarm opens a new episode.

Order guarantee. An event's time is its device time but never later than `now` (its receipt).
Per device and kind only the latest alarm and the latest recovery are kept, and the later one
wins (a recovery at the same moment as the alarm does not clear it), so the verdict does not depend
on arrival order: an alarm older than the device's latest recovery, or not after the officer's
handling, is superseded and decides nothing; a recovery not newer than the alarm does not close.
Redeliveries of recent event ids are ignored. State is bounded by the subject's devices × 5 kinds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, get_args

from central.rules.base import CloseAlert, Decision, FixObservation, OpenAlert, UpdateEvidence, require_zone
from central.rules.state_json import StateReader

AlarmKind = Literal["tamper", "low_battery", "power_off", "sensor_fault", "sos"]
ALARM_KINDS: tuple[AlarmKind, ...] = get_args(AlarmKind)
RECENT_IDS = 64

SUMMARIES: dict[AlarmKind, str] = {
    "tamper": "tamper alarm: the wristband strap was cut or the device opened",
    "low_battery": "low battery on a supervision device",
    "power_off": "a supervision device was powered off",
    "sensor_fault": "a supervision device reports a failed sensor",
    "sos": "SOS: the subject pressed the emergency button",
}


@dataclass(frozen=True, slots=True)
class AlarmObservation:
    """One device alarm of a subject (a `device_alarm` event)."""

    event_id: str
    subject_id: str
    device_time: datetime  # zoned, UTC
    device_id: str
    kind: AlarmKind

    def __post_init__(self) -> None:
        require_zone(self.device_time, f"device alarm {self.event_id}")
        if self.kind not in ALARM_KINDS:
            raise ValueError(
                f"device alarm {self.event_id}: kind must be one of {', '.join(ALARM_KINDS)}, got {self.kind!r}"
            )


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """A device heard from and running (a `status` with online true, or a fix), with its battery if known."""

    event_id: str
    subject_id: str
    device_time: datetime  # zoned, UTC
    device_id: str
    battery_pct: float | None = None

    def __post_init__(self) -> None:
        require_zone(self.device_time, f"device report {self.event_id}")
        if self.battery_pct is not None and not 0 <= self.battery_pct <= 100:
            raise ValueError(
                f"device report {self.event_id}: battery_pct must be between 0 and 100, got {self.battery_pct}"
            )


DeviceAlarmObservation = AlarmObservation | DeviceReport | FixObservation


@dataclass(frozen=True, slots=True)
class DeviceAlarmParams:
    """When a low battery counts as recovered."""

    battery_recovered_pct: float = 30.0

    def __post_init__(self) -> None:
        if not 0 <= self.battery_recovered_pct <= 100:
            raise ValueError(f"battery_recovered_pct must be between 0 and 100, got {self.battery_recovered_pct}")


@dataclass(frozen=True, slots=True)
class Mark:
    """One event at its (device) time."""

    at: datetime
    event_id: str


@dataclass(frozen=True, slots=True)
class Condition:
    """The latest alarm and the latest recovery of one kind on one device."""

    kind: AlarmKind
    device_id: str
    alarm: Mark | None = None
    recovered: Mark | None = None

    def active(self, handled_at: datetime | None) -> bool:
        """Whether the alarm is at least as new as the device's recovery and newer than the officer's handling."""
        if self.alarm is None:
            return False
        # A tie goes to the alarm: a device often reports once more as it powers down.
        after_recovery = self.recovered is None or self.alarm.at >= self.recovered.at
        return after_recovery and (handled_at is None or self.alarm.at > handled_at)


@dataclass(frozen=True, slots=True)
class DeviceAlarmState:
    """What the rule remembers of one subject: conditions per device and kind, open episodes, handlings."""

    subject_id: str
    conditions: tuple[Condition, ...] = ()  # sorted by (kind, device_id)
    episodes: tuple[tuple[AlarmKind, str], ...] = ()  # (kind, episode key) of the open episodes
    handled_through: tuple[tuple[AlarmKind, datetime], ...] = ()  # per kind, the latest officer handling
    recent_ids: tuple[str, ...] = ()

    def episode(self, kind: AlarmKind) -> str | None:
        """The key of the open episode of this kind, if any."""
        return next((key for k, key in self.episodes if k == kind), None)

    def handled_at(self, kind: AlarmKind) -> datetime | None:
        """Up to when an officer has handled alarms of this kind."""
        return next((at for k, at in self.handled_through if k == kind), None)

    def to_json(self) -> str:
        """The state as compact JSON, for the subject's row."""
        return json.dumps(
            {
                "subject_id": self.subject_id,
                "conditions": [
                    {
                        "kind": c.kind,
                        "device_id": c.device_id,
                        "alarm": _mark_json(c.alarm),
                        "recovered": _mark_json(c.recovered),
                    }
                    for c in self.conditions
                ],
                "episodes": [[kind, key] for kind, key in self.episodes],
                "handled_through": [[kind, at.isoformat()] for kind, at in self.handled_through],
                "recent_ids": list(self.recent_ids),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> DeviceAlarmState:
        """The state `to_json` wrote; a malformed text raises ValueError naming the field."""
        data = _object(json.loads(text), "state")
        conditions = []
        for item in _list(data.get("conditions"), "conditions"):
            c = _object(item, "conditions[]")
            conditions.append(
                Condition(
                    kind=_kind(c.get("kind"), "conditions[].kind"),
                    device_id=_str(c.get("device_id"), "conditions[].device_id"),
                    alarm=_mark(c.get("alarm"), "conditions[].alarm"),
                    recovered=_mark(c.get("recovered"), "conditions[].recovered"),
                )
            )
        episodes = []
        for item in _list(data.get("episodes"), "episodes"):
            pair = _list(item, "episodes[]")
            if len(pair) != 2:
                raise _fail("episodes[]", "[kind, episode key]", pair)
            episodes.append((_kind(pair[0], "episodes[].kind"), _text(pair[1], "episodes[].key")))
        handled = []
        for item in _list(data.get("handled_through"), "handled_through"):
            pair = _list(item, "handled_through[]")
            if len(pair) != 2:
                raise _fail("handled_through[]", "[kind, time]", pair)
            handled.append((_kind(pair[0], "handled_through[].kind"), _time(pair[1], "handled_through[].at")))
        return cls(
            subject_id=_text(data.get("subject_id"), "subject_id"),
            conditions=tuple(conditions),
            episodes=tuple(episodes),
            handled_through=tuple(handled),
            recent_ids=tuple(_text(x, "recent_ids") for x in _list(data.get("recent_ids"), "recent_ids")),
        )


def _newer(current: Mark | None, candidate: Mark) -> Mark:
    return candidate if current is None or candidate.at > current.at else current


def _with_condition(state: DeviceAlarmState, condition: Condition) -> DeviceAlarmState:
    others = [c for c in state.conditions if (c.kind, c.device_id) != (condition.kind, condition.device_id)]
    return replace(state, conditions=tuple(sorted([*others, condition], key=lambda c: (c.kind, c.device_id))))


def _condition(state: DeviceAlarmState, kind: AlarmKind, device_id: str) -> Condition:
    found = (c for c in state.conditions if c.kind == kind and c.device_id == device_id)
    return next(found, Condition(kind, device_id))


def _set_episode(state: DeviceAlarmState, kind: AlarmKind, key: str | None) -> DeviceAlarmState:
    episodes = [(k, existing) for k, existing in state.episodes if k != kind]
    if key is not None:
        episodes.append((kind, key))
    return replace(state, episodes=tuple(sorted(episodes)))


def evaluate(
    state: DeviceAlarmState, observation: DeviceAlarmObservation, now: datetime, params: DeviceAlarmParams
) -> tuple[DeviceAlarmState, list[Decision]]:
    """Take in one alarm, report or fix of the subject (received at `now`); open, update or close alerts."""
    if observation.subject_id != state.subject_id:
        raise ValueError(
            f"event {observation.event_id} is for subject {observation.subject_id!r}, expected {state.subject_id!r}"
        )
    if observation.event_id in state.recent_ids:
        return state, []
    state = replace(state, recent_ids=(*state.recent_ids, observation.event_id)[-RECENT_IDS:])
    at = min(observation.device_time, now)
    mark = Mark(at, observation.event_id)
    subject = state.subject_id
    if isinstance(observation, AlarmObservation):
        kind = observation.kind
        condition = _condition(state, kind, observation.device_id)
        handled_at = state.handled_at(kind)
        if (handled_at is not None and at <= handled_at) or (
            condition.recovered is not None and at < condition.recovered.at
        ):
            return state, []
        state = _with_condition(state, replace(condition, alarm=_newer(condition.alarm, mark)))
        key = state.episode(kind)
        if key is not None:
            return state, [UpdateEvidence(subject, kind, key, at, (observation.event_id,))]
        key = f"{kind}:{observation.event_id}"
        opened = OpenAlert(subject, kind, key, at, SUMMARIES[kind], (observation.event_id,))
        return _set_episode(state, kind, key), [opened]

    recovered: list[AlarmKind] = ["power_off"]
    battery = observation.battery_pct if isinstance(observation, DeviceReport) else None
    if battery is not None and battery >= params.battery_recovered_pct:
        recovered.append("low_battery")
    decisions: list[Decision] = []
    for kind in recovered:
        condition = _condition(state, kind, observation.device_id)
        state = _with_condition(state, replace(condition, recovered=_newer(condition.recovered, mark)))
        key = state.episode(kind)
        handled_at = state.handled_at(kind)
        if key is not None and not any(c.active(handled_at) for c in state.conditions if c.kind == kind):
            reason = "battery recovered" if kind == "low_battery" else "device on again"
            decisions.append(CloseAlert(subject, kind, key, at, reason, (observation.event_id,)))
            state = _set_episode(state, kind, None)
    return state, decisions


def handled(state: DeviceAlarmState, kind: AlarmKind, episode_key: str, at: datetime) -> DeviceAlarmState:
    """An officer handled the episode at `at`: it and every alarm of this kind up to `at` are covered.

    A key that is not the open episode of this kind (handled twice, or an older episode) changes
    nothing.
    """
    if state.episode(kind) != episode_key:
        return state
    through = [at]
    known = state.handled_at(kind)
    if known is not None:
        through.append(known)
    # Alarms the episode already holds are covered even if their device clock is ahead of the officer's.
    through.extend(c.alarm.at for c in state.conditions if c.kind == kind and c.alarm is not None)
    handled_through = tuple(sorted([*((k, t) for k, t in state.handled_through if k != kind), (kind, max(through))]))
    return _set_episode(replace(state, handled_through=handled_through), kind, None)


def _mark_json(mark: Mark | None) -> list[str] | None:
    return None if mark is None else [mark.at.isoformat(), mark.event_id]


def _kind(value: Any, what: str) -> AlarmKind:
    for kind in ALARM_KINDS:
        if value == kind:
            return kind
    raise _fail(what, f"one of {', '.join(ALARM_KINDS)}", value)


def _mark(value: Any, what: str) -> Mark | None:
    if value is None:
        return None
    pair = _list(value, what)
    if len(pair) != 2:
        raise _fail(what, "[time, event id]", pair)
    return Mark(_time(pair[0], f"{what}.at"), _text(pair[1], f"{what}.event_id"))


_READ = StateReader("device alarm state")
_fail = _READ.fail
_object = _READ.mapping
_list = _READ.array
_str = _READ.string
_text = _READ.text
_time = _READ.time
