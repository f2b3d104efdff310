"""Every hypothesis strategy of the fingerprint suite: valid packets, streams, and junk for the decoder."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import strategies as st

from peripherals.fingerprint.protocol import (
    COMMANDS,
    MAX_PAYLOAD,
    Ack,
    Command,
    Confirmation,
    Data,
    Packet,
    encode,
)
from tests.unit.peripherals.fingerprint.frames import FRAMES

_BOUNDS = {"B": 0xFF, "H": 0xFFFF, "I": 0xFFFFFFFF}

addresses = st.sampled_from([0xFFFFFFFF, 0x00000000]) | st.integers(0, 0xFFFFFFFF)


@st.composite
def commands(draw: st.DrawFn) -> Command:
    """Any command the codec knows, every parameter anywhere in its field's range."""
    cls = draw(st.sampled_from(list(COMMANDS.values())))
    values: dict[str, Any] = {name: draw(st.integers(0, _BOUNDS[code])) for name, code in cls.PARAMS}
    return cls(address=draw(addresses), **values)


acks = st.builds(
    Ack,
    code=st.sampled_from(list(Confirmation)),
    data=st.binary(max_size=MAX_PAYLOAD - 1),
    address=addresses,
)
data_packets = st.builds(Data, payload=st.binary(max_size=MAX_PAYLOAD), last=st.booleans(), address=addresses)
packets: st.SearchStrategy[Packet] = commands() | acks | data_packets
frames = packets.map(encode)

# Bytes that can never start a header, so a stream made of them and packets has one reading.
noise = st.binary(max_size=40).map(lambda b: b.replace(b"\xef", b"\x00"))


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """A real or generated frame with bytes flipped, inserted or deleted."""
    frame = bytearray(draw(st.sampled_from([f for _, f in FRAMES]) | frames))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(frame)))
        action = draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "insert" or not frame:
            frame.insert(at, draw(st.integers(0, 255)))
        elif action == "flip":
            frame[min(at, len(frame) - 1)] ^= draw(st.integers(1, 255))
        else:
            del frame[min(at, len(frame) - 1)]
    return bytes(frame)


@st.composite
def truncations(draw: st.DrawFn) -> bytes:
    """A real or generated frame cut short."""
    frame = draw(st.sampled_from([f for _, f in FRAMES]) | frames)
    return frame[: draw(st.integers(0, len(frame) - 1))]


@st.composite
def chunkings(draw: st.DrawFn, stream: bytes) -> list[bytes]:
    """`stream` cut into pieces at arbitrary points."""
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    edges = [0, *cuts, len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(edges)]
