"""Who was present in a time window, and on what evidence: pure, values in and values out.

Used for group-study sessions (集中教育学习) and for a centre's day. A subject is present when
there is an accepted kiosk check-in inside the window (optionally a little before it starts:
people check in on arrival), or a camera sighting whose track overlaps the window (a sighting at
the centre during a session counts as presence). A check-in is the stronger evidence, so a
subject with both is "present by check-in"; the sightings are still listed.

The caller (central/attendance.py) has already restricted check-ins and sightings to devices of
the right centre; this module only decides on times and results.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

PresentBy = Literal["checkin", "sighting"]


@dataclass(frozen=True)
class CheckinSeen:
    """A kiosk check-in of one subject."""

    subject_id: str
    at: datetime
    device_id: str
    event_id: str
    accepted: bool


@dataclass(frozen=True)
class SightingSeen:
    """A camera sighting (one face track) of one subject."""

    subject_id: str
    first_seen: datetime
    last_seen: datetime
    device_id: str
    camera_id: str
    event_id: str
    score: float


@dataclass(frozen=True)
class Presence:
    """One expected subject's outcome for a window, with the evidence, oldest first."""

    subject_id: str
    present: bool
    by: PresentBy | None
    checkins: tuple[CheckinSeen, ...]
    sightings: tuple[SightingSeen, ...]


def checkin_counts(c: CheckinSeen, start: datetime, end: datetime, early: timedelta = timedelta(0)) -> bool:
    """An accepted check-in from `early` before the start up to (not including) the end."""
    return c.accepted and start - early <= c.at < end


def sighting_counts(s: SightingSeen, start: datetime, end: datetime) -> bool:
    """A track that overlaps [start, end): it began before the end and lasted until the start or later."""
    return s.first_seen < end and s.last_seen >= start


def presence(
    expected: Iterable[str],
    start: datetime,
    end: datetime,
    checkins: Iterable[CheckinSeen],
    sightings: Iterable[SightingSeen],
    *,
    early: timedelta = timedelta(0),
) -> list[Presence]:
    """Presence of each expected subject (in the order given, each once) in the window [start, end).

    Evidence about subjects not expected is ignored; `early` lets a check-in shortly before the
    start count (arrival for a session).
    """
    if end <= start:
        raise ValueError(f"window ends {end.isoformat()} at or before it starts {start.isoformat()}")
    if early < timedelta(0):
        raise ValueError(f"early must not be negative, got {early}")
    order = list(dict.fromkeys(expected))
    wanted = set(order)
    by_checkin: dict[str, list[CheckinSeen]] = {}
    for c in checkins:
        if c.subject_id in wanted and checkin_counts(c, start, end, early):
            by_checkin.setdefault(c.subject_id, []).append(c)
    by_sighting: dict[str, list[SightingSeen]] = {}
    for s in sightings:
        if s.subject_id in wanted and sighting_counts(s, start, end):
            by_sighting.setdefault(s.subject_id, []).append(s)
    out = []
    for subject_id in order:
        cs = tuple(sorted(by_checkin.get(subject_id, ()), key=lambda c: (c.at, c.event_id)))
        ss = tuple(sorted(by_sighting.get(subject_id, ()), key=lambda s: (s.first_seen, s.event_id)))
        by: PresentBy | None = "checkin" if cs else "sighting" if ss else None
        out.append(Presence(subject_id, by is not None, by, cs, ss))
    return out


@dataclass(frozen=True)
class Tally:
    """Counts of a presence list: expected = by check-in + by sighting only + absent."""

    expected: int
    by_checkin: int
    by_sighting_only: int
    absent: int


def tally(results: Sequence[Presence]) -> Tally:
    """Count a presence list."""
    by_checkin = sum(1 for p in results if p.by == "checkin")
    by_sighting = sum(1 for p in results if p.by == "sighting")
    return Tally(len(results), by_checkin, by_sighting, len(results) - by_checkin - by_sighting)
