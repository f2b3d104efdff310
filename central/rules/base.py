"""What every rule engine shares: the observations it is fed and the decisions it returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

AlertKind = Literal[
    "fence_breach",  # outside the allowed area (越界)
    "exclusion_zone",  # inside a prohibited place (禁止令)
    "lost_contact",  # no fix and no check-in for longer than the reporting interval (脱管)
    "separation",  # the phone or wristband is not with the person (人机分离)
    "tamper",
    "low_battery",
    "power_off",
    "sensor_fault",
    "sos",
    "location_unconfirmed",  # a location confirmation (位置确认) was not answered in time
    "positioning_expiring",  # the electronic-positioning period ends soon: renew it or let it end
]


@dataclass(frozen=True, slots=True)
class FixObservation:
    """One position of a subject, as the rules see it (from a `fix` event)."""

    event_id: str
    subject_id: str
    device_time: datetime  # zoned, UTC
    lat: float
    lon: float
    accuracy_m: float
    source: str  # gnss | wifi | cell | camera
    device_id: str = ""
    face_verified: bool | None = None  # the phone app's 1:1 face check with this fix: passed, failed, or none


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """Open an alert for this subject, kind and episode (at most one open alert per episode)."""

    subject_id: str
    kind: AlertKind
    episode_key: str
    at: datetime
    summary: str  # what rule was broken, never where the subject is
    evidence: tuple[str, ...]  # event ids that caused it


@dataclass(frozen=True, slots=True)
class UpdateEvidence:
    """Add evidence (event ids) to the open alert of this episode."""

    subject_id: str
    kind: AlertKind
    episode_key: str
    at: datetime
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CloseAlert:
    """The condition ended (back inside, contact again): close the episode's alert."""

    subject_id: str
    kind: AlertKind
    episode_key: str
    at: datetime
    reason: str
    evidence: tuple[str, ...]


Decision = OpenAlert | UpdateEvidence | CloseAlert


def require_zone(moment: datetime, what: str) -> None:
    """Observations carry zoned device times; a naive one is a caller bug, refused with where it came from."""
    if moment.utcoffset() is None:
        raise ValueError(f"{what}: device_time must have a zone (UTC), got naive {moment.isoformat()}")
