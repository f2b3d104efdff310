"""Drive the real Kivy kiosk UI through every screen of the real flows, under Xvfb; screenshot each screen.

    xvfb-run -a -s "-screen 0 1280x800x24" python tests/e2e/kiosk/ui_driver.py OUT_DIR REPORT.json

The UI (kiosk.ui.app.KioskApp) talks to `ScriptedKiosk`, which runs the real pure flows
(kiosk.flows.boot/step) and answers their device and central requests with fixed values, the way
tests/unit/kiosk/driver.py does: the UI's contract is with the flows (views in, touches out), and
the runtime's adapters have their own end-to-end test (tests/integration/kiosk/test_kiosk_e2e.py).
Touches are programmatic presses of the UI's own Button widgets (`trigger_action`), so a button
that is not on screen, or not wired to the flows, makes the walk fail.

The report lists every screen reached, its screenshot, the texts it showed and the pixel size.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from kiosk.config import UiSection  # noqa: E402
from kiosk.ui import configure  # noqa: E402

configure(UiSection(width=1280, height=800))

import cv2  # noqa: E402
from kivy.clock import Clock  # type: ignore[import-untyped]  # noqa: E402

from contracts import RollcallStart  # noqa: E402
from demo import kiosk as rigs  # noqa: E402
from kiosk import report_keywords  # noqa: E402
from kiosk.flows import Context, PinHash, Policy, SpeechAvailability, boot, step  # noqa: E402
from kiosk.flows.types import (  # noqa: E402
    CardInfo,
    CardRead,
    CentralOffline,
    CentralOnline,
    Effect,
    FaceCaptured,
    FingerEnrolled,
    FingerResult,
    Input,
    PartialTranscript,
    Publish,
    Published,
    RecordingLevel,
    RecordingStopped,
    RollcallCommand,
    Screen,
    Show,
    SubjectFound,
    SubjectInfo,
    SubjectNotFound,
    Transcribed,
    UploadDone,
    View,
)
from kiosk.ui.app import KioskApp  # noqa: E402

PIN = "246810"
DEVICE = "kiosk-haicang"
CARD = CardInfo(id_number=rigs.subject_id_number(2), name="王芳", valid_until=date(2036, 1, 1))
STRICT = SubjectInfo("S-350205-0002", "王芳", supervision_level="strict", has_fingerprint=True)
NORMAL = SubjectInfo("S-350205-0001", "张伟")
REPORT_TEXT = "我上周三在海沧区参加了公益劳动，和社工一起打扫了社区卫生，没有离开厦门"


@dataclass
class ScriptedKiosk:
    """The real flows behind the UI's port; requests are answered by the script, publications at once."""

    ctx: Context
    listeners: list[Callable[[View], None]] = field(default_factory=list)
    previews: list[Callable[[bytes], None]] = field(default_factory=list)
    pending: dict[str, Effect] = field(default_factory=dict)
    published: list[Any] = field(default_factory=list)
    state: Any = None
    view: View | None = None

    def start(self) -> None:
        self.state, effects = boot(self.ctx, datetime.now(UTC))
        self._carry_out(effects)

    def feed(self, event: Input) -> None:
        self.state, effects = step(self.ctx, self.state, event)
        self._carry_out(effects)

    def answer(self, kind: type[Input], effect: type[Effect], **fields: Any) -> None:
        """Answer the pending request of type `effect` with an input of type `kind`."""
        request = self.pending.pop(effect.__name__, None)
        if request is None:
            raise AssertionError(f"no {effect.__name__} is pending (pending: {sorted(self.pending)})")
        self.feed(kind(at=datetime.now(UTC), req=request.req, **fields))  # type: ignore[call-arg, attr-defined]

    def _carry_out(self, effects: list[Effect]) -> None:
        queued: list[Input] = []
        for effect in effects:
            if isinstance(effect, Show):
                self.view = effect.view
                for listener in self.listeners:
                    listener(effect.view)
            elif isinstance(effect, Publish):  # in the outbox at once; the answer comes after these effects
                self.published.append(effect.message)
                queued.append(Published(at=datetime.now(UTC), event_id=effect.message.event_id))
            elif hasattr(effect, "req"):
                self.pending[type(effect).__name__] = effect
        for event in queued:
            self.feed(event)

    # -- the UI's port --
    def touch(self, button: str) -> None:
        from kiosk.flows.types import Touch

        self.feed(Touch(at=datetime.now(UTC), button=button))

    def enter_pin(self, pin: str) -> None:
        from kiosk.flows.types import PinEntered

        self.feed(PinEntered(at=datetime.now(UTC), pin=pin))

    def add_view_listener(self, listener: Callable[[View], None]) -> None:
        self.listeners.append(listener)
        if self.view is not None:
            listener(self.view)

    def add_preview_listener(self, listener: Callable[[bytes], None]) -> None:
        self.previews.append(listener)

    def status(self) -> dict[str, Any]:
        return {
            "offline": False,
            "gallery_version": 7,
            "subject_cache": 2,
            "outbox_depth": 0,
            "audio_spooled": 0,
            "devices": {"camera": "ok", "fingerprint": "ok", "idcard": "ok", "microphone": "ok"},
        }


def preview_jpeg() -> bytes:
    image = rigs.camera_image(rigs.person_photo(rigs.LIVE_PHOTO))
    scale = 320 / max(image.shape[:2])
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", small)
    assert ok
    return bytes(jpeg.tobytes())


class Walk:
    """Steps run one after another on Kivy's clock; each waits for the screen it expects, then screenshots it."""

    def __init__(self, app: KioskApp, kiosk: ScriptedKiosk, out: Path, report: Path) -> None:
        self.app, self.kiosk, self.out, self.report_path = app, kiosk, out, report
        self.steps: list[tuple[str, Callable[[], None], Screen, str | None]] = []
        self.index = 0
        self.waited = 0.0
        self.shots: dict[str, dict[str, Any]] = {}
        self.error: str | None = None
        self.jpeg = preview_jpeg()

    def add(self, what: str, action: Callable[[], None], expect: Screen, shot: str | None = None) -> None:
        self.steps.append((what, action, expect, shot))

    def press(self, button: str) -> Callable[[], None]:
        def action() -> None:
            assert self.app.screen is not None
            widget = self.app.screen.buttons.get(button)
            if widget is None:
                raise AssertionError(f"button {button!r} is not on screen (shown: {sorted(self.app.screen.buttons)})")
            widget.trigger_action(duration=0)

        return action

    def run(self, _dt: float = 0.0) -> None:
        self.index = 0
        self._start_step()

    def _start_step(self) -> None:
        if self.index >= len(self.steps):
            self._finish()
            return
        what, action, _, _ = self.steps[self.index]
        try:
            action()
        except Exception:
            self._fail(f"step {what!r}: {traceback.format_exc()}")
            return
        self.waited = 0.0
        Clock.schedule_once(self._check, 0.1)

    def _check(self, dt: float) -> None:
        what, _, expect, shot = self.steps[self.index]
        self.waited += dt
        screen = self.app.screen
        rendered = screen.rendered if screen is not None else None
        if rendered is None or rendered.screen != expect:
            if self.waited > 15:
                got = rendered.screen if rendered else None
                self._fail(f"step {what!r}: expected screen {expect.value}, the UI shows {got}")
                return
            Clock.schedule_once(self._check, 0.1)
            return
        if expect in (Screen.FACE, Screen.ENROL_FACE):
            for listener in self.kiosk.previews:
                listener(self.jpeg)
        Clock.schedule_once(lambda _dt: self._shoot(shot), 0.5)

    def _shoot(self, shot: str | None) -> None:
        screen = self.app.screen
        assert screen is not None and screen.rendered is not None
        if shot is not None and shot not in self.shots:
            path = self.app.screenshot(self.out / f"kiosk-{shot}.png")
            r = screen.rendered
            self.shots[shot] = {
                "screen": r.screen.value,
                "lang": r.lang,
                "file": str(path),
                "title": r.title,
                "lines": list(r.lines),
                "buttons": [b.label for b in r.buttons],
                "banner": r.banner,
                "info": [list(row) for row in r.info],
                "size": list(screen.size),
            }
        self.index += 1
        self._start_step()

    def _fail(self, message: str) -> None:
        self.error = message
        self._finish()

    def _finish(self) -> None:
        body = {"error": self.error, "shots": self.shots, "published": [m.type for m in self.kiosk.published]}
        self.report_path.write_text(json.dumps(body, ensure_ascii=False, indent=2), encoding="utf-8")
        self.app.stop()


def script(walk: Walk, kiosk: ScriptedKiosk) -> None:
    """Every screen of the kiosk, in a plausible day: check-ins, a voice report offline, a roll call, staff."""
    feed = kiosk.feed
    add, press = walk.add, walk.press

    add("boot", lambda: None, Screen.IDLE, "idle")
    add("switch to English", press("lang"), Screen.IDLE, "idle-en")
    add("back to Chinese", press("lang"), Screen.IDLE)
    # a strict-level subject checks in: card, face, finger, receipt
    add("card placed", lambda: feed(CardRead(at=_now(), card=CARD)), Screen.BUSY, "busy")
    add(
        "central answers",
        lambda: kiosk.answer(SubjectFound, _effect("LookupSubject"), subject=STRICT),
        Screen.FACE,
        "face",
    )
    good = {"quality_ok": True, "template_score": 0.71, "card_score": 0.62, "quality": 0.88}
    add("face matches", lambda: kiosk.answer(FaceCaptured, _effect("CaptureFace"), **good), Screen.FINGER, "finger")
    add(
        "finger matches",
        lambda: kiosk.answer(FingerResult, _effect("VerifyFinger"), matched=True, score=182),
        Screen.RECEIPT,
        "receipt",
    )
    add("OK", press("ok"), Screen.IDLE)
    # a card nobody at this centre holds
    add("unknown card", lambda: feed(CardRead(at=_now(), card=CARD)), Screen.BUSY)
    add("not enrolled", lambda: kiosk.answer(SubjectNotFound, _effect("LookupSubject")), Screen.REFUSED, "refused")
    add("OK", press("ok"), Screen.IDLE)
    # offline: a voice report
    add("offline", lambda: feed(CentralOffline(at=_now())), Screen.IDLE, "idle-offline")
    add("voice report", press("voice_report"), Screen.CARD, "card")
    add("card", lambda: feed(CardRead(at=_now(), card=CARD)), Screen.BUSY)
    add("found", lambda: kiosk.answer(SubjectFound, _effect("LookupSubject"), subject=NORMAL), Screen.FACE)
    add("face", lambda: kiosk.answer(FaceCaptured, _effect("CaptureFace"), **good), Screen.VOICE_READY, "voice-ready")
    add("start", press("start"), Screen.VOICE_RECORDING)

    def speaking() -> None:
        req = kiosk.pending["StartRecording"].req  # type: ignore[attr-defined]
        feed(RecordingLevel(at=_now(), req=req, meter=0.62))
        feed(PartialTranscript(at=_now(), req=req, text=REPORT_TEXT[:22]))

    add("speaking", speaking, Screen.VOICE_RECORDING, "voice-recording")
    add("stop", press("stop"), Screen.BUSY)
    sha = "5f" * 32
    add(
        "stopped",
        lambda: kiosk.answer(RecordingStopped, _effect("StopRecording"), audio_sha256=sha, duration_s=42.4),
        Screen.BUSY,
    )

    def transcribed() -> None:
        kiosk.pending.pop("StartRecording", None)
        elements = report_keywords.extract(REPORT_TEXT)
        kiosk.answer(
            Transcribed,
            _effect("Transcribe"),
            text=REPORT_TEXT,
            model="vosk-model-small-cn-0.22",
            key_elements=elements,
        )

    add("transcribed", transcribed, Screen.VOICE_REVIEW, "voice-review")
    add("submit", press("submit"), Screen.BUSY)
    add(
        "spooled",
        lambda: kiosk.answer(UploadDone, _effect("UploadAudio"), queued=True),
        Screen.VOICE_DONE,
        "voice-done",
    )
    add("OK", press("ok"), Screen.IDLE)
    add("online", lambda: feed(CentralOnline(at=_now())), Screen.IDLE)
    # a roll call
    command = RollcallStart(
        event_id=uuid4(),
        device_id=DEVICE,
        device_time=_now(),
        rollcall_id="RC-2026-11-23-01",
        subject_ids=["S-350205-0001", "S-350205-0002", "S-350205-0003"],
        deadline=_now() + timedelta(minutes=30),
    )
    add("roll call", lambda: feed(RollcallCommand(at=_now(), command=command)), Screen.ROLLCALL, "rollcall")
    for subject in (NORMAL, STRICT, SubjectInfo("S-350205-0003", "李娜")):
        add(f"answer {subject.subject_id}", press(f"answer:{subject.subject_id}"), Screen.BUSY)
        add("found", _found(kiosk, subject), Screen.FACE)
        last = subject.subject_id == "S-350205-0003"
        add(
            "face",
            lambda: kiosk.answer(FaceCaptured, _effect("CaptureFace"), **good),
            Screen.ROLLCALL_SUMMARY if last else Screen.MESSAGE,
            "rollcall-summary" if last else "message",
        )
        if not last:
            add("OK", press("ok"), Screen.ROLLCALL)
    add("OK", press("ok"), Screen.IDLE)
    # staff: PIN, maintenance, enrolment
    add("staff", press("staff"), Screen.PIN, "pin")
    for digit in PIN:
        add(f"digit {digit}", press(f"pin:{digit}"), Screen.PIN)
    add("enter", press("pin:enter"), Screen.MAINTENANCE, "maintenance")
    add("enrol", press("enrol"), Screen.CARD)
    add("card", lambda: feed(CardRead(at=_now(), card=CARD)), Screen.BUSY)
    add(
        "found",
        lambda: kiosk.answer(SubjectFound, _effect("LookupSubject"), subject=STRICT),
        Screen.ENROL_FACE,
        "enrol-face",
    )
    for n, yaw in enumerate((0.0, -0.35, 0.35)):
        last = n == 2
        add(
            f"pose {n}",
            _pose(kiosk, yaw, n),
            Screen.ENROL_FINGER if last else Screen.ENROL_FACE,
            "enrol-finger" if last else None,
        )
    add(
        "finger 1", lambda: kiosk.answer(FingerEnrolled, _effect("EnrolFinger"), template_ref="f1"), Screen.ENROL_FINGER
    )
    add(
        "finger 2",
        lambda: kiosk.answer(FingerEnrolled, _effect("EnrolFinger"), template_ref="f2"),
        Screen.ENROL_REVIEW,
        "enrol-review",
    )
    add("upload", press("upload"), Screen.BUSY)
    add("uploaded", lambda: kiosk.answer(UploadDone, _effect("UploadTemplates")), Screen.MESSAGE)
    add("OK", press("ok"), Screen.MAINTENANCE)
    add("exit", press("exit"), Screen.IDLE)


def _now() -> datetime:
    return datetime.now(UTC)


def _effect(name: str) -> type[Effect]:
    from kiosk.flows import types

    kind: type[Effect] = getattr(types, name)
    return kind


def _found(kiosk: ScriptedKiosk, subject: SubjectInfo) -> Callable[[], None]:
    return lambda: kiosk.answer(SubjectFound, _effect("LookupSubject"), subject=subject)


def _pose(kiosk: ScriptedKiosk, yaw: float, n: int) -> Callable[[], None]:
    return lambda: kiosk.answer(
        FaceCaptured, _effect("CaptureFace"), quality_ok=True, quality=0.9, yaw=yaw, capture_ref=f"face{n}"
    )


def main() -> int:
    out, report = Path(sys.argv[1]), Path(sys.argv[2])
    policy = Policy(pin_hash=PinHash.make(PIN, os.urandom(16), iterations=10_000))
    ctx = Context(DEVICE, uuid4(), policy, SpeechAvailability(True, "vosk-model-small-cn-0.22"))
    kiosk = ScriptedKiosk(ctx)
    kiosk.start()
    app = KioskApp(kiosk, UiSection(width=1280, height=800))
    walk = Walk(app, kiosk, out, report)
    script(walk, kiosk)
    Clock.schedule_once(walk.run, 1.0)
    app.run()
    return 0 if walk.error is None else 1


if __name__ == "__main__":
    sys.exit(main())
