"""The values the kiosk's flows exchange with their runtime: inputs (what happened), effects (what to do), views.

Every flow is a pure function `(state, input) -> (state, effects)` over these frozen values. The
runtime (the Kivy UI process) turns device events, central's answers, touches and its clock into
inputs, and carries out the effects: it talks to the device daemon, central and the uplink, and it
renders `Show` views. Flows never read a clock, make a random number or touch a device.

Correlation: every request to the runtime carries a `req` token and its answer must echo it, so an
answer that arrives after its session ended (a slow face capture after a timeout) is recognised as
stale and ignored instead of being taken for the next person's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal
from uuid import UUID

from contracts.messages import Checkin, DeviceAlarm, RollcallAnswer, RollcallStart, VoiceReport

Lang = Literal["zh", "en"]


# -- what the person sees ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Msg:
    """A message id of kiosk/i18n.py and its parameters; flows never carry literal text."""

    id: str
    params: tuple[tuple[str, Param], ...] = ()

    @property
    def kwargs(self) -> dict[str, Param]:
        """The parameters as keyword arguments for formatting."""
        return dict(self.params)


Param = str | int | float | Msg
"""A message parameter: a value, or another message (translated too, e.g. the name of a device)."""


def msg(message_id: str, **params: Param) -> Msg:
    """A Msg with keyword parameters, sorted so equal messages compare equal."""
    return Msg(message_id, tuple(sorted(params.items())))


class Screen(StrEnum):
    """The screens the UI knows; a view names one and fills it."""

    IDLE = "idle"
    CARD = "card"
    BUSY = "busy"
    FACE = "face"
    FINGER = "finger"
    RECEIPT = "receipt"
    REFUSED = "refused"
    MESSAGE = "message"
    VOICE_READY = "voice_ready"
    VOICE_RECORDING = "voice_recording"
    VOICE_REVIEW = "voice_review"
    VOICE_DONE = "voice_done"
    ROLLCALL = "rollcall"
    ROLLCALL_SUMMARY = "rollcall_summary"
    PIN = "pin"
    MAINTENANCE = "maintenance"
    ENROL_FACE = "enrol_face"
    ENROL_FINGER = "enrol_finger"
    ENROL_REVIEW = "enrol_review"


@dataclass(frozen=True)
class Button:
    """A touch target: `id` comes back in `Touch.button`."""

    id: str
    label: Msg
    kind: Literal["primary", "secondary", "danger"] = "primary"


@dataclass(frozen=True)
class View:
    """Everything one screen shows: the UI renders it and nothing else.

    `data` holds screen-specific values (a transcript, the list of people still missing, a level
    meter); `deadline` is when the screen times out (for a countdown); `banner` and `lang` are set
    by the kiosk machine (offline banner, language chosen by the person).
    """

    screen: Screen
    title: Msg
    lines: tuple[Msg, ...] = ()
    buttons: tuple[Button, ...] = ()
    data: Mapping[str, object] = field(default_factory=dict)
    deadline: datetime | None = None
    banner: Msg | None = None
    lang: Lang = "zh"

    def button_ids(self) -> tuple[str, ...]:
        """Ids of the buttons shown."""
        return tuple(b.id for b in self.buttons)


# -- what the flows know about a card and a subject ------------------------------------------------------------------


@dataclass(frozen=True)
class CardInfo:
    """The fields of a resident ID card that the flows use (peripherals.idcard.CardData decoded them)."""

    id_number: str
    name: str
    valid_until: date | None
    """None for a long-term (长期) card."""
    id_number_ok: bool = True
    """False when the number's check digit or date is wrong (a misread or a forged card)."""
    photo: bytes | None = None
    """The card photo when a photo decoder made one: the face is also compared with it."""

    @classmethod
    def from_fields(cls, fields: Mapping[str, object]) -> CardInfo:
        """From a decoded card as the device daemon sends it (kiosk.devices.protocol.CardFields, dumped).

        Raises ValueError naming the field that is missing or of the wrong type.
        """

        def need(name: str, kind: type | tuple[type, ...]) -> object:
            if name not in fields:
                raise ValueError(f"card fields: '{name}' is missing")
            value = fields[name]
            if not isinstance(value, kind):
                raise ValueError(f"card fields: '{name}' has the wrong type ({type(value).__name__})")
            return value

        valid_until = need("valid_until", (date, str, type(None)))
        if isinstance(valid_until, str):
            try:
                valid_until = date.fromisoformat(valid_until)
            except ValueError:
                raise ValueError(f"card fields: 'valid_until' is not a date: {valid_until!r}") from None
        photo = fields.get("photo")
        return cls(
            id_number=str(need("id_number", str)),
            name=str(need("name", str)),
            valid_until=valid_until if isinstance(valid_until, date) else None,
            id_number_ok=bool(need("id_number_valid", bool)),
            photo=photo if isinstance(photo, bytes) and photo else None,
        )


@dataclass(frozen=True)
class SubjectInfo:
    """What central (or the kiosk's encrypted cache) says about the card holder."""

    subject_id: str
    name: str
    status: str = "active"
    """active | released | terminated."""
    supervision_level: str = "normal"
    """strict | normal | lenient."""
    has_face_template: bool = True
    has_fingerprint: bool = False
    requires_fingerprint: bool = False
    """Central's record asks for a finger (lookup's `requires_fingerprint`), whatever the kiosk's policy says."""


# -- inputs --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Input:
    """Something that happened, stamped by the runtime's clock (timezone-aware)."""

    at: datetime


@dataclass(frozen=True, kw_only=True)
class Tick(Input):
    """Time passed; the runtime sends one at every `StartTimer` time (or simply every second)."""


@dataclass(frozen=True, kw_only=True)
class CardRead(Input):
    """A card was placed on the reader and read."""

    card: CardInfo


@dataclass(frozen=True, kw_only=True)
class CardRemoved(Input):
    """The card left the reader."""


@dataclass(frozen=True, kw_only=True)
class SubjectFound(Input):
    """Answer to LookupSubject: the subject."""

    req: str
    subject: SubjectInfo


@dataclass(frozen=True, kw_only=True)
class SubjectNotFound(Input):
    """Answer to LookupSubject: nobody under correction has this card (or id)."""

    req: str


@dataclass(frozen=True, kw_only=True)
class LookupFailed(Input):
    """Answer to LookupSubject: neither central nor the local cache could answer."""

    req: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class FaceCaptured(Input):
    """Answer to CaptureFace: the quality gate's verdict and the 1:1 scores (cosine similarity).

    `refusals` are vision.quality.Refusal codes (no_face, blurred, too_dark …) when the gate
    refused the picture. `template_score` compares with the subject's enrolled template,
    `card_score` with the card photo (None when no photo was available or decodable). `yaw` and
    `capture_ref` (the runtime's handle on the embedding) serve enrolment.
    """

    req: str
    quality_ok: bool
    refusals: tuple[str, ...] = ()
    quality: float | None = None
    template_score: float | None = None
    card_score: float | None = None
    yaw: float | None = None
    capture_ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class FingerResult(Input):
    """Answer to VerifyFinger: whether the finger matched the subject's template, and the sensor's score."""

    req: str
    matched: bool
    score: int = 0


@dataclass(frozen=True, kw_only=True)
class FingerEnrolled(Input):
    """Answer to EnrolFinger: the runtime's handle on the new fingerprint template."""

    req: str
    template_ref: str


@dataclass(frozen=True, kw_only=True)
class DeviceFailed(Input):
    """A device could not do what was asked (camera gone, sensor timeout, microphone unplugged)."""

    req: str
    device: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class Touch(Input):
    """The person touched a button of the current view."""

    button: str


@dataclass(frozen=True, kw_only=True)
class PinEntered(Input):
    """A staff member typed a PIN on the PIN screen."""

    pin: str


@dataclass(frozen=True, kw_only=True)
class Published(Input):
    """A Publish effect's message is safely in the uplink outbox (it will reach central, once)."""

    event_id: UUID


@dataclass(frozen=True, kw_only=True)
class PublishFailed(Input):
    """A Publish effect's message could not be queued (outbox full, disk error)."""

    event_id: UUID
    detail: str


@dataclass(frozen=True, kw_only=True)
class CentralOffline(Input):
    """Central or the broker became unreachable: the kiosk works on, from its cache, and says so."""


@dataclass(frozen=True, kw_only=True)
class CentralOnline(Input):
    """Central is reachable again."""


@dataclass(frozen=True, kw_only=True)
class RecordingLevel(Input):
    """The microphone level while recording, 0..1, for the level bar."""

    req: str
    meter: float


@dataclass(frozen=True, kw_only=True)
class PartialTranscript(Input):
    """Live text of the recording so far (Vosk partial result)."""

    req: str
    text: str


@dataclass(frozen=True, kw_only=True)
class RecordingStopped(Input):
    """Answer to StopRecording: the recording is a file named by its sha256."""

    req: str
    audio_sha256: str
    duration_s: float


@dataclass(frozen=True, kw_only=True)
class Transcribed(Input):
    """Answer to Transcribe: the final text, the model that made it and its key elements (kiosk.report_keywords)."""

    req: str
    text: str
    model: str
    key_elements: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class UploadDone(Input):
    """Answer to UploadAudio or UploadTemplates: uploaded, or (`queued`) safely spooled to upload when online."""

    req: str
    queued: bool = False


@dataclass(frozen=True, kw_only=True)
class UploadFailed(Input):
    """Answer to UploadAudio or UploadTemplates: it could not be uploaded nor spooled."""

    req: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class RollcallCommand(Input):
    """Central's rollcall_start command arrived."""

    command: RollcallStart


# -- effects -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    """A request to the runtime."""


@dataclass(frozen=True)
class Show(Effect):
    """Render this view."""

    view: View


@dataclass(frozen=True)
class StartTimer(Effect):
    """Send a Tick at (or soon after) `at`: the current screen times out then."""

    at: datetime


@dataclass(frozen=True)
class ReadCard(Effect):
    """Wait for a card (arm the reader); the card arrives as CardRead."""

    req: str


@dataclass(frozen=True)
class LookupSubject(Effect):
    """Find the subject by card number or by subject id (central, else the local cache)."""

    req: str
    id_number: str | None = None
    subject_id: str | None = None


@dataclass(frozen=True)
class CaptureFace(Effect):
    """Capture a live face through the quality gate and score it against the subject's template and the card photo."""

    req: str
    subject_id: str
    card_photo: bytes | None = None
    purpose: Literal["verify", "enrol"] = "verify"
    pose: str | None = None


@dataclass(frozen=True)
class VerifyFinger(Effect):
    """Verify a finger on the sensor against the subject's fingerprint template."""

    req: str
    subject_id: str


@dataclass(frozen=True)
class EnrolFinger(Effect):
    """Enrol a finger on the sensor (several presses) for the subject."""

    req: str
    subject_id: str
    finger: int


@dataclass(frozen=True)
class CancelDevices(Effect):
    """Abandon any capture or verification still running (its late answer will be ignored anyway)."""


@dataclass(frozen=True)
class StartRecording(Effect):
    """Start recording the microphone, streaming RecordingLevel and PartialTranscript inputs with this req."""

    req: str


@dataclass(frozen=True)
class StopRecording(Effect):
    """Stop the recording `req`; answer with RecordingStopped."""

    req: str


@dataclass(frozen=True)
class DiscardRecording(Effect):
    """Delete a recording that will not be submitted (re-record, cancel)."""

    audio_sha256: str


@dataclass(frozen=True)
class Transcribe(Effect):
    """Final transcript and key elements of the recording; answer with Transcribed."""

    req: str
    audio_sha256: str


@dataclass(frozen=True)
class UploadAudio(Effect):
    """PUT the recording to central, addressed by its sha256 (or spool it while offline); answer UploadDone."""

    req: str
    audio_sha256: str
    subject_id: str


@dataclass(frozen=True)
class UploadTemplates(Effect):
    """Encrypt and upload the enrolled face and finger templates for the subject; answer UploadDone."""

    req: str
    subject_id: str
    face_refs: tuple[str, ...]
    finger_refs: tuple[str, ...]


Publishable = Checkin | VoiceReport | RollcallAnswer | DeviceAlarm


@dataclass(frozen=True)
class Publish(Effect):
    """Queue this contract message in the uplink outbox; answer Published (or PublishFailed) with its event_id."""

    message: Publishable
