"""The device daemon's wire messages: JSON bodies in ZeroMQ multipart messages. Pure: no sockets, no clock.

Events (PUB → SUB) are two frames, `[topic, body]`: the topic is the event name in ASCII (so a
subscriber filters by prefix), the body a JSON object with `v`, `event`, `daemon` (an id made when
the daemon starts, so a restart is visible), `seq` (1, 2, … per daemon run, so a gap is visible),
`time` (Unix seconds) and the event's own fields.

Commands (DEALER or REQ → ROUTER) are one JSON frame: `{"v": 1, "id": "…", "command": "…",
"args": {…}, "timeout_s": …, "sent_at": …}`. The reply is one JSON frame echoing `id` and
`command`, with `ok` and either `result` or `error` (`code`, `message`, `details`). A request that
cannot be decoded still gets a reply, whose `id` is the request's when it could be read and null
otherwise, and whose message names the field that was wrong.

Binary values (templates, photos, previews, audio) travel as base64 text. Every decoder raises
nothing but `DeviceProtocolError` (a ValueError), whatever bytes it is given.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Final, Literal, TypeAlias, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from vision.errors import TemplateError
from vision.template import Template

PROTOCOL_VERSION: Final = 1
MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024
"""Largest frame either side accepts (a recording returned inline is the largest thing sent)."""
MAX_TEMPLATE_BYTES: Final = 64 * 1024
MAX_PHOTO_BYTES: Final = 4 * 1024 * 1024


class DeviceProtocolError(ValueError):
    """A message that does not decode; the text names the part or field and what was expected.

    `request_id` is set when a request's id could be read before the problem was found, so the
    daemon can still address its error reply.
    """

    def __init__(self, message: str, *, request_id: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id
        self.field = field


# --- value types ---------------------------------------------------------------------------------


def _from_base64(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if not isinstance(value, str):
        raise ValueError(f"expected base64 text, got {type(value).__name__}")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"not valid base64 ({exc})") from None


def _to_base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


B64Bytes = Annotated[
    bytes, BeforeValidator(_from_base64), PlainSerializer(_to_base64, return_type=str, when_used="json")
]
"""Bytes in Python, base64 text on the wire."""

RequestId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Finite = Annotated[float, Field(allow_inf_nan=False)]

CommandName: TypeAlias = Literal[
    "status",
    "read_card",
    "capture_face",
    "enrol_finger",
    "verify_finger",
    "start_recording",
    "stop_recording",
]
COMMANDS: Final[tuple[str, ...]] = get_args(CommandName)

DriverName: TypeAlias = Literal["idcard", "fingerprint", "camera", "microphone"]
DRIVERS: Final[tuple[str, ...]] = get_args(DriverName)

DriverStateName: TypeAlias = Literal["disabled", "starting", "ok", "failed", "restarting"]
"""disabled: not configured; starting: first open; ok; failed: down, waiting to retry; restarting: reopening."""

ErrorCode: TypeAlias = Literal[
    "bad_request",  # the request does not decode (the message names the field)
    "unknown_command",
    "expired",  # it arrived after its own deadline (a client that gave up long ago)
    "timeout",  # the device did not finish within the command's timeout
    "device_unavailable",  # the driver is not configured, failed, or restarting
    "device_error",  # the device refused the operation (the message has its reason)
    "busy",  # e.g. a recording is already running
    "quality_refused",  # no camera frame passed the quality gate in time (details: reasons)
    "no_finger",  # nobody put a finger on the sensor (or lifted it) in time
    "not_recording",
    "internal",  # a bug in the daemon; the message says what
]
ERROR_CODES: Final[tuple[str, ...]] = get_args(ErrorCode)


class _Strict(BaseModel):
    """What a client sends: unknown keys are refused, so a misspelt argument is named, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Open(BaseModel):
    """What the daemon sends: unknown keys are ignored, so a newer daemon may add fields."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# --- command arguments -----------------------------------------------------------------------------


def _check_template(value: bytes | None) -> bytes | None:
    if value is None:
        return None
    if len(value) > MAX_TEMPLATE_BYTES:
        raise ValueError(f"face template of {len(value)} bytes; at most {MAX_TEMPLATE_BYTES}")
    try:
        Template.from_bytes(value)
    except TemplateError as exc:
        raise ValueError(str(exc)) from None
    return value


class StatusArgs(_Strict):
    """No arguments: the daemon's and every driver's state."""


class ReadCardArgs(_Strict):
    """The card on the reader now, or the next one put there within `wait_s`."""

    wait_s: Finite = Field(0.0, ge=0, le=300, description="how long to wait for a card; 0: only the card there now")
    include_photo: bool = Field(True, description="send the decoded photo (base64) when there is one")


class CaptureFaceArgs(_Strict):
    """Take camera frames until `frames` pass the quality gate (or `timeout_s` passes); keep the best."""

    timeout_s: Finite = Field(5.0, gt=0, le=60, description="how long to look for an accepted face")
    frames: int = Field(3, ge=1, le=30, description="accepted frames to choose the best from")
    reference: B64Bytes | None = Field(None, description="a plain face template (vision format) to score 1:1")
    reference_photo: B64Bytes | None = Field(
        None, description="an image (JPEG, PNG, BMP; e.g. the card photo) to score 1:1, gate not applied"
    )
    include_crop: bool = Field(False, description="send the aligned 112x112 face crop as JPEG")

    @field_validator("reference")
    @classmethod
    def _template(cls, value: bytes | None) -> bytes | None:
        return _check_template(value)

    @field_validator("reference_photo")
    @classmethod
    def _photo(cls, value: bytes | None) -> bytes | None:
        if value is not None and not 0 < len(value) <= MAX_PHOTO_BYTES:
            raise ValueError(f"photo of {len(value)} bytes; expected 1 to {MAX_PHOTO_BYTES}")
        return value


class EnrolFingerArgs(_Strict):
    """Two presses of one finger make a template, uploaded from the sensor and returned."""

    page: int | None = Field(
        None, ge=0, le=65535, description="sensor library page to keep it at; none: a scratch page, erased after"
    )
    timeout_s: Finite = Field(10.0, gt=0, le=120, description="longest wait for each press and lift")


class VerifyFingerArgs(_Strict):
    """1:1 on the sensor: the finger placed against a template given here, or against a library page."""

    template: B64Bytes | None = Field(None, description="a sensor template (from enrol_finger), base64")
    page: int | None = Field(None, ge=0, le=65535, description="a sensor library page")
    timeout_s: Finite = Field(10.0, gt=0, le=120, description="longest wait for the finger")

    @field_validator("template")
    @classmethod
    def _size(cls, value: bytes | None) -> bytes | None:
        if value is not None and not 0 < len(value) <= MAX_TEMPLATE_BYTES:
            raise ValueError(f"fingerprint template of {len(value)} bytes; expected 1 to {MAX_TEMPLATE_BYTES}")
        return value

    @model_validator(mode="after")
    def _one_reference(self) -> VerifyFingerArgs:
        if (self.template is None) == (self.page is None):
            raise ValueError("give exactly one of 'template' and 'page'")
        return self


class StartRecordingArgs(_Strict):
    """Start recording from the microphone; it stops by command, at `max_s`, or when a WAV source ends."""

    max_s: Finite = Field(120.0, gt=0, le=3600, description="longest recording, seconds")


class StopRecordingArgs(_Strict):
    """Stop the recording (or collect one that stopped by itself) and return its file."""

    recording_id: RequestId | None = Field(None, description="the id start_recording returned; none: the latest")
    include_audio: bool = Field(False, description="send the WAV bytes too (base64)")


CommandArgs: TypeAlias = (
    StatusArgs
    | ReadCardArgs
    | CaptureFaceArgs
    | EnrolFingerArgs
    | VerifyFingerArgs
    | StartRecordingArgs
    | StopRecordingArgs
)

COMMAND_ARGS: Final[dict[str, type[_Strict]]] = {
    "status": StatusArgs,
    "read_card": ReadCardArgs,
    "capture_face": CaptureFaceArgs,
    "enrol_finger": EnrolFingerArgs,
    "verify_finger": VerifyFingerArgs,
    "start_recording": StartRecordingArgs,
    "stop_recording": StopRecordingArgs,
}

COMMAND_DRIVER: Final[dict[str, str | None]] = {
    "status": None,
    "read_card": "idcard",
    "capture_face": "camera",
    "enrol_finger": "fingerprint",
    "verify_finger": "fingerprint",
    "start_recording": "microphone",
    "stop_recording": "microphone",
}
"""Which driver thread runs each command (None: the daemon's own loop answers it)."""

_MARGIN_S = 5.0


def default_timeout_s(command: str, args: BaseModel) -> float:
    """How long the daemon lets a command run when the request does not say: the person's wait plus a margin."""
    if isinstance(args, ReadCardArgs):
        return args.wait_s + _MARGIN_S
    if isinstance(args, CaptureFaceArgs):
        return args.timeout_s + _MARGIN_S
    if isinstance(args, EnrolFingerArgs):
        return 3 * args.timeout_s + 2 * _MARGIN_S  # press, lift, press again, then the upload
    if isinstance(args, VerifyFingerArgs):
        return args.timeout_s + 2 * _MARGIN_S
    return 2 * _MARGIN_S


# --- results -------------------------------------------------------------------------------------


class DriverStatus(_Open):
    """One driver as the status command and the maintenance screen show it."""

    name: str
    configured: bool
    state: DriverStateName
    reason: str | None = None
    since: float = Field(description="Unix time the state was entered")
    restarts: int = 0
    busy: str | None = Field(None, description="the command running now")
    busy_s: float | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class DaemonInfo(_Open):
    """The daemon process."""

    id: str
    pid: int
    version: str
    started_at: float
    uptime_s: float
    events: str = Field(description="PUB address")
    commands: str = Field(description="ROUTER address")


class StatusResult(_Open):
    """Reply to `status`."""

    daemon: DaemonInfo
    drivers: dict[str, DriverStatus]


class CardFields(_Open):
    """A decoded ID card: the printed fields, the checks, and the photo when a decoder could make one."""

    kind: str
    name: str
    sex: str
    sex_code: str
    nation: str | None
    nation_code: str | None
    birth_date: date
    address: str
    id_number: str
    id_number_valid: bool
    id_number_problem: str | None
    issuing_authority: str
    valid_from: date
    valid_until: date | None
    long_term: bool
    problems: list[str]
    photo_decoder_available: bool = Field(description="a vendor (WLT) photo decoder is configured")
    photo_available: bool
    photo_unavailable: str | None
    photo_media_type: str | None
    photo: B64Bytes | None = None
    fingerprint_length: int | None = None
    pass_number: str | None = None
    issue_count: int | None = None


class CardResult(_Open):
    """Reply to `read_card`: the card, or null when none came within the wait."""

    card: CardFields | None


class Refusal(_Open):
    """One reason the quality gate gave."""

    code: str
    message: str


class FaceQuality(_Open):
    """How good the chosen face is: one 0..1 figure, the box, the detector's confidence, and the gate's measures."""

    score: float
    box: list[int]
    detector_score: float
    measures: dict[str, float]


class Verification(_Open):
    """A 1:1 comparison."""

    score: float
    threshold: float
    same_person: bool


class FaceResult(_Open):
    """Reply to `capture_face`."""

    template: B64Bytes = Field(description="the plain vision template of the best accepted face")
    backend: str
    model_sha256: str
    dim: int
    quality: FaceQuality
    frame_seq: int
    frames_tried: int
    frames_accepted: int
    verification: Verification | None = None
    photo_verification: Verification | None = None
    photo_problem: str | None = Field(None, description="why the reference photo could not be scored")
    crop_jpeg: B64Bytes | None = None


class FingerEnrolResult(_Open):
    """Reply to `enrol_finger`."""

    page: int | None = Field(description="the library page it is kept at; null: not kept on the sensor")
    template: B64Bytes
    template_sha256: str
    size: int


class FingerVerifyResult(_Open):
    """Reply to `verify_finger`."""

    matched: bool
    score: int
    page: int | None


class RecordingStarted(_Open):
    """Reply to `start_recording`."""

    recording_id: str
    max_s: float
    source: str


StoppedBy: TypeAlias = Literal["command", "max_length", "source_ended", "source_failed", "recovered"]
"""recovered: a complete file an earlier run of the daemon left (how it stopped is not known)."""


class RecordingResult(_Open):
    """Reply to `stop_recording`: the WAV file (16 kHz mono 16-bit) and its digest."""

    recording_id: str
    path: str
    sha256: str
    duration_s: float
    bytes: int
    sample_rate: int = 16000
    stopped_by: StoppedBy
    error: str | None = Field(None, description="why the source failed, when stopped_by is source_failed")
    audio: B64Bytes | None = None


COMMAND_RESULTS: Final[dict[str, type[_Open]]] = {
    "status": StatusResult,
    "read_card": CardResult,
    "capture_face": FaceResult,
    "enrol_finger": FingerEnrolResult,
    "verify_finger": FingerVerifyResult,
    "start_recording": RecordingStarted,
    "stop_recording": RecordingResult,
}


# --- events ----------------------------------------------------------------------------------------


class _Event(_Open):
    v: Literal[1] = 1
    daemon: str
    seq: int = Field(ge=1)
    time: Finite


class CardInserted(_Event):
    """A card was put on the reader and read."""

    event: Literal["card_inserted"] = "card_inserted"
    card: CardFields


class CardRemoved(_Event):
    """The reader stopped finding the card (see docs/kiosk-devices.md on SAMs that never say so)."""

    event: Literal["card_removed"] = "card_removed"
    id_number: str | None = None


class CardReadFailed(_Event):
    """A card is there but could not be read; the reader tries again."""

    event: Literal["card_read_failed"] = "card_read_failed"
    reason: str


FingerPhase: TypeAlias = Literal["idle", "enrol", "verify"]


class FingerPlaced(_Event):
    """A finger is on the sensor (idle watch, or a capture during a command; `step` counts enrolment presses)."""

    event: Literal["finger_placed"] = "finger_placed"
    during: FingerPhase
    step: int | None = None


class FingerRemoved(_Event):
    """The sensor is empty again."""

    event: Literal["finger_removed"] = "finger_removed"
    during: FingerPhase
    step: int | None = None


class FrameReady(_Event):
    """A low-rate JPEG preview of the newest camera frame, for the UI's mirror (full frames stay in the daemon)."""

    event: Literal["frame_ready"] = "frame_ready"
    frame_seq: int
    width: int
    height: int
    preview: B64Bytes
    preview_width: int
    preview_height: int
    media_type: Literal["image/jpeg"] = "image/jpeg"


class FaceFound(_Event):
    """The face watch looked at a frame: how many faces, and whether the gate would take it."""

    event: Literal["face_found"] = "face_found"
    frame_seq: int
    faces: int
    accepted: bool
    quality: FaceQuality | None = None
    reasons: list[Refusal] = Field(default_factory=list)


class AudioLevel(_Event):
    """Level of the newest audio during a recording, for the level bar."""

    event: Literal["audio_level"] = "audio_level"
    recording_id: str
    rms: float
    peak: float
    dbfs: float
    clipped: bool
    meter: float
    seconds: float


class AudioChunk(_Event):
    """The PCM of a recording as it comes (16 kHz mono 16-bit), for live transcription; the WAV file is complete."""

    event: Literal["audio_chunk"] = "audio_chunk"
    recording_id: str
    index: int = Field(ge=0)
    offset_s: float
    pcm: B64Bytes


class RecordingStopped(_Event):
    """A recording ended without a stop command (max length, WAV source ended, microphone failed)."""

    event: Literal["recording_stopped"] = "recording_stopped"
    recording_id: str
    stopped_by: StoppedBy
    duration_s: float


class DriverState(_Event):
    """A driver changed state; `reason` says why it failed."""

    event: Literal["driver_state"] = "driver_state"
    driver: DriverName
    state: DriverStateName
    reason: str | None = None
    restarts: int = 0


class Heartbeat(_Event):
    """Sent every second or so: the daemon is alive, and each driver's state."""

    event: Literal["heartbeat"] = "heartbeat"
    uptime_s: float
    drivers: dict[str, DriverStateName]


Event: TypeAlias = Annotated[
    CardInserted
    | CardRemoved
    | CardReadFailed
    | FingerPlaced
    | FingerRemoved
    | FrameReady
    | FaceFound
    | AudioLevel
    | AudioChunk
    | RecordingStopped
    | DriverState
    | Heartbeat,
    Field(discriminator="event"),
]
_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EventName: TypeAlias = Literal[
    "card_inserted",
    "card_removed",
    "card_read_failed",
    "finger_placed",
    "finger_removed",
    "frame_ready",
    "face_found",
    "audio_level",
    "audio_chunk",
    "recording_stopped",
    "driver_state",
    "heartbeat",
]
EVENTS: Final[tuple[str, ...]] = get_args(EventName)


# --- envelopes -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """A decoded command: its id, name, typed arguments, and the client's own deadline."""

    id: str
    command: str
    args: CommandArgs
    timeout_s: float | None = None
    sent_at: float | None = None


class _RequestEnvelope(_Strict):
    v: Literal[1]
    id: RequestId
    command: str
    args: dict[str, Any] = Field(default_factory=dict)
    timeout_s: Finite | None = Field(None, gt=0, le=3600)
    sent_at: Finite | None = Field(None, ge=0)


class ErrorInfo(_Open):
    """Why a command failed."""

    code: ErrorCode
    message: str
    details: dict[str, Any] | None = None


class Reply(_Open):
    """The answer to one request."""

    v: Literal[1] = 1
    id: str | None
    command: str | None = None
    ok: bool
    result: dict[str, Any] | None = None
    error: ErrorInfo | None = None

    @model_validator(mode="after")
    def _shape(self) -> Reply:
        if self.ok and (self.result is None or self.error is not None):
            raise ValueError("a reply with ok=true carries 'result' and no 'error'")
        if not self.ok and self.error is None:
            raise ValueError("a reply with ok=false carries 'error'")
        return self


# --- helpers ---------------------------------------------------------------------------------------


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_validation(exc: ValidationError, what: str, prefix: str = "", skip: int = 0) -> tuple[str, str | None]:
    """Every problem, naming its field (`skip` leading location parts, e.g. a union's tag); (message, first field)."""
    lines: list[str] = []
    first: str | None = None
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"][skip:])
        field = f"{prefix}{path}" if path else prefix.rstrip(".") or None
        if first is None:
            first = field
        message = str(err["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        shown = "" if err["type"] in ("missing", "extra_forbidden") else f" (got {_short(err.get('input'))})"
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        where = f"{what} field '{field}'" if field else what
        lines.append(f"{where}: {message}{shown}")
    return "; ".join(lines), first


def _json_body(frame: bytes, what: str, request_id: str | None = None) -> dict[str, Any]:
    if len(frame) > MAX_MESSAGE_BYTES:
        raise DeviceProtocolError(f"{what}: {len(frame)} bytes, at most {MAX_MESSAGE_BYTES}", request_id=request_id)
    try:
        text = bytes(frame).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DeviceProtocolError(f"{what}: not UTF-8 text (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise DeviceProtocolError(f"{what}: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise DeviceProtocolError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _dump(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _frames(frames: Sequence[bytes], expected: int, what: str) -> list[bytes]:
    if isinstance(frames, bytes | bytearray | memoryview):
        frames = [bytes(frames)]
    parts = [bytes(f) for f in frames]
    if len(parts) != expected:
        shape = "one JSON frame" if expected == 1 else f"{expected} frames (topic, JSON body)"
        raise DeviceProtocolError(f"{what}: expected {shape}, got {len(parts)} frames")
    return parts


# --- requests --------------------------------------------------------------------------------------


def make_request(
    request_id: str,
    command: str,
    args: BaseModel | Mapping[str, Any] | None = None,
    *,
    timeout_s: float | None = None,
    sent_at: float | None = None,
) -> Request:
    """Build (and check) a request the way `decode_request` would read it back."""
    raw = args.model_dump(mode="json") if isinstance(args, BaseModel) else dict(args or {})
    body = {"v": PROTOCOL_VERSION, "id": request_id, "command": command, "args": raw}
    if timeout_s is not None:
        body["timeout_s"] = timeout_s
    if sent_at is not None:
        body["sent_at"] = sent_at
    return request_from_dict(body)


def request_from_dict(body: Mapping[str, Any]) -> Request:
    """Validate a request body already parsed from JSON."""
    raw_id = body.get("id")
    request_id = raw_id if isinstance(raw_id, str) and 0 < len(raw_id) <= 64 else None
    try:
        envelope = _RequestEnvelope.model_validate(body)
    except ValidationError as exc:
        message, field = describe_validation(exc, "request")
        raise DeviceProtocolError(message, request_id=request_id, field=field) from None
    if envelope.command not in COMMAND_ARGS:
        raise DeviceProtocolError(
            f"request field 'command': unknown command {_short(envelope.command)}, "
            f"expected one of {', '.join(COMMANDS)}",
            request_id=envelope.id,
            field="command",
        )
    try:
        args = COMMAND_ARGS[envelope.command].model_validate(envelope.args)
    except ValidationError as exc:
        message, field = describe_validation(exc, f"{envelope.command} request", prefix="args.")
        raise DeviceProtocolError(message, request_id=envelope.id, field=field) from None
    return Request(
        id=envelope.id,
        command=envelope.command,
        args=args,  # type: ignore[arg-type]
        timeout_s=envelope.timeout_s,
        sent_at=envelope.sent_at,
    )


def encode_request(request: Request) -> list[bytes]:
    """The frames a DEALER sends (a REQ socket adds its own empty delimiter)."""
    body: dict[str, Any] = {
        "v": PROTOCOL_VERSION,
        "id": request.id,
        "command": request.command,
        "args": request.args.model_dump(mode="json"),
    }
    if request.timeout_s is not None:
        body["timeout_s"] = request.timeout_s
    if request.sent_at is not None:
        body["sent_at"] = request.sent_at
    return [_dump(body)]


def decode_request(frames: Sequence[bytes]) -> Request:
    """Read one request (its frames after the ROUTER's identity and any empty delimiter)."""
    (frame,) = _frames(frames, 1, "request")
    return request_from_dict(_json_body(frame, "request body"))


def request_id_of(frames: Sequence[bytes]) -> str | None:
    """The id of a request that may not decode, when it can be read (to address an error reply)."""
    try:
        (frame,) = _frames(frames, 1, "request")
        body = _json_body(frame, "request body")
    except DeviceProtocolError:
        return None
    value = body.get("id")
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


# --- replies ---------------------------------------------------------------------------------------


def ok_reply(request: Request, result: BaseModel | Mapping[str, Any]) -> Reply:
    """A success reply; the result is checked against the command's result model."""
    data = result.model_dump(mode="json") if isinstance(result, BaseModel) else dict(result)
    model = COMMAND_RESULTS[request.command]
    try:
        checked = model.model_validate(data)
    except ValidationError as exc:
        message, _ = describe_validation(exc, f"{request.command} result", prefix="result.")
        raise DeviceProtocolError(message, request_id=request.id) from None
    return Reply(id=request.id, command=request.command, ok=True, result=checked.model_dump(mode="json"))


def error_reply(
    request_id: str | None,
    command: str | None,
    code: ErrorCode,
    message: str,
    details: Mapping[str, Any] | None = None,
) -> Reply:
    """A failure reply."""
    return Reply(
        id=request_id,
        command=command,
        ok=False,
        error=ErrorInfo(code=code, message=message, details=None if details is None else dict(details)),
    )


def encode_reply(reply: Reply) -> list[bytes]:
    """The frames the ROUTER sends after the client's identity (and delimiter)."""
    return [_dump(reply.model_dump(mode="json"))]


def decode_reply(frames: Sequence[bytes]) -> Reply:
    """Read one reply frame (after a DEALER's or REQ's envelope)."""
    (frame,) = _frames(frames, 1, "reply")
    body = _json_body(frame, "reply body")
    try:
        return Reply.model_validate(body)
    except ValidationError as exc:
        message, field = describe_validation(exc, "reply")
        raise DeviceProtocolError(message, field=field) from None


def parse_result(command: str, result: Mapping[str, Any]) -> Any:
    """A reply's result as the command's result model."""
    model = COMMAND_RESULTS.get(command)
    if model is None:
        raise DeviceProtocolError(f"reply for unknown command {_short(command)}, expected one of {', '.join(COMMANDS)}")
    try:
        return model.model_validate(dict(result))
    except ValidationError as exc:
        message, field = describe_validation(exc, f"{command} result", prefix="result.")
        raise DeviceProtocolError(message, field=field) from None


# --- events ----------------------------------------------------------------------------------------


def make_event(name: str, daemon: str, seq: int, time: float, fields: Mapping[str, Any]) -> Event:
    """Build (and check) one event."""
    body = {"v": PROTOCOL_VERSION, "event": name, "daemon": daemon, "seq": seq, "time": time, **fields}
    return event_from_dict(body)


def event_from_dict(body: Mapping[str, Any]) -> Event:
    """Validate an event body already parsed from JSON."""
    name = body.get("event")
    if name not in EVENTS:
        raise DeviceProtocolError(
            f"event field 'event': unknown event {_short(name)}, expected one of {', '.join(EVENTS)}", field="event"
        )
    try:
        return _EVENT_ADAPTER.validate_python(dict(body))
    except ValidationError as exc:
        # the discriminated union puts the event name first in every location: skip it
        message, field = describe_validation(exc, f"{name} event", skip=1)
        raise DeviceProtocolError(message, field=field) from None


def encode_event(event: Event) -> list[bytes]:
    """`[topic, body]` for a PUB socket."""
    return [event.event.encode("ascii"), _dump(event.model_dump(mode="json"))]


def decode_event(frames: Sequence[bytes]) -> Event:
    """Read `[topic, body]` from a SUB socket; the topic must name the body's event."""
    topic, frame = _frames(frames, 2, "event")
    try:
        name = topic.decode("ascii")
    except UnicodeDecodeError:
        raise DeviceProtocolError(f"event topic: not ASCII ({_short(topic)})") from None
    if name not in EVENTS:
        raise DeviceProtocolError(f"event topic: unknown event {_short(name)}, expected one of {', '.join(EVENTS)}")
    body = _json_body(frame, f"{name} event body")
    if body.get("event") != name:
        raise DeviceProtocolError(
            f"{name} event field 'event': {_short(body.get('event'))} does not match the topic {name!r}", field="event"
        )
    return event_from_dict(body)
