"""The simulated tracker's frames: real GT06 that decodes back to what the tracker meant to say."""

from __future__ import annotations

from datetime import timedelta

import pytest

from peripherals.tracker.gt06 import Alarm, Location, Login, Status, TimeRequest, decode
from peripherals.tracker.sim import DEFAULT_ROUTE, DEFAULT_START, SimTracker, garbage, imei_for
from tests.unit.peripherals.tracker.frames import NOW


def luhn_ok(number: str) -> bool:
    """The Luhn check every IMEI passes."""
    total = 0
    for position, digit in enumerate(int(c) for c in reversed(number)):
        doubled = digit * 2 if position % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def test_imei_for_makes_distinct_valid_imeis() -> None:
    """IMEIs have 15 digits, a correct Luhn digit, and differ by index; a known IMEI is rebuilt exactly."""
    imeis = [imei_for(i) for i in range(1000)]
    assert len(set(imeis)) == 1000
    assert all(len(i) == 15 and luhn_ok(i) for i in imeis)
    assert imei_for(15420323751, prefix="49") == "490154203237518"
    with pytest.raises(ValueError, match="must make 14 digits"):
        imei_for(10**13)


def test_login_names_the_imei_and_zone() -> None:
    """The login frame carries the IMEI, a model and the tracker's zone."""
    tracker = SimTracker(imei_for(7), utc_offset=timedelta(hours=8))
    [message] = decode(tracker.login(), now=NOW)
    assert isinstance(message, Login)
    assert (message.imei, message.utc_offset, message.serial) == (tracker.imei, timedelta(hours=8), 1)


def test_positions_walk_the_route() -> None:
    """Positions start at the first waypoint, reach the next after one leg, and advance the clock."""
    tracker = SimTracker(imei_for(1))
    decoded = []
    for _ in range(tracker.steps_per_leg + 1):
        [message] = decode(tracker.position(), now=NOW)
        assert isinstance(message, Location)
        decoded.append(message)
    first, reached = decoded[0].fix, decoded[-1].fix
    assert (first.lat, first.lon) == DEFAULT_ROUTE[0]
    assert (reached.lat, reached.lon) == DEFAULT_ROUTE[1]
    assert first.time == DEFAULT_START and reached.time == DEFAULT_START + tracker.steps_per_leg * tracker.interval
    assert all(m.fix.gps_fixed and 0 < m.fix.speed_kmh < 60 for m in decoded[1:])
    assert [m.serial for m in decoded] == list(range(1, len(decoded) + 1))


def test_positions_in_a_local_zone_decode_to_the_same_utc() -> None:
    """A tracker whose clock runs at UTC+8 still says the right UTC time once its zone is known."""
    tracker = SimTracker(imei_for(2), utc_offset=timedelta(hours=8))
    [message] = decode(tracker.position(), now=NOW, utc_offset=timedelta(hours=8))
    assert isinstance(message, Location) and message.fix.time == DEFAULT_START


@pytest.mark.parametrize(("name", "code"), [("sos", 0x01), ("low_battery", 0x0E), ("tamper", 0x13), ("removed", 0)])
def test_alarms_decode_to_their_name(name: str, code: int) -> None:
    """Each alarm the simulator can raise decodes to that alarm, from the alarm byte or the status bits."""
    [message] = decode(SimTracker(imei_for(3)).alarm(name), now=NOW)
    assert isinstance(message, Alarm)
    assert (message.alarm, message.alarm_code, message.fix is not None) == (name, code, True)


def test_unknown_alarm_is_refused() -> None:
    """An alarm name the protocol has no code for is refused, listing the known ones."""
    with pytest.raises(ValueError, match="alarm 'teleported': expected one of"):
        SimTracker(imei_for(3)).alarm("teleported")


def test_heartbeats_and_time_request() -> None:
    """Both heartbeat variants and the time request are real frames."""
    tracker = SimTracker(imei_for(4))
    [status] = decode(tracker.heartbeat(), now=NOW)
    [volts] = decode(tracker.volt_heartbeat(3.95), now=NOW)
    [ask] = decode(tracker.time_request(), now=NOW)
    assert isinstance(status, Status) and status.battery_pct == pytest.approx(83.3)
    assert isinstance(volts, Status) and volts.voltage_v == 3.95
    assert ask == TimeRequest(3)


def test_garbage_is_repeatable() -> None:
    """The same seed gives the same noise."""
    assert garbage(64, seed=5) == garbage(64, seed=5) != garbage(64, seed=6)
