"""kiosk/ui/model.py: every view the real flows show renders in both languages, with the right extras (no Kivy)."""

from __future__ import annotations

import dataclasses
import string
from datetime import timedelta

import pytest

from kiosk.flows.types import (
    FaceCaptured,
    FingerEnrolled,
    PartialTranscript,
    PinEntered,
    RecordingLevel,
    RecordingStopped,
    RollcallCommand,
    Screen,
    SubjectFound,
    SubjectNotFound,
    Transcribed,
    UploadDone,
    View,
)
from kiosk.ui.model import CHROME, chrome, countdown_text, elapsed_text, render_view
from tests.unit.kiosk.driver import GOOD, PIN, STRICT, SUBJECT, Driver, rollcall_command


def all_views() -> list[View]:
    """Views of a check-in with a finger, a refusal, a voice report, a roll call and an enrolment."""
    d = Driver()
    d.checkin(STRICT)
    d.touch("ok")
    d.card()
    d.send(SubjectNotFound)
    d.ack()
    d.touch("ok")
    d.touch("voice_report")
    d.verify_to_face()
    d.send(FaceCaptured, **GOOD)
    d.touch("start")
    d.send(RecordingLevel, meter=0.4)
    d.send(PartialTranscript, text="我今天在家")
    d.touch("stop")
    d.send(RecordingStopped, audio_sha256="ab" * 32, duration_s=12.5)
    d.send(Transcribed, text="我今天在家里", model="vosk-model-small-cn-0.22", key_elements={"dates": ("今天",)})
    d.touch("submit")
    d.send(UploadDone)
    d.ack()
    d.touch("ok")
    d.feed(RollcallCommand(at=d.now, command=rollcall_command()))
    d.touch("answer:S-350205-0001")
    d.send(SubjectFound, subject=SUBJECT)
    d.send(FaceCaptured, **GOOD)
    d.ack()
    d.later(30)
    d.later(3600)
    d.touch("ok")
    d.touch("staff")
    d.send(PinEntered, pin=PIN)
    d.touch("enrol")
    d.card()
    d.send(SubjectFound, subject=SUBJECT)
    for yaw in (0.0, -0.3, 0.3):
        d.send(FaceCaptured, quality_ok=True, quality=0.9, yaw=yaw, capture_ref=f"f{yaw}")
    d.send(FingerEnrolled, template_ref="a")
    d.send(FingerEnrolled, template_ref="b")
    return d.shown


VIEWS = all_views()


def test_the_walk_reaches_every_screen() -> None:
    """The views below cover every screen the UI has."""
    assert {v.screen for v in VIEWS} == set(Screen)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_view_renders_in_both_languages(lang: str) -> None:
    """Title, lines, buttons, banner and info rows are text in the asked language; the toggle offers the other."""
    for view in VIEWS:
        r = render_view(dataclasses.replace(view, lang=lang))  # type: ignore[arg-type]
        assert r.title and all(r.lines) and all(b.label for b in r.buttons), view
        assert r.lang_toggle == ("English" if lang == "zh" else "中文")
        assert all(isinstance(v, str) for _, v in r.info)
        assert [b.id for b in r.buttons] == list(view.button_ids())


def test_screen_extras() -> None:
    """Face screens mirror the camera, the PIN screen has the pad, recording has a level and live text."""
    by_screen = {v.screen: render_view(v) for v in VIEWS}
    assert by_screen[Screen.FACE].preview and by_screen[Screen.ENROL_FACE].preview
    assert by_screen[Screen.PIN].pin_pad and not by_screen[Screen.FACE].pin_pad
    recording = [render_view(v) for v in VIEWS if v.screen == Screen.VOICE_RECORDING]
    assert any(r.level == 0.4 and r.text_box == "我今天在家" for r in recording)
    review = by_screen[Screen.VOICE_REVIEW]
    assert review.text_box == "我今天在家里" and ("时间", "今天") in review.info
    receipt = by_screen[Screen.RECEIPT]
    assert ("核验方式", "身份证、人脸、指纹") in receipt.info
    refused = by_screen[Screen.REFUSED]
    assert ("原因代码", "not_enrolled") in refused.info
    maintenance = render_view(
        next(v for v in VIEWS if v.screen == Screen.MAINTENANCE), {"offline": True, "devices": {"camera": "ok"}}
    )
    assert ("网络", "离线") in maintenance.info and ("外设", "camera: ok") in maintenance.info


def test_offline_banner_is_rendered() -> None:
    """A view with the offline banner shows its text."""
    from kiosk.flows.types import msg

    idle = next(v for v in VIEWS if v.screen == Screen.IDLE)
    assert render_view(dataclasses.replace(idle, banner=msg("banner.offline"))).banner == "离线：记录将在恢复连接后上传"
    assert render_view(idle).banner is None


def test_chrome_has_both_languages_with_the_same_parameters() -> None:
    """Every UI chrome text exists in Chinese and English and takes the same parameters."""
    for key, (zh, en) in CHROME.items():
        names = [{n for _, n, _, _ in string.Formatter().parse(t) if n} for t in (zh, en)]
        assert names[0] == names[1], key
        assert zh and en


def test_countdown_and_elapsed() -> None:
    """Seconds under 90, minutes:seconds above; nothing when time is up or no deadline."""
    view = VIEWS[0]
    now = view.deadline or VIEWS[1].deadline
    assert now is not None
    assert countdown_text(now + timedelta(seconds=30), now, "zh") == "剩余 30 秒"
    assert countdown_text(now + timedelta(seconds=1785), now, "en") == "29:45 left"
    assert countdown_text(now, now, "zh") == "" and countdown_text(None, now, "zh") == ""
    assert elapsed_text(now - timedelta(seconds=7.9), now, "en") == "7 s recorded"
    assert chrome("tries_left", "en", n=2) == "Tries left: 2"
