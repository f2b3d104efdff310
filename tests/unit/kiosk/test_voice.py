"""Voice report flow: verify, record with live text, re-record, submit = upload then publish; every way out."""

from __future__ import annotations

import pytest

from contracts.messages import VoiceReport
from kiosk.flows.types import (
    CancelDevices,
    DeviceFailed,
    DiscardRecording,
    FaceCaptured,
    PartialTranscript,
    PublishFailed,
    ReadCard,
    RecordingLevel,
    RecordingStopped,
    Screen,
    StartRecording,
    StopRecording,
    SubjectNotFound,
    Transcribe,
    Transcribed,
    UploadAudio,
    UploadDone,
    UploadFailed,
)
from tests.unit.kiosk.driver import GOOD, MISMATCH, SHA, SUBJECT, Driver, context, roundtrip

SHA2 = "cd" * 32
KEYS = {"dates": ("上周三",), "places": ("海沧",)}


def verified() -> Driver:
    """A driver at the voice report's "ready to record" screen."""
    d = Driver()
    effects = d.touch("voice_report")
    assert any(isinstance(e, ReadCard) for e in effects) and d.screen() == Screen.CARD
    d.verify_to_face()
    d.send(FaceCaptured, **GOOD)
    assert d.screen() == Screen.VOICE_READY
    return d


def recorded(d: Driver, sha: str = SHA, text: str = "我上周三在海沧参加了公益劳动") -> None:
    """Record, stop, transcribe: the review screen."""
    d.touch("start")
    d.send(RecordingLevel, meter=0.4)
    d.send(PartialTranscript, text="我上周三")
    d.later(12)
    d.touch("stop")
    effects = d.send(RecordingStopped, audio_sha256=sha, duration_s=12.0)
    assert [e.audio_sha256 for e in effects if isinstance(e, Transcribe)] == [sha]
    d.send(Transcribed, text=text, model="vosk-model-small-cn-0.22", key_elements=KEYS)
    assert d.screen() == Screen.VOICE_REVIEW


def test_report_is_uploaded_then_published_with_transcript_and_key_elements() -> None:
    """The whole report: live partial text, review, upload by sha256, then one voice_report."""
    d = verified()
    effects = d.touch("start")
    (start,) = [e for e in effects if isinstance(e, StartRecording)]
    assert d.screen() == Screen.VOICE_RECORDING
    d.send(RecordingLevel, meter=0.5)
    assert d.view.data["level"] == 0.5
    d.send(PartialTranscript, text="我上周三")
    assert d.view.data["partial"] == "我上周三"
    d.later(12)
    effects = d.touch("stop")
    assert [e.req for e in effects if isinstance(e, StopRecording)] == [start.req]
    d.send(RecordingStopped, audio_sha256=SHA, duration_s=12.0)
    d.send(Transcribed, text="我上周三在海沧参加了公益劳动", model="vosk-model-small-cn-0.22", key_elements=KEYS)
    assert d.view.data["transcript"] == "我上周三在海沧参加了公益劳动"
    effects = d.touch("submit")
    (upload,) = [e for e in effects if isinstance(e, UploadAudio)]
    assert (upload.audio_sha256, upload.subject_id) == (SHA, SUBJECT.subject_id)
    assert not d.published  # nothing before the audio is safe
    d.send(UploadDone, queued=True)
    (report,) = d.published
    assert isinstance(report, VoiceReport)
    assert report.subject_id == SUBJECT.subject_id and report.audio_sha256 == SHA and report.duration_s == 12.0
    assert report.transcript == "我上周三在海沧参加了公益劳动" and report.model == "vosk-model-small-cn-0.22"
    assert report.key_elements == {"dates": ["上周三"], "places": ["海沧"]}
    assert roundtrip(report) == report
    d.ack()
    assert d.screen() == Screen.VOICE_DONE
    d.later(9)
    assert d.state.idle


def test_rerecord_discards_the_first_take() -> None:
    """Re-recording deletes the first recording; the report carries the second."""
    d = verified()
    recorded(d, SHA)
    effects = d.touch("rerecord")
    assert DiscardRecording(SHA) in effects and d.screen() == Screen.VOICE_READY
    recorded(d, SHA2, "第二遍")
    d.touch("submit")
    d.send(UploadDone)
    assert [m.audio_sha256 for m in d.published if isinstance(m, VoiceReport)] == [SHA2]


def test_too_short_recording_goes_back_to_ready() -> None:
    """Under min_record_s the take is discarded and the person may start again."""
    d = verified()
    d.touch("start")
    d.touch("stop")
    effects = d.send(RecordingStopped, audio_sha256=SHA, duration_s=0.2)
    assert DiscardRecording(SHA) in effects
    assert d.screen() == Screen.VOICE_READY and d.view.lines[0].id == "voice.too_short"


def test_recording_stops_by_itself_at_max_record_s() -> None:
    """A recording that reaches the limit is stopped for the person."""
    d = Driver(context(max_record_s=60))
    d.touch("voice_report")
    d.verify_to_face()
    d.send(FaceCaptured, **GOOD)
    d.touch("start")
    d.later(59)
    assert d.screen() == Screen.VOICE_RECORDING
    effects = d.later(1)
    assert any(isinstance(e, StopRecording) for e in effects)


def test_upload_failure_returns_to_review_and_submit_again_works() -> None:
    """A failed upload publishes nothing; the person may submit again."""
    d = verified()
    recorded(d)
    d.touch("submit")
    d.send(UploadFailed, detail="HTTP 503")
    assert d.screen() == Screen.VOICE_REVIEW and d.view.lines[0].id == "voice.upload_failed"
    assert not d.published
    d.touch("submit")
    d.send(UploadDone)
    assert len(d.published) == 1


def test_publish_failure_is_told_and_never_repeated() -> None:
    """If the outbox refuses the report the person is told; it is not published twice."""
    d = verified()
    recorded(d)
    d.touch("submit")
    d.send(UploadDone)
    d.send(PublishFailed, detail="disk full")
    assert d.view.title.id == "voice.not_saved"
    d.later(10)
    assert d.state.idle and len(d.published) == 1


@pytest.mark.parametrize("where", ["ready", "review"])
def test_cancel_and_timeouts_discard_and_return_to_idle(where: str) -> None:
    """Leaving the report unsubmitted deletes the recording and publishes nothing."""
    d = verified()
    if where == "review":
        recorded(d)
    effects = d.touch("cancel")
    assert d.state.idle and not d.published
    assert (DiscardRecording(SHA) in effects) is (where == "review")
    d2 = verified()
    if where == "review":
        recorded(d2)
    d2.later(600)
    assert d2.state.idle and not d2.published


@pytest.mark.parametrize("phase", ["recording", "stopping", "transcribing"])
def test_microphone_failure_ends_with_a_message(phase: str) -> None:
    """The microphone failing (or never answering) ends the report with a message, nothing published."""
    d = verified()
    d.touch("start")
    if phase != "recording":
        d.touch("stop")
    if phase == "transcribing":
        d.send(RecordingStopped, audio_sha256=SHA, duration_s=5.0)
        effects = d.later(21)
    else:
        effects = d.send(DeviceFailed, device="microphone", detail="stream stopped")
    assert any(isinstance(e, CancelDevices) for e in effects)
    assert d.screen() == Screen.MESSAGE and d.view.title.id == "voice.failed"
    assert (DiscardRecording(SHA) in effects) is (phase == "transcribing")
    d.later(9)
    assert d.state.idle and not d.published


def test_stale_partials_from_an_earlier_take_are_ignored() -> None:
    """Partial text of the first take cannot appear in the second."""
    d = verified()
    recorded(d)
    old = d.req(StartRecording)
    d.touch("rerecord")
    d.touch("start")
    d.send(PartialTranscript, req=old, text="旧的")
    assert d.view.data["partial"] == ""


def test_failed_verification_shows_why_and_publishes_nothing() -> None:
    """A voice report is no check-in: a failed verification is shown, not published."""
    d = Driver(context(face_tries=1))
    d.touch("voice_report")
    d.verify_to_face()
    d.send(FaceCaptured, **MISMATCH)
    assert d.screen() == Screen.REFUSED and d.view.lines[0].id == "refusal.face_mismatch"
    assert not d.published
    d.later(9)
    assert d.state.idle


def test_unknown_card_for_a_voice_report() -> None:
    """Not enrolled: shown, not published."""
    d = Driver()
    d.touch("voice_report")
    d.card()
    d.send(SubjectNotFound)
    assert d.view.lines[0].id == "refusal.not_enrolled" and not d.published


def test_card_prompt_cancel_or_timeout_goes_straight_back() -> None:
    """Nobody placed a card: back to idle without a message."""
    d = Driver()
    d.touch("voice_report")
    d.touch("cancel")
    assert d.state.idle
    d.touch("voice_report")
    d.later(46)
    assert d.state.idle and not d.published


def test_no_speech_model_disables_the_voice_report() -> None:
    """Without a model the button explains why instead of starting anything."""
    d = Driver(context(speech=False))
    effects = d.touch("voice_report")
    assert not any(isinstance(e, ReadCard) for e in effects)
    assert d.view.title.id == "voice.unavailable"
    assert str(dict(d.view.lines[0].params)["detail"]).startswith("voice report unavailable: no speech model")
    d.later(9)
    assert d.state.idle
