"""The daemon's wire messages: round trips, errors that name the field, and nothing but DeviceProtocolError on junk."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.devices import protocol as p
from kiosk.devices.protocol import DeviceProtocolError
from tests.unit.kiosk.devices.strategies import command_args, error_codes, event_fields, face_templates, request_ids
from vision.template import Template

TEMPLATE = Template.from_values("sface", "ab" * 32, [0.6, 0.8]).to_bytes()


def body(**fields: Any) -> list[bytes]:
    base: dict[str, Any] = {"v": 1, "id": "r1", "command": "status", "args": {}}
    base.update(fields)
    return [json.dumps(base).encode()]


def outcome(decode: Callable[..., Any], *args: Any) -> DeviceProtocolError | None:
    """The DeviceProtocolError a decoder raised, or None when it decoded; any other exception escapes."""
    try:
        decode(*args)
    except DeviceProtocolError as exc:
        return exc
    return None


def refused(frames: list[bytes]) -> DeviceProtocolError:
    with pytest.raises(DeviceProtocolError) as caught:
        p.decode_request(frames)
    return caught.value


# --- requests -----------------------------------------------------------------------------------


@given(command_args(), request_ids, st.none() | st.floats(0.1, 600), st.none() | st.floats(0, 2e9))
def test_every_valid_request_round_trips(pair: tuple[str, dict[str, Any]], rid: str, timeout, sent_at) -> None:
    command, args = pair
    request = p.make_request(rid, command, args, timeout_s=timeout, sent_at=sent_at)
    again = p.decode_request(p.encode_request(request))
    assert again == request
    assert again.args == p.COMMAND_ARGS[command].model_validate(args)


def test_binary_arguments_travel_as_base64() -> None:
    request = p.make_request("r", "capture_face", {"reference": TEMPLATE, "reference_photo": b"\xff\xd8\xff"})
    wire = json.loads(p.encode_request(request)[0])
    assert wire["args"]["reference"] == base64.b64encode(TEMPLATE).decode()
    assert wire["args"]["reference_photo"] == "/9j/"
    decoded = p.decode_request(p.encode_request(request))
    assert isinstance(decoded.args, p.CaptureFaceArgs)
    assert decoded.args.reference == TEMPLATE


def test_a_req_style_request_decodes_like_a_dealer_one() -> None:
    frames = body(command="read_card", args={"wait_s": 2})
    request = p.decode_request(frames)
    assert request.command == "read_card"
    assert isinstance(request.args, p.ReadCardArgs)
    assert request.args.wait_s == 2


@pytest.mark.parametrize(
    ("frames", "expected", "request_id", "field"),
    [
        ([b"not json"], "request body: not JSON", None, None),
        ([b"\xff\xfe"], "request body: not UTF-8 text (byte 0)", None, None),
        ([b"[1, 2]"], "request body: expected a JSON object, got list", None, None),
        ([b"{}", b"{}"], "request: expected one JSON frame, got 2 frames", None, None),
        ([], "request: expected one JSON frame, got 0 frames", None, None),
        (body(v=2), "request field 'v': Input should be 1 (got 2)", "r1", "v"),
        (body(id=""), "request field 'id': String should have at least 1 character", None, "id"),
        (body(id="a b"), "request field 'id': String should match pattern", "a b", "id"),
        (
            body(command="fly"),
            "request field 'command': unknown command 'fly', expected one of status, read_card",
            "r1",
            "command",
        ),
        (body(args=[1]), "request field 'args': Input should be a valid dictionary", "r1", "args"),
        (body(timeout_s=0), "request field 'timeout_s': Input should be greater than 0", "r1", "timeout_s"),
        (body(extra=1), "request field 'extra': unknown field", "r1", "extra"),
        (
            body(command="capture_face", args={"timeout_s": "soon"}),
            "capture_face request field 'args.timeout_s': Input should be a valid number",
            "r1",
            "args.timeout_s",
        ),
        (
            body(command="capture_face", args={"frams": 3}),
            "capture_face request field 'args.frams': unknown field",
            "r1",
            "args.frams",
        ),
        (
            body(command="capture_face", args={"reference": "not base64!"}),
            "capture_face request field 'args.reference': not valid base64",
            "r1",
            "args.reference",
        ),
        (
            body(command="capture_face", args={"reference": base64.b64encode(b"XXXXXXXX").decode()}),
            "capture_face request field 'args.reference': not a face template: expected magic b'CTPL'",
            "r1",
            "args.reference",
        ),
        (
            body(command="verify_finger", args={}),
            "verify_finger request field 'args': give exactly one of 'template' and 'page'",
            "r1",
            "args",
        ),
        (
            body(command="verify_finger", args={"page": 1, "template": "AAAA"}),
            "verify_finger request field 'args': give exactly one of 'template' and 'page'",
            "r1",
            "args",
        ),
        (
            body(command="enrol_finger", args={"page": -1}),
            "enrol_finger request field 'args.page': Input should be greater than or equal to 0 (got -1)",
            "r1",
            "args.page",
        ),
        (
            [b'{"v": 1, "id": "r1", "command": "read_card", "args": {"wait_s": 1e999}}'],
            "read_card request field 'args.wait_s': Input should be a finite number",
            "r1",
            "args.wait_s",
        ),
        (
            body(command="start_recording", args={"max_s": 0}),
            "start_recording request field 'args.max_s': Input should be greater than 0",
            "r1",
            "args.max_s",
        ),
    ],
)
def test_a_bad_request_is_refused_naming_the_field(frames, expected, request_id, field) -> None:
    error = refused(frames)
    assert str(error).startswith(expected), str(error)
    assert error.request_id == request_id
    assert error.field == field


def test_nan_is_not_a_number_here() -> None:
    error = refused([b'{"v": 1, "id": "r", "command": "read_card", "args": {"wait_s": NaN}}'])
    assert "NaN is not a JSON number" in str(error)


def test_a_message_over_the_size_limit_is_refused_before_parsing() -> None:
    error = refused([b" " * (p.MAX_MESSAGE_BYTES + 1)])
    assert f"at most {p.MAX_MESSAGE_BYTES}" in str(error)


def test_request_id_of_reads_what_it_can() -> None:
    assert p.request_id_of(body(command="fly")) == "r1"
    assert p.request_id_of([b"junk"]) is None
    assert p.request_id_of([b'{"id": 5}']) is None


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=200), max_size=4))
def test_arbitrary_bytes_give_only_clear_errors(frames: list[bytes]) -> None:
    for decode in (p.decode_request, p.decode_reply, p.decode_event):
        error = outcome(decode, frames)
        assert error is None or str(error)
    p.request_id_of(frames)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(["v", "id", "command", "args", "timeout_s", "sent_at", "event", "daemon", "seq", "ok"]),
        json_values,
    ),
    st.sampled_from(p.COMMANDS),
)
def test_arbitrary_json_objects_give_only_clear_errors(document: dict[str, Any], command: str) -> None:
    frame = json.dumps(document).encode()
    for frames in ([frame], [command.encode(), frame], [b"heartbeat", frame]):
        for decode in (p.decode_request, p.decode_reply, p.decode_event):
            error = outcome(decode, frames)
            assert error is None or str(error)
    error = outcome(p.parse_result, command, document)
    assert error is None or str(error)


@settings(max_examples=200)
@given(command_args(), st.data())
def test_mutated_argument_values_give_only_clear_errors(pair: tuple[str, dict[str, Any]], data: st.DataObject) -> None:
    command, raw = pair
    args = p.COMMAND_ARGS[command].model_validate(raw).model_dump(mode="json")
    if args:
        key = data.draw(st.sampled_from(sorted(args)))
        args = dict(args, **{key: data.draw(json_values)})
    error = outcome(p.decode_request, body(command=command, args=args))
    if error is not None:
        assert error.request_id == "r1"
        assert error.field is not None and error.field.startswith("args")


def test_default_timeouts_cover_the_persons_wait() -> None:
    assert p.default_timeout_s("read_card", p.ReadCardArgs(wait_s=20)) > 20
    assert p.default_timeout_s("capture_face", p.CaptureFaceArgs(timeout_s=8)) > 8
    assert p.default_timeout_s("enrol_finger", p.EnrolFingerArgs(timeout_s=10)) > 30  # press, lift, press
    assert p.default_timeout_s("verify_finger", p.VerifyFingerArgs(page=1, timeout_s=10)) > 10
    assert p.default_timeout_s("status", p.StatusArgs()) > 0


def test_every_command_has_args_a_result_and_a_driver() -> None:
    assert set(p.COMMANDS) == set(p.COMMAND_ARGS) == set(p.COMMAND_RESULTS) == set(p.COMMAND_DRIVER)
    assert {d for d in p.COMMAND_DRIVER.values() if d} <= set(p.DRIVERS)


# --- replies ------------------------------------------------------------------------------------


def test_ok_reply_round_trips_with_its_typed_result() -> None:
    request = p.make_request("r9", "verify_finger", {"page": 3})
    reply = p.ok_reply(request, p.FingerVerifyResult(matched=True, score=140, page=3))
    again = p.decode_reply(p.encode_reply(reply))
    assert again == reply
    assert again.id == "r9"
    assert again.command == "verify_finger"
    assert p.parse_result("verify_finger", again.result or {}) == p.FingerVerifyResult(matched=True, score=140, page=3)


def test_binary_results_travel_as_base64() -> None:
    request = p.make_request("r", "enrol_finger", {})
    result = p.FingerEnrolResult(page=None, template=b"\x01\x02", template_sha256="x", size=2)
    wire = json.loads(p.encode_reply(p.ok_reply(request, result))[0])
    assert wire["result"]["template"] == "AQI="
    assert p.parse_result("enrol_finger", wire["result"]).template == b"\x01\x02"


def test_a_result_that_does_not_fit_its_command_is_caught_on_the_daemon_side() -> None:
    request = p.make_request("r", "verify_finger", {"page": 3})
    with pytest.raises(DeviceProtocolError, match=r"verify_finger result field 'result.matched': Field required"):
        p.ok_reply(request, {"score": 1, "page": 3})


@given(st.none() | request_ids, st.none() | st.sampled_from(p.COMMANDS), error_codes, st.text(max_size=50))
def test_error_replies_round_trip(rid, command, code, message) -> None:
    reply = p.error_reply(rid, command, code, message, {"field": "x"})
    again = p.decode_reply(p.encode_reply(reply))
    assert again == reply
    assert not again.ok
    assert again.error is not None and again.error.code == code


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"v": 1, "id": "r", "ok": True}, "reply field: a reply with ok=true carries 'result' and no 'error'"),
        ({"v": 1, "id": "r", "ok": False}, "reply field: a reply with ok=false carries 'error'"),
        ({"v": 1, "id": "r", "ok": False, "error": {"code": "oops", "message": "m"}}, "reply field 'error.code'"),
        ({"v": 1, "ok": True, "result": {}}, "reply field 'id': Field required"),
    ],
)
def test_a_bad_reply_is_refused_naming_the_field(document: dict[str, Any], expected: str) -> None:
    with pytest.raises(DeviceProtocolError) as caught:
        p.decode_reply([json.dumps(document).encode()])
    assert str(caught.value).startswith(expected.replace("reply field:", "reply:")) or str(caught.value).startswith(
        expected
    ), str(caught.value)


def test_parse_result_names_the_field_and_the_command() -> None:
    with pytest.raises(DeviceProtocolError, match=r"read_card result field 'result.card': Field required"):
        p.parse_result("read_card", {})
    with pytest.raises(DeviceProtocolError, match=r"unknown command 'fly'"):
        p.parse_result("fly", {})


def test_a_newer_daemon_may_add_result_fields() -> None:
    parsed = p.parse_result("verify_finger", {"matched": False, "score": 0, "page": None, "added_later": 1})
    assert parsed == p.FingerVerifyResult(matched=False, score=0, page=None)


# --- events -------------------------------------------------------------------------------------


@given(event_fields(), st.text(min_size=1, max_size=12), st.integers(1, 2**40), st.floats(0, 2e9))
def test_every_event_round_trips_with_its_topic(pair, daemon, seq, now) -> None:
    name, fields = pair
    event = p.make_event(name, daemon, seq, now, fields)
    frames = p.encode_event(event)
    assert frames[0] == name.encode()
    assert p.decode_event(frames) == event


def test_events_carry_binary_fields_as_base64() -> None:
    event = p.make_event("audio_chunk", "d", 1, 0.0, {"recording_id": "r", "index": 0, "offset_s": 0, "pcm": b"\0\1"})
    assert json.loads(p.encode_event(event)[1])["pcm"] == "AAE="


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        ([b"heartbeat"], "event: expected 2 frames (topic, JSON body), got 1 frames"),
        ([b"nope", b"{}"], "event topic: unknown event 'nope', expected one of card_inserted"),
        ([b"\xff", b"{}"], "event topic: not ASCII"),
        ([b"heartbeat", b"{}"], "heartbeat event field 'event': None does not match the topic 'heartbeat'"),
        (
            [b"heartbeat", json.dumps({"event": "card_removed"}).encode()],
            "heartbeat event field 'event': 'card_removed' does not match the topic 'heartbeat'",
        ),
        (
            [
                b"driver_state",
                json.dumps(
                    {
                        "v": 1,
                        "event": "driver_state",
                        "daemon": "d",
                        "seq": 1,
                        "time": 0,
                        "driver": "printer",
                        "state": "ok",
                    }
                ).encode(),
            ],
            "driver_state event field 'driver': Input should be 'idcard', 'fingerprint', 'camera' or 'microphone' "
            "(got 'printer')",
        ),
        (
            [
                b"finger_placed",
                json.dumps(
                    {"v": 1, "event": "finger_placed", "daemon": "d", "seq": 0, "time": 0, "during": "idle"}
                ).encode(),
            ],
            "finger_placed event field 'seq': Input should be greater than or equal to 1 (got 0)",
        ),
    ],
)
def test_a_bad_event_is_refused_naming_the_field(frames: list[bytes], expected: str) -> None:
    with pytest.raises(DeviceProtocolError) as caught:
        p.decode_event(frames)
    assert str(caught.value).startswith(expected), str(caught.value)


def test_make_event_refuses_an_unknown_event_or_a_wrong_field() -> None:
    with pytest.raises(DeviceProtocolError, match="unknown event 'card_eaten'"):
        p.make_event("card_eaten", "d", 1, 0.0, {})
    with pytest.raises(DeviceProtocolError, match=r"audio_level event field 'rms': Field required"):
        p.make_event("audio_level", "d", 1, 0.0, {"recording_id": "r"})


@given(face_templates())
def test_reference_templates_are_checked_when_decoded(template: bytes) -> None:
    request = p.make_request("r", "capture_face", {"reference": template})
    assert isinstance(request.args, p.CaptureFaceArgs)
    assert Template.from_bytes(request.args.reference or b"").dim >= 1
