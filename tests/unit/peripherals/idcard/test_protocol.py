"""SAM frame codec: the captured frames, round trips, every error message, the frame splitter, fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from peripherals.errors import ProtocolError
from peripherals.idcard.protocol import (
    COMMANDS,
    FIND_CARD,
    PREAMBLE,
    READ_TEXT_PHOTO,
    READ_TEXT_PHOTO_FINGERPRINT,
    SAM_STATUS,
    SELECT_CARD,
    SET_MAX_RF_BYTES,
    STATUS_MESSAGES,
    CardRecord,
    Command,
    FrameParser,
    Reply,
    Status,
    checksum,
    decode,
    decode_command,
    decode_reply,
    encode,
)
from tests.unit.peripherals.idcard.samples import QUOTED_FRAMES, captured_frames
from tests.unit.peripherals.idcard.strategies import (
    card_records,
    chunked,
    commands,
    framed,
    frames,
    garbage,
    junk_frames,
    relaxed,
    replies,
)

# What each frame of idcard_frames.txt is, by the comment above it in the file.
EXPECTED = {
    "command: find card (20 01)": FIND_CARD,
    "command: select card (20 02)": SELECT_CARD,
    "command: read text + photo (30 01); the response is 1295 bytes: LEN 0x0508, SW 00 00 90, text length 0x0100, "
    "photo length 0x0400, 256 bytes UCS-2LE text, 1024 bytes WLT photo, checksum": READ_TEXT_PHOTO,
    "command: read text + photo + fingerprint (30 10)": READ_TEXT_PHOTO_FINGERPRINT,
    "command: SAM status (11 FF)": SAM_STATUS,
    "response: SAM status OK (00 00 90)": Reply(Status.SUCCESS),
}


def reason(frame: bytes, decoder=decode) -> str:
    """The text of the ProtocolError `decoder` raises for `frame`."""
    with pytest.raises(ProtocolError) as caught:
        decoder(frame)
    return str(caught.value)


def test_every_captured_frame_is_expected():
    """The captured frames file holds exactly the frames this suite knows the meaning of."""
    assert [description for description, _ in captured_frames()] == list(EXPECTED)


@pytest.mark.parametrize(("description", "frame"), list(captured_frames()))
def test_captured_frame_decodes_as_described(description, frame):
    """Each captured frame decodes to the command or reply its comment names."""
    assert decode(frame) == EXPECTED[description]


@pytest.mark.parametrize(("description", "frame"), list(captured_frames()))
def test_captured_frame_round_trips(description, frame):
    """Encoding what a captured frame decodes to gives back the same bytes."""
    assert encode(decode(frame)) == frame, description


@pytest.mark.parametrize(("description", "frame"), list(QUOTED_FRAMES.items()))
def test_quoted_frames_round_trip(description, frame):
    """Reply frames quoted in public reader drivers decode and encode back to themselves."""
    assert encode(decode(frame)) == frame, description


def test_quoted_frames_mean_what_the_drivers_say():
    """Card found, no card, select success, self-test failure and the RF-size command decode as quoted."""
    assert decode(QUOTED_FRAMES["find card: card found"]) == Reply(Status.CARD_FOUND, bytes(4))
    assert decode(QUOTED_FRAMES["find card: no card"]) == Reply(Status.NO_CARD)
    assert decode(QUOTED_FRAMES["select card: success"]) == Reply(Status.SUCCESS, bytes(8))
    self_test = decode(QUOTED_FRAMES["SAM status: self-test failed"])
    assert isinstance(self_test, Reply)
    assert self_test.message == "the SAM failed its self-test and takes no commands"
    assert decode(QUOTED_FRAMES["set max RF bytes 0x50"]) == SET_MAX_RF_BYTES


def test_read_reply_has_the_documented_layout():
    """A 30 01 reply is 1295 bytes: LEN 05 08, SW 00 00 90, lengths 01 00 / 04 00, text, photo, checksum."""
    text, photo = bytes(range(256)), bytes(1024)
    wire = encode(CardRecord(text, photo).to_reply())
    assert len(wire) == 1295
    assert wire[5:7] == b"\x05\x08"
    assert wire[7:10] == b"\x00\x00\x90"
    assert wire[10:14] == b"\x01\x00\x04\x00"
    assert wire[14:270] == text
    assert wire[270:1294] == photo
    assert wire[-1] == checksum(wire[5:-1])


def test_fingerprint_read_reply_splits_into_three_blocks():
    """A 30 10 reply carries three length fields and the fingerprint block after the photo."""
    record = CardRecord(b"t" * 256, b"p" * 1024, b"f" * 1024)
    reply = decode_reply(encode(record.to_reply()))
    assert reply.data[:6] == bytes.fromhex("010004000400")
    assert CardRecord.from_reply(reply) == record


@relaxed
@given(card_records)
def test_card_record_round_trips(record):
    """Any record survives reply → bytes → reply → record."""
    assert CardRecord.from_reply(decode_reply(encode(record.to_reply()))) == record


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(Status.NO_CARD), "card record: the reply has status 80 (no card on the reader), expected 90"),
        (Reply(Status.SUCCESS, b"\x01\x00"), "card record: truncated length fields, 2 data bytes, expected at least 4"),
        (
            Reply(Status.SUCCESS, b"\x01\x00\x04\x00" + bytes(100)),
            "card record: truncated or overlong field, the length fields say text 256 + photo 1024 bytes",
        ),
    ],
)
def test_card_record_errors(reply, expected):
    """A reply that is not a complete card record is refused with what is missing."""
    with pytest.raises(ProtocolError) as caught:
        CardRecord.from_reply(reply)
    assert str(caught.value).startswith(expected)


@relaxed
@given(frames)
def test_frames_round_trip(frame):
    """Every command and reply survives encode → decode, and the direction is recognised."""
    assert decode(encode(frame)) == frame


@relaxed
@given(commands)
def test_commands_decode_as_commands(command):
    """decode_command accepts every known command."""
    assert decode_command(encode(command)) == command


@relaxed
@given(replies)
def test_replies_decode_as_replies(reply):
    """decode_reply accepts every reply."""
    assert decode_reply(encode(reply)) == reply


def test_every_status_has_both_messages():
    """Each status code has an English message and the vendors' Chinese wording."""
    assert set(STATUS_MESSAGES) == set(Status)
    for status in Status:
        english, chinese = STATUS_MESSAGES[status]
        assert english
        assert chinese
        assert Reply(status).message == english


def test_only_success_and_card_found_are_ok():
    """A reply is ok exactly for 90 and 9F."""
    assert {status for status in Status if Reply(status).ok} == {Status.SUCCESS, Status.CARD_FOUND}


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (b"", "truncated frame: 0 bytes, expected at least 7 (preamble and length)"),
        (b"\xaa\xaa", "truncated frame: 2 bytes, expected at least 7 (preamble and length)"),
        (b"\xaa\x00", "bad preamble: got AA 00, expected AA AA AA 96 69"),
        (bytes.fromhex("AAAA0096690003200122"), "bad preamble: got AA AA 00 96 69, expected"),
        (PREAMBLE + b"\x00", "truncated frame: 6 bytes, expected at least 7 (preamble and length)"),
        (PREAMBLE + b"\x00\x02\x20\x22", "length 2: expected at least 3 (two body bytes and the checksum)"),
        (
            bytes.fromhex("AAAAAA9669000320 01"),
            "truncated frame: the length field says 3 bytes follow it, the frame has 2",
        ),
        (
            bytes.fromhex("AAAAAA96690003200122 00"),
            "trailing bytes: the length field says 3 bytes follow it, the frame has 4",
        ),
        (bytes.fromhex("AAAAAA96690003200123"), "checksum: frame says 0x23, bytes give 0x22"),
        (framed(b"\x40\x01"), "unknown command 40 01: expected one of 10 FF (SAM reset), 11 FF (SAM status)"),
        (framed(b"\x20\x01\x99"), "command 20 01 (find card): carries 1 data bytes, expected 0"),
        (framed(b"\x61\xff"), "command 61 FF (set maximum RF frame bytes): carries 0 data bytes, expected 1"),
        (framed(b"\x00\x00\x55"), "unknown status SW3 0x55: expected one of 90, 91, 9F, 10"),
    ],
)
def test_decode_errors(frame, expected):
    """Each malformed frame is refused with what was wrong and what was expected."""
    assert reason(frame).startswith(expected)


@pytest.mark.parametrize(("description", "frame"), list(captured_frames()))
def test_every_truncation_of_a_captured_frame_says_truncated(description, frame):
    """Each proper prefix of a captured frame is refused as a truncated frame, never misread."""
    for end in range(len(frame)):
        assert reason(frame[:end]).startswith("truncated frame"), (description, end)


def test_short_reply_is_truncated():
    """A reply body with fewer than three status bytes says SW1 SW2 SW3 were expected."""
    assert reason(framed(b"\x00\x00"), decode_reply) == "truncated reply: 2 status bytes, expected SW1 SW2 SW3"


def test_reply_decoder_keeps_odd_sw1_sw2():
    """decode_reply does not insist on SW1 SW2 = 00 00; it reports them."""
    reply = decode_reply(framed(b"\x01\x02\x90"))
    assert (reply.sw1, reply.sw2, reply.status) == (1, 2, Status.SUCCESS)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (Command(0x100, 0x01), "command 256: expected a byte, 0..255"),
        (Command(0x20, -1), "parameter -1: expected a byte, 0..255"),
        (Reply(Status.SUCCESS, sw1=300), "SW1 300: expected a byte, 0..255"),
        (Reply(Status.SUCCESS, bytes(0xFFFF)), "length 65539: the body is too long"),
    ],
)
def test_encode_errors(frame, expected):
    """Values that do not fit the frame are refused by encode with the field and the limit."""
    with pytest.raises(ProtocolError) as caught:
        encode(frame)
    assert str(caught.value).startswith(expected)


def test_command_names():
    """Commands print as their bytes and what they do."""
    assert str(FIND_CARD) == "20 01 (find card)"
    assert Command(0x77, 0x00).name == "unknown command"
    assert {name for name, _ in COMMANDS.values()} >= {
        "SAM reset",
        "SAM status",
        "find card",
        "select card",
        "read text and photo",
        "read text, photo and fingerprint",
    }


@relaxed
@given(junk_frames)
@example(b"")
@example(PREAMBLE)
@example(framed(b"\x00\x00"))
def test_decode_raises_only_protocol_errors(junk):
    """Random bytes, mutated real frames and truncations either decode or raise ProtocolError."""
    for decoder in (decode, decode_command, decode_reply):
        with contextlib.suppress(ProtocolError):
            decoder(junk)


@relaxed
@given(junk_frames)
def test_card_record_raises_only_protocol_errors(junk):
    """Splitting any reply data into a card record either works or raises ProtocolError."""
    with contextlib.suppress(ProtocolError):
        CardRecord.from_reply(Reply(Status.SUCCESS, junk))


# --- the frame splitter ---------------------------------------------------------------------------


@relaxed
@given(
    st.lists(frames.map(encode), min_size=1, max_size=4).flatmap(
        lambda wires: st.tuples(st.just(wires), chunked(b"".join(wires)))
    )
)
def test_parser_reassembles_split_frames(case):
    """Frames cut at any points come out whole, in order, with nothing noted."""
    wires, chunks = case
    parser = FrameParser()
    out = [frame for chunk in chunks for frame in parser.feed(chunk)]
    assert out == wires
    assert parser.pending == 0
    assert parser.take_problems() == []


@relaxed
@given(st.data(), garbage, frames.map(encode), garbage)
def test_parser_skips_garbage_around_a_frame(data, before, wire, after):
    """Noise before and after a frame is skipped and counted; the frame comes out intact."""
    parser = FrameParser()
    chunks = data.draw(chunked(before + wire + after))
    out = [frame for chunk in chunks for frame in parser.feed(chunk)]
    assert out == [wire]
    assert parser.garbage_bytes + parser.pending == len(before) + len(after)


@relaxed
@given(st.data(), frames.map(encode), frames.map(encode))
def test_parser_recovers_after_a_partial_frame(data, cut_off, wire):
    """A frame cut off part-way (a reset mid-reply) does not hide the complete frame that follows it."""
    partial = cut_off[: data.draw(st.integers(1, len(cut_off) - 1))]
    stream = partial + wire
    if len(partial) >= 7:
        end = 7 + int.from_bytes(partial[5:7], "big")
        # A cut-off header whose length reaches into the next frame with a matching checksum is a real frame
        # as far as any XOR-checksum framing can tell; only the other cases are recoverable.
        assume(not (len(stream) >= end and checksum(stream[5 : end - 1]) == stream[end - 1]))
    parser = FrameParser()
    out = [frame for chunk in data.draw(chunked(stream)) for frame in parser.feed(chunk)]
    assert out[-1:] == [wire]


def test_parser_drops_a_frame_with_a_bad_checksum_and_finds_the_next():
    """A corrupted frame is counted and described; the good frame after it still comes out."""
    good = encode(Reply(Status.NO_CARD))
    bad = good[:-1] + bytes([good[-1] ^ 0xFF])
    parser = FrameParser()
    assert parser.feed(bad + good) == [good]
    assert parser.checksum_errors == 1
    problems = parser.take_problems()
    assert problems[0] == "skipped 1 byte: checksum: frame says 0x7B, bytes give 0x84; resynchronising"
    assert parser.take_problems() == []


def test_parser_abandons_a_partial_frame_when_a_complete_one_follows():
    """Half a read reply (its length says 1288) followed by a whole find reply yields the find reply."""
    half = encode(CardRecord(bytes(256), bytes(1024)).to_reply())[:100]
    found = encode(Reply(Status.CARD_FOUND, bytes(4)))
    parser = FrameParser()
    assert parser.feed(half + found) == [found]
    assert parser.abandoned_frames == 1
    assert parser.take_problems() == [
        "skipped 100 bytes: a partial frame (its length field says 1288) followed by a complete frame"
    ]


def test_parser_skips_a_header_with_an_impossible_length():
    """A preamble followed by length 0 is not a frame start; the real frame after it is found."""
    good = encode(FIND_CARD)
    parser = FrameParser()
    assert parser.feed(PREAMBLE + b"\x00\x00" + good) == [good]
    assert "a header with length 0, expected at least 3; resynchronising" in parser.take_problems()[0]


def test_parser_keeps_a_possible_preamble_start():
    """Trailing AA AA is kept, because it may be the start of a preamble still arriving."""
    parser = FrameParser()
    assert parser.feed(b"\x01\x02\xaa\xaa") == []
    assert parser.pending == 2
    assert parser.garbage_bytes == 2
    assert parser.feed(encode(FIND_CARD)[2:]) == [encode(FIND_CARD)]


def test_parser_clear_forgets_a_half_frame():
    """clear() drops buffered bytes, so a stale half-frame cannot combine with the next reply."""
    parser = FrameParser()
    parser.feed(encode(FIND_CARD)[:8])
    parser.clear()
    assert parser.pending == 0
    assert parser.feed(encode(SELECT_CARD)) == [encode(SELECT_CARD)]


@relaxed
@given(st.lists(junk_frames, max_size=6))
def test_parser_never_raises_and_returns_only_valid_frames(chunks):
    """Whatever arrives, feed() raises nothing and every frame it returns passes the checksum check."""
    parser = FrameParser()
    for chunk in chunks:
        for frame in parser.feed(chunk):
            assert frame.startswith(PREAMBLE)
            assert frame[-1] == checksum(frame[5:-1])
