"""Voice report (思想汇报 at the kiosk): verify, record with a live transcript, re-record if wished, submit.

Submitting uploads the audio first (addressed by its sha256; spooled while offline) and only then
publishes the `voice_report` with the transcript and its key elements, so central never holds a
report whose audio it cannot fetch. A recording that is not submitted is discarded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from contracts.messages import VoiceReport
from kiosk.flows import verify
from kiosk.flows.policy import Context
from kiosk.flows.types import (
    Button,
    CancelDevices,
    DeviceFailed,
    DiscardRecording,
    Effect,
    Input,
    Msg,
    PartialTranscript,
    Publish,
    Published,
    PublishFailed,
    RecordingLevel,
    RecordingStopped,
    Screen,
    Show,
    StartRecording,
    StartTimer,
    StopRecording,
    SubjectInfo,
    Tick,
    Touch,
    Transcribe,
    Transcribed,
    UploadAudio,
    UploadDone,
    UploadFailed,
    View,
    msg,
)

START = Button("start", msg("button.start_recording"))
STOP = Button("stop", msg("button.stop_recording"), "danger")
SUBMIT = Button("submit", msg("button.submit"))
RERECORD = Button("rerecord", msg("button.rerecord"), "secondary")
CANCEL = Button("cancel", msg("button.cancel"), "secondary")
OK = Button("ok", msg("button.ok"))


class Phase(StrEnum):
    """Where the report stands."""

    VERIFYING = "verifying"
    READY = "ready"
    RECORDING = "recording"
    STOPPING = "stopping"
    TRANSCRIBING = "transcribing"
    REVIEW = "review"
    UPLOADING = "uploading"
    PUBLISHING = "publishing"
    SHOWING = "showing"
    DONE = "done"


@dataclass(frozen=True)
class VoiceState:
    """One voice-report session."""

    session: int
    phase: Phase
    deadline: datetime
    check: verify.VerifyState | None = None
    subject: SubjectInfo | None = None
    n: int = 0
    pending: str | None = None
    takes: int = 0
    recording_started: datetime | None = None
    partial: str = ""
    level: float = 0.0
    audio_sha256: str | None = None
    duration_s: float = 0.0
    transcript: str = ""
    model: str = ""
    key_elements: Mapping[str, tuple[str, ...]] | None = None
    event_id: UUID | None = None
    notice: Msg | None = None


Result = tuple[VoiceState, list[Effect]]


def _later(at: datetime, seconds: float) -> datetime:
    return at + timedelta(seconds=seconds)


def _request(state: VoiceState) -> tuple[VoiceState, str]:
    req = f"v{state.session}.{state.n + 1}"
    return replace(state, n=state.n + 1, pending=req), req


def start(ctx: Context, session: int, at: datetime) -> Result:
    """The person touched "voice report" (the kiosk checked that a speech model is loaded)."""
    vstate, effects, _ = verify.start_card(ctx, f"v{session}.id", at)
    return VoiceState(session, Phase.VERIFYING, vstate.deadline, check=vstate), effects


def _show(state: VoiceState, view: View) -> Result:
    return state, [Show(view), StartTimer(state.deadline)]


def _ready(ctx: Context, state: VoiceState, at: datetime, notice: Msg | None = None) -> Result:
    state = replace(state, phase=Phase.READY, deadline=_later(at, ctx.policy.step_timeout_s), pending=None)
    lines: tuple[Msg, ...] = (msg("voice.ready_prompt", minutes=max(1, int(ctx.policy.max_record_s // 60))),)
    if notice is not None:
        lines = (notice, *lines)
    title = msg("voice.title", name=state.subject.name if state.subject else "")
    return _show(state, View(Screen.VOICE_READY, title, lines, (START, CANCEL), deadline=state.deadline))


def _recording_view(state: VoiceState) -> View:
    return View(
        Screen.VOICE_RECORDING,
        msg("voice.recording"),
        (msg("voice.speak_now"),),
        (STOP,),
        data={"partial": state.partial, "level": state.level, "started": state.recording_started},
        deadline=state.deadline,
    )


def _busy(ctx: Context, state: VoiceState, phase: Phase, at: datetime) -> VoiceState:
    return replace(state, phase=phase, deadline=_later(at, ctx.policy.device_timeout_s))


def _review(ctx: Context, state: VoiceState, at: datetime, notice: Msg | None = None) -> Result:
    state = replace(state, phase=Phase.REVIEW, deadline=_later(at, ctx.policy.step_timeout_s * 4), pending=None)
    lines: tuple[Msg, ...] = (msg("voice.review_prompt"),)
    if notice is not None:
        lines = (notice, *lines)
    if not state.transcript:
        lines = (*lines, msg("voice.no_text"))
    view = View(
        Screen.VOICE_REVIEW,
        msg("voice.review"),
        lines,
        (SUBMIT, RERECORD, CANCEL),
        data={
            "transcript": state.transcript,
            "duration_s": round(state.duration_s, 1),
            "key_elements": dict(state.key_elements or {}),
        },
        deadline=state.deadline,
    )
    return _show(state, view)


def _end(ctx: Context, state: VoiceState, at: datetime, title: Msg, lines: tuple[Msg, ...], screen: Screen) -> Result:
    deadline = _later(at, ctx.policy.result_timeout_s)
    state = replace(state, phase=Phase.SHOWING, deadline=deadline, pending=None)
    return _show(state, View(screen, title, lines, (OK,), deadline=deadline))


def _discard(state: VoiceState) -> list[Effect]:
    return [DiscardRecording(state.audio_sha256)] if state.audio_sha256 else []


def _start_recording(ctx: Context, state: VoiceState, at: datetime) -> Result:
    state, req = _request(state)
    state = replace(
        state,
        phase=Phase.RECORDING,
        takes=state.takes + 1,
        recording_started=at,
        partial="",
        level=0.0,
        deadline=_later(at, ctx.policy.max_record_s),
    )
    return state, [StartRecording(req), Show(_recording_view(state)), StartTimer(state.deadline)]


def _stop_recording(ctx: Context, state: VoiceState, at: datetime) -> Result:
    assert state.pending is not None
    req = state.pending
    state = _busy(ctx, state, Phase.STOPPING, at)
    view = View(Screen.BUSY, msg("voice.processing"), (msg("voice.processing_wait"),), deadline=state.deadline)
    return state, [StopRecording(req), Show(view), StartTimer(state.deadline)]


def _failure(ctx: Context, state: VoiceState, at: datetime, reason: Msg) -> Result:
    new, effects = _end(ctx, state, at, msg("voice.failed"), (reason, msg("checkin.see_staff")), Screen.MESSAGE)
    return new, [CancelDevices(), *_discard(state), *effects]


def _publish(ctx: Context, state: VoiceState, at: datetime) -> Result:
    assert state.subject is not None and state.audio_sha256 is not None
    key_elements = {k: list(v) for k, v in (state.key_elements or {}).items()}
    message = VoiceReport(
        event_id=ctx.event_id(state.session, "voice_report"),
        device_id=ctx.device_id,
        device_time=at,
        subject_id=state.subject.subject_id,
        transcript=state.transcript,
        audio_sha256=state.audio_sha256,
        duration_s=min(3600.0, state.duration_s),
        model=state.model or (ctx.speech.model or "unknown"),
        key_elements=key_elements or None,
    )
    state = replace(
        state, phase=Phase.PUBLISHING, event_id=message.event_id, deadline=_later(at, ctx.policy.device_timeout_s)
    )
    view = View(Screen.BUSY, msg("voice.sending"), (msg("voice.sending_wait"),), deadline=state.deadline)
    return state, [Publish(message), Show(view), StartTimer(state.deadline)]


def step(ctx: Context, state: VoiceState, event: Input) -> Result:
    """Advance the report; when `phase` is DONE the kiosk returns to idle."""
    at = event.at
    timed_out = isinstance(event, Tick) and at >= state.deadline
    touched = event.button if isinstance(event, Touch) else None
    req = getattr(event, "req", None)
    mine = req is not None and req == state.pending

    if state.phase == Phase.VERIFYING:
        assert state.check is not None
        vstate, effects, outcome = verify.step(ctx, state.check, event)
        state = replace(state, check=vstate, deadline=vstate.deadline)
        if outcome is None:
            return state, effects
        if isinstance(outcome, verify.Failed):
            if outcome.reason in ("cancelled", "timeout") and outcome.card is None:
                return replace(state, phase=Phase.DONE), effects
            new, shown = _end(ctx, state, at, msg("voice.not_verified"), (outcome.message,), Screen.REFUSED)
            return new, [*effects, *shown]
        state = replace(state, subject=outcome.subject)
        new, shown = _ready(ctx, state, at)
        return new, [*effects, *shown]

    if state.phase == Phase.READY:
        if touched == "start":
            return _start_recording(ctx, state, at)
        if touched == "cancel" or timed_out:
            return replace(state, phase=Phase.DONE), []
        return state, []

    if state.phase == Phase.RECORDING:
        if mine and isinstance(event, RecordingLevel):
            meter = event.meter if 0.0 <= event.meter <= 1.0 else (1.0 if event.meter > 1.0 else 0.0)  # NaN → 0
            state = replace(state, level=meter)
            return state, [Show(_recording_view(state))]
        if mine and isinstance(event, PartialTranscript):
            state = replace(state, partial=event.text)
            return state, [Show(_recording_view(state))]
        if mine and isinstance(event, DeviceFailed):
            return _failure(ctx, state, at, msg("refusal.device_failure", device=msg("device.microphone")))
        if touched == "stop" or timed_out:
            return _stop_recording(ctx, state, at)
        return state, []

    if state.phase == Phase.STOPPING:
        if mine and isinstance(event, RecordingStopped):
            state = replace(state, audio_sha256=event.audio_sha256, duration_s=event.duration_s)
            if not event.duration_s >= ctx.policy.min_record_s:
                effects = _discard(state)
                new, shown = _ready(
                    ctx, replace(state, audio_sha256=None), at, msg("voice.too_short", seconds=ctx.policy.min_record_s)
                )
                return new, [*effects, *shown]
            state, treq = _request(state)
            state = _busy(ctx, state, Phase.TRANSCRIBING, at)
            return state, [Transcribe(treq, event.audio_sha256), StartTimer(state.deadline)]
        if (mine and isinstance(event, DeviceFailed)) or timed_out:
            return _failure(ctx, state, at, msg("refusal.device_failure", device=msg("device.microphone")))
        return state, []

    if state.phase == Phase.TRANSCRIBING:
        if mine and isinstance(event, Transcribed):
            state = replace(state, transcript=event.text, model=event.model, key_elements=event.key_elements)
            return _review(ctx, state, at)
        if (mine and isinstance(event, DeviceFailed)) or timed_out:
            return _failure(ctx, state, at, msg("voice.transcription_failed"))
        return state, []

    if state.phase == Phase.REVIEW:
        if touched == "submit":
            sha, subject = state.audio_sha256, state.subject
            assert sha is not None and subject is not None
            state, ureq = _request(state)
            state = _busy(ctx, state, Phase.UPLOADING, at)
            view = View(Screen.BUSY, msg("voice.sending"), (msg("voice.sending_wait"),), deadline=state.deadline)
            return state, [
                UploadAudio(ureq, sha, subject.subject_id),
                Show(view),
                StartTimer(state.deadline),
            ]
        if touched == "rerecord":
            effects = _discard(state)
            state = replace(state, audio_sha256=None, transcript="", key_elements=None)
            new, shown = _ready(ctx, state, at)
            return new, [*effects, *shown]
        if touched == "cancel" or timed_out:
            return replace(state, phase=Phase.DONE), _discard(state)
        return state, []

    if state.phase == Phase.UPLOADING:
        if mine and isinstance(event, UploadDone):
            return _publish(ctx, state, at)
        if (mine and isinstance(event, UploadFailed)) or timed_out:
            return _review(ctx, state, at, msg("voice.upload_failed"))
        return state, []

    if state.phase == Phase.PUBLISHING:
        if isinstance(event, Published) and event.event_id == state.event_id:
            return _end(ctx, state, at, msg("voice.thanks"), (msg("voice.saved"),), Screen.VOICE_DONE)
        if (isinstance(event, PublishFailed) and event.event_id == state.event_id) or timed_out:
            # The audio is uploaded (or spooled); only the report message is in doubt. Never publish it twice.
            return _end(ctx, state, at, msg("voice.not_saved"), (msg("checkin.tell_staff"),), Screen.MESSAGE)
        return state, []

    if state.phase == Phase.SHOWING and (timed_out or touched == "ok"):
        return replace(state, phase=Phase.DONE), []
    return state, []
