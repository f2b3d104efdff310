"""AS608 / R30x fingerprint sensor packets: pure decode and encode, and a parser fed bytes.

A packet on the wire (ZhianTec / Synochip AS608 user manual, "communication protocol"):

    EF 01 | address (4) | PID (1) | LEN (2) | payload (LEN - 2) | SUM (2)

Multi-byte fields are big-endian. LEN counts the payload and the checksum, not itself. SUM is the
low 16 bits of the sum of the PID, both LEN bytes and every payload byte. The payload of a command
packet is an instruction code and its parameters, that of an ack a confirmation code and the
instruction's return values, that of a data packet a slice of a template or image.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, TypeAlias

from peripherals.errors import ProtocolError

HEADER = b"\xef\x01"
DEFAULT_ADDRESS = 0xFFFFFFFF
# The largest data-packet size the family can be set to; no command or ack comes near it, so a
# bigger LEN can only be noise, and refusing it keeps a false header from stalling the parser.
MAX_PAYLOAD = 256
PACKET_SIZES = (32, 64, 128, 256)  # ReadSysPara's packet-size code 0..3, in payload bytes
BAUD_UNIT = 9600  # ReadSysPara's baud setting N means N × 9600 bit/s
BAUD_MULTIPLIERS = range(1, 13)
# header 2 + address 4 + PID 1 + LEN 2 + checksum 2
OVERHEAD = 11
_HEAD = 9  # bytes before the payload


class PacketType(IntEnum):
    """The PID byte: what kind of packet follows."""

    COMMAND = 0x01
    DATA = 0x02
    ACK = 0x07
    END_OF_DATA = 0x08


class Instruction(IntEnum):
    """Instruction codes of the command packets this codec knows."""

    GEN_IMG = 0x01
    IMG2TZ = 0x02
    MATCH = 0x03
    SEARCH = 0x04
    REG_MODEL = 0x05
    STORE = 0x06
    LOAD_CHAR = 0x07
    UP_CHAR = 0x08
    DOWN_CHAR = 0x09
    DELETE_CHAR = 0x0C
    EMPTY = 0x0D
    READ_SYS_PARA = 0x0F
    VFY_PWD = 0x13
    TEMPLATE_NUM = 0x1D


class Confirmation(IntEnum):
    """Confirmation codes a sensor puts first in every ack (AS608 manual, "confirmation code")."""

    OK = 0x00
    PACKET_RECEIVE_ERROR = 0x01
    NO_FINGER = 0x02
    IMAGE_FAILED = 0x03
    IMAGE_TOO_DRY = 0x04
    IMAGE_TOO_WET = 0x05
    IMAGE_TOO_MESSY = 0x06
    TOO_FEW_FEATURES = 0x07
    NO_MATCH = 0x08
    NOT_FOUND = 0x09
    ENROL_MISMATCH = 0x0A
    BAD_LOCATION = 0x0B
    TEMPLATE_READ_FAILED = 0x0C
    UPLOAD_FEATURE_FAILED = 0x0D
    CANNOT_RECEIVE_DATA = 0x0E
    UPLOAD_IMAGE_FAILED = 0x0F
    DELETE_FAILED = 0x10
    CLEAR_FAILED = 0x11
    LOW_POWER_FAILED = 0x12
    WRONG_PASSWORD = 0x13
    RESET_FAILED = 0x14
    NO_VALID_IMAGE = 0x15
    UPGRADE_FAILED = 0x16
    RESIDUAL_FINGER = 0x17
    FLASH_ERROR = 0x18
    RANDOM_FAILED = 0x19
    INVALID_REGISTER = 0x1A
    BAD_REGISTER_VALUE = 0x1B
    BAD_NOTEPAD_PAGE = 0x1C
    PORT_FAILED = 0x1D
    AUTO_ENROL_FAILED = 0x1E
    LIBRARY_FULL = 0x1F
    BAD_ADDRESS = 0x20
    PASSWORD_REQUIRED = 0x21
    TEMPLATE_NOT_EMPTY = 0x22
    TEMPLATE_EMPTY = 0x23
    LIBRARY_EMPTY = 0x24
    BAD_ENROL_COUNT = 0x25
    TIMEOUT = 0x26
    ALREADY_ENROLLED = 0x27
    TEMPLATE_LINKED = 0x28
    SENSOR_INIT_FAILED = 0x29
    DATA_FOLLOWS_OK = 0xF0
    DATA_FOLLOWS_COMMAND = 0xF1
    FLASH_CHECKSUM = 0xF2
    FLASH_PACKET_ID = 0xF3
    FLASH_LENGTH = 0xF4
    FLASH_CODE_TOO_LONG = 0xF5
    FLASH_WRITE_FAILED = 0xF6

    @property
    def message(self) -> str:
        """What the code means, in the manual's words."""
        return CONFIRMATION_MESSAGES[self]


CONFIRMATION_MESSAGES: Mapping[Confirmation, str] = {
    Confirmation.OK: "OK",
    Confirmation.PACKET_RECEIVE_ERROR: "the sensor received a corrupt packet",
    Confirmation.NO_FINGER: "no finger on the sensor",
    Confirmation.IMAGE_FAILED: "failed to capture the fingerprint image",
    Confirmation.IMAGE_TOO_DRY: "image too dry or too light to extract features",
    Confirmation.IMAGE_TOO_WET: "image too wet or too blurred to extract features",
    Confirmation.IMAGE_TOO_MESSY: "image too messy to extract features",
    Confirmation.TOO_FEW_FEATURES: "image is clear but has too few feature points (or too small an area)",
    Confirmation.NO_MATCH: "the fingerprints do not match",
    Confirmation.NOT_FOUND: "no matching fingerprint in the library",
    Confirmation.ENROL_MISMATCH: "failed to combine the character files (the two captures differ)",
    Confirmation.BAD_LOCATION: "page number outside the fingerprint library",
    Confirmation.TEMPLATE_READ_FAILED: "error reading the template from the library, or the template is invalid",
    Confirmation.UPLOAD_FEATURE_FAILED: "failed to upload the character file",
    Confirmation.CANNOT_RECEIVE_DATA: "the sensor cannot receive the following data packets",
    Confirmation.UPLOAD_IMAGE_FAILED: "failed to upload the image",
    Confirmation.DELETE_FAILED: "failed to delete the template",
    Confirmation.CLEAR_FAILED: "failed to clear the fingerprint library",
    Confirmation.LOW_POWER_FAILED: "cannot enter low-power mode",
    Confirmation.WRONG_PASSWORD: "wrong password",
    Confirmation.RESET_FAILED: "system reset failed",
    Confirmation.NO_VALID_IMAGE: "no valid image in the image buffer",
    Confirmation.UPGRADE_FAILED: "online upgrade failed",
    Confirmation.RESIDUAL_FINGER: "residual fingerprint, or the finger did not move between two captures",
    Confirmation.FLASH_ERROR: "error reading or writing flash",
    Confirmation.RANDOM_FAILED: "random number generation failed (R30x: undefined error)",
    Confirmation.INVALID_REGISTER: "invalid register number",
    Confirmation.BAD_REGISTER_VALUE: "wrong register setting",
    Confirmation.BAD_NOTEPAD_PAGE: "wrong notepad page number",
    Confirmation.PORT_FAILED: "communication port operation failed",
    Confirmation.AUTO_ENROL_FAILED: "automatic enrolment failed",
    Confirmation.LIBRARY_FULL: "the fingerprint library is full",
    Confirmation.BAD_ADDRESS: "wrong device address",
    Confirmation.PASSWORD_REQUIRED: "the password must be verified first",
    Confirmation.TEMPLATE_NOT_EMPTY: "the template page is not empty",
    Confirmation.TEMPLATE_EMPTY: "the template page is empty",
    Confirmation.LIBRARY_EMPTY: "the fingerprint library is empty",
    Confirmation.BAD_ENROL_COUNT: "wrong number of enrolment captures",
    Confirmation.TIMEOUT: "timed out",
    Confirmation.ALREADY_ENROLLED: "the fingerprint is already enrolled",
    Confirmation.TEMPLATE_LINKED: "the templates are linked",
    Confirmation.SENSOR_INIT_FAILED: "sensor initialisation failed",
    Confirmation.DATA_FOLLOWS_OK: "command with following data packets received correctly",
    Confirmation.DATA_FOLLOWS_COMMAND: "command with following data packets: command packet acknowledged",
    Confirmation.FLASH_CHECKSUM: "firmware flashing: checksum error",
    Confirmation.FLASH_PACKET_ID: "firmware flashing: wrong packet identifier",
    Confirmation.FLASH_LENGTH: "firmware flashing: wrong packet length",
    Confirmation.FLASH_CODE_TOO_LONG: "firmware flashing: code too long",
    Confirmation.FLASH_WRITE_FAILED: "firmware flashing: writing flash failed",
}

_PIDS = frozenset(PacketType)
_INSTRUCTIONS = frozenset(Instruction)
_CONFIRMATIONS = frozenset(Confirmation)
_LIMITS = {"B": 0xFF, "H": 0xFFFF, "I": 0xFFFFFFFF}


def _check_range(what: str, value: int, code: str) -> None:
    if not 0 <= value <= _LIMITS[code]:
        raise ProtocolError(f"{what} {value}: expected 0..{_LIMITS[code]}")


@dataclass(frozen=True, kw_only=True)
class _Command:
    """Shared shape of a command packet: the instruction code, then PARAMS packed big-endian."""

    INSTRUCTION: ClassVar[Instruction]
    PARAMS: ClassVar[tuple[tuple[str, str], ...]] = ()  # (field name, struct code), wire order

    address: int = DEFAULT_ADDRESS

    @property
    def name(self) -> str:
        """The manual's name of the instruction, e.g. "Img2Tz"."""
        return type(self).__name__

    def params(self) -> dict[str, int]:
        """The instruction's parameters by name, in wire order."""
        return {name: int(getattr(self, name)) for name, _ in self.PARAMS}


@dataclass(frozen=True, kw_only=True)
class GenImg(_Command):
    """Capture a finger image into the image buffer."""

    INSTRUCTION = Instruction.GEN_IMG


@dataclass(frozen=True, kw_only=True)
class Img2Tz(_Command):
    """Turn the image into a character file in char buffer 1 or 2."""

    INSTRUCTION = Instruction.IMG2TZ
    PARAMS = (("buffer", "B"),)
    buffer: int


@dataclass(frozen=True, kw_only=True)
class Match(_Command):
    """Compare char buffers 1 and 2; the ack carries a score."""

    INSTRUCTION = Instruction.MATCH


@dataclass(frozen=True, kw_only=True)
class Search(_Command):
    """Search `count` library pages from `start` for the char buffer; the ack carries page and score."""

    INSTRUCTION = Instruction.SEARCH
    PARAMS = (("buffer", "B"), ("start", "H"), ("count", "H"))
    buffer: int
    start: int
    count: int


@dataclass(frozen=True, kw_only=True)
class RegModel(_Command):
    """Combine char buffers 1 and 2 into a template (left in both buffers)."""

    INSTRUCTION = Instruction.REG_MODEL


@dataclass(frozen=True, kw_only=True)
class Store(_Command):
    """Store the char buffer's template at a library page."""

    INSTRUCTION = Instruction.STORE
    PARAMS = (("buffer", "B"), ("page", "H"))
    buffer: int
    page: int


@dataclass(frozen=True, kw_only=True)
class LoadChar(_Command):
    """Load the template at a library page into a char buffer."""

    INSTRUCTION = Instruction.LOAD_CHAR
    PARAMS = (("buffer", "B"), ("page", "H"))
    buffer: int
    page: int


@dataclass(frozen=True, kw_only=True)
class UpChar(_Command):
    """Send the char buffer to the host; data packets follow the ack."""

    INSTRUCTION = Instruction.UP_CHAR
    PARAMS = (("buffer", "B"),)
    buffer: int


@dataclass(frozen=True, kw_only=True)
class DownChar(_Command):
    """Receive a template from the host into a char buffer; the host's data packets follow the ack."""

    INSTRUCTION = Instruction.DOWN_CHAR
    PARAMS = (("buffer", "B"),)
    buffer: int


@dataclass(frozen=True, kw_only=True)
class DeleteChar(_Command):
    """Delete `count` library pages from `page`."""

    INSTRUCTION = Instruction.DELETE_CHAR
    PARAMS = (("page", "H"), ("count", "H"))
    page: int
    count: int


@dataclass(frozen=True, kw_only=True)
class Empty(_Command):
    """Delete every template in the library."""

    INSTRUCTION = Instruction.EMPTY


@dataclass(frozen=True, kw_only=True)
class ReadSysPara(_Command):
    """Read the 16 bytes of basic parameters (library size, packet size, address, ...)."""

    INSTRUCTION = Instruction.READ_SYS_PARA


@dataclass(frozen=True, kw_only=True)
class VfyPwd(_Command):
    """Present the 4-byte handshake password."""

    INSTRUCTION = Instruction.VFY_PWD
    PARAMS = (("password", "I"),)
    password: int


@dataclass(frozen=True, kw_only=True)
class TemplateNum(_Command):
    """Count the stored templates."""

    INSTRUCTION = Instruction.TEMPLATE_NUM


Command: TypeAlias = (
    GenImg
    | Img2Tz
    | Match
    | Search
    | RegModel
    | Store
    | LoadChar
    | UpChar
    | DownChar
    | DeleteChar
    | Empty
    | ReadSysPara
    | VfyPwd
    | TemplateNum
)
COMMANDS: Mapping[Instruction, type[Command]] = {
    cls.INSTRUCTION: cls
    for cls in (
        GenImg,
        Img2Tz,
        Match,
        Search,
        RegModel,
        Store,
        LoadChar,
        UpChar,
        DownChar,
        DeleteChar,
        Empty,
        ReadSysPara,
        VfyPwd,
        TemplateNum,
    )
}


@dataclass(frozen=True, kw_only=True)
class Ack:
    """A sensor's answer: a confirmation code and the instruction's return values, still packed."""

    code: Confirmation
    data: bytes = b""
    address: int = DEFAULT_ADDRESS

    @property
    def message(self) -> str:
        """What the confirmation code means."""
        return self.code.message


@dataclass(frozen=True, kw_only=True)
class Data:
    """A slice of a template or image; `last` marks the end-of-data packet (PID 08)."""

    payload: bytes
    last: bool = False
    address: int = DEFAULT_ADDRESS


Packet: TypeAlias = Command | Ack | Data

# Return values after the confirmation code, per instruction (AS608 manual). Acks of the other
# instructions carry the code alone. On a failure the sensor still sends these fields, zeroed.
REPLY_FIELDS: Mapping[Instruction, tuple[tuple[str, str], ...]] = {
    Instruction.MATCH: (("score", "H"),),
    Instruction.SEARCH: (("page", "H"), ("score", "H")),
    Instruction.TEMPLATE_NUM: (("count", "H"),),
    Instruction.READ_SYS_PARA: (
        ("status", "H"),
        ("system_id", "H"),
        ("library_size", "H"),
        ("security_level", "H"),
        ("device_address", "I"),
        ("packet_size_code", "H"),
        ("baud_multiplier", "H"),
    ),
}


def checksum(body: bytes) -> int:
    """Low 16 bits of the byte sum of PID, LEN and payload."""
    return sum(body) & 0xFFFF


def _hex(data: bytes) -> str:
    return data.hex(" ").upper()


def _frame_size(buffer: bytes | bytearray, address: int | None) -> int | None:
    """Checks the head of a frame starting at buffer[0]; its full size, or None while bytes are missing.

    Fails as early as the bytes allow, so a parser that met a false header learns it at once
    instead of waiting for a length's worth of bytes.
    """
    if len(buffer) >= 2 and buffer[:2] != HEADER:
        raise ProtocolError(f"bad header: got {_hex(bytes(buffer[:2]))}, expected EF 01")
    if len(buffer) >= 6 and address is not None:
        got = int.from_bytes(buffer[2:6], "big")
        if got != address:
            raise ProtocolError(f"address: got {got:08X}, expected {address:08X}")
    if len(buffer) >= 7 and buffer[6] not in _PIDS:
        raise ProtocolError(f"PID 0x{buffer[6]:02X}: expected 01 (command), 02 (data), 07 (ack) or 08 (end of data)")
    if len(buffer) < _HEAD:
        return None
    length = int.from_bytes(buffer[7:9], "big")
    if not 2 <= length <= MAX_PAYLOAD + 2:
        raise ProtocolError(
            f"length {length}: expected 2..{MAX_PAYLOAD + 2} (at most {MAX_PAYLOAD} payload bytes + 2 checksum bytes)"
        )
    return _HEAD + length


def _unframe(frame: bytes, address: int | None) -> tuple[int, PacketType, bytes]:
    """Header, address, PID, length and checksum of one whole frame; returns address, PID, payload."""
    if len(frame) < 2:
        raise ProtocolError(f"truncated packet: {len(frame)} bytes, expected at least {OVERHEAD}")
    size = _frame_size(frame, address)
    if size is None:
        raise ProtocolError(f"truncated packet: {len(frame)} bytes, expected at least {OVERHEAD}")
    if len(frame) != size:
        problem = "truncated packet" if len(frame) < size else "length"
        raise ProtocolError(f"{problem}: {len(frame)} bytes, LEN {size - _HEAD} says the packet has {size}")
    said = int.from_bytes(frame[-2:], "big")
    computed = checksum(frame[6:-2])
    if said != computed:
        raise ProtocolError(f"checksum: packet says 0x{said:04X}, bytes give 0x{computed:04X}")
    return int.from_bytes(frame[2:6], "big"), PacketType(frame[6]), frame[_HEAD:-2]


def _interpret(address: int, kind: PacketType, payload: bytes) -> Packet:
    """The packet a well-framed payload stands for."""
    if kind in (PacketType.DATA, PacketType.END_OF_DATA):
        return Data(payload=payload, last=kind is PacketType.END_OF_DATA, address=address)
    if not payload:
        what = "instruction" if kind is PacketType.COMMAND else "confirmation"
        raise ProtocolError(f"truncated field: {kind.name.lower()} packet has no {what} code")
    if kind is PacketType.ACK:
        if payload[0] not in _CONFIRMATIONS:
            raise ProtocolError(f"unknown confirmation code 0x{payload[0]:02X}: not in the AS608 code table")
        return Ack(code=Confirmation(payload[0]), data=payload[1:], address=address)
    if payload[0] not in _INSTRUCTIONS:
        known = ", ".join(f"0x{i:02X} {COMMANDS[i].__name__}" for i in Instruction)
        raise ProtocolError(f"unknown instruction code 0x{payload[0]:02X}: expected one of {known}")
    cls = COMMANDS[Instruction(payload[0])]
    values = _unpack(cls.__name__, cls.PARAMS, payload[1:], "parameters")
    return cls(address=address, **values)


def _unpack(what: str, layout: tuple[tuple[str, str], ...], data: bytes, kind: str) -> dict[str, int]:
    expected = struct.calcsize(">" + "".join(code for _, code in layout))
    if len(data) != expected:
        names = ", ".join(name for name, _ in layout) or "none"
        problem = "truncated field" if len(data) < expected else "length"
        raise ProtocolError(f"{problem}: {what} {kind} are {len(data)} bytes, expected {expected} ({names})")
    values = struct.unpack(">" + "".join(code for _, code in layout), data)
    return {name: int(value) for (name, _), value in zip(layout, values, strict=True)}


def decode(frame: bytes, *, address: int | None = None) -> Packet:
    """One whole packet → Command, Ack or Data; with `address`, a packet for another address is refused."""
    return _interpret(*_unframe(bytes(frame), address))


def _payload(packet: Packet) -> tuple[PacketType, bytes]:
    if isinstance(packet, Ack):
        return PacketType.ACK, bytes([packet.code]) + packet.data
    if isinstance(packet, Data):
        return (PacketType.END_OF_DATA if packet.last else PacketType.DATA), packet.payload
    for name, code in packet.PARAMS:
        _check_range(f"{packet.name}.{name}", getattr(packet, name), code)
    codes = ">" + "".join(code for _, code in packet.PARAMS)
    return PacketType.COMMAND, bytes([packet.INSTRUCTION]) + struct.pack(codes, *packet.params().values())


def encode(packet: Packet) -> bytes:
    """The bytes of one packet, checksum included."""
    _check_range("address", packet.address, "I")
    kind, payload = _payload(packet)
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes: expected at most {MAX_PAYLOAD}")
    body = bytes([kind]) + (len(payload) + 2).to_bytes(2, "big") + payload
    return HEADER + packet.address.to_bytes(4, "big") + body + checksum(body).to_bytes(2, "big")


def reply_fields(instruction: Instruction, ack: Ack) -> dict[str, int]:
    """The return values of `instruction` packed in `ack`, by name (empty for code-only acks)."""
    return _unpack(
        f"{COMMANDS[instruction].__name__} ack", REPLY_FIELDS.get(instruction, ()), ack.data, "return values"
    )


def reply(instruction: Instruction, code: Confirmation, *, address: int = DEFAULT_ADDRESS, **values: int) -> Ack:
    """The ack a sensor sends for `instruction`; return values not given are zero, as on a failure."""
    layout = REPLY_FIELDS.get(instruction, ())
    unknown = set(values) - {name for name, _ in layout}
    if unknown:
        names = ", ".join(name for name, _ in layout) or "none"
        raise ProtocolError(f"{COMMANDS[instruction].__name__} ack has no field {sorted(unknown)}: expected {names}")
    for name, fmt in layout:
        _check_range(f"{COMMANDS[instruction].__name__} ack {name}", values.get(name, 0), fmt)
    data = struct.pack(">" + "".join(fmt for _, fmt in layout), *(values.get(name, 0) for name, _ in layout))
    return Ack(code=code, data=data, address=address)


@dataclass(frozen=True)
class SystemParameters:
    """ReadSysPara's answer with the packet size in bytes and the baud rate in bit/s."""

    status: int
    system_id: int
    library_size: int
    security_level: int
    address: int
    packet_size: int
    baudrate: int

    @classmethod
    def from_ack(cls, ack: Ack) -> SystemParameters:
        """Unpacks and checks the 16 bytes of a ReadSysPara ack."""
        values = reply_fields(Instruction.READ_SYS_PARA, ack)
        code = values.pop("packet_size_code")
        if code >= len(PACKET_SIZES):
            raise ProtocolError(f"packet size code {code}: expected 0..3 (32, 64, 128 or 256 bytes)")
        multiplier = values.pop("baud_multiplier")
        if multiplier not in BAUD_MULTIPLIERS:
            raise ProtocolError(f"baud setting {multiplier}: expected 1..12 (× 9600 bit/s)")
        address = values.pop("device_address")
        return cls(**values, address=address, packet_size=PACKET_SIZES[code], baudrate=multiplier * BAUD_UNIT)

    def to_ack(self, code: Confirmation = Confirmation.OK) -> Ack:
        """The ReadSysPara ack that carries these parameters."""
        if self.packet_size not in PACKET_SIZES or self.baudrate % BAUD_UNIT != 0:
            raise ProtocolError(
                f"packet size {self.packet_size}, baud rate {self.baudrate}: expected one of {PACKET_SIZES} "
                "and a multiple of 9600"
            )
        return reply(
            Instruction.READ_SYS_PARA,
            code,
            address=self.address,
            status=self.status,
            system_id=self.system_id,
            library_size=self.library_size,
            security_level=self.security_level,
            device_address=self.address,
            packet_size_code=PACKET_SIZES.index(self.packet_size),
            baud_multiplier=self.baudrate // BAUD_UNIT,
        )


def split_data(data: bytes, packet_size: int, *, address: int = DEFAULT_ADDRESS) -> list[Data]:
    """A template or image as data packets of `packet_size` bytes, the last one marked end of data."""
    if packet_size not in PACKET_SIZES:
        raise ProtocolError(f"packet size {packet_size}: expected one of {PACKET_SIZES}")
    chunks = [data[i : i + packet_size] for i in range(0, len(data), packet_size)] or [b""]
    return [Data(payload=chunk, last=i == len(chunks) - 1, address=address) for i, chunk in enumerate(chunks)]


class PacketParser:
    """Splits a byte stream into packets: fed bytes, keeps its own buffer, never reads a port.

    Bytes before a header are skipped and counted. A frame that starts with EF 01 but is not a
    packet (bad address, PID, length or checksum) is reported as a ProtocolError and only its
    first byte dropped, because the real packet may start inside it. A well-framed packet whose
    payload is wrong (unknown code, missing parameter) is reported and dropped whole.
    """

    def __init__(self, *, address: int | None = None) -> None:
        self.address = address
        self.skipped = 0  # bytes that became no packet: noise, and the frames reported as errors
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Packet | ProtocolError]:
        """Adds bytes; returns the packets, and the errors of rejected frames, completed by them."""
        self._buffer += data
        out: list[Packet | ProtocolError] = []
        while self._buffer:
            start = self._buffer.find(HEADER)
            if start < 0:
                # A trailing EF may be the first half of a header split across two reads.
                keep = 1 if self._buffer[-1] == HEADER[0] else 0
                self._skip(len(self._buffer) - keep)
                break
            self._skip(start)
            try:
                size = _frame_size(self._buffer, self.address)
                if size is None or len(self._buffer) < size:
                    break
                framed = _unframe(bytes(self._buffer[:size]), self.address)
            except ProtocolError as error:
                out.append(error)
                self._skip(1)
                continue
            try:
                out.append(_interpret(*framed))
                del self._buffer[:size]
            except ProtocolError as error:
                out.append(error)
                self._skip(size)
        return out

    def reset(self) -> None:
        """Forgets buffered bytes, e.g. before a new command, so a stale half packet cannot join a new one."""
        self._buffer.clear()

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the rest of a packet."""
        return len(self._buffer)

    def _skip(self, count: int) -> None:
        self.skipped += count
        del self._buffer[:count]
