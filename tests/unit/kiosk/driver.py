"""A test driver for the pure kiosk machine: feeds inputs at a fake time and answers the pending requests.

It plays the runtime: it remembers the effects, fills each answer's `req` from the request it
answers, and keeps the clock. Nothing here does I/O; the flows under test are the real ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from contracts.messages import Checkin, DeviceAlarm, RollcallAnswer, RollcallStart, VoiceReport
from kiosk.flows import kiosk
from kiosk.flows.policy import Context, PinHash, Policy, SpeechAvailability
from kiosk.flows.types import (
    CaptureFace,
    CardInfo,
    CardRead,
    DeviceFailed,
    Effect,
    EnrolFinger,
    FaceCaptured,
    FingerEnrolled,
    FingerResult,
    Input,
    LookupFailed,
    LookupSubject,
    PartialTranscript,
    Publish,
    Published,
    PublishFailed,
    ReadCard,
    RecordingLevel,
    RecordingStopped,
    Screen,
    Show,
    StartRecording,
    StopRecording,
    SubjectFound,
    SubjectInfo,
    SubjectNotFound,
    Tick,
    Touch,
    Transcribe,
    Transcribed,
    UploadAudio,
    UploadDone,
    UploadFailed,
    UploadTemplates,
    VerifyFinger,
    View,
)

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in China
BOOT = UUID("00000000-0000-4000-8000-000000000001")
DEVICE = "kiosk-haicang"
PIN = "246810"
PIN_HASH = PinHash.make(PIN, b"saltsalt", iterations=1000)
SHA = "ab" * 32

CARD = CardInfo(id_number="350205198001010011", name="张三", valid_until=date(2030, 1, 1), photo=b"jpeg")
CARD_NO_PHOTO = dataclasses.replace(CARD, photo=None)
SUBJECT = SubjectInfo(subject_id="S-350205-0001", name="张三", supervision_level="normal", has_fingerprint=True)
STRICT = dataclasses.replace(SUBJECT, supervision_level="strict")

GOOD = {"quality_ok": True, "template_score": 0.8, "card_score": 0.7, "quality": 0.9}
MISMATCH = {"quality_ok": True, "template_score": 0.1, "card_score": 0.05, "quality": 0.9}
BLURRED = {"quality_ok": False, "refusals": ("blurred",)}

# Which request an answer answers.
ANSWERS: dict[type[Input], tuple[type[Effect], ...]] = {
    SubjectFound: (LookupSubject,),
    SubjectNotFound: (LookupSubject,),
    LookupFailed: (LookupSubject,),
    FaceCaptured: (CaptureFace,),
    FingerResult: (VerifyFinger,),
    FingerEnrolled: (EnrolFinger,),
    RecordingLevel: (StartRecording,),
    PartialTranscript: (StartRecording,),
    RecordingStopped: (StopRecording,),
    Transcribed: (Transcribe,),
    UploadDone: (UploadAudio, UploadTemplates),
    UploadFailed: (UploadAudio, UploadTemplates),
    DeviceFailed: (ReadCard, LookupSubject, CaptureFace, VerifyFinger, EnrolFinger, StartRecording, StopRecording),
}


def context(speech: bool = True, **policy: Any) -> Context:
    """A context with a test PIN (cheap to hash) and a speech model unless told otherwise."""
    policy.setdefault("pin_hash", PIN_HASH)
    availability = (
        SpeechAvailability(True, "vosk-model-small-cn-0.22")
        if speech
        else SpeechAvailability(False, None, "voice report unavailable: no speech model (looked in /m)")
    )
    return Context(device_id=DEVICE, boot_id=BOOT, policy=Policy(**policy), speech=availability)


def rollcall_command(
    subjects: Iterable[str] = ("S-350205-0001", "S-350205-0002"),
    *,
    rollcall_id: str = "RC-1",
    minutes: float = 10,
    at: datetime = T0,
    device_id: str = DEVICE,
) -> RollcallStart:
    """A rollcall_start command for this kiosk, closing `minutes` after `at`."""
    return RollcallStart(
        event_id=uuid5(BOOT, rollcall_id),
        device_id=device_id,
        device_time=at,
        rollcall_id=rollcall_id,
        subject_ids=list(subjects),
        deadline=at + timedelta(minutes=minutes),
    )


class Driver:
    """The kiosk machine plus a fake runtime."""

    def __init__(self, ctx: Context | None = None, at: datetime = T0) -> None:
        self.ctx = ctx or context()
        self.now = at
        self.state, effects = kiosk.boot(self.ctx, at)
        self.effects: list[Effect] = list(effects)
        self.last: list[Effect] = list(effects)

    # -- feeding -----------------------------------------------------------------------------------------------

    def send(self, kind: type[Input], **fields: Any) -> list[Effect]:
        """Feed one input now; `req` is filled from the request it answers unless given."""
        if kind in ANSWERS and "req" not in fields:
            fields["req"] = self.req(*ANSWERS[kind])
        if kind in (Published, PublishFailed) and "event_id" not in fields:
            fields["event_id"] = self.published[-1].event_id
        return self.feed(kind(at=self.now, **fields))

    def feed(self, event: Input) -> list[Effect]:
        """Feed a ready-made input."""
        self.state, effects = kiosk.step(self.ctx, self.state, event)
        self.effects.extend(effects)
        self.last = list(effects)
        return self.last

    def later(self, seconds: float) -> list[Effect]:
        """Let time pass and tick."""
        self.now += timedelta(seconds=seconds)
        return self.send(Tick)

    def touch(self, button: str) -> list[Effect]:
        """Touch a button; it must be on the screen (except the language switch, always there)."""
        assert button == "lang" or button in self.view.button_ids() or button.startswith("answer:"), (
            f"{button!r} is not on screen {self.view.screen}: {self.view.button_ids()}"
        )
        return self.send(Touch, button=button)

    def card(self, card: CardInfo = CARD) -> list[Effect]:
        """Place a card."""
        return self.send(CardRead, card=card)

    def ack(self) -> list[Effect]:
        """The uplink queued the last published message."""
        return self.send(Published)

    # -- reading -----------------------------------------------------------------------------------------------

    def req(self, *kinds: type[Effect]) -> str:
        """The req of the most recent request of these kinds."""
        for effect in reversed(self.effects):
            if isinstance(effect, kinds):
                return str(effect.req)  # type: ignore[attr-defined]
        raise AssertionError(f"no {[k.__name__ for k in kinds]} request was made")

    def requested(self, kind: type[Effect]) -> list[Any]:
        """Effects of a kind among the last step's."""
        return [e for e in self.last if isinstance(e, kind)]

    @property
    def view(self) -> View:
        return self.state.view

    def lang(self) -> str:
        """The language of the screen shown now."""
        return self.state.view.lang

    def screen(self) -> Screen:
        """The screen shown now (a call, so that type checkers do not narrow it between steps)."""
        return self.state.view.screen

    @property
    def shown(self) -> list[View]:
        return [e.view for e in self.effects if isinstance(e, Show)]

    @property
    def published(self) -> list[Checkin | VoiceReport | RollcallAnswer | DeviceAlarm]:
        return [e.message for e in self.effects if isinstance(e, Publish)]

    @property
    def checkins(self) -> list[Checkin]:
        return [m for m in self.published if isinstance(m, Checkin)]

    # -- whole paths -------------------------------------------------------------------------------------------

    def verify_to_face(self, subject: SubjectInfo = SUBJECT, card: CardInfo = CARD) -> None:
        """Card placed (unless a card prompt is waiting for one) and the subject found."""
        self.card(card)
        self.send(SubjectFound, subject=subject)

    def checkin(
        self, subject: SubjectInfo = SUBJECT, card: CardInfo = CARD, face: dict[str, Any] | None = None
    ) -> None:
        """A check-in up to the receipt."""
        self.verify_to_face(subject, card)
        self.send(FaceCaptured, **(face or GOOD))
        if self.requested(VerifyFinger):
            self.send(FingerResult, matched=True, score=180)
        self.ack()


def roundtrip(message: Checkin | VoiceReport | RollcallAnswer | DeviceAlarm) -> object:
    """The message encoded as on the wire and validated again, as central will."""
    import json

    from contracts.codec import decode_object, encode

    return decode_object(json.loads(encode(message)))
