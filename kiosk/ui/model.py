"""What a screen shows, worked out from a flow View without Kivy: texts in the person's language, buttons, extras.

The Kivy app (kiosk/ui/app.py) only lays out a `Rendered`; everything it says comes from here, so the
wording, the language switch and the per-screen extras are tested without a display. Flow messages
come from kiosk.i18n (helper D's catalogue); the few words of the UI's own chrome (the language
button, the countdown, list headings) are in `CHROME` below, in both languages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from kiosk.flows.types import Lang, Screen, View
from kiosk.i18n import render

CHROME: Mapping[str, tuple[str, str]] = {
    "lang_toggle": ("English", "中文"),
    "countdown": ("剩余 {t}", "{t} left"),
    "tries_left": ("剩余次数：{n}", "Tries left: {n}"),
    "attempts_left": ("还可尝试 {n} 次", "{n} attempts left"),
    "progress": ("已完成 {done}/{total}", "{done} of {total} done"),
    "transcript": ("识别文字", "Transcript"),
    "duration": ("时长 {s} 秒", "{s} s long"),
    "elapsed": ("已录 {s} 秒", "{s} s recorded"),
    "level": ("音量", "Level"),
    "dates": ("时间", "Dates"),
    "places": ("地点", "Places"),
    "people": ("人物", "People"),
    "activities": ("事项", "Activities"),
    "called": ("点验名单", "Called"),
    "answered": ("已应答", "Answered"),
    "missing": ("未应答", "Still missing"),
    "closes": ("截止 {time}", "Closes at {time}"),
    "subject": ("编号", "Subject"),
    "methods": ("核验方式", "Checked by"),
    "score": ("人脸相似度", "Face similarity"),
    "reason": ("原因代码", "Reason code"),
    "camera": ("摄像头画面", "Camera"),
    "pin_clear": ("清除", "Clear"),
    "pin_enter": ("确认", "Enter"),
    "none": ("无", "none"),
    "method.id_card": ("身份证", "ID card"),
    "method.face": ("人脸", "face"),
    "method.fingerprint": ("指纹", "fingerprint"),
    "status.device": ("设备", "Device"),
    "status.speech": ("语音识别", "Speech"),
    "status.link": ("网络", "Network"),
    "status.online": ("在线", "online"),
    "status.offline": ("离线", "offline"),
    "status.gallery": ("人脸库版本", "Face gallery"),
    "status.cache": ("离线缓存人数", "Offline cache"),
    "status.outbox": ("待上传记录", "Events queued"),
    "status.spool": ("待上传录音", "Recordings queued"),
    "status.devices": ("外设", "Devices"),
    "status.enrolments": ("本次采集人数", "Enrolled this session"),
}


def chrome(key: str, lang: Lang, **params: object) -> str:
    """A UI chrome text in `lang` (KeyError for an unknown key: a bug, caught by the tests)."""
    zh, en = CHROME[key]
    return (zh if lang == "zh" else en).format(**params)


class KioskPort(Protocol):
    """What the UI needs from the kiosk: the runtime (kiosk.runtime.Runtime) provides it."""

    def touch(self, button: str) -> None:
        """A button of the current view was touched."""

    def enter_pin(self, pin: str) -> None:
        """The PIN pad's Enter was touched with these digits."""

    def add_view_listener(self, listener: Any) -> None:
        """Call `listener(view)` for every view shown (from any thread)."""

    def add_preview_listener(self, listener: Any) -> None:
        """Call `listener(jpeg bytes)` for every camera preview frame (from any thread)."""

    def status(self) -> dict[str, Any]:
        """Figures for the maintenance screen."""


Kind = Literal["primary", "secondary", "danger"]


@dataclass(frozen=True)
class RenderedButton:
    """A touch target: the flow's button id and its label."""

    id: str
    label: str
    kind: Kind


@dataclass(frozen=True)
class Rendered:
    """One screen, ready to lay out."""

    screen: Screen
    lang: Lang
    title: str
    lines: tuple[str, ...]
    buttons: tuple[RenderedButton, ...]
    banner: str | None
    lang_toggle: str
    deadline: datetime | None
    info: tuple[tuple[str, str], ...] = ()
    """(heading, value) rows beside the lines: scores, progress, status figures."""
    preview: bool = False
    """Show the camera mirror (face screens)."""
    pin_pad: bool = False
    level: float | None = None
    """Microphone level 0..1 (recording screen)."""
    text_box: str | None = None
    """A block of text: the live or final transcript."""
    started: datetime | None = None
    """When the recording started (the elapsed time is counted by the UI)."""
    extras: Mapping[str, object] = field(default_factory=dict)

    def signature(self) -> tuple[object, ...]:
        """What changes the layout; views equal in this only update the level, text and info in place."""
        return (self.screen, self.lang, self.title, self.lines, self.buttons, self.banner, self.pin_pad, self.preview)

    def button(self, button_id: str) -> RenderedButton | None:
        """The button with this id, if shown."""
        return next((b for b in self.buttons if b.id == button_id), None)


def _join(items: object, lang: Lang) -> str:
    if isinstance(items, str):
        return items
    if isinstance(items, Sequence) and items:
        return "、".join(str(i) for i in items) if lang == "zh" else ", ".join(str(i) for i in items)
    return chrome("none", lang)


def _score(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"


def _info(view: View, lang: Lang, status: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    data = view.data
    rows: list[tuple[str, str]] = []
    screen = view.screen
    if screen in (Screen.FACE, Screen.FINGER) and "tries_left" in data:
        rows.append(("", chrome("tries_left", lang, n=data["tries_left"])))
    elif screen in (Screen.ENROL_FACE, Screen.ENROL_FINGER) and "total" in data:
        rows.append(("", chrome("progress", lang, done=data.get("done", 0), total=data["total"])))
    elif screen == Screen.PIN and "attempts_left" in data:
        rows.append(("", chrome("attempts_left", lang, n=data["attempts_left"])))
    elif screen == Screen.RECEIPT:
        used = data.get("methods", ())
        names = used if isinstance(used, Sequence) and not isinstance(used, str) else ()
        methods = [chrome(f"method.{m}", lang) for m in names if f"method.{m}" in CHROME]
        rows += [
            (chrome("subject", lang), str(data.get("subject_id", ""))),
            (chrome("methods", lang), _join(methods, lang)),
            (chrome("score", lang), _score(data.get("face_score"))),
        ]
    elif screen == Screen.REFUSED and "reason" in data:
        rows.append((chrome("reason", lang), str(data["reason"])))
    elif screen == Screen.VOICE_REVIEW:
        rows.append(("", chrome("duration", lang, s=data.get("duration_s", 0))))
        elements = data.get("key_elements")
        if isinstance(elements, Mapping):
            for key in ("dates", "places", "people", "activities"):
                rows.append((chrome(key, lang), _join(elements.get(key, ()), lang)))
    elif screen in (Screen.ROLLCALL, Screen.ROLLCALL_SUMMARY):
        if screen == Screen.ROLLCALL:
            rows.append((chrome("called", lang), _join(data.get("called", ()), lang)))
        rows += [
            (chrome("answered", lang), _join(data.get("answered", ()), lang)),
            (chrome("missing", lang), _join(data.get("missing", ()), lang)),
        ]
        closes = data.get("closes")
        if isinstance(closes, datetime):
            rows.append(("", chrome("closes", lang, time=closes.astimezone().strftime("%H:%M"))))
    elif screen == Screen.MAINTENANCE:
        rows.append((chrome("status.device", lang), str(data.get("device_id", ""))))
        rows.append((chrome("status.speech", lang), str(data.get("speech", ""))))
        rows.append((chrome("status.enrolments", lang), str(data.get("enrolments", 0))))
        if status:
            link = "status.offline" if status.get("offline") else "status.online"
            devices = status.get("devices") or {}
            rows += [
                (chrome("status.link", lang), chrome(link, lang)),
                (chrome("status.gallery", lang), str(status.get("gallery_version") or "-")),
                (chrome("status.cache", lang), str(status.get("subject_cache", 0))),
                (chrome("status.outbox", lang), str(status.get("outbox_depth", 0))),
                (chrome("status.spool", lang), str(status.get("audio_spooled", 0))),
                (chrome("status.devices", lang), _join([f"{k}: {v}" for k, v in sorted(devices.items())], lang)),
            ]
    return tuple(rows)


def render_view(view: View, status: Mapping[str, Any] | None = None) -> Rendered:
    """Everything the screen shows for this view, in the view's language."""
    lang = view.lang
    data = view.data
    level: float | None = None
    text_box: str | None = None
    started: datetime | None = None
    if view.screen == Screen.VOICE_RECORDING:
        raw = data.get("level", 0.0)
        level = min(1.0, max(0.0, float(raw))) if isinstance(raw, int | float) else 0.0
        text_box = str(data.get("partial") or "")
        begun = data.get("started")
        started = begun if isinstance(begun, datetime) else None
    elif view.screen == Screen.VOICE_REVIEW:
        text_box = str(data.get("transcript") or "")
    return Rendered(
        screen=view.screen,
        lang=lang,
        title=render(view.title, lang),
        lines=tuple(render(line, lang) for line in view.lines),
        buttons=tuple(RenderedButton(b.id, render(b.label, lang), b.kind) for b in view.buttons),
        banner=render(view.banner, lang) if view.banner is not None else None,
        lang_toggle=chrome("lang_toggle", lang),
        deadline=view.deadline,
        info=_info(view, lang, status),
        preview=view.screen in (Screen.FACE, Screen.ENROL_FACE),
        pin_pad=view.screen == Screen.PIN,
        level=level,
        text_box=text_box,
        started=started,
        extras=dict(data),
    )


def countdown_text(deadline: datetime | None, now: datetime, lang: Lang) -> str:
    """The time left on a screen, or nothing when it has no deadline or only a moment is left."""
    if deadline is None:
        return ""
    left = int((deadline - now).total_seconds() + 0.999)
    if left <= 0:
        return ""
    shown = f"{left // 60}:{left % 60:02d}" if left >= 90 else (f"{left} 秒" if lang == "zh" else f"{left} s")
    return chrome("countdown", lang, t=shown)


def elapsed_text(started: datetime | None, now: datetime, lang: Lang) -> str:
    """Seconds recorded so far."""
    if started is None:
        return ""
    return chrome("elapsed", lang, s=max(0, int((now - started).total_seconds())))
