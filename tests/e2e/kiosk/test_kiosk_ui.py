"""The Kivy kiosk UI under Xvfb, driven through every screen of the real flows by pressing its own buttons.

tests/e2e/kiosk/ui_driver.py runs in its own process under `xvfb-run` (Kivy owns the process's
window and GL context), walks a check-in with face and finger, a refusal, a voice report while
offline, a roll call and a staff enrolment behind the PIN pad, and writes one screenshot per screen
to docs/screenshots/kiosk-*.png plus a report of what each screen said. Kivy renders on Mesa's
llvmpipe; the libmtdev warning it prints is harmless.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.flows.types import Screen

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[3]
SHOTS = REPO / "docs" / "screenshots"
DRIVER = Path(__file__).with_name("ui_driver.py")


def test_every_screen_renders_in_the_kivy_app_and_touches_reach_the_flows(tmp_path: Path) -> None:
    """All 19 screens reached by pressing the UI's buttons; each screenshot is a real 1280×800 rendering."""
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        pytest.skip("xvfb-run is not installed (apt-get install xvfb): the Kivy UI needs an X display")
    report = tmp_path / "report.json"
    env = dict(
        os.environ,
        KIVY_NO_ARGS="1",
        KIVY_HOME=str(tmp_path / "kivy"),
        KIVY_NO_CONSOLELOG="1",
        CORR_MODELS_DIR=os.environ.get("CORR_MODELS_DIR", str(REPO.parent / "shared" / "models")),
    )
    run = subprocess.run(
        [xvfb, "-a", "-s", "-screen 0 1280x800x24", sys.executable, str(DRIVER), str(SHOTS), str(report)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert report.exists(), (
        f"the driver wrote no report (exit {run.returncode})\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    )
    body = json.loads(report.read_text(encoding="utf-8"))
    assert body["error"] is None, body["error"]
    assert run.returncode == 0, run.stderr[-3000:]
    shots = body["shots"]
    assert {s["screen"] for s in shots.values()} == {s.value for s in Screen}, "every screen was shown and captured"
    for name, shot in shots.items():
        path = Path(shot["file"])
        assert path == SHOTS / f"kiosk-{name}.png"
        image = cv2.imread(str(path))
        assert image is not None, f"{path} is not a PNG"
        assert image.shape[:2] == (800, 1280), (name, image.shape)
        assert float(np.std(image)) > 10, f"{name}: the screenshot is (nearly) blank"
        assert (shot["title"] and shot["buttons"]) or shot["screen"] == "busy", (name, shot)
    # Chinese by default, English on the language button, and back.
    assert shots["idle"]["title"] == "社区矫正自助终端" and shots["idle"]["lang"] == "zh"
    assert shots["idle-en"]["title"] == "Community corrections self-service kiosk" and shots["idle-en"]["lang"] == "en"
    idle, english = cv2.imread(str(SHOTS / "kiosk-idle.png")), cv2.imread(str(SHOTS / "kiosk-idle-en.png"))
    assert idle is not None and english is not None
    assert float(np.mean(cv2.absdiff(idle, english))) > 0.5
    # The offline banner is on every screen while offline, and gone once online.
    assert shots["idle-offline"]["banner"] == "离线：记录将在恢复连接后上传"
    assert shots["voice-review"]["banner"] and shots["rollcall"]["banner"] is None
    assert shots["receipt"]["info"][0] == ["编号", "S-350205-0002"]
    assert ["地点", "海沧区、厦门"] in shots["voice-review"]["info"]
    assert sorted(set(body["published"])) == ["checkin", "rollcall_answer", "voice_report"]
