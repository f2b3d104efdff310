"""The reader adapter: a SAM module on a serial port (pyserial), one command at a time.

`IdCardReader.transact` sends a command and waits for the reply, resending after a garbled reply
or a timeout; `read_card` is find → select → read; `watch` is the polling loop a device daemon
runs, reporting the reader going away (its port disappears: USB unplugged) and coming back.
"""

from __future__ import annotations

import logging
import os
import termios
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import serial  # type: ignore[import-untyped]

from peripherals.errors import ProtocolError
from peripherals.idcard.card import CardData, card_from_record
from peripherals.idcard.photo import PhotoDecoder
from peripherals.idcard.protocol import (
    FIND_CARD,
    READ_TEXT_PHOTO,
    READ_TEXT_PHOTO_FINGERPRINT,
    SAM_STATUS,
    SELECT_CARD,
    CardRecord,
    Command,
    FrameParser,
    Reply,
    Status,
    decode_reply,
    encode,
)

log = logging.getLogger(__name__)

# What a port that went away raises: pyserial's own error, the OS error under it, and termios.error,
# which is not an OSError and comes out of pyserial's flush calls (tcflush) unwrapped.
_PORT_ERRORS = (serial.SerialException, OSError, termios.error)

# How long one pyserial read may block: short, so a deadline is noticed soon after it passes.
_READ_SLICE_S = 0.05


@dataclass(frozen=True, slots=True)
class ReaderSettings:
    """Where the reader is and how patient to be with it; checked once, here."""

    port: str
    baudrate: int = 115200
    command_timeout_s: float = 1.0
    # A card read takes the SAM about a second (RF exchange and signature check) before 1.3 kB come back.
    read_timeout_s: float = 3.0
    retries: int = 2
    poll_interval_s: float = 0.3
    reconnect_interval_s: float = 1.0
    fingerprint: bool = False

    def __post_init__(self) -> None:
        if not self.port:
            raise ValueError("reader setting port='': expected a serial port path such as /dev/ttyUSB0")
        if self.baudrate not in serial.SerialBase.BAUDRATES:
            raise ValueError(f"reader setting baudrate={self.baudrate}: expected a standard rate such as 115200")
        for key in ("command_timeout_s", "read_timeout_s", "poll_interval_s", "reconnect_interval_s"):
            value = getattr(self, key)
            if not value > 0:
                raise ValueError(f"reader setting {key}={value}: expected a number of seconds > 0")
        if self.retries < 0:
            raise ValueError(f"reader setting retries={self.retries}: expected 0 or more")


class ReaderError(Exception):
    """The reader did not do what was asked; the message says which command and why."""


class ReaderTimeout(ReaderError):
    """No complete reply within the timeout."""


class ReaderGone(ReaderError):
    """The port cannot be opened or stopped working (reader unplugged, port path gone)."""


class CardReadError(ReaderError):
    """The SAM answered with a failure status while reading a card."""

    def __init__(self, command: Command, reply: Reply) -> None:
        super().__init__(f"{command.name}: {reply.message} (status {reply.status.value:02X}, {reply.message_zh})")
        self.status = reply.status


class _Garbled(ReaderError):
    """A reply arrived with a bad checksum; the command is sent again."""


@dataclass(frozen=True, slots=True)
class ReaderOnline:
    """The reader's port opened and the SAM reported itself ready."""

    port: str


@dataclass(frozen=True, slots=True)
class ReaderOffline:
    """The reader cannot be used: port missing, unusable, or the SAM does not answer."""

    port: str
    reason: str


@dataclass(frozen=True, slots=True)
class CardPresented:
    """A card was put on the reader and read."""

    card: CardData


@dataclass(frozen=True, slots=True)
class ReadFailed:
    """A card is there (or was) but reading it failed; the next poll tries again."""

    reason: str


ReaderEvent = ReaderOnline | ReaderOffline | CardPresented | ReadFailed


class IdCardReader:
    """A SAM reader on a serial port. Not thread-safe: one thread owns it (the device daemon's)."""

    def __init__(self, settings: ReaderSettings, photo_decoders: Sequence[PhotoDecoder] | None = None) -> None:
        self.settings = settings
        self._decoders = photo_decoders
        self._port: serial.Serial | None = None
        self._parser = FrameParser()

    @property
    def is_open(self) -> bool:
        """Whether the port is open."""
        return self._port is not None

    def __enter__(self) -> IdCardReader:
        self.open()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def open(self) -> None:
        """Open the port and check the SAM answers its status with success."""
        if self._port is not None:
            return
        path = self.settings.port
        if not os.path.exists(path):
            raise ReaderGone(f"port {path}: does not exist (reader unplugged?)")
        try:
            self._port = serial.Serial(
                path,
                self.settings.baudrate,
                timeout=_READ_SLICE_S,
                write_timeout=self.settings.command_timeout_s,
            )
        except _PORT_ERRORS as exc:
            raise ReaderGone(f"port {path}: cannot open it ({exc})") from None
        self._parser.clear()
        try:
            reply = self.transact(SAM_STATUS)
        except ReaderError:
            self.close()
            raise
        if reply.status is not Status.SUCCESS:
            self.close()
            raise CardReadError(SAM_STATUS, reply)

    def close(self) -> None:
        """Close the port; safe to call when it is closed or already gone."""
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except _PORT_ERRORS as exc:
                log.debug("closing %s: %s", self.settings.port, exc)

    def _lost(self, exc: Exception) -> ReaderGone:
        self.close()
        return ReaderGone(f"port {self.settings.port}: stopped working ({exc})")

    def _exchange(self, command: Command, timeout_s: float) -> Reply:
        port = self._port
        if port is None:
            raise ReaderGone(f"port {self.settings.port}: not open")
        # A stale reply or half a frame from an earlier, abandoned command must not answer this one.
        self._parser.clear()
        try:
            port.reset_input_buffer()
            port.write(encode(command))
        except _PORT_ERRORS as exc:
            raise self._lost(exc) from None
        checksum_errors = self._parser.checksum_errors
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                chunk = port.read(port.in_waiting or 1)
                waiting = port.in_waiting
            except _PORT_ERRORS as exc:
                raise self._lost(exc) from None
            if chunk:
                frames = self._parser.feed(chunk)
                problems = self._parser.take_problems()
                for problem in problems:
                    log.warning("%s, reply to %s: %s", self.settings.port, command, problem)
                if frames:
                    return decode_reply(frames[0])
                if self._parser.checksum_errors > checksum_errors and not waiting:
                    raise _Garbled(f"{command.name}: the reply was garbled ({self._parser.last_checksum_error})")
            if time.monotonic() >= deadline:
                raise ReaderTimeout(f"{command.name}: no reply within {timeout_s:g} s")

    def transact(self, command: Command, timeout_s: float | None = None) -> Reply:
        """Send `command` and return the SAM's reply, resending after a garbled reply or a timeout."""
        if timeout_s is None:
            reads = command.code == READ_TEXT_PHOTO.code
            timeout_s = self.settings.read_timeout_s if reads else self.settings.command_timeout_s
        last: ReaderError | None = None
        for _attempt in range(self.settings.retries + 1):
            try:
                reply = self._exchange(command, timeout_s)
            except (_Garbled, ReaderTimeout) as exc:
                if not os.path.exists(self.settings.port):
                    self.close()
                    raise ReaderGone(f"port {self.settings.port}: disappeared (reader unplugged?)") from None
                log.info("%s: %s; sending it again", self.settings.port, exc)
                last = exc
                continue
            if reply.status in (Status.CHECKSUM_ERROR, Status.LENGTH_ERROR):
                # The SAM got our frame damaged; sending it again is what the vendors' SDKs do.
                last = CardReadError(command, reply)
                continue
            return reply
        assert last is not None
        raise last

    def read_card(self) -> CardData | None:
        """Find, select and read the card on the reader; None when there is none."""
        found = self.transact(FIND_CARD)
        if found.status is Status.NO_CARD:
            return None
        if found.status is not Status.CARD_FOUND:
            raise CardReadError(FIND_CARD, found)
        selected = self.transact(SELECT_CARD)
        if selected.status is not Status.SUCCESS:
            raise CardReadError(SELECT_CARD, selected)
        command = READ_TEXT_PHOTO_FINGERPRINT if self.settings.fingerprint else READ_TEXT_PHOTO
        reply = self.transact(command)
        if reply.status is not Status.SUCCESS:
            raise CardReadError(command, reply)
        return card_from_record(CardRecord.from_reply(reply), self._decoders)

    def watch(self, stop: threading.Event) -> Iterator[ReaderEvent]:
        """Poll until `stop` is set, yielding what changed: reader online/offline, card presented, read failed.

        A card is presented once: while it stays, only "find card" is polled. A SAM does not answer
        "find" for a card it has already read until the card is taken off and put back, so the
        absence of a card cannot be told from a card left lying there; no "removed" event is made.
        A reader that stops answering is reported offline and reopened, like one unplugged.
        """
        path = self.settings.port
        online: bool | None = None
        card_present = False
        while not stop.is_set():
            if self._port is None:
                try:
                    self.open()
                except (ReaderError, ProtocolError) as exc:
                    if online is not False:
                        online = False
                        yield ReaderOffline(path, str(exc))
                    stop.wait(self.settings.reconnect_interval_s)
                    continue
                online, card_present = True, False
                yield ReaderOnline(path)
            try:
                if card_present:
                    card_present = self.transact(FIND_CARD).status is Status.CARD_FOUND
                else:
                    card = self.read_card()
                    if card is not None:
                        card_present = True
                        yield CardPresented(card)
            except (ReaderGone, ReaderTimeout) as exc:
                self.close()
                online = False
                yield ReaderOffline(path, str(exc))
                stop.wait(self.settings.reconnect_interval_s)
                continue
            except (ReaderError, ProtocolError) as exc:
                yield ReadFailed(str(exc))
            stop.wait(self.settings.poll_interval_s)
