"""pyserial driver for AS608 / R30x sensors: enrol, verify, search, template upload and download.

The driver is blocking and owns its port: give it one thread (the kiosk device daemon). Every
wait is bounded: a reply that does not come within `reply_timeout` and a finger that is not
placed (or lifted) within an operation's `timeout` end in `FingerprintTimeout`, never a hang.
"""

from __future__ import annotations

import termios
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import NamedTuple

import serial  # type: ignore[import-untyped, unused-ignore]

from peripherals.errors import ProtocolError
from peripherals.fingerprint.protocol import (
    DEFAULT_ADDRESS,
    Ack,
    Command,
    Confirmation,
    Data,
    DeleteChar,
    DownChar,
    Empty,
    GenImg,
    Img2Tz,
    Instruction,
    LoadChar,
    Match,
    Packet,
    PacketParser,
    ReadSysPara,
    RegModel,
    Search,
    Store,
    SystemParameters,
    TemplateNum,
    UpChar,
    VfyPwd,
    encode,
    reply_fields,
    split_data,
)

# How long one read may block; the loops around it check their own deadlines, so this only
# bounds how late a deadline is noticed.
_READ_SLICE_S = 0.05
# What a vanished port raises: pyserial wraps read and write errors, not ioctl or tcflush ones.
_PORT_ERRORS = (serial.SerialException, OSError, termios.error)


class FingerprintError(Exception):
    """A sensor operation that did not complete; the message names the step and the reason."""


class SensorError(FingerprintError):
    """The sensor answered with a confirmation code other than OK where OK was needed."""

    def __init__(self, step: str, code: Confirmation) -> None:
        super().__init__(f"{step}: sensor answered 0x{code:02X} {code.name}: {code.message}")
        self.step = step
        self.code = code


class FingerprintTimeout(FingerprintError, TimeoutError):
    """No reply, or no finger, within the time allowed."""


class DeviceGone(FingerprintError):
    """The serial port failed or disappeared (sensor unplugged); open a new FingerprintSensor."""


class _CorruptReply(Exception):
    """A reply that arrived damaged; the exchange is worth repeating."""


@dataclass(frozen=True)
class Verification:
    """Result of a 1:1 check against one library page."""

    matched: bool
    score: int


class SearchHit(NamedTuple):
    """The library page a finger matched, with the sensor's score."""

    page: int
    score: int


class FingerprintSensor:
    """An AS608 / R30x sensor on a serial port (a device path or any pyserial URL)."""

    def __init__(
        self,
        port: str,
        *,
        address: int = DEFAULT_ADDRESS,
        password: int = 0,
        baudrate: int = 57600,
        reply_timeout: float = 2.0,
        poll_interval: float = 0.1,
        retries: int = 1,
    ) -> None:
        self.port = port
        self.address = address
        self.password = password
        self.reply_timeout = reply_timeout
        self.poll_interval = poll_interval
        self.retries = retries
        self.corrupt_replies = 0
        self._parser = PacketParser(address=address)
        self._pending: deque[Packet | ProtocolError] = deque()
        self._parameters: SystemParameters | None = None
        try:
            self._serial = serial.serial_for_url(port, baudrate=baudrate, timeout=_READ_SLICE_S)
        except _PORT_ERRORS as error:
            raise DeviceGone(f"cannot open {port}: {error}") from error

    def close(self) -> None:
        """Closes the port."""
        self._serial.close()

    def __enter__(self) -> FingerprintSensor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    @property
    def skipped_bytes(self) -> int:
        """Bytes received that belonged to no packet: line noise, and damaged replies."""
        return self._parser.skipped

    # -- session -------------------------------------------------------------------------------

    def handshake(self) -> SystemParameters:
        """Verifies the password and reads the system parameters (library size, packet size)."""
        self._require(VfyPwd(password=self.password, address=self.address))
        ack = self._require(ReadSysPara(address=self.address))
        try:
            self._parameters = SystemParameters.from_ack(ack)
        except ProtocolError as error:
            raise FingerprintError(f"ReadSysPara: {error}") from error
        return self._parameters

    @property
    def parameters(self) -> SystemParameters:
        """The system parameters, read by a handshake the first time they are needed."""
        return self._parameters or self.handshake()

    # -- what the kiosk asks for ---------------------------------------------------------------

    def enrol(self, page: int, *, timeout: float = 10.0, progress: Callable[[str], None] | None = None) -> None:
        """Two presses of one finger → one template, stored at library `page`.

        `timeout` bounds each wait for the person: placing, lifting, placing again. `progress` is
        told "pressed 1", "lifted" and "pressed 2" as they happen, so a screen can prompt the person.
        """
        # Checked before anyone presses: the sensor would only refuse the page at the very end.
        size = self.parameters.library_size
        if not 0 <= page < size:
            raise FingerprintError(f"page {page}: outside the fingerprint library, expected 0..{size - 1}")
        tell = progress or (lambda step: None)
        self.capture(1, timeout=timeout)
        tell("pressed 1")
        self.wait_for_lift(timeout=timeout)
        tell("lifted")
        self.capture(2, timeout=timeout)
        tell("pressed 2")
        self._require(RegModel(address=self.address))
        self._require(Store(buffer=1, page=page, address=self.address))

    def verify(self, page: int, *, timeout: float = 10.0) -> Verification:
        """1:1: the finger on the sensor against the template at `page`."""
        # Load first: an empty page fails at once instead of after the person has pressed.
        self._require(LoadChar(buffer=2, page=page, address=self.address))
        self.capture(1, timeout=timeout)
        command = Match(address=self.address)
        ack = self._exchange(command)[0]
        if ack.code not in (Confirmation.OK, Confirmation.NO_MATCH):
            raise SensorError(command.name, ack.code)
        score = self._fields(Instruction.MATCH, ack)["score"] if ack.code is Confirmation.OK else 0
        return Verification(matched=ack.code is Confirmation.OK, score=score)

    def search(self, *, timeout: float = 10.0) -> SearchHit | None:
        """1:N: the finger on the sensor against the whole library; None when it is not enrolled."""
        count = self.parameters.library_size
        self.capture(1, timeout=timeout)
        command = Search(buffer=1, start=0, count=count, address=self.address)
        ack = self._exchange(command)[0]
        if ack.code is Confirmation.NOT_FOUND:
            return None
        if ack.code is not Confirmation.OK:
            raise SensorError(command.name, ack.code)
        values = self._fields(Instruction.SEARCH, ack)
        return SearchHit(page=values["page"], score=values["score"])

    def upload_template(self, page: int) -> bytes:
        """The template stored at `page`, read out of the sensor (to be kept, encrypted, in central)."""
        self._require(LoadChar(buffer=1, page=page, address=self.address))
        ack, template = self._exchange(UpChar(buffer=1, address=self.address), upload=True)
        if ack.code is not Confirmation.OK:
            raise SensorError("UpChar", ack.code)
        return template

    def download_template(self, page: int, template: bytes) -> None:
        """Writes a template (from `upload_template`, possibly on another sensor) to library `page`."""
        size = self.parameters.packet_size
        ack = self._exchange(DownChar(buffer=1, address=self.address), download=(template, size))[0]
        if ack.code is not Confirmation.OK:
            raise SensorError("DownChar", ack.code)
        self._require(Store(buffer=1, page=page, address=self.address))

    def delete(self, page: int, count: int = 1) -> None:
        """Deletes `count` templates from `page` on."""
        self._require(DeleteChar(page=page, count=count, address=self.address))

    def empty(self) -> None:
        """Deletes every template."""
        self._require(Empty(address=self.address))

    def template_count(self) -> int:
        """How many templates the library holds."""
        return self._fields(Instruction.TEMPLATE_NUM, self._require(TemplateNum(address=self.address)))["count"]

    # -- finger ------------------------------------------------------------------------------

    def capture(self, buffer: int, *, timeout: float) -> None:
        """Waits up to `timeout` for a finger, then turns its image into a character file in `buffer`."""
        self._wait_for_finger(placed=True, timeout=timeout)
        self._require(Img2Tz(buffer=buffer, address=self.address))

    def wait_for_lift(self, *, timeout: float) -> None:
        """Waits up to `timeout` until nothing is on the sensor."""
        self._wait_for_finger(placed=False, timeout=timeout)

    def _wait_for_finger(self, *, placed: bool, timeout: float) -> None:
        wanted = Confirmation.OK if placed else Confirmation.NO_FINGER
        deadline = time.monotonic() + timeout
        command = GenImg(address=self.address)
        while True:
            code = self._exchange(command)[0].code
            if code is wanted:
                return
            # IMAGE_FAILED: something touched the glass but gave no usable image; look again.
            if code not in (Confirmation.OK, Confirmation.NO_FINGER, Confirmation.IMAGE_FAILED):
                raise SensorError(command.name, code)
            left = deadline - time.monotonic()
            if left <= 0:
                if placed:
                    raise FingerprintTimeout(f"no finger placed on the sensor within {timeout:g} s")
                raise FingerprintTimeout(
                    f"finger not lifted from the sensor within {timeout:g} s (enrolment needs two separate presses)"
                )
            time.sleep(min(self.poll_interval, left))

    # -- packets -----------------------------------------------------------------------------

    def _require(self, command: Command) -> Ack:
        """Runs a command that must answer OK."""
        ack = self._exchange(command)[0]
        if ack.code is not Confirmation.OK:
            raise SensorError(command.name, ack.code)
        return ack

    def _fields(self, instruction: Instruction, ack: Ack) -> dict[str, int]:
        try:
            return reply_fields(instruction, ack)
        except ProtocolError as error:
            raise FingerprintError(str(error)) from error

    def _exchange(
        self, command: Command, *, upload: bool = False, download: tuple[bytes, int] | None = None
    ) -> tuple[Ack, bytes]:
        """Sends a command and takes its ack (and uploaded data), sending it again if a reply was damaged."""
        last: _CorruptReply | None = None
        for _ in range(self.retries + 1):
            self._discard_input()
            self._write(encode(command))
            try:
                ack = self._receive_ack(command)
                if ack.code is not Confirmation.OK:
                    return ack, b""
                if download is not None:
                    template, size = download
                    for packet in split_data(template, size, address=self.address):
                        self._write(encode(packet))
                return ack, (self._receive_data(command) if upload else b"")
            except _CorruptReply as error:
                self.corrupt_replies += 1
                last = error
        raise FingerprintError(f"{command.name}: no intact reply in {self.retries + 1} attempts; last: {last}")

    def _receive_ack(self, command: Command) -> Ack:
        packet = self._next_packet(command)
        if not isinstance(packet, Ack):
            raise _CorruptReply(f"expected an ack to {command.name}, got {type(packet).__name__}")
        if packet.code is Confirmation.PACKET_RECEIVE_ERROR:
            raise _CorruptReply(f"{command.name} reached the sensor damaged ({packet.message})")
        return packet

    def _receive_data(self, command: Command) -> bytes:
        received = bytearray()
        while True:
            packet = self._next_packet(command)
            if not isinstance(packet, Data):
                raise _CorruptReply(f"expected data after {command.name}, got {type(packet).__name__}")
            received += packet.payload
            if packet.last:
                return bytes(received)

    def _next_packet(self, command: Command) -> Packet:
        """The next packet from the sensor, waiting at most `reply_timeout` for it."""
        deadline = time.monotonic() + self.reply_timeout
        while not self._pending:
            if time.monotonic() >= deadline:
                raise FingerprintTimeout(f"no reply to {command.name} within {self.reply_timeout:g} s")
            self._pending.extend(self._parser.feed(self._read()))
        item = self._pending.popleft()
        if isinstance(item, ProtocolError):
            raise _CorruptReply(str(item))
        return item

    def _read(self) -> bytes:
        try:
            return bytes(self._serial.read(max(1, self._serial.in_waiting)))
        except _PORT_ERRORS as error:
            raise self._gone("read", error) from error

    def _write(self, data: bytes) -> None:
        try:
            self._serial.write(data)
        except _PORT_ERRORS as error:
            raise self._gone("write", error) from error

    def _discard_input(self) -> None:
        # A late or repeated reply to an earlier command must not be taken for this one's.
        self._pending.clear()
        self._parser.reset()
        try:
            self._serial.reset_input_buffer()
        except _PORT_ERRORS as error:
            raise self._gone("flushing input", error) from error

    def _gone(self, step: str, error: Exception) -> DeviceGone:
        return DeviceGone(f"{self.port}: {step} failed, the sensor is unplugged or gone ({error})")
