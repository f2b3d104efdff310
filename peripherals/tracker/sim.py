"""A simulated GT06 tracker: connects over TCP and sends the real frames a Concox tracker sends.

`SimTracker` builds the frames (pure: login, positions walking a route, heartbeat, alarm, time
request); `TrackerLink` speaks them over a socket and reads the gateway's replies; `run_tracker`
plays one tracker's session (optionally with garbage or a disconnect in the middle of a frame);
`run_fleet` runs N trackers sending M positions each and returns when all are done.

A gateway handles one connection's frames in order and stores each position before reading on,
so the acknowledgement of the heartbeat sent after the last position means every position of
that session is committed.

``python -m peripherals.tracker.sim --port 5023 --trackers 10 --positions 20`` runs a fleet.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from peripherals.tracker.gt06 import (
    ALARM,
    ALARM_CODES,
    HEARTBEAT,
    LOCATION,
    LOGIN,
    STATUS,
    TERMINAL_ALARMS,
    TIME_REQUEST,
    ZERO,
    Alarm,
    Cell,
    FrameSplitter,
    GpsFix,
    Location,
    Login,
    Reply,
    Status,
    Terminal,
    TimeRequest,
    decode_reply,
    encode,
)

# A loop through Haicang, Xiamen (WGS-84), walked from the first point.
DEFAULT_ROUTE: tuple[tuple[float, float], ...] = (
    (24.5158, 117.9900),
    (24.5172, 117.9931),
    (24.5149, 117.9968),
    (24.5121, 117.9942),
)
DEFAULT_START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
HOME_CELL = Cell(460, 0, 0x287D, 0x1F71)  # China Mobile
_EARTH_RADIUS_M = 6_371_000.0
_CHARGING_GPS_ON = 0x44  # terminal byte: charging, GPS tracking on


class TrackerRefused(ConnectionError):
    """The gateway closed the connection instead of acknowledging the login."""


def imei_for(index: int, prefix: str = "35") -> str:
    """A 15-digit IMEI with a valid Luhn check digit, distinct for each index (0 to 10^12 - 1)."""
    body = f"{prefix}{index:0{14 - len(prefix)}d}"
    if len(body) != 14 or not body.isdigit():
        raise ValueError(f"IMEI body {body!r}: prefix {prefix!r} and index {index} must make 14 digits")
    total = 0
    for position, digit in enumerate(int(c) for c in body):
        doubled = digit * 2 if position % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return body + str((10 - total % 10) % 10)


@dataclass
class SimTracker:
    """One tracker: IMEI, route, clock and serial counter; each method returns the next frame to send."""

    imei: str
    route: Sequence[tuple[float, float]] = DEFAULT_ROUTE
    start: datetime = DEFAULT_START
    interval: timedelta = timedelta(seconds=10)
    steps_per_leg: int = 6
    utc_offset: timedelta = ZERO
    serial: int = 0
    step: int = 0
    voltage_level: int = 5

    def _next_serial(self) -> int:
        self.serial = (self.serial + 1) % 0x10000
        return self.serial

    @property
    def now(self) -> datetime:
        """The tracker's clock: `start` plus one `interval` per position sent."""
        return self.start + self.step * self.interval

    def point(self, step: int) -> tuple[float, float]:
        """Where the tracker is after `step` positions, walking the route as a closed loop."""
        legs = len(self.route)
        leg, part = divmod(step, self.steps_per_leg)
        (lat1, lon1), (lat2, lon2) = self.route[leg % legs], self.route[(leg + 1) % legs]
        share = part / self.steps_per_leg
        return lat1 + (lat2 - lat1) * share, lon1 + (lon2 - lon1) * share

    def fix(self) -> GpsFix:
        """The GNSS fix at the current step, with speed and course from the previous point."""
        lat, lon = self.point(self.step)
        before = self.point(self.step - 1) if self.step else (lat, lon)
        metres = _distance_m(before, (lat, lon))
        speed = min(255, round(metres / self.interval.total_seconds() * 3.6))
        course = round(_bearing_deg(before, (lat, lon))) % 360
        return GpsFix(self.now.replace(microsecond=0), round(lat, 6), round(lon, 6), speed, course, 9, True)

    def login(self, model: int | None = 0x3610) -> bytes:
        """The login frame (with the model and time zone when `model` is given)."""
        message = Login(self._next_serial(), self.imei, model, self.utc_offset if model is not None else None)
        return encode(message, utc_offset=self.utc_offset)

    def position(self) -> bytes:
        """A 0x12 location frame at the next point of the route."""
        message = Location(self._next_serial(), self.fix(), LOCATION, HOME_CELL)
        self.step += 1
        return encode(message, utc_offset=self.utc_offset)

    def heartbeat(self, gsm_signal: int = 4) -> bytes:
        """A 0x13 status frame (the heartbeat a tracker sends every few minutes)."""
        message = Status(self._next_serial(), Terminal(_CHARGING_GPS_ON), gsm_signal, 0, 2, STATUS, self.voltage_level)
        return encode(message)

    def volt_heartbeat(self, volts: float = 4.1) -> bytes:
        """A 0x23 heartbeat, the variant that reports battery volts."""
        message = Status(self._next_serial(), Terminal(_CHARGING_GPS_ON), 4, 0, 2, HEARTBEAT, voltage_v=volts)
        return encode(message)

    def alarm(self, name: str, *, with_fix: bool = True) -> bytes:
        """A 0x16 alarm frame: `name` from ALARM_CODES (alarm byte) or "removed" (terminal bits)."""
        codes: dict[str, int] = {}
        for code_byte, alarm_name in ALARM_CODES.items():
            codes.setdefault(alarm_name, code_byte)  # the first code of a name, e.g. 0x0E for low_battery
        terminal_codes = {v: k for k, v in TERMINAL_ALARMS.items()}
        if name in codes:
            code, terminal = codes[name], _CHARGING_GPS_ON
        elif name in terminal_codes:
            code, terminal = 0, _CHARGING_GPS_ON | terminal_codes[name] << 3
        else:
            raise ValueError(f"alarm {name!r}: expected one of {sorted({*codes, *terminal_codes})}")
        fix = self.fix() if with_fix else None
        moment = self.now.replace(microsecond=0)
        message = Alarm(
            self._next_serial(), moment, fix, Terminal(terminal), self.voltage_level, 4, code, 2, cell=HOME_CELL
        )
        return encode(message, utc_offset=self.utc_offset)

    def time_request(self) -> bytes:
        """A 0x8A time request."""
        return encode(TimeRequest(self._next_serial()))


def garbage(size: int, seed: int = 0) -> bytes:
    """Random line noise (it may well contain 78 78 or 0D 0A: the gateway must cope)."""
    return random.Random(seed).randbytes(size)  # noqa: S311 - repeatable noise, not a secret


class TrackerLink:
    """A TCP connection from a simulated tracker to a gateway: send frames, read replies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float) -> None:
        self._reader = reader
        self._writer = writer
        self._timeout = timeout
        self._splitter = FrameSplitter()
        self._replies: list[Reply] = []

    @classmethod
    async def open(cls, host: str, port: int, timeout: float = 10.0) -> TrackerLink:
        """Connect to the gateway."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        return cls(reader, writer, timeout)

    async def send(self, data: bytes) -> None:
        """Write bytes (frames, part of one, or garbage) and wait until the socket took them."""
        self._writer.write(data)
        await self._writer.drain()

    async def reply(self) -> Reply:
        """The next frame from the gateway; TrackerRefused if it hangs up instead, TimeoutError if silent."""
        while not self._replies:
            data = await asyncio.wait_for(self._reader.read(1024), self._timeout)
            if not data:
                raise TrackerRefused("the gateway closed the connection")
            self._replies.extend(decode_reply(frame) for frame in self._splitter.feed(data))
        return self._replies.pop(0)

    async def expect(self, protocol: int, serial: int) -> Reply:
        """The next reply, checked to acknowledge `protocol` with `serial`."""
        got = await self.reply()
        if (got.protocol, got.serial) != (protocol, serial):
            raise ConnectionError(
                f"reply: got type 0x{got.protocol:02X} serial {got.serial}, "
                f"expected type 0x{protocol:02X} serial {serial}"
            )
        return got

    async def closed_by_peer(self) -> bool:
        """Whether the gateway hangs up (reads until end of stream or the timeout)."""
        try:
            while await asyncio.wait_for(self._reader.read(1024), self._timeout):
                pass
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        return True

    async def close(self) -> None:
        """Hang up."""
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


@dataclass
class TrackerRun:
    """What one simulated session did."""

    imei: str
    positions: int = 0
    acks: int = 0
    refused: bool = False


async def run_tracker(
    host: str,
    port: int,
    tracker: SimTracker,
    positions: int,
    *,
    alarm: str | None = None,
    noise: bytes = b"",
    cut_mid_frame: bool = False,
    timeout: float = 10.0,
) -> TrackerRun:
    """One session: [noise], login, `positions` positions, [alarm], heartbeat, [half a frame], hang up.

    Returns when the heartbeat is acknowledged (all positions committed); a refused login ends
    the session early with `refused` set.
    """
    run = TrackerRun(tracker.imei)
    link = await TrackerLink.open(host, port, timeout)
    try:
        if noise:
            await link.send(noise)
        await link.send(tracker.login())
        try:
            await link.expect(LOGIN, tracker.serial)
        except TrackerRefused:
            run.refused = True
            return run
        run.acks += 1
        for _ in range(positions):
            await link.send(tracker.position())
            run.positions += 1
        if alarm is not None:
            await link.send(tracker.alarm(alarm))
            await link.expect(ALARM, tracker.serial)
            run.acks += 1
        await link.send(tracker.heartbeat())
        await link.expect(STATUS, tracker.serial)
        run.acks += 1
        if cut_mid_frame:
            frame = tracker.position()
            await link.send(frame[: len(frame) // 2])
    finally:
        await link.close()
    return run


async def ask_time(host: str, port: int, tracker: SimTracker, timeout: float = 10.0) -> datetime:
    """Log in, send a time request and return the UTC time the gateway answers with."""
    link = await TrackerLink.open(host, port, timeout)
    try:
        await link.send(tracker.login())
        await link.expect(LOGIN, tracker.serial)
        await link.send(tracker.time_request())
        reply = await link.expect(TIME_REQUEST, tracker.serial)
        year, month, day, hour, minute, second = reply.content[:6]
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
    finally:
        await link.close()


@dataclass
class FleetReport:
    """What a fleet run did: sessions completed, refused and failed (with reasons), positions sent."""

    trackers: int
    positions_each: int
    completed: int = 0
    refused: int = 0
    positions: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def positions_per_s(self) -> float:
        """Positions sent (and committed, see the module docstring) per second of the run."""
        return self.positions / self.elapsed_s if self.elapsed_s > 0 else 0.0


async def fleet(
    host: str,
    port: int,
    imeis: Sequence[str],
    positions: int,
    *,
    start: datetime = DEFAULT_START,
    timeout: float = 30.0,
) -> FleetReport:
    """Run one session per IMEI, all at once, each sending `positions` positions; return when all ended."""
    report = FleetReport(len(imeis), positions)

    async def one(index: int, imei: str) -> None:
        # Spread the trackers over the route so they do not all stand on the same spot.
        tracker = SimTracker(imei, start=start, step=index % (len(DEFAULT_ROUTE) * 6))
        try:
            run = await run_tracker(host, port, tracker, positions, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            report.errors.append(f"{imei}: {type(exc).__name__}: {exc}")
            return
        report.positions += run.positions
        if run.refused:
            report.refused += 1
        else:
            report.completed += 1

    began = time.monotonic()
    await asyncio.gather(*(one(i, imei) for i, imei in enumerate(imeis)))
    report.elapsed_s = time.monotonic() - began
    return report


def run_fleet(
    host: str, port: int, trackers: int, positions: int, *, first_index: int = 0, timeout: float = 30.0
) -> FleetReport:
    """Blocking: `trackers` simulated trackers (IMEIs `imei_for(first_index + i)`) send `positions` each."""
    imeis = [imei_for(first_index + i) for i in range(trackers)]
    return asyncio.run(fleet(host, port, imeis, positions, timeout=timeout))


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(h))


def _bearing_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    y = math.sin(lon2 - lon1) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(lon2 - lon1)
    return math.degrees(math.atan2(y, x)) % 360


def main(argv: list[str] | None = None) -> int:
    """Command line: run a fleet of simulated trackers against a gateway and print what happened."""
    parser = argparse.ArgumentParser(
        prog="python -m peripherals.tracker.sim", description="Run simulated GT06 trackers against a gateway."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5023)
    parser.add_argument("--trackers", type=int, default=1, help="number of simulated trackers")
    parser.add_argument("--positions", type=int, default=10, help="positions each tracker sends")
    parser.add_argument("--first-index", type=int, default=0, help="IMEIs are imei_for(first_index + i)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    args = parser.parse_args(argv)
    report = run_fleet(args.host, args.port, args.trackers, args.positions, first_index=args.first_index)
    if args.json:
        print(json.dumps({**dataclasses.asdict(report), "positions_per_s": report.positions_per_s}))
        return 0 if not report.errors and not report.refused else 1
    print(
        f"{report.completed} trackers done, {report.refused} refused, {len(report.errors)} failed; "
        f"{report.positions} positions in {report.elapsed_s:.2f} s ({report.positions_per_s:.0f}/s)"
    )
    for error in report.errors[:20]:
        print("  " + error)
    return 0 if not report.errors and not report.refused else 1


if __name__ == "__main__":
    raise SystemExit(main())
