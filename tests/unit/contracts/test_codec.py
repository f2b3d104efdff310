"""Codec: payload checks in order, topic checks, clock check, encoding and round trips."""

import contextlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import MAX_PAYLOAD_BYTES, ContractError, Fix, codec, decode, decode_object, encode, topic_for
from tests.unit.contracts.samples import DELETE, FIX_EXAMPLE, SAMPLES, TOPICS, sample, wire
from tests.unit.contracts.strategies import deliveries, json_values, messages, messages_with_extras, topics

FIX_TOPIC = TOPICS["fix"]


def reason_of(topic: str, payload: bytes | str, **kwargs: object) -> str:
    """The text of the ContractError `decode` raises."""
    with pytest.raises(ContractError) as caught:
        decode(topic, payload, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", "payload is not valid JSON: Expecting value at line 1 column 1"),
        (b"xx", "payload is not valid JSON: Expecting value at line 1 column 1"),
        (
            b'{"v": 1,',
            "payload is not valid JSON: Expecting property name enclosed in double quotes at line 1",
        ),
        (b"{'v': 1}", "payload is not valid JSON: Expecting property name enclosed in double quotes"),
        (b'{"v": 1} trailing', "payload is not valid JSON: Extra data at line 1 column 10"),
        (b'{"v": NaN}', "payload is not valid JSON: NaN is not a JSON number, expected a finite number"),
        (b'{"v": -Infinity}', "payload is not valid JSON: -Infinity is not a JSON number"),
        (b'{"v": 1, "v": 1}', "payload is not valid JSON: key 'v' appears twice in an object"),
        (b"\xff\xfe{}", "payload is not valid UTF-8: invalid start byte at byte 0, expected UTF-8 JSON"),
        (b"\xef\xbb\xbf{}", "payload is not valid JSON: Unexpected UTF-8 BOM"),
        (b"[" * 5000 + b"]" * 5000, "payload is not valid JSON: nested too deeply"),
        (b'{"v": ' + b"9" * 5000 + b"}", "payload is not valid JSON: Exceeds the limit"),
    ],
)
def test_bad_json(payload, expected):
    """Malformed JSON is refused with the parser's reason and position."""
    assert reason_of(FIX_TOPIC, payload).startswith(expected)


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ("[]", "an array"),
        ("[1, 2]", "an array"),
        ("1", "a number (1)"),
        ('"fix"', "a string"),
        ("null", "null"),
        ("true", "a boolean"),
        ("4.5", "a number (4.5)"),
    ],
)
def test_payload_must_be_an_object(payload, kind):
    """Only a JSON object can be a message."""
    assert reason_of(FIX_TOPIC, payload) == f"payload must be a JSON object, got {kind}"


def test_decode_object_refuses_non_mappings():
    """decode_object, too, wants an object."""
    with pytest.raises(ContractError, match=r"payload must be a JSON object, got an array"):
        decode_object([1])  # type: ignore[arg-type]


def test_payload_must_be_bytes_or_text():
    """Anything but bytes or str is refused, not crashed on."""
    assert reason_of(FIX_TOPIC, 12) == "payload must be bytes or str, got int"  # type: ignore[arg-type]


def _padded(size: int) -> bytes:
    """The fix sample with an extra field padding it to exactly `size` bytes."""
    bare = len(wire("fix", pad=""))
    return wire("fix", pad="x" * (size - bare))


def test_oversize_payload():
    """A payload over 64 KiB is refused before it is parsed; one at the limit is fine."""
    assert len(_padded(MAX_PAYLOAD_BYTES)) == MAX_PAYLOAD_BYTES
    decode(FIX_TOPIC, _padded(MAX_PAYLOAD_BYTES))
    assert reason_of(FIX_TOPIC, _padded(MAX_PAYLOAD_BYTES + 1)) == (
        "payload is 65537 bytes, more than the 65536-byte limit"
    )
    assert reason_of(FIX_TOPIC, b"[" * 100_000).startswith("payload is 100000 bytes")
    assert reason_of(FIX_TOPIC, "海" * 30_000).startswith("payload is 90000 bytes")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"v": DELETE}, "field 'v': missing, expected 1"),
        ({"v": 2}, "field 'v': unsupported contract version 2, this build speaks 1"),
        ({"v": 0}, "field 'v': unsupported contract version 0, this build speaks 1"),
        ({"v": "1"}, "field 'v': must be the number 1, got '1'"),
        ({"v": 1.0}, "field 'v': must be the number 1, got 1.0"),
        ({"v": True}, "field 'v': must be the number 1, got true"),
        ({"v": None}, "field 'v': must be the number 1, got null"),
    ],
)
def test_version(changes, expected):
    """`v` must be present and exactly 1."""
    assert reason_of(FIX_TOPIC, wire("fix", **changes)) == expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"type": "foo"},
            "field 'type': unknown message type 'foo', expected one of 'checkin', 'device_alarm',",
        ),
        ({"type": "Fix"}, "field 'type': unknown message type 'Fix', expected one of"),
        ({"type": DELETE}, "field 'type': missing, expected one of 'checkin'"),
        ({"type": 3}, "field 'type': must be a string, expected one of 'checkin'"),
    ],
)
def test_unknown_type(changes, expected):
    """`type` must name a known message type, and the error lists them."""
    text = reason_of(FIX_TOPIC, wire("fix", **changes))
    assert text.startswith(expected)
    assert "'voice_report'" in text


def test_version_is_checked_before_type():
    """A future version with a future type is reported as a version problem."""
    assert reason_of(FIX_TOPIC, wire("fix", v=2, type="selfie")).startswith("field 'v': unsupported")


def test_missing_field():
    """A missing required field is named with what it should hold."""
    assert reason_of(FIX_TOPIC, wire("fix", lat=DELETE)) == (
        "field 'lat': missing, expected WGS-84 latitude in degrees, between -90 and 90"
    )


def test_only_the_first_error_is_reported():
    """With several problems the first field in contract order is reported."""
    assert reason_of(FIX_TOPIC, wire("fix", lat=95.0, lon=200.0)).startswith("field 'lat': ")


@pytest.mark.parametrize("field", ["device_time", "first_seen", "last_seen"])
def test_naive_timestamp(field):
    """A timestamp without Z or an offset is refused, naming the field."""
    payload = wire("sighting", **{field: "2026-11-23T08:05:03"})
    assert reason_of(TOPICS["sighting"], payload) == (
        f"field '{field}': timestamp has no zone: RFC 3339 needs Z or an offset such as +08:00, "
        "got '2026-11-23T08:05:03'"
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"lat": 95.0}, "field 'lat': must be between -90 and 90, got 95.0"),
        ({"lat": -91}, "field 'lat': must be between -90 and 90, got -91.0"),
        ({"lon": 181.5}, "field 'lon': must be between -180 and 180, got 181.5"),
        ({"lat": 0, "lon": 0}, "field 'lat': lat 0, lon 0 is what a device without a fix sends"),
    ],
)
def test_out_of_range_coordinates(changes, expected):
    """Impossible coordinates and the (0, 0) placeholder are refused."""
    assert reason_of(FIX_TOPIC, wire("fix", **changes)).startswith(expected)


def test_overflowing_number():
    """A number too large for a float is refused as not finite, naming the field."""
    payload = wire("fix").replace(b"24.5158", b"1e400")
    assert reason_of(FIX_TOPIC, payload) == "field 'lat': must be a finite number, got inf"


def test_topic_type_mismatch():
    """A message on another type's topic is refused."""
    assert reason_of("corr/v1/dev/gw-gt06-01/sighting", FIX_EXAMPLE) == (
        "field 'type': 'fix' does not belong on topic 'corr/v1/dev/gw-gt06-01/sighting', expected 'sighting' there"
    )
    assert reason_of("corr/v1/dev/kiosk-siming-02/rollcall", wire("rollcall_start")).startswith(
        "field 'type': 'rollcall_start' does not belong on topic 'corr/v1/dev/kiosk-siming-02/rollcall', "
        "expected 'rollcall_answer'"
    )


def test_topic_device_mismatch():
    """A device may not publish for another device."""
    assert reason_of("corr/v1/dev/gw-gt06-02/fix", FIX_EXAMPLE) == (
        "field 'device_id': 'gw-gt06-01' differs from device 'gw-gt06-02' "
        "in topic 'corr/v1/dev/gw-gt06-02/fix': a device may not speak for another"
    )


@pytest.mark.parametrize(
    ("topic", "fragment"),
    [
        ("corr/v2/dev/gw-gt06-01/fix", "does not start with 'corr/v1/'"),
        ("corr/v1/dev/gw-gt06-01/position", "unknown dev topic kind 'position'"),
        ("corr/v1/up/gw-gt06-01/fix", "unknown direction 'up'"),
        ("corr/v1/dev/gw-gt06-01", "has 4 levels, expected 5"),
    ],
)
def test_unknown_topic(topic, fragment):
    """A valid payload on a topic outside the contract is refused."""
    text = reason_of(topic, FIX_EXAMPLE)
    assert text.startswith(f"topic '{topic}'")
    assert fragment in text


def test_future_timestamp_with_now():
    """With `now`, a device clock more than 25 hours ahead is refused; 25 hours exactly is tolerated."""
    device_time = datetime(2026, 11, 23, 8, 5, tzinfo=UTC)
    decode(FIX_TOPIC, FIX_EXAMPLE, now=device_time - timedelta(hours=25))
    decode(FIX_TOPIC, FIX_EXAMPLE, now=device_time + timedelta(days=365))
    assert reason_of(FIX_TOPIC, FIX_EXAMPLE, now=device_time - timedelta(hours=25, seconds=1)) == (
        "field 'device_time': 2026-11-23T08:05:00Z is more than 25 hours after the receiver's clock "
        "(2026-11-22T07:04:59Z), expected a device clock that is roughly right"
    )


def test_now_must_carry_a_zone():
    """A naive `now` is the caller's bug and raises a plain ValueError."""
    with pytest.raises(ValueError, match="now must carry a zone") as caught:
        decode(FIX_TOPIC, FIX_EXAMPLE, now=datetime(2026, 11, 23))
    assert not isinstance(caught.value, ContractError)


def test_decode_object_skips_topic_checks():
    """decode_object validates the object alone."""
    assert isinstance(decode_object(json.loads(FIX_EXAMPLE)), Fix)


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"extra": "\ud800"}, "extra", "text contains a lone surrogate, expected valid Unicode"),
        ({"extra": {"\udfff": 1}}, "extra", "text contains a lone surrogate"),
        ({"extra": float("nan")}, "extra", "must be a finite number, got nan"),
        ({"extra": {"a": [1, (2, 3)]}}, "extra.a.1", "must be a JSON value, got a Python tuple"),
        ({"extra": {1: 2}}, "extra", "object keys must be strings, got 1"),
    ],
)
def test_decode_object_wants_json_values(changes, field, fragment):
    """decode_object refuses what JSON cannot carry."""
    obj = {**SAMPLES["fix"], **changes}
    with pytest.raises(ContractError) as caught:
        decode_object(obj)
    assert caught.value.field == field
    assert fragment in caught.value.reason


def test_deep_nesting_is_refused():
    """Extra fields nested beyond the depth limit are refused, naming where."""
    deep: object = 1
    for _ in range(40):
        deep = [deep]
    with pytest.raises(ContractError, match=r"field 'extra\.0\.0.*': nested more than 32 levels deep"):
        decode(FIX_TOPIC, wire("fix", extra=deep))


def test_lone_surrogate_escape_is_refused():
    r"""A \ud800 escape parses as JSON but is not text, so it is refused."""
    payload = wire("fix").replace(b'"gnss"', b'"\\ud800"')
    assert reason_of(FIX_TOPIC, payload) == (
        "field 'source': text contains a lone surrogate, expected valid Unicode, got '\\ud800'"
    )


def test_str_payload_is_accepted():
    """A payload given as text decodes like its UTF-8 bytes."""
    assert decode(FIX_TOPIC, FIX_EXAMPLE) == decode(FIX_TOPIC, FIX_EXAMPLE.encode())


def test_encode_is_compact_utf8_with_zulu_times():
    """encode writes compact JSON, UTF-8 text, UTC timestamps with Z, fields in contract order."""
    report = decode(TOPICS["voice_report"], wire("voice_report", device_time="2026-11-23T16:05:00+08:00"))
    raw = encode(report)
    text = raw.decode("utf-8")
    assert text.startswith(
        '{"v":1,"type":"voice_report","event_id":"7a0e3c52-1f6b-4d8e-9c2a-5b7f0e1d3a64",'
        '"device_id":"kiosk-siming-02","device_time":"2026-11-23T08:05:00Z","subject_id":"S-350205-0001",'
    )
    assert "本周在厦门海沧上班" in text
    assert ": " not in text
    assert ", " not in text


def test_encode_keeps_microseconds():
    """Sub-second precision survives encoding."""
    fix = decode_object(sample("fix", device_time="2026-11-23T08:05:00.123456Z"))
    assert b'"device_time":"2026-11-23T08:05:00.123456Z"' in encode(fix)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (float("inf"), "field 'extra': must be a finite number, got inf"),
        ("\udc80", "field 'extra': text contains a lone surrogate"),
        ({"when": datetime(2026, 1, 1)}, "field 'extra.when': must be a JSON value, got a Python datetime"),
        ("x" * MAX_PAYLOAD_BYTES, "message encodes to"),
    ],
)
def test_encode_refuses_what_decode_would_refuse(extra, fragment):
    """encode never writes bytes that decode would reject."""
    fix = Fix.model_validate({**decode_object(SAMPLES["fix"]).model_dump(), "extra": extra})
    with pytest.raises(ContractError) as caught:
        encode(fix)
    assert str(caught.value).startswith(fragment)


def test_encode_refuses_unencodable_text_in_fields():
    """A lone surrogate in a typed field is refused when encoding."""
    fix = Fix.model_validate({**decode_object(SAMPLES["fix"]).model_dump(), "subject_id": "S-\ud800"})
    with pytest.raises(ContractError, match="message text contains a lone surrogate"):
        encode(fix)


@pytest.mark.parametrize("message_type", sorted(SAMPLES))
def test_samples_round_trip(message_type):
    """Every sample decodes, encodes and decodes to an equal message."""
    message = decode(TOPICS[message_type], json.dumps(SAMPLES[message_type]))
    assert decode(TOPICS[message_type], encode(message)) == message


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(messages)
def test_round_trip(message):
    """decode(topic_for(m), encode(m)) == m for every valid message."""
    assert decode(topic_for(message), encode(message)) == message


@FAST
@given(messages)
def test_encoding_is_stable(message):
    """Encoding a decoded message gives the same bytes again."""
    raw = encode(message)
    assert encode(decode(topic_for(message), raw)) == raw


@FAST
@given(messages_with_extras())
def test_extra_fields_survive_the_round_trip(message_and_extras):
    """Fields added by a newer producer come back unchanged."""
    message, extras = message_and_extras
    again = decode(topic_for(message), encode(message))
    assert again == message
    assert again.model_extra == extras


@FAST
@given(topics, st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_contract_errors(topic, payload):
    """No byte string makes decode raise anything but ContractError."""
    with contextlib.suppress(ContractError):
        decode(topic, payload)


@FAST
@given(deliveries(), st.booleans())
def test_json_ish_objects_raise_only_contract_errors(delivery, as_text):
    """Near-miss and random objects on any topic give a message or a ContractError, nothing else."""
    topic, obj = delivery
    text = json.dumps(obj, ensure_ascii=False)
    payload = text if as_text else text.encode("utf-8", "surrogatepass")
    with contextlib.suppress(ContractError):
        decode(topic, payload, now=datetime(2026, 1, 1, tzinfo=UTC))


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=5), st.booleans())
def test_plain_text_fast_path_agrees_with_the_tree_walk(obj, ascii_only):
    """Whenever `_parse` lets a payload skip the tree walk, the full walk would have accepted it too."""
    try:
        text = json.dumps(obj, ensure_ascii=ascii_only)
    except UnicodeEncodeError:
        return
    try:
        parsed, plain = codec._parse(text.encode("utf-8", "surrogatepass"))
    except ContractError:
        return
    if plain:
        codec._check_tree(parsed)  # must not raise
