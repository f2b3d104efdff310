"""Resident ID-card reader frames (二代证 SAM module, serial): pure decode and encode, and a frame splitter.

Every frame is ``AA AA AA 96 69 | LEN | body | CHK``: LEN is two bytes, big-endian, and counts the
bytes after itself (body and checksum); CHK is the XOR of the length bytes and the body. A command's
body is ``CMD PARA [data]``, a reply's is ``SW1 SW2 SW3 [data]`` where SW3 is the SAM's status.
Layout and status codes as in GA 467 and the reader vendors' SDK documentation.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from enum import IntEnum
from functools import reduce

from peripherals.errors import ProtocolError

PREAMBLE = bytes.fromhex("AAAAAA9669")
HEADER_LENGTH = len(PREAMBLE) + 2
# The smallest body is a command without data (CMD PARA); with the checksum that is 3 bytes.
MIN_LENGTH = 3
MAX_LENGTH = 0xFFFF


def hex_bytes(data: bytes) -> str:
    """Bytes as upper-case hex pairs separated by spaces, the way reader manuals print frames."""
    return data.hex(" ").upper()


def checksum(data: bytes | bytearray) -> int:
    """XOR of every byte: the frame checksum over the length field and the body."""
    return reduce(operator.xor, data, 0)


# --- commands -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    """A command from the host to the SAM: command byte, parameter byte, and data (empty for most)."""

    code: int
    parameter: int
    data: bytes = b""

    @property
    def name(self) -> str:
        """What the command does, e.g. "find card"; "unknown command" for codes not in the table."""
        known = COMMANDS.get((self.code, self.parameter))
        return known[0] if known else "unknown command"

    def __str__(self) -> str:
        return f"{self.code:02X} {self.parameter:02X} ({self.name})"


SAM_RESET = Command(0x10, 0xFF)
SAM_STATUS = Command(0x11, 0xFF)
SAM_ID = Command(0x12, 0xFF)
FIND_CARD = Command(0x20, 0x01)
SELECT_CARD = Command(0x20, 0x02)
READ_TEXT_PHOTO = Command(0x30, 0x01)
READ_APPENDED_ADDRESS = Command(0x30, 0x03)
READ_TEXT_PHOTO_FINGERPRINT = Command(0x30, 0x10)
SET_MAX_RF_BYTES = Command(0x61, 0xFF, b"\x50")

# (CMD, PARA) -> (name, number of data bytes the command carries)
COMMANDS: dict[tuple[int, int], tuple[str, int]] = {
    (0x10, 0xFF): ("SAM reset", 0),
    (0x11, 0xFF): ("SAM status", 0),
    (0x12, 0xFF): ("read SAM ID", 0),
    (0x20, 0x01): ("find card", 0),
    (0x20, 0x02): ("select card", 0),
    (0x30, 0x01): ("read text and photo", 0),
    (0x30, 0x03): ("read appended address", 0),
    (0x30, 0x10): ("read text, photo and fingerprint", 0),
    # Hosts send this once after power-up so the SAM uses the largest RF frames (0x50 = 80 bytes).
    (0x61, 0xFF): ("set maximum RF frame bytes", 1),
}


# --- replies --------------------------------------------------------------------------------------


class Status(IntEnum):
    """SW3 of a reply: the SAM's status code."""

    SUCCESS = 0x90
    NO_CONTENT = 0x91
    CARD_FOUND = 0x9F
    CHECKSUM_ERROR = 0x10
    LENGTH_ERROR = 0x11
    COMMAND_ERROR = 0x21
    UNAUTHORISED = 0x23
    UNRECOGNISED_ERROR = 0x24
    CARD_REJECTED_SAM = 0x31
    SAM_REJECTED_CARD = 0x32
    VERIFICATION_FAILED = 0x33
    FINGERPRINT_VERIFICATION_FAILED = 0x37
    INFORMATION_LENGTH_ERROR = 0x3F
    UNKNOWN_CARD_TYPE = 0x40
    READ_FAILED = 0x41
    RANDOM_NUMBER_FAILED = 0x47
    SAM_SELF_TEST_FAILED = 0x60
    SAM_NOT_AUTHORISED = 0x66
    NO_CARD = 0x80
    SELECT_FAILED = 0x81


# Status -> (message in English, the vendors' Chinese wording that operators know from reader manuals)
STATUS_MESSAGES: dict[Status, tuple[str, str]] = {
    Status.SUCCESS: ("success", "操作成功"),
    Status.NO_CONTENT: ("the card has no content for this item", "居民身份证中无此项内容"),
    Status.CARD_FOUND: ("card found", "寻找居民身份证成功"),
    Status.CHECKSUM_ERROR: ("the SAM received a frame with a bad checksum", "接收业务终端数据的校验和错"),
    Status.LENGTH_ERROR: ("the SAM received a frame with a bad length", "接收业务终端数据的长度错"),
    Status.COMMAND_ERROR: (
        "the SAM received an unknown command or bad command values",
        "接收业务终端的命令错误，包括命令中的各种数值或逻辑搭配错误",
    ),
    Status.UNAUTHORISED: ("operation not permitted", "越权操作"),
    Status.UNRECOGNISED_ERROR: ("unrecognised error", "无法识别的错误"),
    Status.CARD_REJECTED_SAM: ("the card failed to authenticate the SAM", "居民身份证认证SAM_A失败"),
    Status.SAM_REJECTED_CARD: ("the SAM failed to authenticate the card", "SAM_A认证居民身份证失败"),
    Status.VERIFICATION_FAILED: ("card information failed verification", "信息验证失败"),
    Status.FINGERPRINT_VERIFICATION_FAILED: ("fingerprint information failed verification", "指纹信息验证错误"),
    Status.INFORMATION_LENGTH_ERROR: ("card information has a bad length", "信息长度错误"),
    Status.UNKNOWN_CARD_TYPE: ("unrecognised card type", "无法识别的居民身份证类型"),
    Status.READ_FAILED: ("reading the card failed", "读居民身份证操作失败"),
    Status.RANDOM_NUMBER_FAILED: ("could not get a random number from the card", "取随机数失败"),
    Status.SAM_SELF_TEST_FAILED: ("the SAM failed its self-test and takes no commands", "SAM_A自检失败，不能接收命令"),
    Status.SAM_NOT_AUTHORISED: ("the SAM is not authorised for use", "SAM_A没经过授权，无法使用"),
    Status.NO_CARD: ("no card on the reader", "寻找居民身份证失败"),
    Status.SELECT_FAILED: ("selecting the card failed", "选取居民身份证失败"),
}

# The two statuses that mean the command did what was asked.
GOOD_STATUSES = frozenset({Status.SUCCESS, Status.CARD_FOUND})


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply from the SAM: status SW3 (SW1 SW2 are 00 00 on every SAM), and data."""

    status: Status
    data: bytes = b""
    sw1: int = 0
    sw2: int = 0

    @property
    def ok(self) -> bool:
        """True for success and card found."""
        return self.status in GOOD_STATUSES

    @property
    def message(self) -> str:
        """The status in English, e.g. "no card on the reader"."""
        return STATUS_MESSAGES[self.status][0]

    @property
    def message_zh(self) -> str:
        """The status in the vendors' Chinese wording, e.g. "寻找居民身份证失败"."""
        return STATUS_MESSAGES[self.status][1]

    def __str__(self) -> str:
        return f"status {self.status.value:02X} ({self.message})"


Frame = Command | Reply


# --- the card record: what a read command returns -------------------------------------------------

TEXT_LENGTH = 256
PHOTO_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class CardRecord:
    """The data of a successful read reply: text block, photo block, and the fingerprint block if asked for.

    On a real card the text is 256 bytes of UCS-2LE and the photo 1024 bytes of WLT; simulated cards
    and some readers carry a JPEG or BMP photo instead, so the photo length is whatever the reply says.
    ``fingerprint`` is None for a plain read (30 01) and bytes (possibly empty) for 30 10.
    """

    text: bytes
    photo: bytes
    fingerprint: bytes | None = None

    @classmethod
    def from_reply(cls, reply: Reply) -> CardRecord:
        """Split a read reply's data by its length fields; which read it answers is told by the lengths."""
        if reply.status is not Status.SUCCESS:
            raise ProtocolError(f"card record: the reply has {reply}, expected 90 (success) with card data")
        data = reply.data
        if len(data) < 4:
            raise ProtocolError(
                f"card record: truncated length fields, {len(data)} data bytes, expected at least 4 "
                "(text length, photo length)"
            )
        text_length = int.from_bytes(data[0:2], "big")
        photo_length = int.from_bytes(data[2:4], "big")
        if 4 + text_length + photo_length == len(data):
            return cls(data[4 : 4 + text_length], data[4 + text_length :])
        if len(data) >= 6:
            fingerprint_length = int.from_bytes(data[4:6], "big")
            if 6 + text_length + photo_length + fingerprint_length == len(data):
                text_end = 6 + text_length
                photo_end = text_end + photo_length
                return cls(data[6:text_end], data[text_end:photo_end], data[photo_end:])
        raise ProtocolError(
            f"card record: truncated or overlong field, the length fields say text {text_length} + photo "
            f"{photo_length} bytes (+ fingerprint), the reply carries {len(data)} data bytes"
        )

    def to_reply(self) -> Reply:
        """The success reply carrying this record (what a SAM sends; the simulator uses it)."""
        lengths = len(self.text).to_bytes(2, "big") + len(self.photo).to_bytes(2, "big")
        if self.fingerprint is None:
            return Reply(Status.SUCCESS, lengths + self.text + self.photo)
        lengths += len(self.fingerprint).to_bytes(2, "big")
        return Reply(Status.SUCCESS, lengths + self.text + self.photo + self.fingerprint)


# --- decode ---------------------------------------------------------------------------------------


def _body(frame: bytes) -> bytes:
    """The body of one complete frame after checking preamble, length and checksum."""
    if not PREAMBLE.startswith(frame[: len(PREAMBLE)]):
        raise ProtocolError(f"bad preamble: got {hex_bytes(frame[:5])}, expected AA AA AA 96 69")
    if len(frame) < HEADER_LENGTH:
        raise ProtocolError(
            f"truncated frame: {len(frame)} bytes, expected at least {HEADER_LENGTH} (preamble and length)"
        )
    length = int.from_bytes(frame[5:7], "big")
    if length < MIN_LENGTH:
        raise ProtocolError(f"length {length}: expected at least {MIN_LENGTH} (two body bytes and the checksum)")
    actual = len(frame) - HEADER_LENGTH
    if actual != length:
        problem = "truncated frame" if actual < length else "trailing bytes"
        raise ProtocolError(f"{problem}: the length field says {length} bytes follow it, the frame has {actual}")
    expected = checksum(frame[5:-1])
    if frame[-1] != expected:
        raise ProtocolError(f"checksum: frame says 0x{frame[-1]:02X}, bytes give 0x{expected:02X}")
    return frame[HEADER_LENGTH:-1]


def _command(body: bytes) -> Command:
    key = (body[0], body[1])
    known = COMMANDS.get(key)
    if known is None:
        names = ", ".join(f"{c:02X} {p:02X} ({name})" for (c, p), (name, _) in COMMANDS.items())
        raise ProtocolError(f"unknown command {body[0]:02X} {body[1]:02X}: expected one of {names}")
    name, data_length = known
    data = body[2:]
    if len(data) != data_length:
        raise ProtocolError(
            f"command {body[0]:02X} {body[1]:02X} ({name}): carries {len(data)} data bytes, expected {data_length}"
        )
    return Command(body[0], body[1], data)


def _reply(body: bytes) -> Reply:
    if len(body) < 3:
        raise ProtocolError(f"truncated reply: {len(body)} status bytes, expected SW1 SW2 SW3")
    try:
        status = Status(body[2])
    except ValueError:
        known = ", ".join(f"{s.value:02X}" for s in Status)
        raise ProtocolError(f"unknown status SW3 0x{body[2]:02X}: expected one of {known}") from None
    return Reply(status, body[3:], body[0], body[1])


def decode_command(frame: bytes) -> Command:
    """One complete command frame (host → SAM) into a Command; ProtocolError says what is wrong."""
    return _command(_body(frame))


def decode_reply(frame: bytes) -> Reply:
    """One complete reply frame (SAM → host) into a Reply; ProtocolError says what is wrong."""
    return _reply(_body(frame))


def decode(frame: bytes) -> Frame:
    """One complete frame of either direction: a body starting 00 00 is a reply, anything else a command.

    SW1 and SW2 are 00 00 in every SAM reply, and no command byte is 00, so the first two body
    bytes tell the direction without context (what the CLI needs for a log of both directions).
    """
    body = _body(frame)
    if body[:2] == b"\x00\x00":
        return _reply(body)
    return _command(body)


# --- encode ---------------------------------------------------------------------------------------


def _byte(what: str, value: int) -> int:
    if not 0 <= value <= 0xFF:
        raise ProtocolError(f"{what} {value}: expected a byte, 0..255")
    return value


def encode(frame: Frame) -> bytes:
    """A Command or Reply as frame bytes: preamble, length, body and checksum."""
    if isinstance(frame, Command):
        head = bytes([_byte("command", frame.code), _byte("parameter", frame.parameter)])
    else:
        head = bytes([_byte("SW1", frame.sw1), _byte("SW2", frame.sw2), frame.status.value])
    body = head + frame.data
    length = len(body) + 1
    if length > MAX_LENGTH:
        raise ProtocolError(f"length {length}: the body is too long, the length field holds at most {MAX_LENGTH}")
    counted = length.to_bytes(2, "big") + body
    return PREAMBLE + counted + bytes([checksum(counted)])


# --- frame splitter -------------------------------------------------------------------------------


def _preamble_prefix_length(tail: bytes) -> int:
    """How many bytes at the end of `tail` could be the start of a preamble still arriving."""
    for size in range(min(len(PREAMBLE) - 1, len(tail)), 0, -1):
        if tail[-size:] == PREAMBLE[:size]:
            return size
    return 0


class FrameParser:
    """Fed bytes as they arrive, returns complete frames whose checksum is right.

    Garbage before a preamble is skipped; a header with an impossible length or a frame with a bad
    checksum is dropped one byte at a time, so a real frame hidden behind a false or corrupted header
    is still found; a partial frame (cut off by a reset or an unplug) is abandoned as soon as a complete
    frame follows it. What was dropped is described in ``problems`` and counted.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.problems: list[str] = []
        self.garbage_bytes = 0
        self.checksum_errors = 0
        self.last_checksum_error: str | None = None
        self.abandoned_frames = 0

    @property
    def pending(self) -> int:
        """Bytes kept for a frame that has not been completed yet."""
        return len(self._buffer)

    def clear(self) -> None:
        """Forget buffered bytes (the driver does this before a command, so a stale half-frame cannot linger)."""
        self._buffer.clear()

    def take_problems(self) -> list[str]:
        """The problems noted since the last call, oldest first."""
        problems, self.problems = self.problems, []
        return problems

    def _skip(self, count: int, why: str) -> None:
        del self._buffer[:count]
        self.garbage_bytes += count
        self.problems.append(f"skipped {count} byte{'s' if count != 1 else ''}: {why}")

    def _complete_frame_at(self, start: int) -> int | None:
        """The end of a complete, checksum-valid frame starting at `start`, or None."""
        buffer = self._buffer
        if len(buffer) < start + HEADER_LENGTH:
            return None
        length = int.from_bytes(buffer[start + 5 : start + 7], "big")
        end = start + HEADER_LENGTH + length
        if length < MIN_LENGTH or end > len(buffer):
            return None
        if checksum(buffer[start + 5 : end - 1]) != buffer[end - 1]:
            return None
        return end

    def _later_frame(self) -> int | None:
        """Where a complete valid frame starts after the head of the buffer, or None."""
        position = self._buffer.find(PREAMBLE, 1)
        while position >= 0:
            if self._complete_frame_at(position) is not None:
                return position
            position = self._buffer.find(PREAMBLE, position + 1)
        return None

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the frames they complete, in order."""
        self._buffer += data
        frames: list[bytes] = []
        buffer = self._buffer
        while buffer:
            start = buffer.find(PREAMBLE)
            if start < 0:
                keep = _preamble_prefix_length(bytes(buffer[-(len(PREAMBLE) - 1) :]))
                if len(buffer) > keep:
                    self._skip(len(buffer) - keep, "no preamble AA AA AA 96 69 in them")
                break
            if start > 0:
                self._skip(start, "garbage before the preamble")
            if len(buffer) < HEADER_LENGTH:
                break
            length = int.from_bytes(buffer[5:7], "big")
            if length < MIN_LENGTH:
                self._skip(1, f"a header with length {length}, expected at least {MIN_LENGTH}; resynchronising")
                continue
            end = self._complete_frame_at(0)
            if end is not None:
                frames.append(bytes(buffer[:end]))
                del buffer[:end]
                continue
            if len(buffer) >= HEADER_LENGTH + length:
                self.checksum_errors += 1
                frame_checksum = buffer[HEADER_LENGTH + length - 1]
                expected = checksum(buffer[5 : HEADER_LENGTH + length - 1])
                self.last_checksum_error = f"checksum: frame says 0x{frame_checksum:02X}, bytes give 0x{expected:02X}"
                self._skip(1, f"{self.last_checksum_error}; resynchronising")
                continue
            later = self._later_frame()
            if later is None:
                break
            self.abandoned_frames += 1
            self._skip(later, f"a partial frame (its length field says {length}) followed by a complete frame")
        return frames
