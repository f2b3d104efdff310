"""Pydantic models of every contract v1 message, one class per `type`.

Models are strict (no string-to-number coercion: a device sending ``"lat": "24.5"`` has a
bug worth hearing about), frozen, and keep unknown fields, because producers may add
optional fields and those must survive a round trip.
"""

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from contracts.errors import show
from contracts.topics import DEVICE_ID_RULE, is_device_id

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_INT = 2**63 - 1  # what a BIGINT column holds
MAX_IDENT_CHARS = 128
MAX_BBOX_PIXELS = 100_000

_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-]\d{2}:\d{2}))?")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TIMESTAMP_EXAMPLE = "2026-11-23T08:05:00Z"


def _fail(reason: str, field: str | None = None) -> PydanticCustomError:
    """A validation error whose text is `reason`; `field` overrides the location for cross-field checks."""
    # The reason goes in through the context so braces in a shown value are never read as placeholders;
    # it is the last key because pydantic fills placeholders one key after the other.
    context: dict[str, str] = {} if field is None else {"field": field}
    context["reason"] = reason
    return PydanticCustomError("contract", "{reason}", context)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as on the wire."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def _to_timestamp(value: object) -> datetime:
    if isinstance(value, datetime):
        moment = value
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise _fail(
                f"timestamp has no zone: RFC 3339 needs Z or an offset such as +08:00, got {show(value.isoformat())}"
            )
    elif isinstance(value, str):
        moment = _parse_rfc3339(value)
    else:
        raise _fail(f"must be an RFC 3339 timestamp string such as {_TIMESTAMP_EXAMPLE}, got {show(value)}")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise _fail(f"must not be before {format_timestamp(EARLIEST)}, got {show(str(value))}") from None
    if moment < EARLIEST:
        raise _fail(
            f"must not be before {format_timestamp(EARLIEST)} (a device clock that was never set), "
            f"got {show(format_timestamp(moment))}"
        )
    return moment


def _parse_rfc3339(text: str) -> datetime:
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise _fail(f"must be an RFC 3339 timestamp such as {_TIMESTAMP_EXAMPLE}, got {show(text)}")
    day, clock, fraction, zulu, offset = match.groups()
    if zulu is None and offset is None:
        raise _fail(f"timestamp has no zone: RFC 3339 needs Z or an offset such as +08:00, got {show(text)}")
    # Python keeps microseconds; finer digits (some GNSS chips send nanoseconds) are cut, not rounded.
    micro = f".{fraction[:6]}" if fraction else ""
    try:
        return datetime.fromisoformat(f"{day}T{clock}{micro}{offset or '+00:00'}")
    except ValueError as exc:
        raise _fail(f"is not a real date and time ({exc}), got {show(text)}") from None


def _to_uuid(value: object) -> UUID:
    if isinstance(value, UUID):
        return value
    if isinstance(value, str) and _UUID.fullmatch(value):
        return UUID(value)
    raise _fail(f"must be a UUID such as 0b6f6c1e-4f8e-4a51-9a63-8d1f2f0e7c11, got {show(value)}")


def _not_bool(value: object) -> object:
    # True == 1 in Python, so Literal[1] alone would let `"v": true` through.
    if isinstance(value, bool):
        raise _fail(f"must be the number 1, got {show(value)}")
    return value


def _device_id(value: str) -> str:
    if not is_device_id(value):
        raise _fail(f"must be {DEVICE_ID_RULE}, got {show(value)}")
    return value


def _ident(value: str) -> str:
    if not value:
        raise _fail("must not be empty, expected an identifier")
    if len(value) > MAX_IDENT_CHARS:
        raise _fail(f"must be at most {MAX_IDENT_CHARS} characters, got {len(value)}: {show(value)}")
    if value != value.strip() or _CONTROL.search(value):
        raise _fail(f"must not have control characters or surrounding spaces, got {show(value)}")
    return value


def _sha256(value: str) -> str:
    if not _SHA256.fullmatch(value):
        raise _fail(f"must be 64 lowercase hexadecimal characters (a SHA-256 digest), got {show(value)}")
    return value


def _url(value: str) -> str:
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not host or re.search(r"\s", value):
        raise _fail(f"must be an http or https URL such as https://central.example/gallery/7, got {show(value)}")
    return value


def _bbox(value: list[int]) -> list[int]:
    if len(value) != 4:
        raise _fail(f"must be exactly 4 integers [x1, y1, x2, y2], got {len(value)}: {show(value)}")
    x1, y1, x2, y2 = value
    if x2 <= x1:
        raise _fail(f"x2 must be greater than x1 ({x1}), got {x2}", field="bbox.2")
    if y2 <= y1:
        raise _fail(f"y2 must be greater than y1 ({y1}), got {y2}", field="bbox.3")
    return value


def _unique_non_empty(what: str) -> Callable[[list[str]], list[str]]:
    def check(value: list[str]) -> list[str]:
        if not value:
            raise _fail(f"must list at least one {what}, got []")
        seen: set[str] = set()
        for item in value:
            if item in seen:
                raise _fail(f"must not repeat a {what}, got {show(item)} twice")
            seen.add(item)
        return value

    return check


def _interval(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> AfterValidator:
    lower = f"greater than {lo}" if lo_open else f"at least {lo}"
    upper = f"less than {hi}" if hi_open else f"at most {hi}"
    rule = f"between {lo} and {hi}" if not (lo_open or hi_open) else f"{lower} and {upper}"

    def check(value: float) -> float:
        too_low = value <= lo if lo_open else value < lo
        too_high = value >= hi if hi_open else value > hi
        if too_low or too_high:
            raise _fail(f"must be {rule}, got {show(value)}")
        return value

    return AfterValidator(check)


Timestamp = Annotated[
    datetime,
    BeforeValidator(_to_timestamp),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]
EventId = Annotated[UUID, BeforeValidator(_to_uuid)]
DeviceId = Annotated[str, AfterValidator(_device_id)]
Ident = Annotated[str, AfterValidator(_ident)]
Sha256 = Annotated[str, AfterValidator(_sha256)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Real = Annotated[float, Field(allow_inf_nan=False)]
Similarity = Annotated[Real, _interval(-1, 1)]

CheckinMethod = Literal["id_card", "face", "fingerprint"]
FixSource = Literal["gnss", "wifi", "cell", "camera"]
AlarmKind = Literal["tamper", "low_battery", "power_off", "sensor_fault", "sos"]


class Envelope(BaseModel):
    """The fields every contract v1 message carries."""

    model_config = ConfigDict(frozen=True, extra="allow", strict=True)

    v: Annotated[Literal[1], BeforeValidator(_not_bool)] = Field(
        default=1, title="Contract version", description="the contract version, always 1"
    )
    type: str = Field(title="Message type", description="the message type, which selects the fields below")
    event_id: EventId = Field(title="Event id", description="a UUID made once on the device; redeliveries repeat it")
    device_id: DeviceId = Field(
        title="Device id", description=f"the sending (or, for commands, the target) device: {DEVICE_ID_RULE}"
    )
    device_time: Timestamp = Field(
        title="Device time",
        description="when the event happened by the device clock, RFC 3339 with Z or an offset",
    )


class Sighting(Envelope):
    """A face track seen by an edge camera, matched to a subject or unknown."""

    type: Literal["sighting"] = Field(default="sighting", title="Message type", description="'sighting'")
    camera_id: Ident = Field(title="Camera id", description="the camera on the edge host that saw the face")
    subject_id: Ident | None = Field(title="Subject id", description="the matched subject, or null for an unknown face")
    score: Similarity = Field(title="Match score", description="face similarity, between -1 and 1")
    track_id: Count = Field(title="Track id", description="the edge tracker's id for this face track, >= 0")
    first_seen: Timestamp = Field(title="First seen", description="when the track started, RFC 3339")
    last_seen: Timestamp = Field(
        title="Last seen", description="when the track was last seen, RFC 3339, not before first_seen"
    )
    quality: Annotated[Real, _interval(0, 1)] = Field(
        title="Face quality", description="quality of the best crop, between 0 and 1"
    )
    bbox: Annotated[list[Annotated[int, Field(ge=0, le=MAX_BBOX_PIXELS)]], AfterValidator(_bbox)] = Field(
        title="Bounding box",
        description="the best crop in pixels as [x1, y1, x2, y2], each >= 0, with x2 > x1 and y2 > y1",
    )

    @model_validator(mode="after")
    def _seen_in_order(self) -> Self:
        if self.last_seen < self.first_seen:
            raise _fail(
                f"must not be before first_seen ({format_timestamp(self.first_seen)}), "
                f"got {show(format_timestamp(self.last_seen))}",
                field="last_seen",
            )
        return self


class Checkin(Envelope):
    """A subject's check-in attempt at a kiosk, accepted or refused."""

    type: Literal["checkin"] = Field(default="checkin", title="Message type", description="'checkin'")
    subject_id: Ident | None = Field(
        title="Subject id", description="the subject, or null when the card holder is not enrolled"
    )
    methods: Annotated[list[CheckinMethod], AfterValidator(_unique_non_empty("method"))] = Field(
        title="Methods",
        description="the identification methods used, at least one of 'id_card', 'face', 'fingerprint', each once",
    )
    face_score: Similarity | None = Field(
        default=None, title="Face score", description="1:1 face similarity, between -1 and 1, or null"
    )
    fingerprint_match: bool | None = Field(
        default=None, title="Fingerprint match", description="whether the fingerprint matched, or null"
    )
    result: Literal["accepted", "refused"] = Field(
        title="Result", description="the kiosk's decision, 'accepted' or 'refused'"
    )
    reason: str | None = Field(
        default=None, title="Reason", description="why the check-in was refused; required when refused"
    )

    @model_validator(mode="after")
    def _refusal_explained(self) -> Self:
        if self.result == "refused" and not (self.reason and self.reason.strip()):
            raise _fail(f"must explain a refused check-in, got {show(self.reason)}", field="reason")
        return self


class VoiceReport(Envelope):
    """A subject's spoken report, transcribed on the kiosk; the audio goes over HTTPS."""

    type: Literal["voice_report"] = Field(default="voice_report", title="Message type", description="'voice_report'")
    subject_id: Ident = Field(title="Subject id", description="the reporting subject")
    transcript: str = Field(title="Transcript", description="the speech-to-text transcript (may be empty)")
    audio_sha256: Sha256 = Field(
        title="Audio SHA-256", description="SHA-256 of the uploaded audio file, 64 lowercase hex characters"
    )
    duration_s: Annotated[Real, _interval(0, 3600, lo_open=True)] = Field(
        title="Duration", description="length of the recording in seconds, greater than 0 and at most 3600"
    )
    model: Ident = Field(title="Speech model", description="the speech-to-text model that made the transcript")
    key_elements: dict[str, list[str]] | None = Field(
        default=None,
        title="Key elements",
        description="optional extracted elements (e.g. places, people), each a list of strings",
    )


class RollcallAnswer(Envelope):
    """A subject's answer to a roll call, given at a kiosk."""

    type: Literal["rollcall_answer"] = Field(
        default="rollcall_answer", title="Message type", description="'rollcall_answer'"
    )
    rollcall_id: Ident = Field(title="Roll-call id", description="the roll call being answered")
    subject_id: Ident = Field(title="Subject id", description="the answering subject")
    face_score: Similarity | None = Field(
        default=None, title="Face score", description="1:1 face similarity, between -1 and 1, or null"
    )
    answered_at: Timestamp = Field(title="Answered at", description="when the subject answered, RFC 3339")


class Fix(Envelope):
    """A position of a subject or of a tracker, from a phone, wristband gateway or tracker."""

    type: Literal["fix"] = Field(default="fix", title="Message type", description="'fix'")
    subject_id: Ident | None = Field(
        default=None, title="Subject id", description="the subject, if known; this or tracker_serial"
    )
    tracker_serial: Ident | None = Field(
        default=None, title="Tracker serial", description="the tracker's serial number; this or subject_id"
    )
    lat: Annotated[Real, _interval(-90, 90)] = Field(
        title="Latitude", description="WGS-84 latitude in degrees, between -90 and 90"
    )
    lon: Annotated[Real, _interval(-180, 180)] = Field(
        title="Longitude", description="WGS-84 longitude in degrees, between -180 and 180"
    )
    accuracy_m: Annotated[Real, _interval(0, 100_000)] = Field(
        title="Accuracy", description="estimated horizontal error in metres, between 0 and 100000"
    )
    source: FixSource = Field(
        title="Source", description="how the position was found: 'gnss', 'wifi', 'cell' or 'camera'"
    )
    speed_kmh: Annotated[Real, _interval(0, 1000)] | None = Field(
        default=None, title="Speed", description="speed in km/h, between 0 and 1000, or null"
    )
    battery_pct: Annotated[Real, _interval(0, 100)] | None = Field(
        default=None, title="Battery", description="battery charge in percent, between 0 and 100, or null"
    )
    heading_deg: Annotated[Real, _interval(0, 360, hi_open=True)] | None = Field(
        default=None,
        title="Heading",
        description="course over ground in degrees, 0 to less than 360, or null",
    )

    @model_validator(mode="after")
    def _plausible(self) -> Self:
        if self.subject_id is None and self.tracker_serial is None:
            raise _fail("missing: a fix needs subject_id or tracker_serial, got neither", field="subject_id")
        if self.lat == 0 and self.lon == 0:
            raise _fail("lat 0, lon 0 is what a device without a fix sends, expected a real position", field="lat")
        return self


class DeviceAlarm(Envelope):
    """A device reporting trouble: tampering, low battery, power off or a failed sensor."""

    type: Literal["device_alarm"] = Field(default="device_alarm", title="Message type", description="'device_alarm'")
    kind: AlarmKind = Field(
        title="Alarm kind",
        description="'tamper', 'low_battery', 'power_off', 'sensor_fault' or 'sos' (SOS button pressed)",
    )
    detail: str | None = Field(default=None, title="Detail", description="free text for the officer, or null")
    subject_id: Ident | None = Field(
        default=None, title="Subject id", description="the subject wearing the device, if any, or null"
    )


class Status(Envelope):
    """A device's health (retained; also its MQTT last will with online false)."""

    type: Literal["status"] = Field(default="status", title="Message type", description="'status'")
    online: bool = Field(title="Online", description="true while the device runs; false in the last will")
    versions: dict[str, str] = Field(
        default_factory=dict, title="Versions", description="software and model versions by component"
    )
    queue_depth: Count = Field(
        default=0, title="Queue depth", description="messages waiting in the device outbox, >= 0"
    )
    camera_fps: dict[str, Annotated[Real, Field(ge=0)]] = Field(
        default_factory=dict, title="Camera FPS", description="frames per second by camera id, each >= 0"
    )


class RollcallStart(Envelope):
    """Central asking a kiosk to run a roll call; device_id is the target kiosk."""

    type: Literal["rollcall_start"] = Field(
        default="rollcall_start", title="Message type", description="'rollcall_start'"
    )
    rollcall_id: Ident = Field(title="Roll-call id", description="the roll call, echoed in the answers")
    subject_ids: Annotated[list[Ident], AfterValidator(_unique_non_empty("subject"))] = Field(
        title="Subject ids", description="the subjects called, at least one, each once"
    )
    deadline: Timestamp = Field(title="Deadline", description="when answering closes, RFC 3339, after device_time")

    @model_validator(mode="after")
    def _deadline_ahead(self) -> Self:
        if self.deadline <= self.device_time:
            raise _fail(
                f"must be after device_time ({format_timestamp(self.device_time)}), "
                f"got {show(format_timestamp(self.deadline))}",
                field="deadline",
            )
        return self


class Gallery(Envelope):
    """Central announcing a new face gallery for an edge host or kiosk to fetch (retained)."""

    type: Literal["gallery"] = Field(default="gallery", title="Message type", description="'gallery'")
    version: Annotated[int, Field(ge=1, le=MAX_INT)] = Field(
        title="Gallery version", description="the gallery version, >= 1, increasing"
    )
    url: Annotated[str, AfterValidator(_url)] = Field(
        title="URL", description="where to fetch the encrypted gallery, an http or https URL"
    )
    sha256: Sha256 = Field(title="SHA-256", description="SHA-256 of the gallery file, 64 lowercase hex characters")


Message = Annotated[
    Sighting | Checkin | VoiceReport | RollcallAnswer | Fix | DeviceAlarm | Status | RollcallStart | Gallery,
    Field(discriminator="type"),
]

MODEL_FOR_TYPE: Mapping[str, type[Envelope]] = MappingProxyType(
    {
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
)
