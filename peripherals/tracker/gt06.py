"""Concox GT06 tracker protocol: frames, CRC-ITU, decode/encode of the messages, server replies, frame splitter.

A frame is ``78 78`` + 1-byte length (or ``79 79`` + 2-byte length), the message type, its content,
a 2-byte serial number, CRC-ITU (CRC-16/X-25) of everything from the length to the serial, and
``0D 0A``. The length counts type, content, serial and CRC. Numbers are big-endian.

Learnt from Traccar's Gt06FrameDecoder / Gt06ProtocolDecoder and the Concox protocol documents,
written from scratch. Pure: no sockets, and the clock only as the default `now` of the
plausibility check that every decoded position and timestamp passes.

``python -m peripherals.tracker.gt06 < hexlines`` prints one JSON object per frame line.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import ClassVar, Final, NamedTuple, TextIO, TypeAlias

from peripherals.errors import ProtocolError
from peripherals.plausibility import check_device_time, check_position

SHORT_START: Final = b"\x78\x78"
LONG_START: Final = b"\x79\x79"
STOP: Final = b"\r\n"
# Concox documents keep frames under 1024 bytes; the splitter stops waiting for a frame claiming more.
MAX_FRAME: Final = 2048
ZERO: Final = timedelta(0)

LOGIN: Final = 0x01
GPS: Final = 0x10
LOCATION: Final = 0x12
STATUS: Final = 0x13
ALARM: Final = 0x16
LBS_EXTEND: Final = 0x18
LOCATION_2: Final = 0x22
HEARTBEAT: Final = 0x23
ALARM_2: Final = 0x26
LBS_MULTIPLE: Final = 0x28
TIME_REQUEST: Final = 0x8A

# Coordinates travel as minutes × 30000: degrees × 60 × 30000.
_COORDINATE_SCALE: Final = 1_800_000
_GPS_BLOCK: Final = 18  # date-time 6, length/satellites 1, latitude 4, longitude 4, speed 1, course/status 2
_CELL_BLOCK: Final = 8  # MCC 2, MNC 1, LAC 2, cell id 3
_CELL_SLOTS: Final = 7  # cells in a 0x18 / 0x28 report, the serving cell first

_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {
        LOGIN: "login",
        GPS: "GPS location",
        LOCATION: "location",
        STATUS: "status",
        ALARM: "alarm",
        LBS_EXTEND: "cell towers",
        LOCATION_2: "location",
        HEARTBEAT: "heartbeat",
        ALARM_2: "alarm",
        LBS_MULTIPLE: "cell towers",
        TIME_REQUEST: "time request",
        # Known to exist, not decoded here: named in the "unsupported" report to help whoever looks.
        0x11: "GPS + 4-byte cell location",
        0x15: "command reply text",
        0x17: "WiFi location",
        0x19: "cell + status",
        0x1A: "address request by phone",
        0x21: "command reply text (extended)",
        0x2C: "cell + WiFi location",
        0x69: "WiFi location",
        0x80: "server command",
        0x8C: "OBD data",
        0x94: "information transfer",
        0x95: "alarm (JC100)",
        0x9B: "serial port data",
        0xA0: "4G location",
        0xA1: "4G cell towers",
        0xA2: "4G WiFi location",
        0xA3: "4G fence alarm",
        0xA4: "4G multi-fence alarm",
        0xA5: "4G cell alarm",
        0xF3: "WiFi location",
    }
)

# The alarm byte of 0x16 / 0x26 (and the status frame): what the device reports happened.
ALARM_CODES: Final[Mapping[int, str]] = MappingProxyType(
    {
        0x01: "sos",
        0x02: "power_cut",
        0x03: "vibration",
        0x04: "fence_enter",
        0x05: "fence_exit",
        0x06: "overspeed",
        0x09: "movement",
        0x0E: "low_battery",
        0x0F: "low_battery",
        0x11: "power_off",
        0x13: "tamper",
        0x14: "door",
    }
)
# Bits 3-5 of the terminal-information byte; 7 is the strap-removed alarm of wristband firmwares.
TERMINAL_ALARMS: Final[Mapping[int, str]] = MappingProxyType(
    {1: "vibration", 2: "power_cut", 3: "low_battery", 4: "sos", 7: "removed"}
)
# The voltage-level byte of 0x13 / 0x16 runs 0 (no power) to 6 (full).
_FULL_LEVEL: Final = 6


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE: Final = _crc_table()


def crc_itu(data: bytes) -> int:
    """CRC-ITU as GT06 uses it (CRC-16/X-25: reflected 0x1021, initial and final XOR 0xFFFF)."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


# --- messages ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cell:
    """A GSM cell the tracker hears: country (MCC), network (MNC), area (LAC), cell id, and signal when sent."""

    mcc: int
    mnc: int
    lac: int
    cell_id: int
    rssi: int | None = None


@dataclass(frozen=True, slots=True)
class GpsFix:
    """A GNSS position in WGS-84 degrees, its UTC time, speed (km/h), course (degrees) and satellites."""

    time: datetime
    lat: float
    lon: float
    speed_kmh: int
    course_deg: int
    satellites: int
    gps_fixed: bool


@dataclass(frozen=True, slots=True)
class Terminal:
    """The terminal-information byte of status and alarm frames."""

    bits: int

    @property
    def armed(self) -> bool:
        """Bit 0: the tracker's defence (anti-theft) mode is on."""
        return bool(self.bits & 0x01)

    @property
    def acc_on(self) -> bool:
        """Bit 1: ACC (ignition) high."""
        return bool(self.bits & 0x02)

    @property
    def charging(self) -> bool:
        """Bit 2: on external power / charging."""
        return bool(self.bits & 0x04)

    @property
    def alarm(self) -> str | None:
        """Bits 3-5: the alarm the device is in, or None (normal or a value this module does not know)."""
        return TERMINAL_ALARMS.get((self.bits >> 3) & 0x07)

    @property
    def gps_tracking(self) -> bool:
        """Bit 6: GPS tracking is on."""
        return bool(self.bits & 0x40)


@dataclass(frozen=True, slots=True)
class Login:
    """0x01: the first frame of every connection, naming the tracker by IMEI; the server must acknowledge it."""

    kind: ClassVar[str] = "login"
    protocol: ClassVar[int] = LOGIN

    serial: int
    imei: str
    model: int | None = None
    utc_offset: timedelta | None = None  # the zone the device clock runs in, when the login says


@dataclass(frozen=True, slots=True)
class Location:
    """0x10 / 0x12 / 0x22: a GNSS position (with the serving cell in 0x12 / 0x22)."""

    kind: ClassVar[str] = "location"

    serial: int
    fix: GpsFix
    protocol: int = LOCATION
    cell: Cell | None = None
    acc_on: bool | None = None  # 0x22 only, as are the next two
    upload_mode: int | None = None
    reupload: bool | None = None  # True: a buffered position sent late, not a real-time one


@dataclass(frozen=True, slots=True)
class Status:
    """0x13 status / heartbeat (0x23: the variant reporting volts): the tracker is alive; acknowledge it."""

    kind: ClassVar[str] = "status"

    serial: int
    terminal: Terminal
    gsm_signal: int
    alarm_code: int
    language: int
    protocol: int = STATUS
    voltage_level: int | None = None  # 0x13: 0 (no power) .. 6 (full)
    voltage_v: float | None = None  # 0x23: battery volts

    @property
    def battery_pct(self) -> float | None:
        """Battery charge from the voltage level, or None when the frame does not give one."""
        return _battery_pct(self.voltage_level)


@dataclass(frozen=True, slots=True)
class Alarm:
    """0x16 / 0x26: an alarm with the position, cell and status of that moment; acknowledge it.

    `time` and `fix` are None when they fail the plausibility check (`problem` says why): the
    alarm itself is still worth reporting, e.g. a strap removed indoors without a GNSS fix.
    """

    kind: ClassVar[str] = "alarm"

    serial: int
    time: datetime | None
    fix: GpsFix | None
    terminal: Terminal
    voltage_level: int
    gsm_signal: int
    alarm_code: int
    language: int
    protocol: int = ALARM
    cell: Cell | None = None
    problem: str | None = None

    @property
    def alarm(self) -> str | None:
        """The alarm byte's meaning, else the terminal byte's alarm, else None (no alarm this module knows)."""
        if self.alarm_code:
            return ALARM_CODES.get(self.alarm_code)
        return self.terminal.alarm

    @property
    def battery_pct(self) -> float | None:
        """Battery charge from the voltage level, or None when the level is out of range."""
        return _battery_pct(self.voltage_level)


@dataclass(frozen=True, slots=True)
class CellTowers:
    """0x18 / 0x28: the cells the tracker hears (no GNSS); a position needs a cell database."""

    kind: ClassVar[str] = "cell_towers"

    serial: int
    time: datetime
    cells: tuple[Cell, ...]  # the serving cell first; empty slots left out; all share MCC and MNC
    protocol: int = LBS_MULTIPLE
    timing_advance: int = 0


@dataclass(frozen=True, slots=True)
class TimeRequest:
    """0x8A: the tracker asks for the time (it has no GNSS fix yet); answer with `time_reply`."""

    kind: ClassVar[str] = "time_request"
    protocol: ClassVar[int] = TIME_REQUEST

    serial: int


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A well-delimited frame of a type this module does not decode; `reason` names the type byte."""

    kind: ClassVar[str] = "unsupported"

    protocol: int
    serial: int | None
    reason: str


Gt06Message: TypeAlias = Login | Location | Status | Alarm | CellTowers | TimeRequest | Unsupported


@dataclass(frozen=True, slots=True)
class Reply:
    """A frame the server sends to the tracker: type, serial and content."""

    protocol: int
    serial: int
    content: bytes


# --- decoding ------------------------------------------------------------------------------------


class _Context(NamedTuple):
    now: datetime
    utc_offset: timedelta


def decode(frame: bytes, *, now: datetime | None = None, utc_offset: timedelta = ZERO) -> list[Gt06Message]:
    """The messages in one complete frame (one per frame for every type here), or ProtocolError saying why not.

    `utc_offset` is the zone the device clock runs in (from its login, or configured; UTC when
    unknown); `now` is the receiver's clock for the plausibility check (default: the real clock).
    A frame of a type this module does not decode comes back as `Unsupported`, not an error.
    """
    data = bytes(frame)
    head = _head_size(data)
    protocol = data[head]
    serial = int.from_bytes(data[-6:-4], "big")
    decoder = _DECODERS.get(protocol)
    if decoder is None:
        return [Unsupported(protocol, serial if _length_matches(data, head) else None, _unsupported(protocol))]
    _check_length(data, head)
    _check_crc(data)
    context = _Context(now or datetime.now(UTC), utc_offset)
    return [decoder(protocol, data[head + 1 : -6], serial, context)]


def _head_size(data: bytes) -> int:
    """Size of start bits + length field, after checking size, start bits and stop bits."""
    if data[:2] == SHORT_START:
        head = 3
    elif data[:2] == LONG_START:
        head = 4
    else:
        raise ProtocolError(f"start bits: got {_hex(data[:2]) or 'nothing'}, expected 78 78 or 79 79")
    least = head + 1 + 2 + 2 + len(STOP)
    if len(data) < least:
        raise ProtocolError(
            f"frame too short: {len(data)} bytes, a {_hex(data[:2])} frame has at least {least} "
            "(start, length, type, serial, CRC, stop)"
        )
    if data[-2:] != STOP:
        raise ProtocolError(f"stop bits: got {_hex(data[-2:])}, expected 0D 0A")
    return head


def _length_matches(data: bytes, head: int) -> bool:
    return int.from_bytes(data[2:head], "big") == len(data) - head - len(STOP)


def _check_length(data: bytes, head: int) -> None:
    if not _length_matches(data, head):
        claimed = int.from_bytes(data[2:head], "big")
        raise ProtocolError(
            f"length: the field says {claimed} bytes follow it, the frame has {len(data) - head - len(STOP)} "
            "before the stop bits"
        )


def _check_crc(data: bytes) -> None:
    said = int.from_bytes(data[-4:-2], "big")
    computed = crc_itu(data[2:-4])
    if said != computed:
        raise ProtocolError(f"checksum: the frame says 0x{said:04X}, CRC-ITU of its bytes gives 0x{computed:04X}")


def _unsupported(protocol: int) -> str:
    name = _NAMES.get(protocol)
    known = f" ({name})" if name else ""
    return f"unsupported message type 0x{protocol:02X}{known}: this decoder knows {_supported_list()}"


def _supported_list() -> str:
    return ", ".join(f"0x{p:02X}" for p in sorted(_DECODERS))


def _label(protocol: int) -> str:
    return f"{_NAMES.get(protocol, 'message')} (0x{protocol:02X})"


def _need(protocol: int, content: bytes, size: int, layout: str) -> None:
    if len(content) < size:
        raise ProtocolError(f"{_label(protocol)}: content is {len(content)} bytes, expected at least {size} ({layout})")


def _decode_login(protocol: int, content: bytes, serial: int, _: _Context) -> Login:
    _need(protocol, content, 8, "IMEI 8")
    digits = content[:8].hex()
    if not digits.isdigit():
        raise ProtocolError(f"{_label(protocol)}: IMEI bytes {_hex(content[:8])} are not BCD, expected decimal digits")
    imei = digits[1:] if digits[0] == "0" else digits
    model = int.from_bytes(content[8:10], "big") if len(content) >= 10 else None
    offset = _zone(protocol, int.from_bytes(content[10:12], "big")) if len(content) >= 12 else None
    return Login(serial, imei, model, offset)


def _zone(protocol: int, word: int) -> timedelta:
    """The login's time-zone word: bits 15-4 hours × 100 + minutes, bit 3 set for west of Greenwich."""
    hours, minutes = divmod(word >> 4, 100)
    if minutes >= 60 or hours * 60 + minutes > 14 * 60:
        raise ProtocolError(
            f"{_label(protocol)}: time zone {word >> 4} is not hours × 100 + minutes up to 14:00, expected e.g. 800"
        )
    offset = timedelta(hours=hours, minutes=minutes)
    return -offset if word & 0x08 else offset


def _device_time(protocol: int, raw: bytes, context: _Context) -> datetime:
    year, month, day, hour, minute, second = raw
    try:
        local = datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        text = f"{2000 + year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}"
        raise ProtocolError(f"{_label(protocol)}: device time {text} is not a real date and time") from None
    moment = local - context.utc_offset
    try:
        check_device_time(moment, context.now)
    except ProtocolError as exc:
        raise ProtocolError(f"{_label(protocol)}: {exc}") from None
    return moment


class _RawGps(NamedTuple):
    satellites: int
    lat: float
    lon: float
    speed_kmh: int
    course_deg: int
    gps_fixed: bool


def _raw_gps(block: bytes) -> _RawGps:
    flags = int.from_bytes(block[16:18], "big")
    lat = int.from_bytes(block[7:11], "big") / _COORDINATE_SCALE
    lon = int.from_bytes(block[11:15], "big") / _COORDINATE_SCALE
    # Bit 10 set: northern latitude; bit 11 set: western longitude.
    lat = lat if flags & 0x0400 else -lat
    lon = -lon if flags & 0x0800 else lon
    return _RawGps(block[6] & 0x0F, lat, lon, block[15], flags & 0x03FF, bool(flags & 0x1000))


def _checked_position(protocol: int, raw: _RawGps) -> None:
    try:
        check_position(raw.lat, raw.lon)
    except ProtocolError as exc:
        raise ProtocolError(f"{_label(protocol)}: {exc}") from None


def _fix(moment: datetime, raw: _RawGps) -> GpsFix:
    return GpsFix(moment, raw.lat, raw.lon, raw.speed_kmh, raw.course_deg, raw.satellites, raw.gps_fixed)


def _cell(protocol: int, content: bytes, at: int) -> tuple[Cell | None, int]:
    """The cell at `at` and the offset after it; a cell of all zeros is no cell."""
    _need(protocol, content, at + _CELL_BLOCK, f"cell at byte {at}: MCC 2, MNC 1, LAC 2, cell id 3")
    mcc = int.from_bytes(content[at : at + 2], "big")
    at += 2
    # MCC bit 15 announces a 2-byte MNC (some newer firmwares).
    mnc_size = 2 if mcc & 0x8000 else 1
    _need(protocol, content, at + mnc_size + 5, "cell with a 2-byte MNC")
    mnc = int.from_bytes(content[at : at + mnc_size], "big")
    at += mnc_size
    lac = int.from_bytes(content[at : at + 2], "big")
    cell_id = int.from_bytes(content[at + 2 : at + 5], "big")
    at += 5
    if not (mcc & 0x7FFF or mnc or lac or cell_id):
        return None, at
    return Cell(mcc & 0x7FFF, mnc, lac, cell_id), at


def _decode_location(protocol: int, content: bytes, serial: int, context: _Context) -> Location:
    layout = {GPS: "GPS 18", LOCATION: "GPS 18, cell 8", LOCATION_2: "GPS 18, cell 8, ACC, mode, re-upload"}
    sizes = {GPS: _GPS_BLOCK, LOCATION: _GPS_BLOCK + _CELL_BLOCK, LOCATION_2: _GPS_BLOCK + _CELL_BLOCK + 3}
    _need(protocol, content, sizes[protocol], layout[protocol])
    moment = _device_time(protocol, content[:6], context)
    raw = _raw_gps(content[:_GPS_BLOCK])
    _checked_position(protocol, raw)
    fix = _fix(moment, raw)
    if protocol == GPS:
        return Location(serial, fix, protocol)
    cell, at = _cell(protocol, content, _GPS_BLOCK)
    if protocol == LOCATION:
        return Location(serial, fix, protocol, cell)
    _need(protocol, content, at + 3, layout[protocol])
    acc, mode, reupload = content[at : at + 3]
    return Location(serial, fix, protocol, cell, bool(acc), mode, bool(reupload))


def _decode_status(protocol: int, content: bytes, serial: int, _: _Context) -> Status:
    if protocol == HEARTBEAT:
        _need(protocol, content, 6, "terminal 1, volts × 100 2, GSM 1, alarm 1, language 1")
        volts = int.from_bytes(content[1:3], "big") / 100
        gsm, alarm, language = content[3:6]
        return Status(serial, Terminal(content[0]), gsm, alarm, language, protocol, voltage_v=volts)
    _need(protocol, content, 5, "terminal 1, voltage level 1, GSM 1, alarm 1, language 1")
    terminal, level, gsm, alarm, language = content[:5]
    return Status(serial, Terminal(terminal), gsm, alarm, language, protocol, voltage_level=level)


def _decode_alarm(protocol: int, content: bytes, serial: int, context: _Context) -> Alarm:
    _need(protocol, content, _GPS_BLOCK + 1 + 5, "GPS 18, cell length 1, status 5")
    lbs = content[_GPS_BLOCK]
    cell: Cell | None = None
    if lbs == 0:
        # No cell; some firmwares pad the cell block with zeros, so the status is the last 5 bytes.
        status = content[-5:]
    elif lbs < 1 + _CELL_BLOCK:
        raise ProtocolError(f"{_label(protocol)}: cell block length {lbs}, expected 0 or at least 9")
    else:
        _need(protocol, content, _GPS_BLOCK + lbs + 5, f"GPS 18, cell block {lbs}, status 5")
        cell, _ = _cell(protocol, content, _GPS_BLOCK + 1)
        status = content[_GPS_BLOCK + lbs : _GPS_BLOCK + lbs + 5]
    problem: str | None = None
    moment: datetime | None = None
    fix: GpsFix | None = None
    try:
        moment = _device_time(protocol, content[:6], context)
        raw = _raw_gps(content[:_GPS_BLOCK])
        _checked_position(protocol, raw)
        fix = _fix(moment, raw)
    except ProtocolError as exc:
        problem = str(exc)
    terminal, level, gsm, alarm, language = status
    return Alarm(serial, moment, fix, Terminal(terminal), level, gsm, alarm, language, protocol, cell, problem)


def _decode_cells(protocol: int, content: bytes, serial: int, context: _Context) -> CellTowers:
    _need(protocol, content, 6 + 3 + 6 * _CELL_SLOTS + 1, "date-time 6, MCC 2, MNC 1, 7 cells of 6, TA 1")
    moment = _device_time(protocol, content[:6], context)
    mcc = int.from_bytes(content[6:8], "big")
    mnc_size = 2 if mcc & 0x8000 else 1
    at = 8 + mnc_size
    _need(protocol, content, at + 6 * _CELL_SLOTS + 1, "date-time 6, MCC 2, MNC 2, 7 cells of 6, TA 1")
    mnc = int.from_bytes(content[8:at], "big")
    cells = []
    for _ in range(_CELL_SLOTS):
        lac = int.from_bytes(content[at : at + 2], "big")
        cell_id = int.from_bytes(content[at + 2 : at + 5], "big")
        if lac or cell_id:
            cells.append(Cell(mcc & 0x7FFF, mnc, lac, cell_id, content[at + 5]))
        at += 6
    return CellTowers(serial, moment, tuple(cells), protocol, content[at])


def _decode_time_request(_protocol: int, _content: bytes, serial: int, _: _Context) -> TimeRequest:
    return TimeRequest(serial)


_DECODERS: Final[Mapping[int, Callable[[int, bytes, int, _Context], Gt06Message]]] = MappingProxyType(
    {
        LOGIN: _decode_login,
        GPS: _decode_location,
        LOCATION: _decode_location,
        LOCATION_2: _decode_location,
        STATUS: _decode_status,
        HEARTBEAT: _decode_status,
        ALARM: _decode_alarm,
        ALARM_2: _decode_alarm,
        LBS_EXTEND: _decode_cells,
        LBS_MULTIPLE: _decode_cells,
        TIME_REQUEST: _decode_time_request,
    }
)


SUPPORTED_TYPES: Final = frozenset(_DECODERS)


def _battery_pct(level: int | None) -> float | None:
    if level is None or not 0 <= level <= _FULL_LEVEL:
        return None
    return round(level * 100 / _FULL_LEVEL, 1)


def _hex(data: bytes) -> str:
    return data.hex(" ").upper()


# --- encoding ------------------------------------------------------------------------------------


def encode_frame(protocol: int, content: bytes, serial: int, *, extended: bool = False) -> bytes:
    """A complete frame around `content`: start bits, length, type, serial, CRC-ITU, stop bits."""
    if not 0 <= protocol <= 0xFF:
        raise ValueError(f"message type {protocol}: expected 0 to 255")
    if not 0 <= serial <= 0xFFFF:
        raise ValueError(f"serial {serial}: expected 0 to 65535")
    length = 1 + len(content) + 2 + 2
    if extended:
        if length > 0xFFFF:
            raise ValueError(f"content of {len(content)} bytes does not fit a 79 79 frame (at most 65530)")
        start, size = LONG_START, length.to_bytes(2, "big")
    else:
        if length > 0xFF:
            raise ValueError(f"content of {len(content)} bytes does not fit a 78 78 frame (at most 250): extended=True")
        start, size = SHORT_START, bytes([length])
    body = size + bytes([protocol]) + content + serial.to_bytes(2, "big")
    return start + body + crc_itu(body).to_bytes(2, "big") + STOP


def encode(message: Gt06Message, *, utc_offset: timedelta = ZERO, extended: bool = False) -> bytes:
    """The frame a tracker sends for `message` (device clock in `utc_offset`); `decode` gives it back."""
    if isinstance(message, Unsupported):
        raise ValueError(f"cannot encode an unsupported message (type 0x{message.protocol:02X})")
    return encode_frame(message.protocol, _content(message, utc_offset), message.serial, extended=extended)


def _content(message: Gt06Message, offset: timedelta) -> bytes:
    if isinstance(message, Login):
        return _login_content(message)
    if isinstance(message, Location):
        return _location_content(message, offset)
    if isinstance(message, Status):
        return _status_content(message)
    if isinstance(message, Alarm):
        return _alarm_content(message, offset)
    if isinstance(message, CellTowers):
        return _cells_content(message, offset)
    return b""


def _login_content(message: Login) -> bytes:
    if not (message.imei.isdigit() and len(message.imei) in (15, 16)):
        raise ValueError(f"IMEI {message.imei!r}: expected 15 or 16 digits")
    out = bytes.fromhex(message.imei.rjust(16, "0"))
    if message.model is not None or message.utc_offset is not None:
        out += (message.model or 0).to_bytes(2, "big")
    if message.utc_offset is not None:
        minutes = int(abs(message.utc_offset).total_seconds()) // 60
        word = (minutes // 60 * 100 + minutes % 60) << 4
        out += (word | (0x08 if message.utc_offset < ZERO else 0)).to_bytes(2, "big")
    return out


def _time_bytes(moment: datetime | None, offset: timedelta) -> bytes:
    if moment is None:
        return bytes(6)
    local = (moment + offset).astimezone(UTC)
    if not 2000 <= local.year <= 2099:
        raise ValueError(f"device time {local.isoformat()}: GT06 years run 2000 to 2099")
    return bytes([local.year - 2000, local.month, local.day, local.hour, local.minute, local.second])


def _gps_block(fix: GpsFix | None, moment: datetime | None, offset: timedelta) -> bytes:
    if fix is None:
        return _time_bytes(moment, offset) + bytes(12)
    if not (0 <= fix.course_deg <= 0x3FF and 0 <= fix.speed_kmh <= 0xFF and 0 <= fix.satellites <= 0x0F):
        raise ValueError(f"course {fix.course_deg}, speed {fix.speed_kmh}, satellites {fix.satellites}: out of range")
    flags = fix.course_deg | (0x0400 if fix.lat >= 0 else 0) | (0x0800 if fix.lon < 0 else 0)
    flags |= 0x1000 if fix.gps_fixed else 0
    return (
        _time_bytes(fix.time, offset)
        + bytes([0xC0 | fix.satellites])
        + round(abs(fix.lat) * _COORDINATE_SCALE).to_bytes(4, "big")
        + round(abs(fix.lon) * _COORDINATE_SCALE).to_bytes(4, "big")
        + bytes([fix.speed_kmh])
        + flags.to_bytes(2, "big")
    )


def _cell_bytes(cell: Cell | None) -> bytes:
    if cell is None:
        return bytes(_CELL_BLOCK)
    wide = cell.mnc > 0xFF
    mcc = cell.mcc | (0x8000 if wide else 0)
    return (
        mcc.to_bytes(2, "big")
        + cell.mnc.to_bytes(2 if wide else 1, "big")
        + cell.lac.to_bytes(2, "big")
        + cell.cell_id.to_bytes(3, "big")
    )


def _location_content(message: Location, offset: timedelta) -> bytes:
    out = _gps_block(message.fix, message.fix.time, offset)
    if message.protocol == GPS:
        return out
    out += _cell_bytes(message.cell)
    if message.protocol == LOCATION_2:
        out += bytes([int(bool(message.acc_on)), message.upload_mode or 0, int(bool(message.reupload))])
    return out


def _status_content(message: Status) -> bytes:
    tail = bytes([message.gsm_signal, message.alarm_code, message.language])
    if message.protocol == HEARTBEAT:
        volts = round((message.voltage_v or 0) * 100)
        return bytes([message.terminal.bits]) + volts.to_bytes(2, "big") + tail
    return bytes([message.terminal.bits, message.voltage_level or 0]) + tail


def _alarm_content(message: Alarm, offset: timedelta) -> bytes:
    out = _gps_block(message.fix, message.time, offset)
    cell = b"" if message.cell is None else _cell_bytes(message.cell)
    out += bytes([1 + len(cell) if cell else 0]) + cell
    status = (message.terminal.bits, message.voltage_level, message.gsm_signal, message.alarm_code, message.language)
    return out + bytes(status)


def _cells_content(message: CellTowers, offset: timedelta) -> bytes:
    cells = message.cells
    if len(cells) > _CELL_SLOTS or len({(c.mcc, c.mnc) for c in cells}) > 1:
        raise ValueError(f"a cell report holds up to {_CELL_SLOTS} cells of one MCC and MNC, got {cells}")
    first = cells[0] if cells else Cell(0, 0, 0, 0)
    wide = first.mnc > 0xFF
    out = _time_bytes(message.time, offset) + (first.mcc | (0x8000 if wide else 0)).to_bytes(2, "big")
    out += first.mnc.to_bytes(2 if wide else 1, "big")
    for cell in cells:
        out += cell.lac.to_bytes(2, "big") + cell.cell_id.to_bytes(3, "big") + bytes([cell.rssi or 0])
    out += bytes(6 * (_CELL_SLOTS - len(cells)))
    return out + bytes([message.timing_advance]) + bytes(2)  # then the language word


# --- replies (server → tracker) ------------------------------------------------------------------


def ack(protocol: int, serial: int) -> bytes:
    """The empty reply a tracker waits for after a login, status/heartbeat or alarm frame."""
    return encode_frame(protocol, b"", serial)


def time_reply(serial: int, now: datetime) -> bytes:
    """The answer to a time request: the UTC date and time."""
    return encode_frame(TIME_REQUEST, _time_bytes(now.astimezone(UTC), ZERO), serial)


def reply_for(message: Gt06Message, now: datetime) -> bytes | None:
    """What a server sends back for `message`, or None when the tracker expects nothing."""
    if isinstance(message, Login | Status | Alarm):
        return ack(message.protocol, message.serial)
    if isinstance(message, TimeRequest):
        return time_reply(message.serial, now)
    return None


def decode_reply(frame: bytes) -> Reply:
    """A server frame as the tracker reads it (acks and the time reply), checked like any frame."""
    data = bytes(frame)
    head = _head_size(data)
    _check_length(data, head)
    _check_crc(data)
    return Reply(data[head], int.from_bytes(data[-6:-4], "big"), data[head + 1 : -6])


# --- frame splitter ------------------------------------------------------------------------------


class FrameSplitter:
    """Cuts a byte stream into frames: fed whatever the socket gave, keeps its own buffer, skips garbage.

    A frame ends where its length field says when the stop bits are there. Otherwise (a type
    whose length byte is a count, such as WiFi 0x17 / 0x69, or garbage that looks like a start)
    it ends at the first 0D 0A, unless another start comes first. A complete frame with a good CRC
    starting inside a frame still awaited, or inside one whose CRC is bad, proves that the earlier
    start bits were garbage.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self.discarded = 0
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held for a frame not complete yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return the frames now complete, oldest first."""
        self._buffer += data
        frames = []
        while (frame := self._next()) is not None:
            frames.append(frame)
        return frames

    def _next(self) -> bytes | None:
        buf = self._buffer
        while True:
            start = _find_start(buf, 0)
            if start < 0:
                # A last 78 or 79 may be the first half of start bits.
                self._discard(len(buf) - (1 if buf and buf[-1] in (0x78, 0x79) else 0))
                return None
            self._discard(start)
            head = 3 if buf[0] == 0x78 else 4
            if len(buf) < head + 1:
                return None
            length = int.from_bytes(buf[2:head], "big")
            end = head + length + len(STOP)
            if length >= 5 and end <= self.max_frame:
                if len(buf) < end:
                    later = self._later_frame(len(buf))
                    if later is None or later < 0:
                        return None
                    self._discard(later)
                    continue
                if buf[end - 2 : end] == STOP:
                    # A bad CRC with a good frame starting inside: the start bits were garbage.
                    later = -1 if _crc_matches(buf, 0, end) else self._later_frame(end)
                    if later is None:
                        return None
                    if later < 0:
                        return self._take(end)
                    self._discard(later)
                    continue
            found = self._resync(head)
            if found is None:
                return None
            if found:
                return self._take(found)

    def _resync(self, head: int) -> int | None:
        """For a start whose length field leads nowhere: the end at the first stop bits (0 if garbage was
        dropped instead, None to wait for more bytes)."""
        buf = self._buffer
        stop = buf.find(STOP, head + 1)
        start = _find_start(buf, 1)
        if stop >= 0 and (start < 0 or stop < start):
            return stop + len(STOP)
        if start >= 0:
            self._discard(start)
            return 0
        if len(buf) > self.max_frame:
            self._discard(2)
            return 0
        return None

    def _later_frame(self, before: int) -> int | None:
        """Offset (1 to `before` - 1) of a complete frame with a good CRC; None while one such may be
        still arriving; -1 when there is none."""
        buf = self._buffer
        waiting = False
        at = _find_start(buf, 1)
        while 0 <= at < before:
            head = 3 if buf[at] == 0x78 else 4
            length = int.from_bytes(buf[at + 2 : at + head], "big")
            end = at + head + length + len(STOP)
            if len(buf) < at + head or (len(buf) < end and length >= 5 and end - at <= self.max_frame):
                waiting = True
            elif end <= len(buf) and length >= 5 and buf[end - 2 : end] == STOP and _crc_matches(buf, at, end):
                return at
            at = _find_start(buf, at + 1)
        return None if waiting else -1

    def _take(self, end: int) -> bytes:
        frame = bytes(self._buffer[:end])
        del self._buffer[:end]
        return frame

    def _discard(self, count: int) -> None:
        if count > 0:
            del self._buffer[:count]
            self.discarded += count


def _crc_matches(buf: bytearray, start: int, end: int) -> bool:
    return crc_itu(bytes(buf[start + 2 : end - 4])) == int.from_bytes(buf[end - 4 : end - 2], "big")


def _find_start(buf: bytearray, at: int) -> int:
    short, long = buf.find(SHORT_START, at), buf.find(LONG_START, at)
    if short < 0 or (0 <= long < short):
        return long
    return short


# --- JSON view and command line ------------------------------------------------------------------


def describe(message: Gt06Message) -> dict[str, object]:
    """A JSON-ready view of a message: ``ok``, ``type``, ``protocol``, ``serial`` and its own fields."""
    if isinstance(message, Unsupported):
        return {
            "ok": False,
            "type": message.kind,
            "protocol": f"0x{message.protocol:02X}",
            "serial": message.serial,
            "error": message.reason,
        }
    out: dict[str, object] = {"ok": True, "type": message.kind, "protocol": f"0x{message.protocol:02X}"}
    out["serial"] = message.serial
    if isinstance(message, Login):
        out.update(imei=message.imei, model=message.model, utc_offset=_offset_text(message.utc_offset))
    elif isinstance(message, Location):
        out.update(_fix_view(message.fix))
        out["cell"] = _cell_view(message.cell)
        if message.protocol == LOCATION_2:
            out.update(acc_on=message.acc_on, upload_mode=message.upload_mode, reupload=message.reupload)
    elif isinstance(message, Status):
        out.update(_terminal_view(message.terminal))
        out.update(
            battery_pct=message.battery_pct,
            voltage_level=message.voltage_level,
            voltage_v=message.voltage_v,
            gsm_signal=message.gsm_signal,
            alarm_code=message.alarm_code,
        )
    elif isinstance(message, Alarm):
        out.update(alarm=message.alarm, alarm_code=message.alarm_code, time=_time_text(message.time))
        if message.fix is not None:
            out.update(_fix_view(message.fix))
        out.update(_terminal_view(message.terminal))
        out.update(battery_pct=message.battery_pct, gsm_signal=message.gsm_signal, cell=_cell_view(message.cell))
        if message.problem:
            out["problem"] = message.problem
    elif isinstance(message, CellTowers):
        out.update(time=_time_text(message.time), cells=[_cell_view(c) for c in message.cells])
        out["timing_advance"] = message.timing_advance
    return out


def _fix_view(fix: GpsFix) -> dict[str, object]:
    return {
        "time": _time_text(fix.time),
        "lat": round(fix.lat, 6),
        "lon": round(fix.lon, 6),
        "speed_kmh": fix.speed_kmh,
        "course_deg": fix.course_deg,
        "satellites": fix.satellites,
        "gps_fixed": fix.gps_fixed,
    }


def _terminal_view(terminal: Terminal) -> dict[str, object]:
    return {
        "terminal_alarm": terminal.alarm,
        "charging": terminal.charging,
        "acc_on": terminal.acc_on,
        "armed": terminal.armed,
        "gps_tracking": terminal.gps_tracking,
    }


def _cell_view(cell: Cell | None) -> dict[str, object] | None:
    if cell is None:
        return None
    view: dict[str, object] = {"mcc": cell.mcc, "mnc": cell.mnc, "lac": cell.lac, "cell_id": cell.cell_id}
    if cell.rssi is not None:
        view["rssi"] = cell.rssi
    return view


def _time_text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def _offset_text(offset: timedelta | None) -> str | None:
    if offset is None:
        return None
    minutes = int(abs(offset).total_seconds()) // 60
    return f"{'-' if offset < ZERO else '+'}{minutes // 60:02d}:{minutes % 60:02d}"


def main(argv: list[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Read hex frames, one per line (blank and ``#`` lines skipped), and print one JSON object per frame."""
    parser = argparse.ArgumentParser(
        prog="python -m peripherals.tracker.gt06",
        description="Decode GT06 frames given as hex, one per line on stdin; print one JSON object per frame.",
    )
    parser.add_argument(
        "--utc-offset",
        default="+00:00",
        help="zone the device clock runs in, e.g. +08:00 (default: UTC; a login line does not change it)",
    )
    args = parser.parse_args(argv)
    try:
        offset = parse_offset(args.utc_offset)
    except ValueError as exc:
        parser.error(str(exc))
    source = sys.stdin if stdin is None else stdin
    sink = sys.stdout if stdout is None else stdout
    for number, line in enumerate(source, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        result: dict[str, object]
        try:
            frame = bytes.fromhex(text)
        except ValueError as exc:
            result = {"ok": False, "error": f"line {number} is not hexadecimal: {exc}"}
        else:
            try:
                result = describe(decode(frame, utc_offset=offset)[0])
            except ProtocolError as exc:
                result = {"ok": False, "error": str(exc)}
        sink.write(json.dumps(result, ensure_ascii=False) + "\n")
        sink.flush()
    return 0


def parse_offset(text: str) -> timedelta:
    """``+08:00`` / ``-04:30`` as a timedelta, or ValueError naming the text and the expected form."""
    match = _OFFSET.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"UTC offset {text!r}: expected +HH:MM or -HH:MM, e.g. +08:00")
    sign, hours, minutes = match.groups()
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    if int(minutes) >= 60 or offset > timedelta(hours=14):
        raise ValueError(f"UTC offset {text!r}: expected at most 14:00 with minutes below 60")
    return -offset if sign == "-" else offset


_OFFSET: Final = re.compile(r"([+-])(\d{2}):(\d{2})")


if __name__ == "__main__":
    raise SystemExit(main())
