"""Lost contact (脱管): no fix and no check-in for longer than the subject's reporting interval.

Contact is any sign of the subject: a fix from their phone, wristband or tracker, an accepted
check-in, a camera sighting or a roll-call answer. `tick(state, now, params)` opens a
`lost_contact` alert once the silence since the latest contact is longer than the interval;
`evaluate(state, contact, now, params)` closes it when contact comes back.

Order guarantee. An event's time is its device time, but never later than `now` (when central
received it), so a device clock running ahead cannot hide a silence. Contacts may arrive late
and in any order:
- a contact not newer than the latest known contact changes nothing and decides nothing (so a
  late contact from before the silence never closes a newer episode, and a redelivered one is
  harmless);
- a newer contact that ends a gap longer than the interval closes the open episode ("contact
  again");
- a newer contact that arrives late but shows the gap was never longer than the interval
  closes the episode as premature, or, if the silence since that contact is itself longer than
  the interval, keeps the episode open and adds the contact to its evidence.
Only `tick` opens: a backlog replayed by a device after an outage closes the episode once and
the next tick decides from the newest contact, rather than opening and closing per message. A
silence that ended before any tick saw it raises nothing, and a subject never heard from has no
reference point, so this rule raises nothing for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from central.rules.base import CloseAlert, Decision, FixObservation, OpenAlert, UpdateEvidence, require_zone

# Event ids remembered to drop redeliveries; older ones are harmless (see above). Ingest never passes a
# stored event again, so a few are enough, and the state it rewrites on every contact stays small.
RECENT_IDS = 8


@dataclass(frozen=True, slots=True)
class Place:
    """A known fixed place (a kiosk or camera at a centre) where a device vouches for the subject."""

    lat: float
    lon: float
    radius_m: float = 0.0  # how far from the point the subject can be while the device sees them

    def __post_init__(self) -> None:
        if not -90 <= self.lat <= 90:
            raise ValueError(f"place: lat must be between -90 and 90, got {self.lat}")
        if not -180 <= self.lon <= 180:
            raise ValueError(f"place: lon must be between -180 and 180, got {self.lon}")
        if not self.radius_m >= 0:
            raise ValueError(f"place: radius_m must be >= 0, got {self.radius_m}")


@dataclass(frozen=True, slots=True)
class CheckinObservation:
    """One check-in attempt (a `checkin` event): at a kiosk (with its place) or by face on a phone."""

    event_id: str
    subject_id: str
    device_time: datetime  # zoned, UTC
    device_id: str
    accepted: bool
    face: bool  # the face was matched 1:1 as part of this attempt
    place: Place | None = None  # the kiosk's known place; None on a phone

    def __post_init__(self) -> None:
        require_zone(self.device_time, f"check-in {self.event_id}")


@dataclass(frozen=True, slots=True)
class SightingObservation:
    """A camera sighting matched to the subject (a `sighting` event), at the camera's place if known."""

    event_id: str
    subject_id: str
    device_time: datetime  # zoned, UTC
    device_id: str
    camera_id: str
    place: Place | None = None

    def __post_init__(self) -> None:
        require_zone(self.device_time, f"sighting {self.event_id}")


@dataclass(frozen=True, slots=True)
class RollcallObservation:
    """A roll-call answer (a `rollcall_answer` event), at the kiosk's place if known."""

    event_id: str
    subject_id: str
    device_time: datetime  # zoned, UTC
    device_id: str
    rollcall_id: str
    place: Place | None = None

    def __post_init__(self) -> None:
        require_zone(self.device_time, f"roll-call answer {self.event_id}")


ContactObservation = FixObservation | CheckinObservation | SightingObservation | RollcallObservation


def is_contact(observation: ContactObservation) -> bool:
    """Whether the event shows the subject is reachable: anything but a refused check-in."""
    return not isinstance(observation, CheckinObservation) or observation.accepted


@dataclass(frozen=True, slots=True)
class ContactParams:
    """The subject's reporting interval: contact must come at least this often."""

    reporting_interval: timedelta

    def __post_init__(self) -> None:
        if self.reporting_interval <= timedelta(0):
            raise ValueError(f"reporting_interval must be positive, got {self.reporting_interval}")


@dataclass(frozen=True, slots=True)
class ContactState:
    """What the rule remembers of one subject: the latest contact, the clock and the open episode."""

    subject_id: str
    last_contact_at: datetime | None = None
    last_contact_id: str | None = None
    clock: datetime | None = None  # the latest `now` seen (ticks and receive times)
    episode_key: str | None = None  # the open lost_contact episode, if any
    recent_ids: tuple[str, ...] = ()

    def to_json(self) -> str:
        """The state as compact JSON, for the subject's row."""
        return json.dumps(
            {
                "subject_id": self.subject_id,
                "last_contact_at": _time_text(self.last_contact_at),
                "last_contact_id": self.last_contact_id,
                "clock": _time_text(self.clock),
                "episode_key": self.episode_key,
                "recent_ids": list(self.recent_ids),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> ContactState:
        """The state `to_json` wrote; a malformed text raises ValueError naming the field."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"contact state: expected a JSON object, got {type(data).__name__}")
        last_at = _time_or_none(data.get("last_contact_at"), "last_contact_at")
        last_id = _text_or_none(data.get("last_contact_id"), "last_contact_id")
        if (last_at is None) != (last_id is None):
            raise ValueError("contact state: last_contact_at and last_contact_id must be both set or both null")
        return cls(
            subject_id=_text(data.get("subject_id"), "subject_id"),
            last_contact_at=last_at,
            last_contact_id=last_id,
            clock=_time_or_none(data.get("clock"), "clock"),
            episode_key=_text_or_none(data.get("episode_key"), "episode_key"),
            recent_ids=_texts(data.get("recent_ids"), "recent_ids"),
        )


def _duration(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def tick(state: ContactState, now: datetime, params: ContactParams) -> tuple[ContactState, list[Decision]]:
    """Open a lost_contact alert if the silence since the latest contact is longer than the interval."""
    clock = now if state.clock is None else max(state.clock, now)
    state = replace(state, clock=clock)
    if state.episode_key is not None or state.last_contact_at is None or state.last_contact_id is None:
        return state, []
    if clock - state.last_contact_at <= params.reporting_interval:
        return state, []
    key = f"lost_contact:{state.last_contact_id}"
    decision = OpenAlert(
        subject_id=state.subject_id,
        kind="lost_contact",
        episode_key=key,
        at=clock,
        summary=f"no fix or check-in for longer than the reporting interval ({_duration(params.reporting_interval)})",
        evidence=(state.last_contact_id,),
    )
    return replace(state, episode_key=key), [decision]


def evaluate(
    state: ContactState, observation: ContactObservation, now: datetime, params: ContactParams
) -> tuple[ContactState, list[Decision]]:
    """Take in one event of the subject (received at `now`); close or update the lost_contact episode."""
    if observation.subject_id != state.subject_id:
        raise ValueError(
            f"event {observation.event_id} is for subject {observation.subject_id!r}, expected {state.subject_id!r}"
        )
    if observation.event_id in state.recent_ids:
        return state, []
    clock = now if state.clock is None else max(state.clock, now)
    state = replace(state, clock=clock, recent_ids=(*state.recent_ids, observation.event_id)[-RECENT_IDS:])
    if not is_contact(observation):
        return state, []
    at = min(observation.device_time, now)
    previous = state.last_contact_at
    if previous is not None and at <= previous:
        return state, []
    state = replace(state, last_contact_at=at, last_contact_id=observation.event_id)
    if state.episode_key is None or previous is None:
        return state, []
    key = state.episode_key
    evidence = (observation.event_id,)
    if at - previous > params.reporting_interval:
        reason = "contact again"
    elif clock - at > params.reporting_interval:
        update = UpdateEvidence(state.subject_id, "lost_contact", key, at, evidence)
        return state, [update]
    else:
        reason = "late contact: the silence was not longer than the reporting interval"
    close = CloseAlert(state.subject_id, "lost_contact", key, at, reason, evidence)
    return replace(state, episode_key=None), [close]


def _time_text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"contact state: {field} must be a non-empty string, got {value!r}")
    return value


def _text_or_none(value: Any, field: str) -> str | None:
    return None if value is None else _text(value, field)


def _texts(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"contact state: {field} must be a list of strings, got {value!r}")
    return tuple(_text(item, field) for item in value)


def _time_or_none(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    moment = None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
    if moment is None or moment.utcoffset() is None:
        raise ValueError(f"contact state: {field} must be an ISO 8601 time with a zone, got {value!r}")
    return moment
