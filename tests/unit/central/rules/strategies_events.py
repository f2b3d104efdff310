"""Hypothesis strategies for the event rules (lost contact, 人机分离, device alarms), and the alert ledger.

Times are whole seconds after T0; receive times (`now`) only move forward, as in ingest, while
device times may lag behind them (late delivery) or run ahead (a device clock that is fast).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from central.rules.base import CloseAlert, Decision, FixObservation, OpenAlert, UpdateEvidence
from central.rules.contact import (
    CheckinObservation,
    ContactObservation,
    Place,
    RollcallObservation,
    SightingObservation,
)
from central.rules.device_alarm import ALARM_KINDS, AlarmObservation, DeviceAlarmObservation, DeviceReport
from central.rules.separation import SeparationObservation

SUBJECT = "subject-1"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
# A community-corrections centre in Xiamen, and a home 0.1° of latitude (11.1 km) north of it.
CENTRE = Place(24.4798, 118.0894, radius_m=50.0)
HOME = (24.5798, 118.0894)
PHONE = "phone-1"
BAND = "band-1"
KIOSK = "kiosk-1"
CAMERA = "edge-1"


def at(seconds: float) -> datetime:
    """T0 plus a number of seconds."""
    return T0 + timedelta(seconds=seconds)


def fix(
    event_id: str,
    seconds: float,
    lat: float,
    lon: float,
    *,
    device: str = PHONE,
    accuracy: float = 10.0,
    source: str = "gnss",
) -> FixObservation:
    """A fix of the subject at T0 + seconds."""
    return FixObservation(event_id, SUBJECT, at(seconds), lat, lon, accuracy, source, device)


def sighting(event_id: str, seconds: float, place: Place | None = CENTRE) -> SightingObservation:
    """A camera sighting of the subject at the centre."""
    return SightingObservation(event_id, SUBJECT, at(seconds), CAMERA, "cam-1", place)


def kiosk_checkin(event_id: str, seconds: float, *, accepted: bool = True) -> CheckinObservation:
    """A check-in at the centre's kiosk."""
    return CheckinObservation(event_id, SUBJECT, at(seconds), KIOSK, accepted=accepted, face=True, place=CENTRE)


def phone_checkin(event_id: str, seconds: float, *, accepted: bool = True) -> CheckinObservation:
    """A face check-in on the subject's phone."""
    return CheckinObservation(event_id, SUBJECT, at(seconds), PHONE, accepted=accepted, face=True)


def rollcall(event_id: str, seconds: float, place: Place | None = CENTRE) -> RollcallObservation:
    """A roll-call answer at the centre's kiosk."""
    return RollcallObservation(event_id, SUBJECT, at(seconds), KIOSK, "rc-1", place)


@dataclass(frozen=True)
class Tick:
    """A periodic check at `now`."""

    now: datetime


@dataclass(frozen=True)
class Feed:
    """A contact event received at `now`."""

    observation: ContactObservation
    now: datetime


# --- lost contact ---------------------------------------------------------------------------

intervals = st.integers(60, 7200).map(lambda s: timedelta(seconds=s))
CONTACT_KINDS = ("fix", "checkin", "refused", "sighting", "rollcall")


def contact_event(kind: str, event_id: str, seconds: float) -> ContactObservation:
    """One event of each contact kind ("refused" is a refused check-in, which is no contact)."""
    if kind == "fix":
        return fix(event_id, seconds, *HOME)
    if kind in ("checkin", "refused"):
        return kiosk_checkin(event_id, seconds, accepted=kind == "checkin")
    if kind == "sighting":
        return sighting(event_id, seconds)
    return rollcall(event_id, seconds)


@st.composite
def contact_scripts(draw: st.DrawFn, *, in_order: bool = False, max_steps: int = 30) -> list[Tick | Feed]:
    """Ticks and contact events; unless in order, events arrive late, early (fast clock) or twice."""
    steps: list[Tick | Feed] = []
    fed: list[ContactObservation] = []
    now = 0
    for index in range(draw(st.integers(1, max_steps))):
        now += draw(st.integers(0, 3600))
        action = draw(st.sampled_from(("tick", "event", "event", "again")))
        if action == "tick":
            steps.append(Tick(at(now)))
        elif action == "again" and fed and not in_order:
            steps.append(Feed(draw(st.sampled_from(fed)), at(now)))
        else:
            lateness = 0 if in_order else draw(st.integers(-600, 10800))
            event = contact_event(draw(st.sampled_from(CONTACT_KINDS)), f"c{index}", now - lateness)
            fed.append(event)
            steps.append(Feed(event, at(now)))
    return steps


# --- 人机分离 --------------------------------------------------------------------------------

SPAN_S = 3600


@st.composite
def separation_events(draw: st.DrawFn, event_id: str, *, moving: bool = True) -> SeparationObservation:
    """One event of the subject within an hour: a device fix near the centre or home, a presence, a check-in."""
    seconds = draw(st.integers(0, SPAN_S))
    kind = draw(
        st.sampled_from(
            (
                "fix",
                "fix",
                "fix",
                "sighting",
                "kiosk",
                "refused_kiosk",
                "rollcall",
                "phone_ok",
                "phone_failed",
                "camera",
            )
        )
    )
    if kind in ("fix", "camera"):
        lat, lon = draw(st.sampled_from(((CENTRE.lat, CENTRE.lon), HOME)))
        if moving:
            # Wander a few hundred metres so a phone can be seen moving.
            lat += draw(st.integers(-5, 5)) * 0.001
        accuracy = draw(st.sampled_from((5.0, 30.0, 200.0, 1500.0)))
        device = draw(st.sampled_from((PHONE, BAND)))
        observed = fix(
            event_id,
            seconds,
            lat,
            lon,
            device=device,
            accuracy=accuracy,
            source="camera" if kind == "camera" else "gnss",
        )
        # The phone app may say how its face check with this fix went.
        return replace(observed, face_verified=draw(st.sampled_from((None, None, None, True, False))))
    if kind == "sighting":
        return sighting(event_id, seconds)
    if kind in ("kiosk", "refused_kiosk"):
        return kiosk_checkin(event_id, seconds, accepted=kind == "kiosk")
    if kind == "rollcall":
        return rollcall(event_id, seconds)
    return phone_checkin(event_id, seconds, accepted=kind == "phone_ok")


@st.composite
def separation_histories(draw: st.DrawFn, *, max_size: int = 30, moving: bool = True) -> list[SeparationObservation]:
    """A list of distinct events of one subject, in no particular order."""
    size = draw(st.integers(1, max_size))
    return [draw(separation_events(f"s{index}", moving=moving)) for index in range(size)]


# --- device alarms ----------------------------------------------------------------------------

DEVICES = (PHONE, BAND)


@st.composite
def device_events(draw: st.DrawFn, event_id: str) -> DeviceAlarmObservation:
    """An alarm of any kind, a report with a battery level, or a fix, from one of two devices."""
    seconds = draw(st.integers(0, SPAN_S))
    device = draw(st.sampled_from(DEVICES))
    kind = draw(st.sampled_from(("alarm", "alarm", "report", "fix")))
    if kind == "alarm":
        return AlarmObservation(event_id, SUBJECT, at(seconds), device, draw(st.sampled_from(ALARM_KINDS)))
    if kind == "report":
        battery = draw(st.none() | st.sampled_from((5.0, 20.0, 30.0, 80.0)))
        return DeviceReport(event_id, SUBJECT, at(seconds), device, battery)
    return fix(event_id, seconds, *HOME, device=device)


@st.composite
def device_histories(draw: st.DrawFn, *, max_size: int = 30) -> list[DeviceAlarmObservation]:
    """A list of distinct device events of one subject, in no particular order."""
    size = draw(st.integers(1, max_size))
    return [draw(device_events(f"d{index}")) for index in range(size)]


# --- what every rule's decisions must satisfy --------------------------------------------------


@dataclass
class Ledger:
    """Replays decisions as the alert store would, and fails on any decision it could not apply."""

    open: dict[str, str] = field(default_factory=dict)  # kind → key of the open episode
    used_keys: set[str] = field(default_factory=set)
    known_ids: set[str] = field(default_factory=set)

    def fed(self, event_id: str) -> None:
        """An event id the rule has been given."""
        self.known_ids.add(event_id)

    def apply(self, decisions: list[Decision]) -> None:
        """Check each decision cites events already fed and fits the episodes open now."""
        for decision in decisions:
            assert decision.subject_id == SUBJECT
            assert decision.evidence, f"{decision} cites no event"
            assert set(decision.evidence) <= self.known_ids, f"{decision} cites events never fed"
            if isinstance(decision, OpenAlert):
                assert decision.kind not in self.open, f"second open episode of {decision.kind}: {decision}"
                assert decision.episode_key not in self.used_keys, f"episode key reused: {decision}"
                assert decision.summary
                self.open[decision.kind] = decision.episode_key
                self.used_keys.add(decision.episode_key)
            elif isinstance(decision, UpdateEvidence):
                assert self.open.get(decision.kind) == decision.episode_key, f"update of a closed episode: {decision}"
            else:
                assert isinstance(decision, CloseAlert)
                assert self.open.get(decision.kind) == decision.episode_key, f"close of a closed episode: {decision}"
                assert decision.reason
                del self.open[decision.kind]
