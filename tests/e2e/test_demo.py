"""`make demo` as a newcomer runs it: the whole system starts, what every device does reaches the officer API and
UI, it stops cleanly. The demo's kiosk (demo/kiosk.py) runs headless under xvfb-run here, its scripted subject
checking in and recording a voice report through the real device daemon, models and Kivy UI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from central.db.models import Checkin, VoiceReport
from demo import kiosk

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]


def test_demo_check(tmp_path: Path) -> None:
    """`python -m demo --check`: everything starts, events reach the API and the UI, a fence alert opens and closes."""
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (apt-get install xvfb): the demo's headless kiosk UI needs it")
    for path in (kiosk.MODELS, kiosk.FACES, kiosk.SPEECH_WAV):
        if not path.exists():
            pytest.skip(f"{path} is missing: the shared models and test data are expected beside the checkout")
    env = {**os.environ, "CORR_DEMO_DIR": str(tmp_path / "demo")}
    env.pop("DISPLAY", None)
    r = subprocess.run(
        [sys.executable, "-m", "demo", "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "reached the API" in r.stdout
    # The wristband walked out of Haicang and back: the fence alert opened, then closed, and was printed.
    assert re.search(r"demo: ALERT (\d+) opened: S-350205-0001 outside the allowed area", r.stdout), r.stdout
    assert re.search(r"demo: ALERT \d+ closed: back inside the allowed area", r.stdout), r.stdout
    assert "demo check: fence_breach alert" in r.stdout
    # The kiosk: the scripted subject's steps are logged, and both results reached central and the UI.
    steps = (tmp_path / "demo" / "kiosk-ui.log").read_text(errors="replace")
    assert "scripted walk-through done: {'checkin': 'receipt', 'voice': 'voice_done'}" in steps, steps[-4000:]
    for step in ("places the ID card on the reader", "kiosk: receipt", "live transcript so far", "voice_done"):
        assert step in steps, step
    finished = "demo check: the kiosk's scripted subject finished: {'checkin': 'receipt', 'voice': 'voice_done'}"
    assert finished in r.stdout
    assert "demo check: the kiosk's check-in (accepted) and voice report of S-350205-0001 reached the API" in r.stdout
    assert "kiosk-haicang-01" in r.stdout and "edge-haicang" in r.stdout
    assert "demo check: the officer UI shows the check-in, voice report, sightings, alert and devices" in r.stdout
    assert "officer      prov.admin / demo-" in r.stdout
    # Exactly once: one check-in and one voice report in central's database, transcribed by the model present.
    engine = create_engine(f"sqlite:///{tmp_path / 'demo' / 'central.db'}")
    with Session(engine) as s:
        checkins = list(s.execute(select(Checkin).where(Checkin.device_id == "kiosk-haicang-01")).scalars())
        reports = list(s.execute(select(VoiceReport).where(VoiceReport.subject_id == kiosk.SUBJECT)).scalars())
    engine.dispose()
    assert [(c.subject_id, c.result) for c in checkins] == [(kiosk.SUBJECT, "accepted")]
    assert len(reports) == 1 and reports[0].model == "vosk-model-small-ko-0.22"
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout
    assert leftovers.strip() == "", f"processes left running: {leftovers}"
