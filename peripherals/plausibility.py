"""Plausibility in one place: every decoded position, timestamp and card read passes through here.

A decoder can produce a perfectly well-formed value that is still nonsense (a tracker with
no fix reporting 0,0, a clock reset to 1970). These checks are shared by every protocol so
the rules are the same everywhere (Traccar applies one such filter to every position).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from peripherals.errors import ProtocolError

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(hours=25)


def check_position(lat: float, lon: float) -> None:
    """Latitude in [-90, 90], longitude in [-180, 180], finite, and not the 0,0 of a device without a fix."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise ProtocolError(f"position {lat}, {lon}: not a finite number")
    if not -90 <= lat <= 90:
        raise ProtocolError(f"latitude {lat}: outside -90..90")
    if not -180 <= lon <= 180:
        raise ProtocolError(f"longitude {lon}: outside -180..180")
    if lat == 0 and lon == 0:
        raise ProtocolError("position 0, 0: the placeholder of a device without a fix")


def check_device_time(moment: datetime, now: datetime) -> None:
    """A device timestamp must carry a zone, be after 2000 and at most 25 h ahead of `now`."""
    if moment.tzinfo is None:
        raise ProtocolError(f"device time {moment.isoformat()}: has no zone")
    if moment < EARLIEST:
        raise ProtocolError(f"device time {moment.isoformat()}: before 2000, the device clock is not set")
    if moment > now + FUTURE_SLACK:
        raise ProtocolError(f"device time {moment.isoformat()}: more than 25 h after {now.isoformat()}")
