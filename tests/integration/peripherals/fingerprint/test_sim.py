"""The simulator's bytes on the pty, read and written by a plain pyserial port."""

from __future__ import annotations

import pytest
import serial  # type: ignore[import-untyped, unused-ignore]

from peripherals.fingerprint.protocol import Ack, Confirmation, GenImg, PacketParser, decode, encode
from tests.unit.peripherals.fingerprint.frames import FRAMES

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


@pytest.fixture
def port(simulator):
    """A raw pyserial port on the simulator's pty."""
    with serial.Serial(simulator.port, 57600, timeout=1.0) as opened:
        yield opened


def test_answers_a_real_frame_with_the_manual_bytes(port):
    """The capture file's GenImg, with nothing on the glass, is answered EF01 FFFFFFFF 07 0003 02 000C."""
    port.write(FRAMES[0][1])
    assert port.read(12).hex().upper() == "EF01FFFFFFFF07000302000C"


def test_answers_a_damaged_command_with_receive_error(simulator, port):
    """A command with a bad checksum is answered with confirmation 0x01 and recorded."""
    damaged = bytearray(FRAMES[0][1])
    damaged[-1] ^= 0x01
    port.write(bytes(damaged))
    assert decode(port.read(12)) == Ack(code=Confirmation.PACKET_RECEIVE_ERROR)
    assert "checksum" in str(simulator.errors[0])


def test_faults_shape_the_next_reply(simulator, port):
    """Injected garbage comes before the reply and a corrupted reply fails its checksum; later replies are clean."""
    simulator.inject_garbage(b"noise")
    simulator.corrupt_replies(1)
    port.write(encode(GenImg()))
    raw = port.read(5 + 12)
    assert raw[:5] == b"noise"
    parser = PacketParser()
    (error,) = parser.feed(raw)
    assert str(error).startswith("checksum")
    port.write(encode(GenImg()))
    assert decode(port.read(12)) == Ack(code=Confirmation.NO_FINGER)
