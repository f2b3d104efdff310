"""Frames and cards the idcard tests share: the captured frames file, sample cards, a tiny JPEG."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import pytest

from peripherals.idcard.id_number import check_character
from peripherals.idcard.text import CardText

REPO = Path(__file__).resolve().parents[4]
TESTDATA = REPO.parent / "shared" / "testdata"
FRAMES_FILE = TESTDATA / "protocols" / "idcard_frames.txt"
FACES = TESTDATA / "faces" / "face_recognition"


@functools.cache
def captured_frames() -> tuple[tuple[str, bytes], ...]:
    """(description, frame) for every frame line of idcard_frames.txt; the description is the comment above it."""
    if not FRAMES_FILE.exists():
        pytest.skip(f"{FRAMES_FILE} is missing: the shared test data is not checked out next to the repository")
    frames: list[tuple[str, bytes]] = []
    description = ""
    for raw in FRAMES_FILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#"):
            description = line.lstrip("# ")
        elif line:
            frames.append((description, bytes.fromhex(line)))
    return tuple(frames)


# Reply frames quoted in public reader drivers that match whole replies by their hex (find card
# succeeded / failed, select succeeded, SAM self-test failed) and the "set max RF bytes" command
# that Heiher's hev-dbus-object-idcard-reader.c (2012) sends after power-up.
QUOTED_FRAMES: dict[str, bytes] = {
    "find card: card found": bytes.fromhex("AAAAAA9669000800009F0000000097"),
    "find card: no card": bytes.fromhex("AAAAAA9669000400008084"),
    "select card: success": bytes.fromhex("AAAAAA9669000C00009000000000000000009C"),
    "SAM status: self-test failed": bytes.fromhex("AAAAAA9669000400006064"),
    "set max RF bytes 0x50": bytes.fromhex("AAAAAA9669000461FF50CA"),
}


def id_number(first17: str) -> str:
    """A valid 18-character ID number for 17 digits."""
    return first17 + check_character(first17)


# The example number of GB 11643-1999 itself (Beijing Chaoyang, born 1949-12-31, female).
STANDARD_EXAMPLE = "11010519491231002X"

ZHANG_SAN = CardText(
    name="张三",
    sex_code="1",
    nation_code="01",
    birth_date=date(1990, 3, 7),
    address="福建省厦门市海沧区沧林东路123号",
    id_number=id_number("35020519900307001"),
    issuing_authority="厦门市公安局海沧分局",
    valid_from=date(2015, 6, 1),
    valid_until=date(2035, 6, 1),
)

# Long-term validity, a minority nation, a name with the middle dot, a full-width address.
AYI_GULI = CardText(
    name="阿依古丽·买买提",
    sex_code="2",
    nation_code="05",
    birth_date=date(1960, 11, 30),
    address="新疆乌鲁木齐市天山区解放南路" + "一" * 21,
    id_number=id_number("65010219601130002"),
    issuing_authority="乌鲁木齐市公安局天山分局",
    valid_from=date(2012, 1, 15),
    valid_until=None,
)

# A residence permit for a Hong Kong resident: no nation, pass number and issue count instead.
CHAN_TAI_MAN = CardText(
    name="陈大文",
    sex_code="1",
    nation_code="",
    birth_date=date(1985, 8, 8),
    address="香港特别行政区",
    id_number=id_number("81000019850808001"),
    issuing_authority="深圳市公安局",
    valid_from=date(2019, 1, 1),
    valid_until=date(2024, 1, 1),
    kind="residence_permit",
    pass_number="H12345678",
    issue_count=1,
)

BAD_CHECK = replace(ZHANG_SAN, id_number=ZHANG_SAN.id_number[:17] + ("0" if ZHANG_SAN.id_number[17] != "0" else "1"))


def tiny_jpeg(width: int = 102, height: int = 126) -> bytes:
    """A small valid JPEG (a grey gradient with a dark oval), the size of a card photo."""
    grey = np.tile(np.linspace(80, 220, width, dtype=np.uint8), (height, 1))
    image = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    cv2.ellipse(image, (width // 2, height // 2), (width // 3, height // 3), 0, 0, 360, (40, 40, 40), -1)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert ok
    return encoded.tobytes()


def face_jpeg() -> bytes:
    """A real face photo shrunk to card-photo size (102 x 126), from the shared test data."""
    source = FACES / "obama.jpg"
    if not source.exists():
        pytest.skip(f"{source} is missing: no face photo in the shared test data for a realistic card photo")
    image = cv2.imread(str(source))
    assert image is not None, f"{source}: OpenCV cannot read it"
    small = cv2.resize(image, (102, 126), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return encoded.tobytes()
