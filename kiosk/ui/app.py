"""The Kivy app: lays out each `Rendered` screen (kiosk/ui/model.py) and passes touches back to the kiosk.

It keeps no flow state of its own: the runtime's view listener hands it every view (from the flow
thread; rendering is moved to Kivy's main thread with Clock.schedule_once), and every button calls
`port.touch(id)`. The only local state is the PIN being typed and the latest camera preview.

Layout for a 1280 × 800 touch screen: a title bar with the language button, the offline banner when
offline, the body (the view's lines, its figures, the camera mirror, the transcript or the PIN pad)
and a row of large buttons with the countdown. Every text uses Noto Sans CJK from Debian's
fonts-noto-cjk, registered as Kivy's default font so Chinese renders everywhere.

Call `kiosk.ui.configure(ui)` before this module is imported: it sets the window's Config, which
Kivy reads when the window is created (at the import of kivy.core.window).
"""

# mypy: disable-error-code="import-untyped, misc"
# (Kivy ships no type information.)
from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.image import Image as CoreImage
from kivy.core.text import LabelBase
from kivy.core.window import Window
from kivy.graphics import Color, Rectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.image import Image
from kivy.uix.label import Label
from kivy.uix.progressbar import ProgressBar
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from kiosk.config import UiSection
from kiosk.flows.policy import CHINA
from kiosk.flows.types import Screen, View
from kiosk.ui.model import KioskPort, Rendered, chrome, countdown_text, elapsed_text, render_view

log = logging.getLogger(__name__)

BACKGROUND = (0.96, 0.97, 0.99, 1)
TEXT = (0.10, 0.13, 0.20, 1)
MUTED = (0.35, 0.40, 0.50, 1)
BANNER = (0.93, 0.55, 0.10, 1)
KINDS = {
    "primary": (0.08, 0.40, 0.75, 1),
    "secondary": (0.45, 0.50, 0.58, 1),
    "danger": (0.80, 0.18, 0.18, 1),
}
TITLE_PX = 42
LINE_PX = 32
IDLE_PX = 52
INFO_PX = 26
BUTTON_PX = 34
BUTTON_HEIGHT = 120
PIN_DIGITS = 12


def use_font(font: Path) -> bool:
    """Make the CJK font Kivy's default (Roboto's name), so every label and button renders Chinese."""
    if not font.is_file():
        log.error("CJK font %s not found (install fonts-noto-cjk): Chinese will not render", font)
        return False
    bold = font.with_name(font.name.replace("Regular", "Bold"))
    LabelBase.register(
        name="Roboto",
        fn_regular=str(font),
        fn_bold=str(bold if bold.is_file() else font),
        fn_italic=str(font),
        fn_bolditalic=str(bold if bold.is_file() else font),
    )
    return True


class _Backdrop(BoxLayout):
    """A BoxLayout painted with a colour."""

    def __init__(self, colour: tuple[float, float, float, float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self.canvas.before:
            Color(*colour)
            self._rect = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=self._sync, size=self._sync)

    def _sync(self, *_: object) -> None:
        self._rect.pos = self.pos
        self._rect.size = self.size


def _label(text: str, px: int, colour: tuple[float, ...] = TEXT, *, bold: bool = False, **kwargs: Any) -> Label:
    label = Label(text=text, font_size=px, color=colour, bold=bold, halign="left", valign="middle", **kwargs)
    label.bind(size=lambda w, s: setattr(w, "text_size", (s[0], None)))
    label.bind(texture_size=lambda w, s: setattr(w, "height", max(s[1], px * 1.4)) if w.size_hint_y is None else None)
    return label


class KioskScreen(_Backdrop):
    """The one screen of the kiosk, laid out anew when the view's layout changes."""

    def __init__(self, port: KioskPort, **kwargs: Any) -> None:
        super().__init__(BACKGROUND, orientation="vertical", padding=24, spacing=16, **kwargs)
        self.port = port
        self.rendered: Rendered | None = None
        self.buttons: dict[str, Button] = {}
        """Touch targets by id: the view's buttons, `lang`, and the PIN pad's `pin:<key>`."""
        self.pin = ""
        self.preview = Image(fit_mode="contain")
        self._level: ProgressBar | None = None
        self._text: Label | None = None
        self._info: BoxLayout | None = None
        self._clock: Label | None = None
        self._countdown: Label | None = None
        self._elapsed: Label | None = None
        self._pin_display: Label | None = None
        Clock.schedule_interval(self._tick, 0.5)

    # -- rendering --

    def show(self, view: View) -> None:
        """Render a view (main thread)."""
        status: dict[str, Any] | None = None
        if view.screen == Screen.MAINTENANCE:
            try:
                status = self.port.status()
            except Exception:
                log.exception("status for the maintenance screen")
        rendered = render_view(view, status)
        previous = self.rendered
        self.rendered = rendered
        if previous is not None and previous.signature() == rendered.signature():
            self._update(rendered)
            return
        if rendered.screen != Screen.PIN or previous is None or previous.screen != Screen.PIN:
            self.pin = ""
        self._layout(rendered)

    def _update(self, r: Rendered) -> None:
        if self._level is not None and r.level is not None:
            self._level.value = r.level * 100
        if self._text is not None and r.text_box is not None:
            self._text.text = r.text_box
        if self._info is not None:
            self._fill_info(self._info, r)
        self._tick()

    def _layout(self, r: Rendered) -> None:
        self.clear_widgets()
        self.buttons = {}
        self._level = self._text = self._countdown = self._elapsed = self._pin_display = self._clock = None
        self._info = None
        if self.preview.parent is not None:
            self.preview.parent.remove_widget(self.preview)

        header = BoxLayout(size_hint_y=None, height=96, spacing=16)
        header.add_widget(_label(r.title, TITLE_PX, bold=True))
        lang = self._button("lang", r.lang_toggle, "secondary", px=28)
        lang.size_hint_x = None
        lang.width = 200
        header.add_widget(lang)
        self.add_widget(header)

        if r.banner:
            banner = _Backdrop(BANNER, size_hint_y=None, height=60, padding=(16, 0))
            banner.add_widget(_label(r.banner, 28, (1, 1, 1, 1), bold=True))
            self.add_widget(banner)

        body = BoxLayout(spacing=24)
        idle = r.screen == Screen.IDLE
        # Content taller than the body scrolls instead of running under the title (a long report, a long list).
        main = BoxLayout(orientation="vertical", spacing=12, size_hint_y=None)
        main.bind(minimum_height=main.setter("height"))
        if idle:
            main.add_widget(Widget(size_hint_y=None, height=140))
        for line in r.lines:
            label = _label(line, IDLE_PX if idle else LINE_PX, size_hint_y=None, bold=idle)
            if idle:
                label.halign = "center"
            main.add_widget(label)
        if idle:
            self._clock = _label("", 34, MUTED, size_hint_y=None)
            self._clock.halign = "center"
            main.add_widget(self._clock)
        if r.level is not None:
            row = BoxLayout(size_hint_y=None, height=60, spacing=16)
            row.add_widget(_label(chrome("level", r.lang), INFO_PX, MUTED, size_hint_x=None, width=120))
            self._level = ProgressBar(max=100, value=r.level * 100)
            row.add_widget(self._level)
            self._elapsed = _label("", INFO_PX, MUTED, size_hint_x=None, width=220)
            row.add_widget(self._elapsed)
            main.add_widget(row)
        if r.text_box is not None:
            heading = chrome("transcript", r.lang)
            main.add_widget(_label(heading, INFO_PX, MUTED, size_hint_y=None))
            scroll = _Backdrop((1, 1, 1, 1), padding=12, size_hint_y=None, height=150)
            inner = ScrollView(do_scroll_x=False)
            self._text = _label(r.text_box, 30, size_hint_y=None)
            inner.add_widget(self._text)
            scroll.add_widget(inner)
            main.add_widget(scroll)
        if r.info:
            self._info = BoxLayout(orientation="vertical", spacing=6, size_hint_y=None)
            self._info.bind(minimum_height=self._info.setter("height"))
            self._fill_info(self._info, r)
            main.add_widget(self._info)
        many = len(r.buttons) > 4
        if many:  # a roll call's list of people: a grid in the body, not one row
            grid = GridLayout(cols=3, spacing=12, size_hint_y=None)
            grid.bind(minimum_height=grid.setter("height"))
            for b in r.buttons:
                button = self._button(b.id, b.label, b.kind)
                button.size_hint_y = None
                button.height = 100
                grid.add_widget(button)
            main.add_widget(grid)
        scroller = ScrollView(do_scroll_x=False, bar_width=8)
        scroller.add_widget(main)
        body.add_widget(scroller)
        if r.preview:
            side = BoxLayout(orientation="vertical", size_hint_x=0.45)
            side.add_widget(_label(chrome("camera", r.lang), INFO_PX, MUTED, size_hint_y=None))
            side.add_widget(self.preview)
            body.add_widget(side)
        if r.pin_pad:
            body.add_widget(self._pin_pad(r))
        self.add_widget(body)

        footer = BoxLayout(size_hint_y=None, height=BUTTON_HEIGHT, spacing=20)
        if not many:
            for b in r.buttons:
                footer.add_widget(self._button(b.id, b.label, b.kind))
        if not r.buttons or many:
            footer.add_widget(Widget())
        self._countdown = _label("", INFO_PX, MUTED, size_hint_x=None, width=260)
        self._countdown.halign = "right"
        footer.add_widget(self._countdown)
        self.add_widget(footer)
        self._tick()

    def _fill_info(self, box: BoxLayout, r: Rendered) -> None:
        box.clear_widgets()
        for heading, value in r.info:
            row = BoxLayout(size_hint_y=None, height=INFO_PX * 1.6, spacing=16)
            if heading:
                row.add_widget(_label(heading, INFO_PX, MUTED, size_hint_x=None, width=240))
            row.add_widget(_label(value, INFO_PX))
            box.add_widget(row)

    def _button(self, button_id: str, text: str, kind: str, px: int = BUTTON_PX) -> Button:
        button = Button(
            text=text,
            font_size=px,
            background_normal="",
            background_color=KINDS.get(kind, KINDS["primary"]),
            color=(1, 1, 1, 1),
            halign="center",
            valign="middle",
        )
        button.bind(size=lambda w, s: setattr(w, "text_size", (s[0] - 16, None)))
        button.bind(on_release=lambda *_: self._pressed(button_id))
        self.buttons[button_id] = button
        return button

    def _pin_pad(self, r: Rendered) -> BoxLayout:
        pad = BoxLayout(orientation="vertical", size_hint_x=0.5, spacing=10)
        shown = _Backdrop((1, 1, 1, 1), size_hint_y=None, height=76)
        self._pin_display = _label("", 40)
        self._pin_display.halign = "center"
        shown.add_widget(self._pin_display)
        pad.add_widget(shown)
        grid = GridLayout(cols=3, spacing=10)
        keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "enter"]
        for key in keys:
            label = (
                chrome("pin_clear", r.lang)
                if key == "clear"
                else chrome("pin_enter", r.lang)
                if key == "enter"
                else key
            )
            kind = "secondary" if key == "clear" else "primary"
            grid.add_widget(self._button(f"pin:{key}", label, kind, px=36))
        pad.add_widget(grid)
        self._show_pin()
        return pad

    def _show_pin(self) -> None:
        if self._pin_display is not None:
            self._pin_display.text = "●" * len(self.pin)

    def _pressed(self, button_id: str) -> None:
        if button_id.startswith("pin:"):
            key = button_id[4:]
            if key == "clear":
                self.pin = ""
            elif key == "enter":
                if self.pin:
                    self.port.enter_pin(self.pin)
                self.pin = ""
            elif len(self.pin) < PIN_DIGITS:
                self.pin += key
            self._show_pin()
            return
        self.port.touch(button_id)

    def _tick(self, *_: object) -> None:
        r = self.rendered
        if r is None:
            return
        now = datetime.now(UTC)
        if self._countdown is not None:
            self._countdown.text = countdown_text(r.deadline, now, r.lang)
        if self._elapsed is not None:
            self._elapsed.text = elapsed_text(r.started, now, r.lang)
        if self._clock is not None:
            self._clock.text = now.astimezone(CHINA).strftime("%Y-%m-%d  %H:%M")

    # -- the camera mirror --

    def show_preview(self, jpeg: bytes) -> None:
        """A preview frame (main thread)."""
        if self.preview.parent is None:
            return
        try:
            texture = CoreImage(io.BytesIO(jpeg), ext="jpg").texture
        except Exception:
            log.debug("a preview frame did not decode", exc_info=True)
            return
        self.preview.texture = texture


class KioskApp(App):
    """The kiosk window: one KioskScreen fed by the port's views and previews."""

    title = "社区矫正自助终端"

    def __init__(self, port: KioskPort, ui: UiSection | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.port = port
        self.ui = ui or UiSection()
        self.screen: KioskScreen | None = None
        self._latest_preview: bytes | None = None
        self._preview_due = False

    def build(self) -> KioskScreen:
        """Make the screen and start listening to the kiosk."""
        use_font(self.ui.font)
        Window.clearcolor = BACKGROUND
        if not self.ui.fullscreen:
            Window.size = (self.ui.width, self.ui.height)
        Window.show_cursor = self.ui.show_cursor
        self.screen = KioskScreen(self.port)
        self.port.add_view_listener(lambda view: Clock.schedule_once(lambda _dt: self._show(view)))
        self.port.add_preview_listener(self._preview)
        return self.screen

    def _show(self, view: View) -> None:
        if self.screen is not None:
            try:
                self.screen.show(view)
            except Exception:
                log.exception("screen %s could not be rendered", view.screen)

    def _preview(self, jpeg: bytes) -> None:
        self._latest_preview = jpeg
        if not self._preview_due:
            self._preview_due = True
            Clock.schedule_once(self._show_preview)

    def _show_preview(self, _dt: float) -> None:
        self._preview_due = False
        jpeg = self._latest_preview
        if jpeg is not None and self.screen is not None:
            self.screen.show_preview(jpeg)

    def screenshot(self, path: Path) -> Path:
        """Write the window's content as PNG (main thread)."""
        assert self.screen is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        self.screen.export_to_png(str(path))
        return path
