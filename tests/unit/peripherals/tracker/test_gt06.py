"""GT06 codec: real frames, errors that say what is wrong, replies, round trips, fuzzing, splitter, CLI."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peripherals.errors import ProtocolError
from peripherals.plausibility import check_device_time, check_position
from peripherals.tracker import gt06
from peripherals.tracker.gt06 import (
    Alarm,
    Cell,
    CellTowers,
    FrameSplitter,
    GpsFix,
    Location,
    Login,
    Status,
    Terminal,
    TimeRequest,
    Unsupported,
    ack,
    crc_itu,
    decode,
    decode_reply,
    encode,
    encode_frame,
    reply_for,
    time_reply,
)
from tests.unit.peripherals.tracker import frames as real
from tests.unit.peripherals.tracker import strategies
from tests.unit.peripherals.tracker.frames import BROKEN_IN_FILE, NOW, file_frames

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def one(frame: bytes, **kwargs: object) -> gt06.Gt06Message:
    """The single message of a frame, decoded with the test clock."""
    messages = decode(frame, now=NOW, **kwargs)  # type: ignore[arg-type]
    assert len(messages) == 1
    return messages[0]


def assert_plausible(message: gt06.Gt06Message) -> None:
    """Every position and timestamp a decoder returns passes the shared plausibility check."""
    fix = getattr(message, "fix", None)
    if fix is not None:
        check_position(fix.lat, fix.lon)
        check_device_time(fix.time, NOW)
    moment = getattr(message, "time", None)
    if moment is not None:
        check_device_time(moment, NOW)


# --- the shared capture file ---------------------------------------------------------------------


def test_every_file_frame_decodes_or_is_reported() -> None:
    """Each frame of gt06_frames.txt decodes or comes back Unsupported; only the two broken ones raise, saying why."""
    kinds: set[str] = set()
    for number, frame in file_frames():
        broken = BROKEN_IN_FILE.get(frame.hex())
        if broken is not None:
            with pytest.raises(ProtocolError, match=re.escape(broken)):
                decode(frame, now=NOW)
            continue
        message = one(frame)
        kinds.add(message.kind)
        assert_plausible(message)
        if isinstance(message, Unsupported):
            assert f"unsupported message type 0x{message.protocol:02X}" in message.reason, number
            assert message.protocol == frame[3 if frame[:2] == b"\x78\x78" else 4], number
    assert {"login", "location", "status", "alarm", "time_request", "unsupported"} <= kinds


def test_file_location_has_the_values_traccar_expects() -> None:
    """0x12 from the file: time, position, satellites, fix flag and cell, as Traccar's own test states them."""
    frame = bytes.fromhex("78781f120f0a140e150bc505e51e780293a9e800540000f601006e0055da00035f240d0a")
    message = one(frame)
    assert isinstance(message, Location)
    assert message.fix.time == datetime(2015, 10, 20, 14, 21, 11, tzinfo=UTC)
    assert (round(message.fix.lat, 5), round(message.fix.lon, 5)) == (54.94535, 24.01762)
    assert (message.fix.satellites, message.fix.gps_fixed, message.fix.speed_kmh, message.serial) == (5, True, 0, 3)
    assert message.cell == Cell(246, 1, 110, 21978)


def test_file_gps_only_frame_is_in_the_southern_and_western_hemispheres() -> None:
    """0x10: hemisphere bits clear (south) and set (west) turn into negative degrees."""
    message = one(bytes.fromhex("787819100e010903230ec803ae32a60653cded00180000020072feb70d0a"))
    assert isinstance(message, Location) and message.protocol == gt06.GPS
    assert (round(message.fix.lat, 6), round(message.fix.lon, 6)) == (-34.304377, -58.975278)
    assert message.fix.time == datetime(2014, 1, 9, 3, 35, 14, tzinfo=UTC)


def test_file_logins_short_and_with_time_zone() -> None:
    """The short login names the IMEI; the long one adds the model and the zone (west bit set: UTC-4)."""
    short = one(bytes.fromhex("78780D01086471700328358100093F040D0A"))
    assert short == Login(9, "864717003283581")
    full = one(bytes.fromhex("787811010864717003664467100f190a0002c6d20d0a"))
    assert full == Login(2, "864717003664467", 0x100F, -timedelta(hours=4))


def test_file_status_and_heartbeat() -> None:
    """0x13 gives the voltage level (6 = full) and GSM signal; 0x23 gives battery volts."""
    status = one(bytes.fromhex("78780a13440604000201baaf540d0a"))
    assert isinstance(status, Status)
    assert (status.battery_pct, status.gsm_signal, status.terminal.charging, status.serial) == (100.0, 4, True, 442)
    volts = one(bytes.fromhex("78780B23C00122040001000818720D0A"))
    assert isinstance(volts, Status) and volts.protocol == gt06.HEARTBEAT
    assert (volts.voltage_v, volts.battery_pct, volts.gsm_signal) == (2.9, None, 4)


def test_file_time_request() -> None:
    """0x8A carries only its serial."""
    assert one(bytes.fromhex("7878058A000688290D0A")) == TimeRequest(6)


def test_file_alarm_with_zero_padded_cell_block() -> None:
    """The long 0x16 variant (cell length 0, zero padding): status read from the end, battery 100 % as Traccar says."""
    message = one(
        bytes.fromhex(
            "78784A1614051C150204EC02777E560C2A2A2A5314AF000000000000040000000000000000000000000000000000000000"
            "000000000000000000000000000000000000007E061B0982004B24C00D0A"
        )
    )
    assert isinstance(message, Alarm)
    assert (message.battery_pct, message.alarm_code, message.alarm, message.terminal.alarm) == (
        100.0,
        0x09,
        "movement",
        "removed",
    )
    assert message.fix is not None and message.fix.time == datetime(2020, 5, 28, 21, 2, 4, tzinfo=UTC)
    assert message.cell is None


def test_wifi_frame_whose_length_byte_is_a_count_is_unsupported() -> None:
    """0x69 (WiFi): its second byte is no length, the frame is still reported as unsupported with its type."""
    message = one(
        bytes.fromhex(
            "787803691604130318491475905BD30E25001E10BBF7635D14759006E626560501CC0028660F213228660F1F2828660EA81E"
            "286610731428660F20140D0A"
        )
    )
    assert isinstance(message, Unsupported)
    assert (message.protocol, message.serial) == (0x69, None)
    assert "0x69 (WiFi location)" in message.reason


# --- more real captures (Traccar's test file, a Traccar server log) ------------------------------


def test_location_22_with_acc_and_reupload() -> None:
    """0x22 adds ACC, upload mode and the re-upload flag after the cell."""
    message = one(real.LOCATION_22)
    assert isinstance(message, Location)
    assert message.fix.time == datetime(2015, 12, 29, 2, 51, 5, tzinfo=UTC)
    assert (round(message.fix.lat, 6), round(message.fix.lon, 6)) == (23.111693, 114.409298)
    assert message.cell == Cell(460, 0, 0x287D, 0x1F71)
    assert (message.acc_on, message.upload_mode, message.reupload) == (False, 0, True)


def test_alarm_26_and_16() -> None:
    """0x26 / 0x16: the alarm byte wins over the terminal bits; strap removal comes from the bits (value 7)."""
    vibration = one(real.ALARM_26)
    assert isinstance(vibration, Alarm) and vibration.protocol == gt06.ALARM_2
    assert (vibration.alarm, vibration.fix is not None) == ("vibration", True)
    assert vibration.cell == Cell(460, 0, 10342, 3822)
    removed = one(real.ALARM_16_REMOVED)
    assert isinstance(removed, Alarm) and (removed.alarm_code, removed.alarm) == (0, "removed")
    power_cut = one(real.ALARM_16_POWER_CUT)
    assert isinstance(power_cut, Alarm) and power_cut.alarm == "power_cut"
    assert power_cut.fix is not None and power_cut.fix.lat < 0 and power_cut.fix.lon < 0


def test_cell_reports_28_and_18() -> None:
    """0x28 / 0x18: up to seven cells sharing MCC and MNC, empty slots left out."""
    report = one(real.CELLS_28)
    assert isinstance(report, CellTowers)
    assert report.time == datetime(2016, 1, 13, 2, 2, 2, tzinfo=UTC)
    assert [c.cell_id for c in report.cells] == [8049, 8050, 7715, 8000]
    assert {(c.mcc, c.mnc, c.lac) for c in report.cells} == {(460, 0, 0x287D)}
    extended = one(real.CELLS_18)
    assert isinstance(extended, CellTowers) and len(extended.cells) == 7 and extended.cells[0].mcc == 405


@pytest.mark.parametrize("frame", real.TRACCAR_FRAMES, ids=lambda f: f[3:4].hex())
def test_traccar_frames_are_plausible(frame: bytes) -> None:
    """Every position and time decoded from the extra captures passes the plausibility check."""
    assert_plausible(one(frame))


def test_replies_match_a_real_server_byte_for_byte() -> None:
    """Login and status acknowledgements equal what a Traccar server sent for the same frames."""
    login = one(real.SESSION_LOGIN)
    status = one(real.SESSION_STATUS)
    assert isinstance(login, Login) and login.imei == "358735070530281"
    assert reply_for(login, NOW) == ack(gt06.LOGIN, 0x77) == real.SESSION_LOGIN_ACK
    assert reply_for(status, NOW) == ack(gt06.STATUS, 0x78) == real.SESSION_STATUS_ACK


def test_time_reply_carries_utc_and_the_serial() -> None:
    """The time reply holds the UTC date-time and echoes the request's serial."""
    moment = datetime(2026, 11, 23, 16, 5, 9, tzinfo=UTC)
    reply = decode_reply(reply_for(TimeRequest(6), moment) or b"")
    assert (reply.protocol, reply.serial, reply.content) == (gt06.TIME_REQUEST, 6, bytes([26, 11, 23, 16, 5, 9]))
    assert time_reply(6, moment) == encode_frame(gt06.TIME_REQUEST, bytes([26, 11, 23, 16, 5, 9]), 6)


def test_nothing_to_reply_to_positions() -> None:
    """Locations and cell reports need no reply."""
    assert reply_for(one(real.LOCATION_22), NOW) is None
    assert reply_for(one(real.CELLS_28), NOW) is None


def test_crc_itu_check_value() -> None:
    """CRC-16/X-25 of "123456789" is 0x906E (the catalogue check value)."""
    assert crc_itu(b"123456789") == 0x906E


# --- errors --------------------------------------------------------------------------------------

GPS_OK = bytes([15, 10, 20, 14, 21, 11, 0xC5]) + bytes.fromhex("05e51e78 0293a9e8 00 1400")
CELL_OK = bytes.fromhex("00f6 01 006e 0055da")


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        (b"", "start bits: got nothing, expected 78 78 or 79 79"),
        (bytes.fromhex("7777050100010d0a"), "start bits: got 77 77, expected 78 78 or 79 79"),
        (bytes.fromhex("787805010d0a"), "frame too short: 6 bytes, a 78 78 frame has at least 10"),
        (encode_frame(0x13, bytes(5), 1)[:-1] + b"\x0b", "stop bits: got 0D 0B, expected 0D 0A"),
        (bytes.fromhex("78780a13440604000201baaf550d0a"), "checksum: the frame says 0xAF55, CRC-ITU of its bytes"),
        (encode_frame(0x01, bytes.fromhex("0123456789abcdef"), 1), "IMEI bytes 01 23 45 67 89 AB CD EF are not BCD"),
        (encode_frame(0x01, bytes(5), 1), "login (0x01): content is 5 bytes, expected at least 8"),
        (encode_frame(0x12, GPS_OK, 1), "location (0x12): content is 18 bytes, expected at least 26 (GPS 18, cell 8)"),
        (encode_frame(0x13, bytes(3), 1), "status (0x13): content is 3 bytes, expected at least 5"),
        (encode_frame(0x12, bytes([15, 13, 1, 0, 0, 0]) + GPS_OK[6:] + CELL_OK, 1), "2015-13-01 00:00:00 is not"),
        (encode_frame(0x12, bytes([27, 11, 25, 0, 0, 0]) + GPS_OK[6:] + CELL_OK, 1), "more than 25 h after"),
        (
            encode_frame(0x12, GPS_OK[:7] + (91 * 1_800_000).to_bytes(4, "big") + GPS_OK[11:] + CELL_OK, 1),
            "location (0x12): latitude 91.0: outside -90..90",
        ),
        (encode_frame(0x12, GPS_OK[:7] + bytes(8) + GPS_OK[15:] + CELL_OK, 1), "position 0, 0: the placeholder"),
        (encode_frame(0x01, bytes.fromhex("0864717003664467 100f 9990"), 1), "time zone 2457 is not hours × 100"),
        (encode_frame(0x16, GPS_OK + bytes([5]) + bytes(12), 1), "alarm (0x16): cell block length 5, expected 0 or"),
        (encode_frame(0x28, bytes(20), 1), "cell towers (0x28): content is 20 bytes, expected at least 52"),
        (
            b"\x78\x78\x0d" + encode_frame(0x01, bytes.fromhex("0864717003664467"), 1)[3:-6] + b"\x0d\x0a",
            "length: the field says 13 bytes follow it, the frame has 9",
        ),
    ],
)
def test_bad_frames_say_what_is_wrong(frame: bytes, fragment: str) -> None:
    """A bad frame raises ProtocolError naming the field, what it held and what was expected."""
    with pytest.raises(ProtocolError, match=re.escape(fragment)):
        decode(frame, now=NOW)


def test_unknown_type_is_unsupported_with_its_type_byte() -> None:
    """A frame of an unknown type is Unsupported, naming the byte, whatever its CRC."""
    message = one(encode_frame(0x99, b"\x01\x02", 0x1234))
    assert message == Unsupported(0x99, 0x1234, message.reason if isinstance(message, Unsupported) else "")
    assert isinstance(message, Unsupported) and message.reason.startswith("unsupported message type 0x99: ")


def test_alarm_keeps_going_without_a_plausible_position() -> None:
    """An alarm at 0,0 (no fix) keeps its time and says why the position was dropped."""
    moment = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    message = Alarm(1, moment, None, Terminal(0x38), 4, 3, 0, 2)
    decoded = one(encode(message))
    assert isinstance(decoded, Alarm) and decoded.alarm == "removed"
    assert (decoded.time, decoded.fix) == (moment, None)
    assert decoded.problem == "alarm (0x16): position 0, 0: the placeholder of a device without a fix"


def test_alarm_keeps_going_with_an_unset_clock() -> None:
    """An alarm whose clock reads 00-00-00 has no time, and says so, but is still an alarm."""
    decoded = one(encode(Alarm(1, None, None, Terminal(0), 4, 3, 0x01, 2)))
    assert isinstance(decoded, Alarm) and (decoded.alarm, decoded.time) == ("sos", None)
    assert decoded.problem is not None and "2000-00-00 00:00:00 is not a real date and time" in decoded.problem


def test_device_clock_zone_is_taken_off() -> None:
    """A device clock at UTC+8 reading 16:00 means 08:00 UTC."""
    fix = GpsFix(datetime(2026, 11, 23, 7, 0, tzinfo=UTC), 24.5, 118.0, 3, 90, 8, True)
    frame = encode(Location(1, fix), utc_offset=timedelta(hours=8))
    assert frame[4:8] == bytes([26, 11, 23, 15])
    decoded = one(frame, utc_offset=timedelta(hours=8))
    assert isinstance(decoded, Location) and decoded.fix.time == fix.time


def test_decode_reply_checks_the_crc() -> None:
    """decode_reply refuses a reply whose checksum is wrong."""
    with pytest.raises(ProtocolError, match="checksum"):
        decode_reply(real.SESSION_LOGIN_ACK[:-4] + b"\x00\x00\r\n")


def test_encode_refuses_what_cannot_travel() -> None:
    """Unsupported messages, oversize content and bad IMEIs are refused with the reason."""
    with pytest.raises(ValueError, match="cannot encode an unsupported message"):
        encode(Unsupported(0x99, 1, "x"))
    with pytest.raises(ValueError, match="does not fit a 78 78 frame"):
        encode_frame(0x15, bytes(300), 1)
    assert decode_reply(encode_frame(0x15, bytes(300), 1, extended=True)).content == bytes(300)
    with pytest.raises(ValueError, match="IMEI '12ab': expected 15 or 16 digits"):
        encode(Login(1, "12ab"))


# --- properties ----------------------------------------------------------------------------------


@FUZZ
@given(strategies.messages, strategies.offsets, st.booleans())
def test_messages_round_trip(message: gt06.Gt06Message, offset: timedelta, extended: bool) -> None:
    """decode(encode(m)) gives m back, in either framing and any device time zone."""
    assert decode(encode(message, utc_offset=offset, extended=extended), now=NOW, utc_offset=offset) == [message]


def _only_protocol_errors(frame: bytes) -> None:
    try:
        messages = decode(frame, now=NOW)
    except ProtocolError:
        return
    assert len(messages) == 1
    assert_plausible(messages[0])


@FUZZ
@given(st.binary(max_size=300))
def test_decode_random_bytes(data: bytes) -> None:
    """Random bytes give messages or ProtocolError, nothing else."""
    _only_protocol_errors(data)


@FUZZ
@given(st.binary(max_size=300), st.sampled_from([b"\x78\x78", b"\x79\x79"]))
def test_decode_random_bytes_behind_start_bits(data: bytes, start: bytes) -> None:
    """Random bytes behind valid start bits and before stop bits give messages or ProtocolError."""
    _only_protocol_errors(start + data + b"\r\n")


@FUZZ
@given(st.sampled_from(sorted(gt06.SUPPORTED_TYPES)), st.binary(max_size=120), strategies.serials, st.booleans())
def test_decode_random_content_with_a_good_crc(protocol: int, content: bytes, serial: int, extended: bool) -> None:
    """Random content of every supported type in a well-formed frame reaches the field decoders: only ProtocolError."""
    _only_protocol_errors(encode_frame(protocol, content, serial, extended=extended))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real or generated frame with some bytes replaced, and its CRC fixed half of the time."""
    corpus = [f for _, f in file_frames()] + list(real.TRACCAR_FRAMES)
    frame = bytearray(draw(st.sampled_from(corpus) | strategies.frames))
    for _ in range(draw(st.integers(1, 4))):
        frame[draw(st.integers(0, len(frame) - 1))] = draw(strategies.bytes_)
    if draw(st.booleans()) and len(frame) >= 10:
        frame[-4:-2] = crc_itu(bytes(frame[2:-4])).to_bytes(2, "big")
    return bytes(frame)


@FUZZ
@given(mutated())
def test_decode_mutated_frames(frame: bytes) -> None:
    """Real and generated frames with bytes changed give messages or ProtocolError, nothing else."""
    _only_protocol_errors(frame)


@FUZZ
@given(st.deferred(lambda: st.sampled_from([f for _, f in file_frames()])) | strategies.frames, st.data())
def test_decode_truncated_frames(frame: bytes, data: st.DataObject) -> None:
    """Any prefix of a frame, with or without stop bits glued on, gives ProtocolError or a message."""
    cut = data.draw(st.integers(0, len(frame) - 1))
    _only_protocol_errors(frame[:cut])
    _only_protocol_errors(frame[:cut] + b"\r\n")


# --- the splitter --------------------------------------------------------------------------------


def _feed(splitter: FrameSplitter, stream: bytes, cuts: list[int]) -> list[bytes]:
    out: list[bytes] = []
    last = 0
    for cut in [*sorted(c % (len(stream) + 1) for c in cuts), len(stream)]:
        out += splitter.feed(stream[last:cut])
        last = max(last, cut)
    return out


@FUZZ
@given(st.lists(strategies.frames, min_size=1, max_size=8), st.lists(st.integers(0, 10_000), max_size=12))
def test_splitter_returns_the_frames_however_the_stream_is_cut(sent: list[bytes], cuts: list[int]) -> None:
    """Frames back to back, delivered in arbitrary pieces, come out whole, in order, with nothing left over."""
    splitter = FrameSplitter()
    assert _feed(splitter, b"".join(sent), cuts) == sent
    assert (splitter.pending, splitter.discarded) == (0, 0)


@FUZZ
@given(
    st.lists(st.tuples(st.binary(max_size=40), strategies.frames), min_size=1, max_size=6),
    st.lists(st.integers(0, 10_000), max_size=12),
)
def test_splitter_finds_frames_among_garbage(parts: list[tuple[bytes, bytes]], cuts: list[int]) -> None:
    """Garbage before frames is skipped or handed out as a frame that does not decode; every frame still comes out."""
    stream = b"".join(noise + frame for noise, frame in parts)
    out = _feed(FrameSplitter(), stream, cuts)
    sent = [frame for _, frame in parts]
    found = iter(out)
    assert all(any(got == frame for got in found) for frame in sent), "a frame was lost or reordered"
    for extra in (got for got in out if got not in sent):
        try:
            messages = decode(extra, now=NOW)
        except ProtocolError:
            continue
        assert isinstance(messages[0], Unsupported)


@FUZZ
@given(st.lists(st.binary(max_size=600), max_size=10))
def test_splitter_survives_any_bytes_with_a_bounded_buffer(chunks: list[bytes]) -> None:
    """Any byte stream: no exception, every frame ends in stop bits, the buffer stays bounded."""
    splitter = FrameSplitter(max_frame=512)
    for chunk in chunks:
        for frame in splitter.feed(chunk):
            assert frame[:2] in (b"\x78\x78", b"\x79\x79") and frame.endswith(b"\r\n")
        assert splitter.pending <= 512 + len(chunk)


def test_splitter_cuts_the_capture_file_into_its_frames() -> None:
    """All frames of the file in one stream, odd ones included (WiFi counts, a short login), come out as sent."""
    sent = [frame for _, frame in file_frames()]
    splitter = FrameSplitter()
    assert _feed(splitter, b"".join(sent), [5, 77, 300, 301, 302, 1000]) == sent


def test_splitter_counts_garbage_and_keeps_half_start_bits() -> None:
    """Garbage before a frame is counted; a lone 78 at the end of a read waits for its partner."""
    splitter = FrameSplitter()
    frame = real.SESSION_STATUS
    assert splitter.feed(b"\x00\x11garbage" + frame[:1]) == []
    assert (splitter.discarded, splitter.pending) == (9, 1)
    assert splitter.feed(frame[1:]) == [frame]


def test_splitter_drops_start_bits_whose_frame_never_ends() -> None:
    """A start claiming a long frame is dropped once a real frame shows up after it."""
    splitter = FrameSplitter()
    assert splitter.feed(b"\x78\x78\x40\x12\x00" + real.SESSION_LOGIN) == [real.SESSION_LOGIN]
    assert splitter.discarded == 5


# --- command line --------------------------------------------------------------------------------


def test_cli_prints_one_object_per_frame_line() -> None:
    """Every frame line of the capture file gives one JSON object; comments and blank lines give none."""
    out = io.StringIO()
    assert gt06.main([], io.StringIO(real.FRAMES_FILE.read_text() + "\n\nnot hex\n"), out) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == len(file_frames()) + 1
    assert lines[-1] == {"ok": False, "error": lines[-1]["error"]} and "is not hexadecimal" in lines[-1]["error"]
    located = [line for line in lines if line.get("type") == "location"]
    assert located and all(isinstance(line["lat"], float) and isinstance(line["lon"], float) for line in located)
    assert all(line["ok"] is False for line in lines if line.get("type") == "unsupported")


def test_cli_applies_the_given_utc_offset() -> None:
    """--utc-offset +02:00 takes two hours off the device clock."""
    out = io.StringIO()
    line = "78781f120f0a140e150bc505e51e780293a9e800540000f601006e0055da00035f240d0a\n"
    gt06.main(["--utc-offset", "+02:00"], io.StringIO(line), out)
    assert json.loads(out.getvalue())["time"] == "2015-10-20T12:21:11Z"


def test_cli_runs_as_a_module() -> None:
    """`python -m peripherals.tracker.gt06 < hexlines` answers on stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "peripherals.tracker.gt06"],
        input="7878058A000688290D0A\n78780a13440604000201baaf550d0a\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first == {"ok": True, "type": "time_request", "protocol": "0x8A", "serial": 6}
    assert second["ok"] is False and second["error"].startswith("checksum:")
