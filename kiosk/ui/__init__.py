"""The kiosk's Kivy UI (`corr-kiosk-ui`): screens that only render the flows' views and pass touches back.

`model.py` turns a flow View into texts and extras (no Kivy); `app.py` lays them out with Kivy;
`__main__.py` is the command. Kivy is imported only by `app.py`, and only after `configure`.
"""

from __future__ import annotations

import os
from pathlib import Path

from kiosk.config import UiSection


def configure(ui: UiSection, kivy_home: Path | None = None) -> None:
    """Set Kivy's window options; call before kiosk.ui.app (or anything importing kivy.core.window) is imported."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")  # Kivy logs through `logging` like the rest, no second handler
    if kivy_home is not None:
        os.environ.setdefault("KIVY_HOME", str(kivy_home))
    from kivy.config import Config  # type: ignore[import-untyped]

    Config.set("graphics", "width", str(ui.width))
    Config.set("graphics", "height", str(ui.height))
    Config.set("graphics", "fullscreen", "auto" if ui.fullscreen else "0")
    Config.set("input", "mouse", "mouse,multitouch_on_demand")
    Config.set("kivy", "exit_on_escape", "0")
