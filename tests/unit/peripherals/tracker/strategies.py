"""Hypothesis strategies for GT06: messages that round-trip, frames, and the byte soup around them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from peripherals.tracker import gt06
from peripherals.tracker.gt06 import (
    GPS,
    HEARTBEAT,
    LOCATION,
    LOCATION_2,
    STATUS,
    Alarm,
    Cell,
    CellTowers,
    GpsFix,
    Location,
    Login,
    Status,
    Terminal,
    TimeRequest,
)
from tests.unit.peripherals.tracker.frames import NOW

SCALE = 1_800_000
serials = st.integers(0, 0xFFFF)
bytes_ = st.integers(0, 0xFF)
# Whole seconds from 2001 to the test clock: GT06 carries seconds, and the plausibility check wants after 2000.
moments = st.datetimes(min_value=datetime(2001, 1, 1), max_value=NOW.replace(tzinfo=None)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC)
)
# Zones come in quarter hours, from -12:00 to +14:00.
offsets = st.integers(-48, 56).map(lambda quarters: timedelta(minutes=15 * quarters))


@st.composite
def fixes(draw: st.DrawFn) -> GpsFix:
    """A GNSS fix whose coordinates GT06 carries exactly (whole 1/1 800 000 degrees), never 0,0."""
    lat = draw(st.integers(1, 90 * SCALE)) / SCALE * draw(st.sampled_from([1, -1]))
    lon = draw(st.integers(0, 180 * SCALE)) / SCALE * draw(st.sampled_from([1, -1]))
    return GpsFix(
        draw(moments),
        lat,
        abs(lon) if lon == 0 else lon,
        draw(bytes_),
        draw(st.integers(0, 0x3FF)),
        draw(st.integers(0, 15)),
        draw(st.booleans()),
    )


cells = st.builds(
    Cell, st.integers(1, 0x7FFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFF)
)
terminals = st.builds(Terminal, bytes_)
imeis = st.one_of(st.from_regex(r"[0-9]{15}", fullmatch=True), st.from_regex(r"[1-9][0-9]{15}", fullmatch=True))


@st.composite
def logins(draw: st.DrawFn) -> Login:
    """A login, short or with model and time zone."""
    model = draw(st.none() | st.integers(0, 0xFFFF))
    offset = None if model is None else draw(st.none() | offsets)
    return Login(draw(serials), draw(imeis), model, offset)


@st.composite
def locations(draw: st.DrawFn) -> Location:
    """A 0x10, 0x12 or 0x22 location."""
    protocol = draw(st.sampled_from([GPS, LOCATION, LOCATION_2]))
    if protocol == GPS:
        return Location(draw(serials), draw(fixes()), GPS)
    if protocol == LOCATION:
        return Location(draw(serials), draw(fixes()), LOCATION, draw(st.none() | cells))
    return Location(
        draw(serials), draw(fixes()), LOCATION_2, draw(cells), draw(st.booleans()), draw(bytes_), draw(st.booleans())
    )


@st.composite
def statuses(draw: st.DrawFn) -> Status:
    """A 0x13 status (voltage level) or 0x23 heartbeat (volts)."""
    head = (draw(serials), draw(terminals), draw(bytes_), draw(bytes_), draw(bytes_))
    if draw(st.booleans()):
        return Status(*head, STATUS, voltage_level=draw(bytes_))
    return Status(*head, HEARTBEAT, voltage_v=draw(st.integers(0, 0xFFFF)) / 100)


@st.composite
def alarms(draw: st.DrawFn) -> Alarm:
    """A 0x16 or 0x26 alarm with a plausible fix."""
    fix = draw(fixes())
    return Alarm(
        draw(serials),
        fix.time,
        fix,
        draw(terminals),
        draw(bytes_),
        draw(bytes_),
        draw(bytes_),
        draw(bytes_),
        draw(st.sampled_from([gt06.ALARM, gt06.ALARM_2])),
        draw(st.none() | cells),
    )


@st.composite
def cell_reports(draw: st.DrawFn) -> CellTowers:
    """A 0x18 or 0x28 report of up to 7 cells sharing MCC and MNC."""
    mcc, mnc = draw(st.integers(1, 0x7FFF)), draw(st.integers(0, 0xFFFF))
    slots = st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFF), bytes_).filter(lambda s: s[0] or s[1])
    found = draw(st.lists(slots, max_size=7))
    return CellTowers(
        draw(serials),
        draw(moments),
        tuple(Cell(mcc, mnc, lac, cid, rssi) for lac, cid, rssi in found),
        draw(st.sampled_from([gt06.LBS_EXTEND, gt06.LBS_MULTIPLE])),
        draw(bytes_),
    )


messages = st.one_of(logins(), locations(), statuses(), alarms(), cell_reports(), st.builds(TimeRequest, serials))
# Frames a tracker sends, ready on the wire (UTC clock).
frames = messages.map(gt06.encode)
