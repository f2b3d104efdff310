"""A simulated SAM reader on a pseudo-terminal, speaking the same bytes as the real module.

The driver opens a symlink to the pty's slave side, as it would open /dev/ttyUSB0, so it goes
through real termios. Cards come from a TOML or JSON file; a test puts one on the reader or takes
it off, makes the next replies arrive late, split, garbled or preceded by noise, and unplugs the
reader (the link disappears and the pty closes) and plugs it back (a new pty behind the same link).
"""

from __future__ import annotations

import json
import os
import select
import threading
import time
import tomllib
import tty
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from peripherals.errors import ProtocolError
from peripherals.idcard.codes import NATIONS, SEXES, code_for
from peripherals.idcard.protocol import (
    MAX_LENGTH,
    CardRecord,
    Command,
    FrameParser,
    Reply,
    Status,
    decode_command,
    encode,
)
from peripherals.idcard.text import LONG_TERM, CardText, encode_text

# Read-reply overhead besides the photo: status, three length fields, text block, checksum.
_MAX_PHOTO = MAX_LENGTH - (3 + 6 + 256 + 1)
# A SAM ID as the 12 FF command returns it (16 bytes); the value is made up.
_SAM_ID = bytes.fromhex("0501000020240101000000000000000A")


@dataclass(frozen=True, slots=True)
class SimCard:
    """A card the simulator can hold: its text and the photo block it returns (a JPEG or BMP file here)."""

    text: CardText
    photo: bytes = b""
    fingerprint: bytes = b""


# --- card files -----------------------------------------------------------------------------------

_CARD_KEYS = {
    "name",
    "sex",
    "nation",
    "birth_date",
    "address",
    "id_number",
    "issuing_authority",
    "valid_from",
    "valid_until",
    "photo",
    "fingerprint",
}
_REQUIRED = _CARD_KEYS - {"photo", "fingerprint", "nation"}


def _card_date(where: str, value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        digits = value.replace("-", "")
        if len(digits) == 8 and digits.isdigit():
            try:
                return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
            except ValueError:
                pass
    raise ValueError(f"{where}: {value!r} is not a date, expected YYYY-MM-DD or YYYYMMDD")


def _card_text(where: str, entry: Mapping[str, Any], key: str) -> str:
    value = entry[key]
    if not isinstance(value, str):
        raise ValueError(f"{where}.{key}: {value!r} is not text, expected a string")
    return value


def _load_card(where: str, entry: Any, base: Path) -> SimCard:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected a table of card fields, got {type(entry).__name__}")
    unknown = set(entry) - _CARD_KEYS
    if unknown:
        raise ValueError(
            f"{where}: unknown key {sorted(unknown)[0]!r}, expected some of {', '.join(sorted(_CARD_KEYS))}"
        )
    missing = _REQUIRED - set(entry)
    if missing:
        raise ValueError(f"{where}: missing key {sorted(missing)[0]!r}")
    sex = code_for(SEXES, str(entry["sex"]))
    if sex is None:
        raise ValueError(f"{where}.sex: {entry['sex']!r} is not a sex, expected 0, 1, 2, 9 or 男, 女")
    nation = ""
    if "nation" in entry:
        found = code_for(NATIONS, str(entry["nation"]))
        if found is None:
            raise ValueError(f"{where}.nation: {entry['nation']!r} is not a GB 3304 code or name, e.g. '01' or '汉'")
        nation = found
    until = entry["valid_until"]
    text = CardText(
        name=_card_text(where, entry, "name"),
        sex_code=sex,
        nation_code=nation,
        birth_date=_card_date(f"{where}.birth_date", entry["birth_date"]),
        address=_card_text(where, entry, "address"),
        id_number=_card_text(where, entry, "id_number"),
        issuing_authority=_card_text(where, entry, "issuing_authority"),
        valid_from=_card_date(f"{where}.valid_from", entry["valid_from"]),
        valid_until=None if until == LONG_TERM else _card_date(f"{where}.valid_until", until),
    )
    try:
        encode_text(text)
    except ProtocolError as exc:
        raise ValueError(f"{where}: {exc}") from None
    photo = b""
    if "photo" in entry:
        path = base / _card_text(where, entry, "photo")
        try:
            photo = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"{where}.photo: cannot read {path} ({exc.strerror})") from None
        if len(photo) > _MAX_PHOTO:
            raise ValueError(f"{where}.photo: {path} is {len(photo)} bytes, a reply frame carries at most {_MAX_PHOTO}")
    fingerprint = b""
    if "fingerprint" in entry:
        try:
            fingerprint = bytes.fromhex(_card_text(where, entry, "fingerprint"))
        except ValueError:
            raise ValueError(f"{where}.fingerprint: expected hex bytes") from None
    return SimCard(text, photo, fingerprint)


def load_cards(path: str | Path) -> dict[str, SimCard]:
    """Cards from a TOML or JSON file: a `cards` table of named cards; photo paths are relative to the file."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        document = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'} ({exc})") from None
    cards = document.get("cards") if isinstance(document, dict) else None
    if not isinstance(cards, dict) or not cards:
        raise ValueError(f"{path}: expected a 'cards' table with at least one named card")
    return {name: _load_card(f"cards.{name}", entry, path.parent) for name, entry in cards.items()}


# --- the simulated reader -------------------------------------------------------------------------


@dataclass
class _Fault:
    """One kind of misbehaviour, applied to the next `times` replies."""

    kind: str
    times: int
    garbage: bytes = b""
    delay_s: float = 0.0
    chunk: int = 0


@dataclass
class _Sam:
    """What the SAM remembers between commands."""

    card: SimCard | None = None
    selected: bool = False
    received: list[Command] = field(default_factory=list)


class IdCardSimulator:
    """A SAM reader on a pty behind the symlink `link`; start() before use, stop() after."""

    def __init__(self, link: str | Path, cards: Mapping[str, SimCard] | None = None) -> None:
        self.link = Path(link)
        self.cards = dict(cards or {})
        self._sam = _Sam()
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._parser = FrameParser()

    @property
    def port(self) -> str:
        """The path a driver opens."""
        return str(self.link)

    @property
    def received(self) -> list[Command]:
        """The commands received so far, in order."""
        with self._lock:
            return list(self._sam.received)

    def __enter__(self) -> IdCardSimulator:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        """Plug the reader in and start answering."""
        self.replug()
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name=f"idcard-sim {self.link}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and unplug."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.unplug()

    # --- what a test does to the reader ---

    def put_card(self, name: str) -> None:
        """Lay the card `name` on the reader."""
        if name not in self.cards:
            raise KeyError(f"card {name!r}: not loaded, expected one of {', '.join(sorted(self.cards)) or 'none'}")
        with self._lock:
            self._sam.card = self.cards[name]
            self._sam.selected = False

    def take_card(self) -> None:
        """Take the card off the reader."""
        with self._lock:
            self._sam.card = None
            self._sam.selected = False

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def inject_checksum_error(self, times: int = 1) -> None:
        """The next `times` replies carry a wrong checksum."""
        self._add(_Fault("checksum", times))

    def inject_garbage(self, garbage: bytes, times: int = 1) -> None:
        """The next `times` replies are preceded by `garbage`."""
        self._add(_Fault("garbage", times, garbage=garbage))

    def inject_partial_frame(self, times: int = 1) -> None:
        """The next `times` replies are preceded by the first half of another frame (as after a reset)."""
        self._add(_Fault("partial", times))

    def inject_delay(self, delay_s: float, times: int = 1) -> None:
        """The next `times` replies are sent `delay_s` late."""
        self._add(_Fault("delay", times, delay_s=delay_s))

    def inject_split(self, chunk: int, delay_s: float = 0.01, times: int = 1) -> None:
        """The next `times` replies arrive `chunk` bytes at a time, `delay_s` apart."""
        self._add(_Fault("split", times, chunk=chunk, delay_s=delay_s))

    def inject_silence(self, times: int = 1) -> None:
        """The next `times` commands get no reply at all."""
        self._add(_Fault("silence", times))

    def unplug(self) -> None:
        """The reader disappears: the link is removed and the pty closed, as when USB is pulled."""
        with self._lock:
            master, slave = self._master, self._slave
            self._master = self._slave = None
            self._sam.selected = False
        self.link.unlink(missing_ok=True)
        for fd in (master, slave):
            if fd is not None:
                os.close(fd)

    def replug(self) -> None:
        """The reader comes back: a new pty behind the same link."""
        self.unplug()
        master, slave = os.openpty()
        # Raw from the start, so nothing is echoed or line-edited before the driver configures the port.
        tty.setraw(slave)
        # Non-blocking, so a reply nobody reads cannot wedge the serving thread and stop() always returns.
        os.set_blocking(master, False)
        staging = self.link.with_name(self.link.name + ".new")
        staging.unlink(missing_ok=True)
        os.symlink(os.ttyname(slave), staging)
        with self._lock:
            self._master, self._slave = master, slave
            self._parser.clear()
        os.replace(staging, self.link)

    # --- the SAM ---

    def _answer(self, command: Command) -> Reply:
        sam = self._sam
        sam.received.append(command)
        key = (command.code, command.parameter)
        if key in ((0x10, 0xFF), (0x11, 0xFF), (0x61, 0xFF)):
            return Reply(Status.SUCCESS)
        if key == (0x12, 0xFF):
            return Reply(Status.SUCCESS, _SAM_ID)
        if key == (0x20, 0x01):
            return Reply(Status.CARD_FOUND, bytes(4)) if sam.card else Reply(Status.NO_CARD)
        if key == (0x20, 0x02):
            sam.selected = sam.card is not None
            return Reply(Status.SUCCESS, bytes(8)) if sam.selected else Reply(Status.SELECT_FAILED)
        if key in ((0x30, 0x01), (0x30, 0x10)):
            if sam.card is None or not sam.selected:
                return Reply(Status.READ_FAILED)
            fingerprint = sam.card.fingerprint if key == (0x30, 0x10) else None
            return CardRecord(encode_text(sam.card.text), sam.card.photo, fingerprint).to_reply()
        if key == (0x30, 0x03):
            return Reply(Status.NO_CONTENT)
        return Reply(Status.COMMAND_ERROR)

    def _next_fault(self) -> _Fault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.times -= 1
            if fault.times <= 0:
                self._faults.popleft()
            return fault

    def _send(self, fd: int, reply: Reply) -> None:
        wire = encode(reply)
        fault = self._next_fault()
        if fault is None:
            self._write(fd, wire)
            return
        if fault.kind == "silence":
            return
        if fault.kind == "checksum":
            wire = wire[:-1] + bytes([wire[-1] ^ 0xFF])
        elif fault.kind == "garbage":
            wire = fault.garbage + wire
        elif fault.kind == "partial":
            other = encode(Reply(Status.SUCCESS, bytes(40)))
            wire = other[: len(other) // 2] + wire
        elif fault.kind == "delay":
            self._stop.wait(fault.delay_s)
        elif fault.kind == "split":
            for start in range(0, len(wire), fault.chunk):
                self._write(fd, wire[start : start + fault.chunk])
                time.sleep(fault.delay_s)
            return
        self._write(fd, wire)

    def _write(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._stop.is_set():
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                select.select([], [fd], [], 0.05)
                continue
            view = view[written:]

    def _serve(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                fd = self._master
            if fd is None:
                self._stop.wait(0.02)
                continue
            try:
                readable, _, _ = select.select([fd], [], [], 0.05)
                if not readable:
                    continue
                data = os.read(fd, 4096)
            except (OSError, ValueError):
                # Unplugged under our feet (fd closed) or nobody at the other end: wait for a replug.
                self._stop.wait(0.02)
                continue
            with self._lock:
                checksum_errors = self._parser.checksum_errors
                frames = self._parser.feed(data)
                self._parser.take_problems()
                damaged = self._parser.checksum_errors > checksum_errors
            try:
                if damaged:
                    self._send(fd, Reply(Status.CHECKSUM_ERROR))
                for frame in frames:
                    try:
                        command = decode_command(frame)
                    except ProtocolError:
                        reply = Reply(Status.COMMAND_ERROR)
                    else:
                        with self._lock:
                            reply = self._answer(command)
                    self._send(fd, reply)
            except OSError:
                # The pty was closed by unplug() while a reply was on its way; that reply is lost, as on a real unplug.
                continue
