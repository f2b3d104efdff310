"""Real GT06 frames: the shared capture file, and a few more real captures for types it lacks."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest

FRAMES_FILE = Path(__file__).resolve().parents[4].parent / "shared" / "testdata" / "protocols" / "gt06_frames.txt"

# The receiver's clock in every decoder test: after every capture, so the plausibility check passes.
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def file_frames() -> list[tuple[int, bytes]]:
    """(line number, frame) for every frame of ../shared/testdata/protocols/gt06_frames.txt."""
    if not FRAMES_FILE.exists():
        pytest.skip(f"{FRAMES_FILE} is missing: the shared test data is not checked out next to the repository")
    return list(_read_frames())


@cache
def _read_frames() -> tuple[tuple[int, bytes], ...]:
    frames = []
    for number, line in enumerate(FRAMES_FILE.read_text().splitlines(), start=1):
        text = line.strip()
        if text and not text.startswith("#"):
            frames.append((number, bytes.fromhex(text)))
    return tuple(frames)


# Frames of the file that break the framing rules: a CRC-ITU mismatch and a login cut short. They
# are reported as ProtocolError saying so (Traccar, which never checks the CRC, lets them through).
BROKEN_IN_FILE = {
    "787811010123456789012345100B3201000171930D0A".lower(): "checksum: the frame says 0x7193",
    "78780d010359339075005244340d0a": "length: the field says 13 bytes follow it, the frame has 10",
}

# More real captures, from traccar/traccar src/test/java/org/traccar/protocol/Gt06ProtocolDecoderTest.java
# (Apache-2.0), for message types the shared file has no frame of.
LOCATION_22 = bytes.fromhex("787822220F0C1D023305C9027AC8180C46586000140001CC00287D001F71000001000820860D0A")
ALARM_26 = bytes.fromhex("7878252612030C063816C3026C10540C38C9700144030901CC002866000EEE0C06040302000DA2DB0D0A")
CELLS_28 = bytes.fromhex(
    "78783B2810010D02020201CC00287D001F713E287D001F7231287D001E232D287D001F4018"
    "000000000000000000000000000000000000FF00020005B14B0D0A"
)
CELLS_18 = bytes.fromhex(
    "78783b18100c0f1201010195271784005ab63617840002fa47178400ff8f4817840019f3491784005ab54b"
    "178400ff8e4c17840019f24cff0002012287c80d0a"
)
ALARM_16_REMOVED = bytes.fromhex("7878251613020C12141AC5027951430C2A16F60014000900000000001A00007C550300020002F1E70D0A")
ALARM_16_POWER_CUT = bytes.fromhex(
    "7878251610051b0f1c34c5022515d504b5dcd20738080902d4022bdf009cba5006640201006759680d0a"
)
# A Traccar server's log of a GT06 session (traccar/traccar issue #3236): device frames and the
# server's acknowledgements, byte for byte.
SESSION_LOGIN = bytes.fromhex("78780d010358735070530281007718630d0a")
SESSION_LOGIN_ACK = bytes.fromhex("787805010077cf6d0d0a")
SESSION_STATUS = bytes.fromhex("78780a13050604000200780b410d0a")
SESSION_STATUS_ACK = bytes.fromhex("78780513007807b70d0a")

TRACCAR_FRAMES = (LOCATION_22, ALARM_26, CELLS_28, CELLS_18, ALARM_16_REMOVED, ALARM_16_POWER_CUT)
