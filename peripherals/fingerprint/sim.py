"""A simulated AS608 sensor that speaks the real packets on a pseudo-terminal.

`SimulatedSensor` is the sensor's state and its answer to each packet, with no I/O, so its
behaviour is unit-tested. `FingerprintSimulator` puts it behind `os.openpty()`: the driver opens
`simulator.port` with pyserial exactly as it would open /dev/ttyUSB0, and tests can inject
garbage, corrupt checksums, delays, split writes, or pull the plug.

Fingers are names. A finger's "character file" is 512 bytes fixed by its name, so the same name
always matches itself, with a score fixed by the name, and never another finger.
"""

from __future__ import annotations

import hashlib
import os
import select
import threading
import time
import tty
from collections import deque
from types import TracebackType

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
    reply,
    split_data,
)

TEMPLATE_SIZE = 512  # an AS608 character file
_MAGIC = b"SIMF"
_IDENTITY = len(_MAGIC) + 32  # magic + SHA-256 of the finger's name
_POLL_S = 0.05


def finger_template(name: str) -> bytes:
    """The character file the simulator makes for a named finger: 512 bytes fixed by the name."""
    seed = hashlib.sha256(name.encode()).digest()
    out = bytearray(_MAGIC + seed)
    counter = 0
    while len(out) < TEMPLATE_SIZE:
        out += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(out[:TEMPLATE_SIZE])


def template_score(template: bytes) -> int:
    """The score a template scores against itself: 60..315, fixed by the finger."""
    return 60 + template[len(_MAGIC)] if len(template) > len(_MAGIC) else 0


def _same_finger(a: bytes | None, b: bytes | None) -> bool:
    return a is not None and b is not None and a.startswith(_MAGIC) and a[:_IDENTITY] == b[:_IDENTITY]


class SimulatedSensor:
    """An AS608's library, char buffers and finger, answering packets; pure, no I/O, not thread-safe."""

    def __init__(
        self,
        *,
        address: int = DEFAULT_ADDRESS,
        password: int = 0,
        library_size: int = 300,
        packet_size: int = 128,
        baudrate: int = 57600,
    ) -> None:
        self.parameters = SystemParameters(
            status=0,
            system_id=0x0009,
            library_size=library_size,
            security_level=3,
            address=address,
            packet_size=packet_size,
            baudrate=baudrate,
        )
        self.password = password
        self.library: dict[int, bytes] = {}
        self.buffers: dict[int, bytes] = {}
        self.image: str | None = None
        self._verified = password == 0
        self._finger: str | None = None
        self._presses: int | None = None  # None: the finger rests until lifted
        self._down = False
        self._download: tuple[int, bytearray] | None = None

    @property
    def address(self) -> int:
        """The address the sensor answers to and sends from."""
        return self.parameters.address

    def place_finger(self, name: str) -> None:
        """A finger rests on the glass: every capture sees it until `lift_finger`."""
        self._finger, self._presses, self._down = name, None, True

    def press_finger(self, name: str, times: int = 1) -> None:
        """A person presses `times` times, lifting after each capture (what enrolment asks of them)."""
        self._finger, self._presses, self._down = name, times, True

    def lift_finger(self) -> None:
        """Nothing on the glass any more."""
        self._finger = None

    def enrol(self, page: int, name: str) -> None:
        """Puts a finger's template straight into the library, as if enrolled earlier."""
        self.library[page] = finger_template(name)

    def handle(self, packet: Packet) -> list[Packet]:
        """The packets the sensor sends back for one received packet (none for data, as the real one)."""
        if isinstance(packet, Data):
            return self._receive_data(packet)
        if isinstance(packet, Ack):
            return []
        # A command aborts a download left unfinished, as a new command does on the chip.
        self._download = None
        if not self._verified and not isinstance(packet, VfyPwd):
            return [self._ack(packet, Confirmation.PASSWORD_REQUIRED)]
        return self._command(packet)

    def _ack(self, command: Command, code: Confirmation, **values: int) -> Ack:
        return reply(command.INSTRUCTION, code, address=self.address, **values)

    def _buffer_id(self, buffer: int) -> int:
        # The manual: any BufferID other than 1 is taken as CharBuffer2.
        return 1 if buffer == 1 else 2

    def _command(self, command: Command) -> list[Packet]:
        ok = Confirmation.OK
        match command:
            case GenImg():
                return [self._ack(command, self._capture())]
            case Img2Tz(buffer=buffer):
                if self.image is None:
                    return [self._ack(command, Confirmation.NO_VALID_IMAGE)]
                self.buffers[self._buffer_id(buffer)] = finger_template(self.image)
                return [self._ack(command, ok)]
            case Match():
                one, two = self.buffers.get(1), self.buffers.get(2)
                if _same_finger(one, two) and one is not None:
                    return [self._ack(command, ok, score=template_score(one))]
                return [self._ack(command, Confirmation.NO_MATCH)]
            case Search(buffer=buffer, start=start, count=count):
                probe = self.buffers.get(self._buffer_id(buffer))
                for page in sorted(self.library):
                    if start <= page < start + count and _same_finger(probe, self.library[page]):
                        return [self._ack(command, ok, page=page, score=template_score(self.library[page]))]
                return [self._ack(command, Confirmation.NOT_FOUND)]
            case RegModel():
                one, two = self.buffers.get(1), self.buffers.get(2)
                if not _same_finger(one, two) or one is None:
                    return [self._ack(command, Confirmation.ENROL_MISMATCH)]
                self.buffers[2] = one
                return [self._ack(command, ok)]
            case Store(buffer=buffer, page=page):
                if page >= self.parameters.library_size:
                    return [self._ack(command, Confirmation.BAD_LOCATION)]
                template = self.buffers.get(self._buffer_id(buffer))
                if template is None:
                    return [self._ack(command, Confirmation.TEMPLATE_READ_FAILED)]
                self.library[page] = template
                return [self._ack(command, ok)]
            case LoadChar(buffer=buffer, page=page):
                if page >= self.parameters.library_size:
                    return [self._ack(command, Confirmation.BAD_LOCATION)]
                if page not in self.library:
                    return [self._ack(command, Confirmation.TEMPLATE_READ_FAILED)]
                self.buffers[self._buffer_id(buffer)] = self.library[page]
                return [self._ack(command, ok)]
            case UpChar(buffer=buffer):
                template = self.buffers.get(self._buffer_id(buffer))
                if template is None:
                    return [self._ack(command, Confirmation.UPLOAD_FEATURE_FAILED)]
                return [
                    self._ack(command, ok),
                    *split_data(template, self.parameters.packet_size, address=self.address),
                ]
            case DownChar(buffer=buffer):
                self._download = (self._buffer_id(buffer), bytearray())
                return [self._ack(command, ok)]
            case DeleteChar(page=page, count=count):
                if page + count > self.parameters.library_size:
                    return [self._ack(command, Confirmation.BAD_LOCATION)]
                for gone in range(page, page + count):
                    self.library.pop(gone, None)
                return [self._ack(command, ok)]
            case Empty():
                self.library.clear()
                return [self._ack(command, ok)]
            case TemplateNum():
                return [self._ack(command, ok, count=len(self.library))]
            case ReadSysPara():
                return [self.parameters.to_ack()]
            case VfyPwd(password=password):
                self._verified = password == self.password
                return [self._ack(command, ok if self._verified else Confirmation.WRONG_PASSWORD)]
        raise AssertionError(f"no handler for {command!r}")  # unreachable: COMMANDS is closed

    def _capture(self) -> Confirmation:
        if self._finger is None:
            return Confirmation.NO_FINGER
        if self._presses is not None:
            if not self._down:
                # Lifted after the previous capture: this poll sees an empty glass, the next one the finger.
                self._down = True
                return Confirmation.NO_FINGER
            self._presses -= 1
            self._down = False
        self.image = self._finger
        if self._presses == 0:
            self._finger = None
        return Confirmation.OK

    def _receive_data(self, packet: Data) -> list[Packet]:
        if self._download is None:
            return []
        buffer, received = self._download
        received += packet.payload
        if packet.last:
            self.buffers[buffer] = bytes(received)
            self._download = None
        return []


class FingerprintSimulator:
    """A SimulatedSensor behind a pseudo-terminal; open `port` with pyserial. Thread-safe."""

    def __init__(
        self,
        *,
        address: int = DEFAULT_ADDRESS,
        password: int = 0,
        library_size: int = 300,
        packet_size: int = 128,
    ) -> None:
        self.sensor = SimulatedSensor(
            address=address, password=password, library_size=library_size, packet_size=packet_size
        )
        self.received: list[Packet] = []
        self.errors: list[ProtocolError] = []
        self._master, self._slave = os.openpty()
        # Raw from the start: no echo, no newline translation, even before the driver opens the port.
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._parser = PacketParser()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._garbage = b""
        self._corrupt = 0
        self._delays: deque[float] = deque()
        self._chunk = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="fingerprint-sim", daemon=True)

    def start(self) -> FingerprintSimulator:
        """Starts answering on the pty."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stops answering and closes the pty (idempotent)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if not self._closed:
            self._closed = True
            os.close(self._master)
            os.close(self._slave)

    def unplug(self) -> None:
        """The device disappears: the pty is hung up, so the driver's next read or write fails."""
        self.close()

    def __enter__(self) -> FingerprintSimulator:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # fingers and library
    def place_finger(self, name: str) -> None:
        """A finger rests on the sensor until `lift_finger`."""
        with self._lock:
            self.sensor.place_finger(name)

    def press_finger(self, name: str, times: int = 1) -> None:
        """A finger pressed `times` times, lifted after each capture."""
        with self._lock:
            self.sensor.press_finger(name, times)

    def lift_finger(self) -> None:
        """Nothing on the sensor."""
        with self._lock:
            self.sensor.lift_finger()

    def enrol(self, page: int, name: str) -> None:
        """Stores a finger's template at a library page directly."""
        with self._lock:
            self.sensor.enrol(page, name)

    def library(self) -> dict[int, bytes]:
        """A copy of the template library."""
        with self._lock:
            return dict(self.sensor.library)

    # faults
    def inject_garbage(self, data: bytes) -> None:
        """The next reply is preceded by these bytes (line noise, a boot banner)."""
        with self._lock:
            self._garbage += data

    def corrupt_replies(self, count: int = 1) -> None:
        """The next `count` replies go out with a wrong checksum."""
        with self._lock:
            self._corrupt += count

    def delay_replies(self, seconds: float, count: int = 1) -> None:
        """The next `count` replies are held back `seconds` each."""
        with self._lock:
            self._delays.extend([seconds] * count)

    def split_replies(self, chunk_size: int) -> None:
        """Replies are written `chunk_size` bytes at a time with a pause between; 0 writes them whole."""
        with self._lock:
            self._chunk = chunk_size

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], _POLL_S)
            if not ready:
                continue
            data = os.read(self._master, 4096)
            for item in self._parser.feed(data):
                self._answer(item)

    def _answer(self, item: Packet | ProtocolError) -> None:
        if isinstance(item, ProtocolError):
            self.errors.append(item)
            self._send([Ack(code=Confirmation.PACKET_RECEIVE_ERROR, address=self.sensor.address)])
            return
        self.received.append(item)
        if item.address != self.sensor.address:
            return  # the chip ignores packets for another address
        with self._lock:
            answer = self.sensor.handle(item)
        if answer:
            self._send(answer)

    def _send(self, packets: list[Packet]) -> None:
        with self._lock:
            garbage, self._garbage = self._garbage, b""
            corrupt = self._corrupt > 0
            if corrupt:
                self._corrupt -= 1
            delay = self._delays.popleft() if self._delays else 0.0
            chunk = self._chunk
        frames = [encode(packet) for packet in packets]
        wire = bytearray(b"".join(frames))
        if corrupt:
            wire[len(frames[0]) - 1] ^= 0xFF
        if delay and self._stop.wait(delay):
            return
        out = garbage + bytes(wire)
        step = chunk or len(out)
        for i in range(0, len(out), step):
            self._write(out[i : i + step])
            if chunk:
                # Long enough for the reader to wake between pieces, so it really sees a split packet.
                time.sleep(0.002)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._master, view) :]
