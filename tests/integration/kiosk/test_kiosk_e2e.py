"""The kiosk runtime end to end: real device daemon, real broker, real central, real face and speech models.

- Device daemon: `python -m kiosk.devices` as a subprocess, with the SAM ID-card reader and the AS608
  fingerprint simulators on ptys, a camera fed from one photo in a folder (swapped atomically to put
  another person in front of it), and real Mandarin speech as a WAV microphone (demo/kiosk.py builds
  the rig; the same code runs the demo and bench/kiosk.py).
- Central: `corr-central serve` and `corr-central ingest` as subprocesses on SQLite, seeded; the subject's
  face is enrolled through the device API from other photos of the same person, and central's sealed
  gallery reaches the kiosk through the retained `gallery` command.
- Broker: Mosquitto with accounts and ACL (tests/support).
- The runtime runs in this process (kiosk.runtime.Runtime, no Kivy), driven by touches like the UI's.

The tests share one set-up and run in file order; each leaves the kiosk idle with no card on the reader.
Nothing asserts a wall-clock time: waits have generous bounds that only a hang reaches.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from central.context import Central
from central.db.models import AudioBlob, Checkin, Event, VoiceReport
from demo import kiosk as rigs
from kiosk.config import encode_pin_hash, load_settings
from kiosk.flows import PinHash
from kiosk.flows.types import Screen, View
from kiosk.runtime import Runtime
from tests.support.central import migrated_central, seed_on_broker
from tests.support.mosquitto import Mosquitto
from tests.support.ports import free_port, wait_for_port
from tests.support.processes import CentralProcess, write_config
from vision.config import parse_config
from vision.pipeline import FacePipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

KIOSK = "kiosk-haicang"
STRICT = "S-350205-0002"
PIN = "135790"
WAIT_S = 90.0
LONG_SPEECH = rigs.AUDIO / "TEST_MEETING_T0000000001_S00000.wav"


def need(*paths: Path) -> None:
    for path in paths:
        if not path.exists():
            pytest.skip(f"{path} is missing: the shared models and test data are expected beside the checkout")


def eventually(condition: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"never happened within {timeout:g} s: {what}")


@dataclass
class Stack:
    root: Path
    broker: Mosquitto
    central: Central
    serve: CentralProcess
    ingest: CentralProcess
    api: str
    secret: str
    rig: rigs.DeviceRig
    daemon: rigs.DaemonProcess
    pipeline: FacePipeline
    runtime: Runtime

    def logs(self) -> str:
        return (
            f"--- daemon ---\n{self.daemon.output()[-3000:]}\n--- serve ---\n{self.serve.output()[-2000:]}\n"
            f"--- ingest ---\n{self.ingest.output()[-2000:]}"
        )

    def view(self, screens: set[Screen], after: int, what: str, timeout: float = WAIT_S) -> View:
        view = self.runtime.wait_for_view(lambda v: v.screen in screens, timeout, after=after)
        if view is None:
            now = self.runtime.view
            raise AssertionError(f"{what}: not shown (screen {now.screen if now else None})\n{self.logs()}")
        return view

    def idle(self) -> None:
        """Leave the kiosk idle, no card on the reader, the subject in front of the camera."""
        self.rig.take_card()
        eventually(lambda: not self.runtime.card_present, "the reader noticed the card was taken")
        self.rig.show_face(rigs.person_photo(rigs.LIVE_PHOTO))
        current = self.runtime.view
        if current is not None and current.screen != Screen.IDLE:
            mark = self.runtime.view_seq
            for button in ("ok", "cancel", "exit"):
                if button in current.button_ids():
                    self.runtime.touch(button)
                    break
            self.view({Screen.IDLE}, mark - 1, "back to idle")

    def checkin_row(self, event_id: str) -> Checkin | None:
        with self.central.sessions() as s:
            return s.execute(select(Checkin).where(Checkin.event_id == event_id)).scalar_one_or_none()

    def event_payload(self, event_id: str) -> dict[str, Any]:
        with self.central.sessions() as s:
            return dict(s.execute(select(Event.payload).where(Event.event_id == event_id)).scalar_one())

    def start_runtime(self, **environ: str) -> Runtime:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORR_KIOSK")}
        env.update(environ)
        return Runtime.from_settings(load_settings(self.rig.config_path, environ=env)).start()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    need(rigs.MODELS, rigs.FACES, LONG_SPEECH)
    os.environ.setdefault("CORR_MODELS_DIR", str(rigs.MODELS))
    tmp = tmp_path_factory.mktemp("kiosk-e2e")
    broker = Mosquitto(tmp / "broker")
    central = migrated_central(f"sqlite:///{tmp / 'central.db'}")
    seeded, cfg = seed_on_broker(central, broker, [KIOSK])
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    cfg = cfg.model_copy(
        update={
            "api": cfg.api.model_copy(update={"port": port}),
            "device_api": cfg.device_api.model_copy(update={"public_url": api}),
        }
    )
    conf = write_config(cfg, tmp / "central.toml")
    serve = CentralProcess(conf, "serve", log=tmp / "serve.log")
    ingest = CentralProcess(conf, "ingest", log=tmp / "ingest.log")
    secret = seeded.device_secrets[KIOSK]
    pipeline = FacePipeline(parse_config({"runtime": {"threads": 1}}))
    run_dir = Path(tempfile.mkdtemp(prefix="kk-"))
    broker.start()
    serve.start()
    ingest.start()
    rig = rigs.make_rig(
        tmp / "kiosk",
        device_id=KIOSK,
        secret=secret,
        broker_host=broker.host,
        broker_port=broker.port,
        central_url=api,
        pipeline=pipeline,
        run_dir=run_dir,
        pin_hash=encode_pin_hash(PinHash.make(PIN, os.urandom(16), iterations=20_000)),
        extra_policy='enrol_poses = ["front"]\nenrol_fingers = 1\n',
        # 12 s of speech (the demo's clip is 4 s): on a loaded machine the first partial must come while
        # the microphone still plays, or the screen has moved on to the review.
        wav=LONG_SPEECH,
    )
    daemon = rigs.DaemonProcess(rig.config_path, tmp / "daemon.log")
    daemon.start()
    runtime: Runtime | None = None
    try:
        wait_for_port(port, timeout=60)
        versions = rigs.enrol_face(api, KIOSK, secret, pipeline)
        assert versions, "central announced a gallery for the kiosk"
        rigs.wait_devices_ready(rig.config_path)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORR_KIOSK")}
        started = Runtime.from_settings(load_settings(rig.config_path, environ=env)).start()
        runtime = started
        made = Stack(tmp, broker, central, serve, ingest, api, secret, rig, daemon, pipeline, started)
        eventually(lambda: started.gallery.version == max(versions), "the kiosk holds the gallery with the face")
        eventually(lambda: started.uplink.connected, "the kiosk is connected to the broker")
        yield made
        runtime = made.runtime
    finally:
        if runtime is not None:
            runtime.stop()
        daemon.stop()
        rig.close()
        ingest.stop()
        serve.stop()
        broker.stop()
        central.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def _checkin(stack: Stack, card: str = "subject") -> View:
    mark = stack.runtime.view_seq
    stack.rig.put_card(card)
    return stack.view({Screen.RECEIPT, Screen.REFUSED, Screen.MESSAGE}, mark, "the check-in result")


def _published_checkin(stack: Stack, after: int) -> Any:
    messages = [m for m in list(stack.runtime.published)[after:] if m.type == "checkin"]
    assert len(messages) == 1, messages
    return messages[0]


def test_a_check_in_from_card_placed_reaches_central_accepted_with_its_scores(stack: Stack) -> None:
    """Card → lookup → face against the gallery and the card photo → checkin accepted, stored at central."""
    stack.idle()
    before = len(stack.runtime.published)
    view = _checkin(stack)
    assert view.screen == Screen.RECEIPT, (view, stack.logs())
    assert view.data["subject_id"] == rigs.SUBJECT
    assert view.banner is None
    message = _published_checkin(stack, before)
    threshold = stack.runtime.ctx.policy.face_threshold
    assert message.result == "accepted" and message.methods == ["id_card", "face"]
    assert message.face_score is not None and message.face_score >= threshold
    row = eventually(lambda: stack.checkin_row(str(message.event_id)), "the check-in stored at central")
    assert (row.result, row.subject_id, row.device_id) == ("accepted", rigs.SUBJECT, KIOSK)
    assert row.face_score == pytest.approx(message.face_score)
    payload = stack.event_payload(str(message.event_id))
    assert payload["card_face_score"] >= threshold  # the card photo is another photo of the same person
    assert payload["face_captures"] == 1
    stack.idle()


def test_another_persons_face_is_refused_and_the_refusal_is_recorded(stack: Stack) -> None:
    """The subject's card with a stranger's face: three mismatches, then a refused checkin with every score."""
    stack.idle()
    stack.rig.show_face(rigs.person_photo(rigs.STRANGER_PHOTO))
    before = len(stack.runtime.published)
    view = _checkin(stack)
    assert view.screen == Screen.REFUSED and view.data["reason"] == "face_mismatch", view
    message = _published_checkin(stack, before)
    policy = stack.runtime.ctx.policy
    assert message.result == "refused" and message.reason == "face_mismatch"
    assert message.face_score is not None and message.face_score < policy.face_threshold
    row = eventually(lambda: stack.checkin_row(str(message.event_id)), "the refusal stored at central")
    assert (row.result, row.reason, row.subject_id) == ("refused", "face_mismatch", rigs.SUBJECT)
    assert stack.event_payload(str(message.event_id))["face_captures"] == policy.face_tries
    stack.idle()


def test_a_card_central_does_not_know_here_is_refused_as_not_enrolled(stack: Stack) -> None:
    """A Huli subject's card at a Haicang kiosk: central answers 404, the kiosk records not_enrolled."""
    stack.idle()
    before = len(stack.runtime.published)
    view = _checkin(stack, "huli")
    assert view.screen == Screen.REFUSED and view.data["reason"] == "not_enrolled", view
    message = _published_checkin(stack, before)
    assert (message.result, message.subject_id, message.methods) == ("refused", None, ["id_card"])
    eventually(lambda: stack.checkin_row(str(message.event_id)), "the refusal stored at central")
    stack.idle()


def test_offline_the_check_in_is_verified_from_the_caches_queued_and_arrives_once(stack: Stack) -> None:
    """Broker and central's API down: offline banner, lookup from the encrypted cache, face from the
    cached gallery, receipt once queued; after both come back the event is stored exactly once."""
    stack.idle()
    runtime = stack.runtime
    mark = runtime.view_seq
    stack.serve.stop()
    stack.broker.stop()
    try:
        banner = stack.view({Screen.IDLE}, mark, "the offline banner")
        assert banner.banner is not None and banner.banner.id == "banner.offline"
        assert runtime.status()["offline"] is True
        before = len(runtime.published)
        view = _checkin(stack)
        assert view.screen == Screen.RECEIPT, (view, stack.logs())
        assert view.banner is not None
        message = _published_checkin(stack, before)
        assert message.result == "accepted"
        assert runtime.uplink.stats()["depth"] >= 1
        time.sleep(2.0)
        assert stack.checkin_row(str(message.event_id)) is None
    finally:
        stack.broker.start()
        stack.serve.start()
    wait_for_port(int(stack.api.rsplit(":", 1)[1]), timeout=60)
    row = eventually(lambda: stack.checkin_row(str(message.event_id)), "the queued check-in at central")
    assert row.result == "accepted"
    eventually(lambda: runtime.uplink.wait_drained(0.1), "the outbox drained")
    mark = runtime.view_seq
    online = runtime.wait_for_view(lambda v: v.banner is None, WAIT_S, after=mark - 1)
    assert online is not None, "the banner goes once the kiosk is online"
    with stack.central.sessions() as s:
        count = s.execute(select(func.count()).select_from(Event).where(Event.event_id == str(message.event_id)))
        assert count.scalar_one() == 1
    stack.idle()


def test_a_voice_report_is_transcribed_live_uploaded_and_stored(stack: Stack) -> None:
    """Voice report: card → face → record the WAV microphone with live partials → review → submit:
    the audio reaches central (sha256-addressed) before the voice_report, which is stored with its model."""
    stack.idle()
    runtime = stack.runtime
    assert runtime.ctx.speech.available, runtime.speech_status.detail
    mark = runtime.view_seq
    runtime.touch("voice_report")
    stack.view({Screen.CARD}, mark, "the card prompt")
    mark = runtime.view_seq
    stack.rig.put_card("subject")
    stack.view({Screen.VOICE_READY}, mark, "ready to record")
    mark = runtime.view_seq
    runtime.touch("start")
    partial = runtime.wait_for_view(
        lambda v: v.screen == Screen.VOICE_RECORDING and bool(v.data.get("partial")), WAIT_S, after=mark
    )
    assert partial is not None, f"no live partial transcript\n{stack.logs()}"
    time.sleep(2.0)
    mark = runtime.view_seq
    runtime.touch("stop")
    review = stack.view({Screen.VOICE_REVIEW}, mark, "the transcript review")
    transcript = review.data["transcript"]
    assert transcript, "the Korean model makes some text of the Mandarin speech"
    mark = runtime.view_seq
    runtime.touch("submit")
    done = stack.view({Screen.VOICE_DONE, Screen.MESSAGE}, mark, "the report saved")
    assert done.screen == Screen.VOICE_DONE, done
    reports = [m for m in runtime.published if m.type == "voice_report"]
    message = reports[-1]
    assert message.model == runtime.speech_status.model == "vosk-model-small-ko-0.22"
    assert message.transcript == transcript and message.duration_s > 1.0

    def stored() -> Any:
        with stack.central.sessions() as s:
            return s.execute(
                select(VoiceReport).where(VoiceReport.event_id == str(message.event_id))
            ).scalar_one_or_none()

    row = eventually(stored, "the voice report stored at central")
    assert (row.subject_id, row.audio_sha256, row.model) == (rigs.SUBJECT, message.audio_sha256, message.model)
    with stack.central.sessions() as s:
        blob = s.get(AudioBlob, message.audio_sha256)
        assert blob is not None and blob.device_id == KIOSK and blob.size > 44
    assert runtime.spool.pending() == []
    stack.idle()


def test_staff_enrol_a_strict_subject_at_the_kiosk_who_then_checks_in_with_face_and_finger(stack: Stack) -> None:
    """PIN → enrolment: card, a front face, a finger → templates uploaded; central's new gallery reaches the
    kiosk; the strict-level subject then checks in with face and fingerprint (fingerprint_match true)."""
    stack.idle()
    runtime = stack.runtime
    rig = stack.rig
    rig.show_face(rigs.person_photo("elton_john_val_01.jpg"))
    version = runtime.gallery.version
    mark = runtime.view_seq
    runtime.touch("staff")
    stack.view({Screen.PIN}, mark, "the PIN pad")
    mark = runtime.view_seq
    runtime.enter_pin(PIN)
    stack.view({Screen.MAINTENANCE}, mark, "the maintenance screen")
    mark = runtime.view_seq
    runtime.touch("enrol")
    stack.view({Screen.CARD}, mark, "the enrolment card prompt")
    mark = runtime.view_seq
    rig.sensor.press_finger("wang-right-index", 2)
    rig.put_card("strict")
    review = stack.view({Screen.ENROL_REVIEW, Screen.MESSAGE}, mark, "the enrolment review")
    assert review.screen == Screen.ENROL_REVIEW, review
    assert (review.data["faces"], review.data["fingers"]) == (1, 1)
    mark = runtime.view_seq
    runtime.touch("upload")
    done = stack.view({Screen.MESSAGE}, mark, "the enrolment result")
    assert done.title.id == "enrol.done", (done, stack.logs())
    eventually(lambda: runtime.gallery.version != version and runtime.gallery.has(STRICT), "the new gallery")
    mark = runtime.view_seq
    runtime.touch("ok")
    stack.view({Screen.MAINTENANCE}, mark, "back to maintenance")
    mark = runtime.view_seq
    runtime.touch("exit")
    stack.view({Screen.IDLE}, mark, "idle after maintenance")
    rig.take_card()
    eventually(lambda: not runtime.card_present, "the reader noticed the card was taken")

    before = len(runtime.published)
    mark = runtime.view_seq
    rig.put_card("strict")
    stack.view({Screen.FINGER}, mark, "the finger prompt (strict level)")
    rig.sensor.place_finger("wang-right-index")
    view = stack.view({Screen.RECEIPT, Screen.REFUSED, Screen.MESSAGE}, mark, "the check-in result")
    rig.sensor.lift_finger()
    assert view.screen == Screen.RECEIPT, (view, stack.logs())
    message = _published_checkin(stack, before)
    assert message.methods == ["id_card", "face", "fingerprint"] and message.fingerprint_match is True
    row = eventually(lambda: stack.checkin_row(str(message.event_id)), "the check-in stored at central")
    assert (row.subject_id, row.result, row.fingerprint_match) == (STRICT, "accepted", True)
    stack.idle()


def test_restarted_without_a_speech_model_the_kiosk_says_why_voice_is_unavailable(stack: Stack) -> None:
    """A restart finds the gallery in its encrypted cache; with the (absent) Mandarin model configured the
    voice report is disabled with the reason on screen and in the status, and check-in still works."""
    stack.idle()
    stack.runtime.stop()
    runtime = stack.start_runtime(CORR_KIOSK__SPEECH__MODEL="vosk_small_cn", CORR_MODELS_DIR=str(rigs.MODELS))
    stack.runtime = runtime
    assert runtime.gallery.holder.source == "cache"
    assert not runtime.ctx.speech.available
    status = runtime.status()
    assert status["speech"].startswith("voice report unavailable: no speech model 'vosk_small_cn'"), status
    stack.view({Screen.IDLE}, 0, "the idle screen")
    mark = runtime.view_seq
    runtime.touch("voice_report")
    notice = stack.view({Screen.MESSAGE}, mark, "the voice report notice")
    assert notice.title.id == "voice.unavailable"
    assert "no speech model" in str(notice.lines[0].params)
    runtime.touch("ok")
    eventually(lambda: runtime.uplink.connected, "connected again")
    assert _checkin(stack).screen == Screen.RECEIPT
    stack.idle()
