"""demo/kiosk.py as the demo runs it: the device daemon and the Kivy UI (headless under xvfb-run) against a real
central and broker; the scripted subject checks in and submits a voice report, and both reach central."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from central.db.models import Checkin, VoiceReport
from demo import kiosk
from tests.support.central import migrated_central, seed_on_broker
from tests.support.mosquitto import Mosquitto
from tests.support.ports import free_port, wait_for_port
from tests.support.processes import CentralProcess, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DEVICE = "kiosk-haicang-01"


def test_the_headless_demo_kiosk_walks_a_subject_through_a_check_in_and_a_voice_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """start_kiosk → the scripted subject's check-in and voice report reach central; stop_kiosk leaves nothing."""
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (apt-get install xvfb): the headless kiosk UI needs it")
    for path in (kiosk.MODELS, kiosk.FACES, kiosk.SPEECH_WAV):
        if not path.exists():
            pytest.skip(f"{path} is missing: the shared models and test data are expected beside the checkout")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("CORR_MODELS_DIR", str(kiosk.MODELS))
    broker = Mosquitto(tmp_path / "broker")
    central = migrated_central(f"sqlite:///{tmp_path / 'central.db'}")
    seeded, cfg = seed_on_broker(central, broker, [DEVICE])
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    cfg = cfg.model_copy(
        update={
            "api": cfg.api.model_copy(update={"port": port}),
            "device_api": cfg.device_api.model_copy(update={"public_url": api}),
        }
    )
    conf = write_config(cfg, tmp_path / "central.toml")
    servers = [CentralProcess(conf, name, log=tmp_path / f"{name}.log") for name in ("serve", "ingest")]
    broker.start()
    for server in servers:
        server.start()
    procs: list[subprocess.Popen[bytes]] = []
    log = tmp_path / "kiosk-ui.log"
    try:
        wait_for_port(port, timeout=60)
        procs = kiosk.start_kiosk(broker.host, broker.port, DEVICE, seeded.device_secrets[DEVICE], api, tmp_path)
        deadline = time.monotonic() + 400
        text = ""
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace") if log.exists() else ""
            if "walk-through done" in text or "walk-through failed" in text or procs[1].poll() is not None:
                break
            time.sleep(1)
        assert "scripted walk-through done: {'checkin': 'receipt', 'voice': 'voice_done'}" in text, (
            text[-4000:] + (tmp_path / "kiosk-devices.log").read_text(errors="replace")[-2000:]
        )
        for step in ("places the ID card on the reader", "kiosk: receipt", "live transcript so far", "voice_done"):
            assert step in text, step

        def stored() -> tuple[list[Checkin], list[VoiceReport]]:
            with central.sessions() as s:
                checkins = list(s.execute(select(Checkin).where(Checkin.device_id == DEVICE)).scalars())
                reports = list(s.execute(select(VoiceReport).where(VoiceReport.subject_id == kiosk.SUBJECT)).scalars())
            return checkins, reports

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(stored()):
            time.sleep(0.5)
        checkins, reports = stored()
        assert [(c.subject_id, c.result) for c in checkins] == [(kiosk.SUBJECT, "accepted")]
        assert len(reports) == 1 and reports[0].model == "vosk-model-small-ko-0.22"
    finally:
        kiosk.stop_kiosk(procs)
        for server in reversed(servers):
            server.stop()
        broker.stop()
        central.close()
    leftovers = subprocess.run(["pgrep", "-af", str(tmp_path)], capture_output=True, text=True).stdout
    assert leftovers.strip() == "", f"processes left running: {leftovers}"
