"""The simulator on its own: a card file with a real face photo, and what it answers to damaged or unknown commands."""

from __future__ import annotations

import cv2
import numpy as np
import serial  # type: ignore[import-untyped]

from peripherals.idcard import (
    FIND_CARD,
    IdCardReader,
    IdCardSimulator,
    ReaderSettings,
    Reply,
    Status,
    decode_reply,
    encode,
    load_cards,
)
from peripherals.idcard.protocol import FrameParser
from tests.unit.peripherals.idcard.samples import ZHANG_SAN, face_jpeg
from tests.unit.peripherals.idcard.strategies import framed

CARD_FILE = f"""
[cards.zhang]
name = "张三"
sex = "男"
nation = "汉"
birth_date = 1990-03-07
address = "福建省厦门市海沧区沧林东路123号"
id_number = "{ZHANG_SAN.id_number}"
issuing_authority = "厦门市公安局海沧分局"
valid_from = 2015-06-01
valid_until = 2035-06-01
photo = "photos/zhang.jpg"
"""


def exchange(port: serial.Serial, frame: bytes) -> Reply:
    """Write one frame to the simulator and decode the reply (test-side, through a plain pyserial port)."""
    port.write(frame)
    parser = FrameParser()
    while True:
        chunk = port.read(port.in_waiting or 1)
        assert chunk, "the simulator did not answer"
        frames = parser.feed(chunk)
        if frames:
            return decode_reply(frames[0])


def test_card_file_with_a_face_photo(tmp_path):
    """A TOML card with a real face photo is read through the driver; the photo decodes as the same face image."""
    jpeg = face_jpeg()
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "zhang.jpg").write_bytes(jpeg)
    (tmp_path / "cards.toml").write_text(CARD_FILE, encoding="utf-8")
    with IdCardSimulator(tmp_path / "ttyIDCARD", load_cards(tmp_path / "cards.toml")) as simulator:
        simulator.put_card("zhang")
        with IdCardReader(ReaderSettings(simulator.port, command_timeout_s=1.0)) as reader:
            card = reader.read_card()
    assert card is not None
    assert card.text == ZHANG_SAN
    assert card.photo is not None
    assert card.photo.data == jpeg
    image = cv2.imdecode(np.frombuffer(card.photo.data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert image.shape == (126, 102, 3)


def test_simulator_answers_like_a_sam(simulator):
    """Bad checksum → 10, unknown command → 21, read before select → 41, appended address → 91."""
    with serial.Serial(simulator.port, 115200, timeout=2) as port:
        assert exchange(port, encode(FIND_CARD)[:-1] + b"\x00").status is Status.CHECKSUM_ERROR
        assert exchange(port, framed(b"\x40\x01")).status is Status.COMMAND_ERROR
        assert exchange(port, framed(b"\x30\x01")).status is Status.READ_FAILED
        assert exchange(port, framed(b"\x30\x03")).status is Status.NO_CONTENT
        assert exchange(port, framed(b"\x12\xff")).data[:2] == b"\x05\x01"
