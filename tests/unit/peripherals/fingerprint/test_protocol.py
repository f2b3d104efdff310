"""Codec: the capture file, hand-checked packets, every error message, reply fields, the parser, fuzzing."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peripherals.errors import ProtocolError
from peripherals.fingerprint.protocol import (
    COMMANDS,
    CONFIRMATION_MESSAGES,
    Ack,
    Confirmation,
    Data,
    DownChar,
    GenImg,
    Img2Tz,
    Instruction,
    Match,
    Packet,
    PacketParser,
    Search,
    Store,
    SystemParameters,
    TemplateNum,
    VfyPwd,
    decode,
    encode,
    reply,
    reply_fields,
    split_data,
)
from tests.unit.peripherals.fingerprint.frames import FRAMES
from tests.unit.peripherals.fingerprint.strategies import (
    chunkings,
    frames,
    mutated_frames,
    noise,
    packets,
    truncations,
)

# What each frame of the capture file is, as its comment there describes it.
DESCRIBED = {
    "EF01FFFFFFFF010003010005": GenImg(),
    "EF01FFFFFFFF01000402010008": Img2Tz(buffer=1),
    "EF01FFFFFFFF01000402020009": Img2Tz(buffer=2),
    "EF01FFFFFFFF0100040901000F": DownChar(buffer=1),
}

# Packets laid out by hand from the AS608 manual, checksums summed by hand.
HAND_CHECKED = [
    ("EF01FFFFFFFF0100071300000000001B", VfyPwd(password=0)),
    ("EF01FFFFFFFF01000804010000012C003B", Search(buffer=1, start=0, count=300)),
    ("EF01FFFFFFFF010006060100030011", Store(buffer=1, page=3)),
    ("EF01FFFFFFFF07000302000C", Ack(code=Confirmation.NO_FINGER)),
    ("EF01FFFFFFFF0700070000050078008B", Ack(code=Confirmation.OK, data=bytes.fromhex("00050078"))),
    ("EF01FFFFFFFF070005000002000E", Ack(code=Confirmation.OK, data=bytes.fromhex("0002"))),
    ("EF01FFFFFFFF080004ABCD0184", Data(payload=b"\xab\xcd", last=True)),
    ("EF011234567802000355005A", Data(payload=b"\x55", address=0x12345678)),
]


def build(pid: int, payload: bytes, address: bytes = b"\xff\xff\xff\xff") -> bytes:
    """A frame with a correct checksum around any PID and payload, valid or not."""
    body = bytes([pid]) + (len(payload) + 2).to_bytes(2, "big") + payload
    return b"\xef\x01" + address + body + (sum(body) & 0xFFFF).to_bytes(2, "big")


def reason(frame: bytes, **kwargs: int) -> str:
    """The message of the ProtocolError that decoding `frame` raises."""
    with pytest.raises(ProtocolError) as caught:
        decode(frame, **kwargs)
    return str(caught.value)


def test_capture_file_is_fully_described():
    """Every frame in the capture file has an expected decoding here, and nothing here is missing from it."""
    assert {frame.hex().upper() for _, frame in FRAMES} == set(DESCRIBED)


@pytest.mark.parametrize(("comment", "frame"), FRAMES, ids=[c.split(":")[0] for c, _ in FRAMES])
def test_capture_file_frames_decode_as_described(comment, frame):
    """Each real frame decodes to what its comment says, and encodes back to the same bytes."""
    packet = decode(frame)
    assert packet == DESCRIBED[frame.hex().upper()]
    assert packet.name in comment
    assert encode(packet) == frame


@pytest.mark.parametrize(("hex_", "packet"), HAND_CHECKED)
def test_hand_checked_packets(hex_, packet):
    """Packets laid out by hand from the manual encode to those bytes and decode back."""
    frame = bytes.fromhex(hex_)
    assert encode(packet) == frame
    assert decode(frame) == packet


def test_every_instruction_has_a_command_and_every_code_a_message():
    """The instruction table and the confirmation table are complete."""
    assert set(COMMANDS) == set(Instruction)
    assert all(COMMANDS[i].INSTRUCTION is i for i in Instruction)
    assert set(CONFIRMATION_MESSAGES) == set(Confirmation)
    assert all(code.message and code.message == Ack(code=code).message for code in Confirmation)


def test_required_instruction_set_is_covered():
    """The fourteen instructions the issue names are all there, by the manual's names."""
    assert {cls.__name__ for cls in COMMANDS.values()} == {
        "GenImg",
        "Img2Tz",
        "Match",
        "Search",
        "RegModel",
        "Store",
        "LoadChar",
        "UpChar",
        "DownChar",
        "DeleteChar",
        "Empty",
        "TemplateNum",
        "ReadSysPara",
        "VfyPwd",
    }


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (b"", "truncated packet: 0 bytes, expected at least 11"),
        (bytes.fromhex("EF01FFFFFF"), "truncated packet: 5 bytes, expected at least 11"),
        (bytes.fromhex("EE01FFFFFFFF010003010005"), "bad header: got EE 01, expected EF 01"),
        (b"\x00", "truncated packet: 1 bytes, expected at least 11"),
        (build(0x03, b"\x01"), "PID 0x03: expected 01 (command), 02 (data), 07 (ack) or 08 (end of data)"),
        (bytes.fromhex("EF01FFFFFFFF0100010102"), "length 1: expected 2..258 (at most 256 payload bytes"),
        (bytes.fromhex("EF01FFFFFFFF010103") + bytes(259) + b"\x00\x05", "length 259: expected 2..258"),
        (bytes.fromhex("EF01FFFFFFFF0100030100"), "truncated packet: 11 bytes, LEN 3 says the packet has 12"),
        (bytes.fromhex("EF01FFFFFFFF01000301000500"), "length: 13 bytes, LEN 3 says the packet has 12"),
        (bytes.fromhex("EF01FFFFFFFF010003010006"), "checksum: packet says 0x0006, bytes give 0x0005"),
        (build(0x01, b"\x0a"), "unknown instruction code 0x0A: expected one of 0x01 GenImg, 0x02 Img2Tz"),
        (build(0x07, b"\x30"), "unknown confirmation code 0x30: not in the AS608 code table"),
        (build(0x01, b"\x02"), "truncated field: Img2Tz parameters are 0 bytes, expected 1 (buffer)"),
        (
            build(0x01, b"\x04\x01\x00"),
            "truncated field: Search parameters are 2 bytes, expected 5 (buffer, start, count)",
        ),
        (build(0x01, b"\x01\x00"), "length: GenImg parameters are 1 bytes, expected 0 (none)"),
        (build(0x01, b""), "truncated field: command packet has no instruction code"),
        (build(0x07, b""), "truncated field: ack packet has no confirmation code"),
    ],
)
def test_decode_errors_say_what_and_what_was_expected(frame, expected):
    """Each malformed packet is refused with a message naming the field and what it should be."""
    assert reason(frame).startswith(expected)


def test_address_is_checked_when_asked():
    """A packet for another sensor is refused only when the caller names its own address."""
    frame = FRAMES[0][1]
    assert decode(frame) == GenImg()
    assert reason(frame, address=1) == "address: got FFFFFFFF, expected 00000001"


@pytest.mark.parametrize(
    ("packet", "expected"),
    [
        (Img2Tz(buffer=256), "Img2Tz.buffer 256: expected 0..255"),
        (Search(buffer=1, start=0, count=70000), "Search.count 70000: expected 0..65535"),
        (VfyPwd(password=-1), "VfyPwd.password -1: expected 0..4294967295"),
        (GenImg(address=1 << 32), "address 4294967296: expected 0..4294967295"),
        (Data(payload=bytes(257)), "payload of 257 bytes: expected at most 256"),
        (Ack(code=Confirmation.OK, data=bytes(256)), "payload of 257 bytes: expected at most 256"),
    ],
)
def test_encode_refuses_what_does_not_fit(packet, expected):
    """A field outside its wire range is refused before any byte is produced."""
    with pytest.raises(ProtocolError, match=re.escape(expected)):
        encode(packet)


def test_reply_fields_per_instruction():
    """Acks carry the return values the manual lists for their instruction, zeroed on failure."""
    assert reply_fields(Instruction.SEARCH, reply(Instruction.SEARCH, Confirmation.OK, page=5, score=120)) == {
        "page": 5,
        "score": 120,
    }
    assert reply(Instruction.SEARCH, Confirmation.NOT_FOUND).data == bytes(4)
    assert reply_fields(Instruction.MATCH, reply(Instruction.MATCH, Confirmation.OK, score=77)) == {"score": 77}
    assert reply_fields(Instruction.TEMPLATE_NUM, Ack(code=Confirmation.OK, data=b"\x00\x02")) == {"count": 2}
    assert reply_fields(Instruction.STORE, Ack(code=Confirmation.OK)) == {}


@pytest.mark.parametrize(
    ("instruction", "data", "expected"),
    [
        (
            Instruction.SEARCH,
            b"\x00\x05",
            "truncated field: Search ack return values are 2 bytes, expected 4 (page, score)",
        ),
        (Instruction.MATCH, b"\x00\x05\x00", "length: Match ack return values are 3 bytes, expected 2 (score)"),
        (Instruction.GEN_IMG, b"\x00", "length: GenImg ack return values are 1 bytes, expected 0 (none)"),
    ],
)
def test_reply_fields_refuse_the_wrong_length(instruction, data, expected):
    """Return values of the wrong size are refused with the instruction and the field names."""
    with pytest.raises(ProtocolError) as caught:
        reply_fields(instruction, Ack(code=Confirmation.OK, data=data))
    assert str(caught.value) == expected


def test_reply_refuses_unknown_and_out_of_range_fields():
    """Building an ack with a field its instruction does not return, or too big a value, is refused."""
    with pytest.raises(ProtocolError, match=re.escape("Match ack has no field ['page']: expected score")):
        reply(Instruction.MATCH, Confirmation.OK, page=1)
    with pytest.raises(ProtocolError, match=re.escape("Match ack score 65536: expected 0..65535")):
        reply(Instruction.MATCH, Confirmation.OK, score=65536)


def test_system_parameters_round_trip():
    """ReadSysPara's 16 bytes unpack to sizes in bytes and bit/s, and pack back the same."""
    params = SystemParameters(
        status=0, system_id=9, library_size=300, security_level=3, address=0xFFFFFFFF, packet_size=128, baudrate=57600
    )
    ack = params.to_ack()
    assert ack.data.hex().upper() == "00000009012C0003FFFFFFFF00020006"
    decoded = decode(encode(ack))
    assert isinstance(decoded, Ack)
    assert SystemParameters.from_ack(decoded) == params


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("0000 0009 012C 0003 FFFFFFFF 0004 0006", "packet size code 4: expected 0..3 (32, 64, 128 or 256 bytes)"),
        ("0000 0009 012C 0003 FFFFFFFF 0002 0000", "baud setting 0: expected 1..12 (× 9600 bit/s)"),
        ("0000 0009 012C", "truncated field: ReadSysPara ack return values are 6 bytes, expected 16"),
    ],
)
def test_system_parameters_refuse_impossible_settings(data, expected):
    """A packet-size code or baud setting the family does not have is refused."""
    with pytest.raises(ProtocolError) as caught:
        SystemParameters.from_ack(Ack(code=Confirmation.OK, data=bytes.fromhex(data)))
    assert str(caught.value).startswith(expected)


def test_split_data_makes_packets_of_the_sensor_size():
    """A 512-byte template at 128 bytes a packet is three data packets and one end-of-data packet."""
    template = bytes(range(256)) * 2
    parts = split_data(template, 128, address=7)
    assert [len(p.payload) for p in parts] == [128] * 4
    assert [p.last for p in parts] == [False, False, False, True]
    assert {p.address for p in parts} == {7}
    assert b"".join(p.payload for p in parts) == template
    assert split_data(b"", 32) == [Data(payload=b"", last=True)]
    with pytest.raises(ProtocolError, match=re.escape("packet size 100: expected one of (32, 64, 128, 256)")):
        split_data(template, 100)


@given(packets)
def test_encode_decode_round_trip(packet):
    """Any packet the codec can encode decodes back to itself."""
    assert decode(encode(packet)) == packet


@given(frames)
def test_decode_encode_round_trip(frame):
    """Any valid frame encodes back to exactly its own bytes."""
    assert encode(decode(frame)) == frame


@given(st.binary(max_size=300) | mutated_frames() | truncations())
def test_decode_raises_only_protocol_error(frame):
    """Random bytes, mutated real frames and truncations decode or raise ProtocolError, nothing else."""
    outcome: Packet | ProtocolError
    try:
        outcome = decode(frame)
    except ProtocolError as error:
        outcome = error
    if isinstance(outcome, ProtocolError):
        assert str(outcome), "a ProtocolError must say what was wrong"
    else:
        assert encode(outcome) == frame


@given(truncations())
def test_truncations_are_refused(frame):
    """A frame cut anywhere is never taken for a packet."""
    with pytest.raises(ProtocolError):
        decode(frame)


# -- parser ------------------------------------------------------------------------------------

STREAM: list[Packet] = [
    GenImg(),
    Ack(code=Confirmation.OK),
    Data(payload=b"\xef\x01\x02"),
    Data(payload=b"x", last=True),
]
STREAM_BYTES = b"".join(encode(p) for p in STREAM)


@pytest.mark.parametrize("cut", range(len(STREAM_BYTES) + 1))
def test_parser_joins_a_stream_split_anywhere(cut):
    """A stream cut at any byte gives the same packets, none before their last byte arrives."""
    parser = PacketParser()
    first = parser.feed(STREAM_BYTES[:cut])
    second = parser.feed(STREAM_BYTES[cut:])
    assert first + second == STREAM
    assert parser.pending == 0
    assert parser.skipped == 0


def test_parser_skips_garbage_before_a_header():
    """Noise before a header (even a lone EF, or EF then a wrong byte) is skipped and counted."""
    parser = PacketParser()
    assert parser.feed(b"\x00\xffnoise\xef\x00" + FRAMES[0][1] + b"\x13\x37") == [GenImg()]
    assert parser.skipped == 11
    assert parser.pending == 0


def test_parser_keeps_a_trailing_header_byte():
    """An EF at the end of a read may be half a header, so it waits for the next read."""
    parser = PacketParser()
    frame = FRAMES[1][1]
    assert parser.feed(b"\x00" + frame[:1]) == []
    assert parser.pending == 1
    assert parser.feed(frame[1:]) == [Img2Tz(buffer=1)]


def test_parser_reports_a_bad_checksum_and_resynchronises():
    """A damaged packet is reported, and the packet right after it still comes through."""
    damaged = bytearray(encode(TemplateNum()))
    damaged[-1] ^= 0xFF
    parser = PacketParser()
    out = parser.feed(bytes(damaged) + encode(Match()))
    assert len(out) == 2
    assert isinstance(out[0], ProtocolError)
    assert str(out[0]).startswith("checksum: packet says")
    assert out[1] == Match()
    assert parser.skipped == len(damaged)


def test_parser_does_not_wait_on_a_false_header():
    """EF 01 inside noise fails on its PID or length at once, so the real packet behind it is not held up."""
    parser = PacketParser()
    out = parser.feed(b"\xef\x01\xff\xff\xff\xff\x55" + encode(GenImg()))
    assert [type(x) for x in out] == [ProtocolError, GenImg]
    assert "PID 0x55" in str(out[0])
    out = parser.feed(b"\xef\x01\xff\xff\xff\xff\x02\xff\xff" + encode(GenImg()))
    assert [type(x) for x in out] == [ProtocolError, GenImg]
    assert "length 65535" in str(out[0])


def test_parser_drops_a_well_framed_packet_with_a_bad_payload_whole():
    """An unknown instruction in a packet with a good checksum costs that packet only."""
    parser = PacketParser()
    out = parser.feed(build(0x01, b"\x0a\xef\x01") + encode(GenImg()))
    assert [type(x) for x in out] == [ProtocolError, GenImg]
    assert parser.skipped == 14


def test_parser_refuses_other_addresses_when_given_one():
    """A parser bound to an address reports packets for another one."""
    parser = PacketParser(address=0x12345678)
    out = parser.feed(encode(GenImg()) + encode(GenImg(address=0x12345678)))
    assert str(out[0]) == "address: got FFFFFFFF, expected 12345678"
    assert out[-1] == GenImg(address=0x12345678)


def test_parser_reset_forgets_half_a_packet():
    """After reset a stale half packet cannot join the next one."""
    parser = PacketParser()
    parser.feed(encode(GenImg())[:5])
    parser.reset()
    assert parser.pending == 0
    assert parser.feed(encode(Match())) == [Match()]


@given(st.lists(st.tuples(noise, packets), max_size=6), noise, st.data())
def test_parser_finds_every_packet_among_noise_in_any_chunking(pairs, tail, data):
    """Packets with noise between them come out in order, whatever the read boundaries."""
    stream = b"".join(junk + encode(packet) for junk, packet in pairs) + tail
    parser = PacketParser()
    out = [item for chunk in data.draw(chunkings(stream)) for item in parser.feed(chunk)]
    assert out == [packet for _, packet in pairs]
    assert parser.skipped == sum(len(junk) for junk, _ in pairs) + len(tail)


@given(st.binary(max_size=400) | mutated_frames(), st.data())
def test_parser_never_raises_and_ignores_read_boundaries(stream, data):
    """On any bytes the parser only returns packets and ProtocolErrors, the same for any chunking."""
    whole = PacketParser().feed(stream)
    parser = PacketParser()
    pieces = [item for chunk in data.draw(chunkings(stream)) for item in parser.feed(chunk)]
    assert all(isinstance(item, ProtocolError) or decode(encode(item)) == item for item in whole)
    assert [str(item) if isinstance(item, ProtocolError) else item for item in pieces] == [
        str(item) if isinstance(item, ProtocolError) else item for item in whole
    ]
