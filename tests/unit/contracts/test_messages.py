"""Message models: valid examples decode, every constraint's violation is named in plain words."""

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID

import pytest
from pydantic import TypeAdapter, ValidationError

from contracts import (
    Checkin,
    ContractError,
    DeviceAlarm,
    Fix,
    Gallery,
    Message,
    RollcallAnswer,
    RollcallStart,
    Sighting,
    Status,
    VoiceReport,
    decode,
    decode_object,
)
from contracts.messages import MODEL_FOR_TYPE
from tests.unit.contracts.samples import (
    DELETE,
    FIX_EXAMPLE,
    SAMPLES,
    SIGHTING_EVENT_ID,
    SIGHTING_EXAMPLE,
    TOPICS,
    sample,
)

CLASSES = {
    "sighting": Sighting,
    "checkin": Checkin,
    "voice_report": VoiceReport,
    "rollcall_answer": RollcallAnswer,
    "fix": Fix,
    "device_alarm": DeviceAlarm,
    "status": Status,
    "rollcall_start": RollcallStart,
    "gallery": Gallery,
}
HEX_A = "a" * 64


def test_fix_example_from_the_architecture_page():
    """The fix example in ARCHITECTURE.md decodes, verbatim."""
    fix = decode("corr/v1/dev/gw-gt06-01/fix", FIX_EXAMPLE)
    assert isinstance(fix, Fix)
    assert fix.event_id == UUID("0b6f6c1e-4f8e-4a51-9a63-8d1f2f0e7c11")
    assert fix.device_time == datetime(2026, 11, 23, 8, 5, tzinfo=UTC)
    assert (fix.subject_id, fix.tracker_serial) == ("S-350205-0001", None)
    assert (fix.lat, fix.lon, fix.accuracy_m, fix.source) == (24.5158, 117.99, 15.0, "gnss")
    assert (fix.speed_kmh, fix.battery_pct, fix.heading_deg) == (4.2, 81.0, None)


def test_sighting_example_from_the_architecture_page():
    """The sighting example decodes once its elided event id ("5d1c…") is written out in full."""
    with pytest.raises(ContractError, match=r"field 'event_id': must be a UUID such as .*, got '5d1c…'"):
        decode("corr/v1/dev/edge-haicang-01/sighting", SIGHTING_EXAMPLE)
    sighting = decode("corr/v1/dev/edge-haicang-01/sighting", SIGHTING_EXAMPLE.replace("5d1c…", SIGHTING_EVENT_ID))
    assert isinstance(sighting, Sighting)
    assert (sighting.camera_id, sighting.subject_id, sighting.score) == (
        "hall-entrance",
        "S-350205-0001",
        0.71,
    )
    assert (sighting.track_id, sighting.quality, sighting.bbox) == (4412, 0.83, [412, 96, 520, 230])
    assert sighting.last_seen - sighting.first_seen == timedelta(seconds=5)


@pytest.mark.parametrize("message_type", sorted(SAMPLES))
def test_every_type_has_a_valid_example(message_type):
    """The sample payload of each type decodes from its topic to its class."""
    message = decode(TOPICS[message_type], json.dumps(SAMPLES[message_type]))
    assert type(message) is CLASSES[message_type]
    assert message.type == message_type


def test_unknown_face_and_unenrolled_card_holder():
    """subject_id null means an unknown face (sighting) or an unenrolled card holder (check-in)."""
    sighting = decode_object(sample("sighting", subject_id=None))
    assert isinstance(sighting, Sighting)
    assert sighting.subject_id is None
    checkin = decode_object(sample("checkin", subject_id=None, result="refused", reason="card not enrolled"))
    assert isinstance(checkin, Checkin)
    assert checkin.subject_id is None


def test_optional_fields_may_be_left_out():
    """Optional fields default to null, or empty for the status maps."""
    fix = decode_object(sample("fix", speed_kmh=DELETE, battery_pct=DELETE))
    assert isinstance(fix, Fix)
    assert (fix.speed_kmh, fix.battery_pct, fix.heading_deg, fix.tracker_serial) == (None, None, None, None)
    tracker_only = decode_object(sample("fix", subject_id=DELETE, tracker_serial="358899051234567"))
    assert isinstance(tracker_only, Fix)
    assert tracker_only.tracker_serial == "358899051234567"
    status = decode_object(sample("status", versions=DELETE, queue_depth=DELETE, camera_fps=DELETE))
    assert isinstance(status, Status)
    assert (status.versions, status.queue_depth, status.camera_fps) == ({}, 0, {})
    report = decode_object(sample("voice_report", key_elements=DELETE))
    assert isinstance(report, VoiceReport)
    assert report.key_elements is None


@pytest.mark.parametrize(
    ("field", "wire", "utc"),
    [
        ("device_time", "2026-11-23T16:05:00+08:00", datetime(2026, 11, 23, 8, 5, tzinfo=UTC)),
        ("device_time", "2026-11-23T03:05:00-05:00", datetime(2026, 11, 23, 8, 5, tzinfo=UTC)),
        ("device_time", "2026-11-23t08:05:00z", datetime(2026, 11, 23, 8, 5, tzinfo=UTC)),
        ("device_time", "2026-11-23 08:05:00.25Z", datetime(2026, 11, 23, 8, 5, 0, 250000, tzinfo=UTC)),
        (
            "device_time",
            "2026-11-23T08:05:00.123456789Z",
            datetime(2026, 11, 23, 8, 5, 0, 123456, tzinfo=UTC),
        ),
        ("first_seen", "2026-11-23T16:04:58+08:00", datetime(2026, 11, 23, 8, 4, 58, tzinfo=UTC)),
    ],
)
def test_timestamps_are_normalised_to_utc(field, wire, utc):
    """Any RFC 3339 offset is accepted and stored as UTC."""
    message = decode_object(sample("sighting", **{field: wire}))
    value = getattr(message, field)
    assert value == utc
    assert value.utcoffset() == timedelta(0)


# (message type, changes to the sample, field named in the error, fragment of the error)
VIOLATIONS = [
    # envelope
    ("fix", {"event_id": "not-a-uuid"}, "event_id", "must be a UUID such as"),
    ("fix", {"event_id": 7}, "event_id", "must be a UUID such as"),
    ("fix", {"device_id": "gw/01"}, "device_id", "must be 1 to 64 letters, digits, '_', '.' or '-'"),
    ("fix", {"device_id": ""}, "device_id", "starting with a letter or digit, got ''"),
    ("fix", {"device_id": "g" * 65}, "device_id", "must be 1 to 64 letters"),
    ("fix", {"device_id": 12}, "device_id", "must be a string, got 12"),
    ("fix", {"device_time": "2026-11-23T08:05:00"}, "device_time", "timestamp has no zone: RFC 3339 needs Z"),
    ("fix", {"device_time": "2026-11-23"}, "device_time", "must be an RFC 3339 timestamp such as"),
    ("fix", {"device_time": "23/11/2026 08:05"}, "device_time", "must be an RFC 3339 timestamp such as"),
    ("fix", {"device_time": 1763885100}, "device_time", "must be an RFC 3339 timestamp string"),
    ("fix", {"device_time": "2026-02-30T08:05:00Z"}, "device_time", "is not a real date and time"),
    ("fix", {"device_time": "2026-11-23T25:05:00Z"}, "device_time", "is not a real date and time"),
    (
        "fix",
        {"device_time": "1970-01-01T00:00:00Z"},
        "device_time",
        "must not be before 2000-01-01T00:00:00Z",
    ),
    ("fix", {"device_time": "2000-01-01T07:59:59+08:00"}, "device_time", "must not be before 2000-01-01"),
    ("fix", {"device_time": "0001-01-01T00:00:00+01:00"}, "device_time", "must not be before 2000-01-01"),
    # sighting
    ("sighting", {"camera_id": ""}, "camera_id", "must not be empty"),
    (
        "sighting",
        {"camera_id": " hall"},
        "camera_id",
        "must not have control characters or surrounding spaces",
    ),
    ("sighting", {"camera_id": "hall\x07"}, "camera_id", "must not have control characters"),
    ("sighting", {"camera_id": "c" * 129}, "camera_id", "must be at most 128 characters, got 129"),
    ("sighting", {"subject_id": 350205}, "subject_id", "must be a string, got 350205"),
    ("sighting", {"score": 1.5}, "score", "must be between -1 and 1, got 1.5"),
    ("sighting", {"score": -1.01}, "score", "must be between -1 and 1, got -1.01"),
    ("sighting", {"score": "0.7"}, "score", "must be a number, got '0.7'"),
    ("sighting", {"score": True}, "score", "must be a number, got true"),
    ("sighting", {"track_id": -1}, "track_id", "must be at least 0, got -1"),
    ("sighting", {"track_id": 1.5}, "track_id", "must be an integer, got 1.5"),
    ("sighting", {"track_id": 2**63}, "track_id", "must be at most 9223372036854775807"),
    ("sighting", {"first_seen": "2026-11-23T08:04:58"}, "first_seen", "timestamp has no zone"),
    ("sighting", {"last_seen": "2026-11-23T08:04:57Z"}, "last_seen", "must not be before first_seen"),
    ("sighting", {"quality": 1.2}, "quality", "must be between 0 and 1, got 1.2"),
    ("sighting", {"bbox": [412, 96, 520]}, "bbox", "must be exactly 4 integers [x1, y1, x2, y2], got 3"),
    ("sighting", {"bbox": [412, 96, 520, 230, 1]}, "bbox", "must be exactly 4 integers"),
    ("sighting", {"bbox": [412, -96, 520, 230]}, "bbox.1", "must be at least 0, got -96"),
    ("sighting", {"bbox": [412, 96, 520.5, 230]}, "bbox.2", "must be an integer, got 520.5"),
    ("sighting", {"bbox": [412, 96, 400, 230]}, "bbox.2", "x2 must be greater than x1 (412), got 400"),
    ("sighting", {"bbox": [412, 96, 520, 96]}, "bbox.3", "y2 must be greater than y1 (96), got 96"),
    ("sighting", {"bbox": "412,96,520,230"}, "bbox", "must be an array, got '412,96,520,230'"),
    # checkin
    ("checkin", {"methods": []}, "methods", "must list at least one method, got []"),
    ("checkin", {"methods": ["face", "face"]}, "methods", "must not repeat a method, got 'face' twice"),
    (
        "checkin",
        {"methods": ["iris"]},
        "methods.0",
        "must be one of 'id_card', 'face' or 'fingerprint', got 'iris'",
    ),
    ("checkin", {"face_score": 2.0}, "face_score", "must be between -1 and 1, got 2.0"),
    ("checkin", {"fingerprint_match": "yes"}, "fingerprint_match", "must be true or false, got 'yes'"),
    ("checkin", {"result": "ok"}, "result", "must be one of 'accepted' or 'refused', got 'ok'"),
    ("checkin", {"result": "refused"}, "reason", "must explain a refused check-in, got null"),
    ("checkin", {"result": "refused", "reason": " "}, "reason", "must explain a refused check-in, got ' '"),
    # voice report
    ("voice_report", {"subject_id": None}, "subject_id", "must be a string, got null"),
    (
        "voice_report",
        {"audio_sha256": "A" * 64},
        "audio_sha256",
        "must be 64 lowercase hexadecimal characters",
    ),
    ("voice_report", {"audio_sha256": "a" * 63}, "audio_sha256", "(a SHA-256 digest)"),
    ("voice_report", {"duration_s": 0}, "duration_s", "must be greater than 0 and at most 3600, got 0.0"),
    (
        "voice_report",
        {"duration_s": 3600.5},
        "duration_s",
        "must be greater than 0 and at most 3600, got 3600.5",
    ),
    ("voice_report", {"model": ""}, "model", "must not be empty"),
    ("voice_report", {"key_elements": {"places": "海沧"}}, "key_elements.places", "must be an array"),
    ("voice_report", {"transcript": None}, "transcript", "must be a string, got null"),
    # roll-call answer
    ("rollcall_answer", {"rollcall_id": ""}, "rollcall_id", "must not be empty"),
    ("rollcall_answer", {"face_score": -3}, "face_score", "must be between -1 and 1, got -3.0"),
    ("rollcall_answer", {"answered_at": "2026-11-23T08:04:41"}, "answered_at", "timestamp has no zone"),
    # fix
    ("fix", {"lat": 95.0}, "lat", "must be between -90 and 90, got 95.0"),
    ("fix", {"lat": -90.5}, "lat", "must be between -90 and 90, got -90.5"),
    ("fix", {"lon": 180.1}, "lon", "must be between -180 and 180, got 180.1"),
    ("fix", {"lon": "117.99"}, "lon", "must be a number, got '117.99'"),
    ("fix", {"lat": 0, "lon": 0}, "lat", "lat 0, lon 0 is what a device without a fix sends"),
    ("fix", {"lat": 0.0, "lon": -0.0}, "lat", "expected a real position"),
    ("fix", {"subject_id": None}, "subject_id", "a fix needs subject_id or tracker_serial, got neither"),
    ("fix", {"subject_id": DELETE}, "subject_id", "a fix needs subject_id or tracker_serial"),
    ("fix", {"accuracy_m": -1}, "accuracy_m", "must be between 0 and 100000, got -1.0"),
    ("fix", {"accuracy_m": 100001}, "accuracy_m", "must be between 0 and 100000"),
    ("fix", {"source": "gps"}, "source", "must be one of 'gnss', 'wifi', 'cell' or 'camera', got 'gps'"),
    ("fix", {"speed_kmh": -4.2}, "speed_kmh", "must be between 0 and 1000, got -4.2"),
    ("fix", {"battery_pct": 101}, "battery_pct", "must be between 0 and 100, got 101.0"),
    ("fix", {"heading_deg": 360}, "heading_deg", "must be at least 0 and less than 360, got 360.0"),
    ("fix", {"heading_deg": -1}, "heading_deg", "must be at least 0 and less than 360, got -1.0"),
    # device alarm
    (
        "device_alarm",
        {"kind": "fire"},
        "kind",
        "must be one of 'tamper', 'low_battery', 'power_off', 'sensor_fault' or 'sos', got 'fire'",
    ),
    ("device_alarm", {"detail": 5}, "detail", "must be a string, got 5"),
    # status
    ("status", {"online": 1}, "online", "must be true or false, got 1"),
    ("status", {"versions": {"edge_agent": 1}}, "versions.edge_agent", "must be a string, got 1"),
    ("status", {"queue_depth": -1}, "queue_depth", "must be at least 0, got -1"),
    ("status", {"camera_fps": {"hall": -2}}, "camera_fps.hall", "must be at least 0, got -2"),
    ("status", {"camera_fps": []}, "camera_fps", "must be an object, got []"),
    # roll-call command
    ("rollcall_start", {"subject_ids": []}, "subject_ids", "must list at least one subject, got []"),
    (
        "rollcall_start",
        {"subject_ids": ["S-1", "S-1"]},
        "subject_ids",
        "must not repeat a subject, got 'S-1' twice",
    ),
    ("rollcall_start", {"subject_ids": ["S-1", ""]}, "subject_ids.1", "must not be empty"),
    ("rollcall_start", {"deadline": "2026-11-23T08:05:00Z"}, "deadline", "must be after device_time"),
    ("rollcall_start", {"deadline": "2026-11-23T08:35:00"}, "deadline", "timestamp has no zone"),
    # gallery
    ("gallery", {"version": 0}, "version", "must be at least 1, got 0"),
    ("gallery", {"version": "7"}, "version", "must be an integer, got '7'"),
    ("gallery", {"url": "ftp://central.example/g/7"}, "url", "must be an http or https URL"),
    ("gallery", {"url": "https://"}, "url", "must be an http or https URL"),
    ("gallery", {"url": "central.example/g/7"}, "url", "must be an http or https URL"),
    ("gallery", {"url": "https://central.example/g 7"}, "url", "must be an http or https URL"),
    ("gallery", {"url": "http://[::1"}, "url", "must be an http or https URL"),
    ("gallery", {"sha256": HEX_A.upper()}, "sha256", "must be 64 lowercase hexadecimal characters"),
]


@pytest.mark.parametrize(("message_type", "changes", "field", "fragment"), VIOLATIONS)
def test_constraint_violations_name_field_and_problem(message_type, changes, field, fragment):
    """Breaking one constraint gives a ContractError naming the field and what was expected."""
    with pytest.raises(ContractError) as caught:
        decode_object(sample(message_type, **changes))
    assert caught.value.field == field
    assert str(caught.value).startswith(f"field '{field}': ")
    assert fragment in caught.value.reason


@pytest.mark.parametrize(
    ("message_type", "field"),
    [
        (t, name)
        for t, cls in sorted(MODEL_FOR_TYPE.items())
        for name, info in cls.model_fields.items()
        if info.is_required()
    ],
)
def test_every_required_field_is_required(message_type, field):
    """Leaving out a required field names it and says what it should hold."""
    with pytest.raises(ContractError) as caught:
        decode_object(sample(message_type, **{field: DELETE}))
    assert caught.value.field == field
    assert caught.value.reason.startswith("missing, expected ")


@pytest.mark.parametrize(
    ("message_type", "changes"),
    [
        ("sighting", {"score": -1, "quality": 0, "bbox": [0, 0, 1, 1]}),
        ("sighting", {"score": 1, "quality": 1, "last_seen": "2026-11-23T08:04:58Z"}),
        ("sighting", {"track_id": 0, "first_seen": "2000-01-01T00:00:00Z"}),
        (
            "checkin",
            {"methods": ["fingerprint", "face", "id_card"], "result": "refused", "reason": "face mismatch"},
        ),
        ("voice_report", {"duration_s": 3600, "transcript": ""}),
        (
            "fix",
            {"lat": 90, "lon": -180, "accuracy_m": 0, "speed_kmh": 0, "battery_pct": 0, "heading_deg": 0},
        ),
        ("fix", {"lat": -90, "lon": 180, "accuracy_m": 100000, "speed_kmh": 1000, "battery_pct": 100}),
        ("fix", {"lat": 0, "lon": 0.000001}),
        ("fix", {"heading_deg": 359.999}),
        ("status", {"queue_depth": 0, "camera_fps": {"hall": 0}}),
        ("gallery", {"version": 1, "url": "http://10.0.0.5:8080/g"}),
    ],
)
def test_boundaries_are_inside(message_type, changes):
    """Values on the edge of each range are accepted."""
    decode_object(sample(message_type, **changes))


@pytest.mark.parametrize("message_type", sorted(SAMPLES))
def test_models_are_frozen(message_type):
    """A decoded message cannot be changed in place."""
    message = decode_object(SAMPLES[message_type])
    with pytest.raises(ValidationError, match="frozen"):
        message.device_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize("cls", list(MODEL_FOR_TYPE.values()), ids=list(MODEL_FOR_TYPE))
def test_every_field_has_a_title_and_description(cls):
    """Each field is documented, so schema and error texts can say what is expected."""
    for name, info in cls.model_fields.items():
        assert info.title, f"{cls.__name__}.{name} has no title"
        assert info.description, f"{cls.__name__}.{name} has no description"


def test_message_union_picks_the_class_by_type():
    """Message is a union discriminated by `type`."""
    adapter: TypeAdapter[Message] = TypeAdapter(Message)
    for message_type, payload in SAMPLES.items():
        assert type(adapter.validate_python(payload)) is CLASSES[message_type]


def test_python_constructors_validate_too():
    """Building a message in Python applies the same rules, including the zone on timestamps."""
    fields = {
        "event_id": UUID(int=1),
        "device_id": "gw-1",
        "subject_id": "S-1",
        "lat": 24.5,
        "lon": 118.0,
        "accuracy_m": 5.0,
        "source": "gnss",
    }
    fix = Fix.model_validate(
        {**fields, "device_time": datetime(2026, 11, 23, 16, 5, tzinfo=timezone(timedelta(hours=8)))}
    )
    assert fix.device_time == datetime(2026, 11, 23, 8, 5, tzinfo=UTC)
    assert (fix.v, fix.type) == (1, "fix")
    with pytest.raises(ValidationError, match="timestamp has no zone"):
        Fix.model_validate({**fields, "device_time": datetime(2026, 11, 23, 8, 5)})
    with pytest.raises(ValidationError, match="must be the number 1, got true"):
        Fix.model_validate({**fields, "v": True, "device_time": datetime(2026, 11, 23, 8, 5, tzinfo=UTC)})


def test_examples_are_verbatim_from_the_architecture_page():
    """The two examples in the tests are the text of ARCHITECTURE.md, so the page and the code agree."""
    page = Path(__file__).resolve().parents[4] / "shared" / "design" / "ARCHITECTURE.md"
    if not page.exists():
        pytest.skip(f"{page} is not beside this checkout")
    text = page.read_text(encoding="utf-8")
    assert FIX_EXAMPLE in text
    assert SIGHTING_EXAMPLE in text
