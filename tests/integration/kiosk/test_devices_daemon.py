"""The device daemon as a real subprocess, with real devices' twins, talked to through the real client.

- ID-card reader: the SAM simulator on a pty, run in a process of its own so it can be SIGKILLed
  and started again behind the same link (peripherals/idcard/sim.py).
- Fingerprint sensor: the AS608 simulator on a pty (peripherals/fingerprint/sim.py), reached
  through a symlink so a new sensor can be "plugged in" at the same path.
- Camera: an image folder of test photos (../shared/testdata/faces), with the real face models
  (../shared/models through CORR_MODELS_DIR).
- Microphone: real Mandarin speech from ../shared/testdata/audio as a WAV microphone.

Nothing here asserts a wall-clock time: calls that must not hang run in a thread that is joined
with a generous bound, and waits poll for a state with a deadline that only a hang would reach.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import zmq

from kiosk.devices.client import CommandRefused, DeviceClient, DeviceUnavailable
from kiosk.devices.protocol import (
    AudioChunk,
    AudioLevel,
    CardInserted,
    CardRemoved,
    DriverState,
    FaceFound,
    FingerPlaced,
    FingerRemoved,
    FrameReady,
    Heartbeat,
    RecordingStopped,
    StatusResult,
)
from kiosk.devices.recording import sha256_of
from peripherals.fingerprint import FingerprintSimulator
from peripherals.fingerprint.sim import finger_template, template_score
from vision import FacePipeline, Template, VisionConfig, load_image
from vision.image import decode_image

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"
MODELS = SHARED / "models"
FACES = SHARED / "testdata" / "faces" / "face_recognition"
AUDIO = SHARED / "testdata" / "audio"
SPEECH = AUDIO / "aishell-BAC009S0724W0121.wav"
WAIT_S = 60.0  # only a hang reaches these
ALL_DRIVERS = ("idcard", "fingerprint", "camera", "microphone")


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
        time.sleep(0.05)
    raise AssertionError(f"never happened within {timeout:g} s: {what}")


def finishes(call: Callable[[], Any], bound: float = WAIT_S) -> Any:
    """Run `call` in a thread; it must return or raise within `bound` (a hang check, not a timing one)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(bound)
    assert not thread.is_alive(), f"the call hung for {bound:g} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# --- the devices' twins ----------------------------------------------------------------------------

_CARD_READER = """
import sys
from peripherals.idcard import IdCardSimulator, load_cards

sim = IdCardSimulator(sys.argv[1], load_cards(sys.argv[2]))
sim.start()
print("ready", flush=True)
for line in sys.stdin:
    command, _, name = line.strip().partition(" ")
    if command == "put":
        sim.put_card(name)
    elif command == "take":
        sim.take_card()
    print("done", flush=True)
"""


class CardReaderProcess:
    """The SAM simulator in its own process: SIGKILL closes its pty, as pulling a USB reader does."""

    def __init__(self, link: Path, cards: Path) -> None:
        self.link, self.cards = link, cards
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CARD_READER, str(self.link), str(self.cards)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self._expect("ready")

    def _expect(self, word: str) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], WAIT_S)
        assert ready, f"card reader simulator said nothing for {WAIT_S} s"
        assert self.proc.stdout.readline().strip() == word

    def _send(self, line: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        self._expect("done")

    def put(self, name: str) -> None:
        self._send(f"put {name}")

    def take(self) -> None:
        self._send("take")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(WAIT_S)


class FingerprintSensorSlot:
    """A fingerprint simulator behind a fixed symlink; `replace()` plugs in a new sensor at the same path."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.sim = self._new()

    def _new(self) -> FingerprintSimulator:
        sim = FingerprintSimulator().start()
        staging = self.link.with_name(self.link.name + ".new")
        staging.unlink(missing_ok=True)
        os.symlink(sim.port, staging)
        os.replace(staging, self.link)
        return sim

    def unplug(self) -> None:
        self.sim.unplug()
        self.link.unlink(missing_ok=True)

    def replace(self) -> None:
        self.sim = self._new()

    def close(self) -> None:
        self.sim.close()


class DaemonProcess:
    """`python -m kiosk.devices -c kiosk.toml` (what `corr-kiosk-devices` runs) as a child process."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, **overrides: str) -> None:
        env = dict(os.environ, CORR_MODELS_DIR=str(MODELS), PYTHONUNBUFFERED="1", **overrides)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kiosk.devices", "-c", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
                start_new_session=True,
            )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(WAIT_S)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(WAIT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(WAIT_S)
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


# --- test data -------------------------------------------------------------------------------------


@dataclass
class Kiosk:
    root: Path
    faces: Path
    card_photo: bytes
    card_reader: CardReaderProcess
    sensor: FingerprintSensorSlot
    daemon: DaemonProcess
    client: DeviceClient
    pipeline: FacePipeline

    @property
    def runtime(self) -> Path:
        return self.root / "run"

    def wait_ready(self, drivers: tuple[str, ...] = ALL_DRIVERS) -> StatusResult:
        last: dict[str, str] = {}

        def ready() -> StatusResult | None:
            try:
                status = self.client.status(timeout_s=1.0)
            except DeviceUnavailable:
                return None
            last.update({n: f"{d.state} ({d.reason})" for n, d in status.drivers.items()})
            return status if all(status.drivers[n].state == "ok" for n in drivers) else None

        try:
            status: StatusResult = eventually(ready, "every driver ok")
        except AssertionError:
            raise AssertionError(f"drivers not ready: {last}\n--- daemon output ---\n{self.daemon.output()}") from None
        # The SUB socket reconnects on its own schedule (up to a second apart while the daemon was away):
        # a heartbeat of this run proves events flow before a test relies on them.
        heard = self.client.wait_for(Heartbeat, WAIT_S, lambda e: e.daemon == status.daemon.id)
        assert heard is not None, f"no heartbeat from daemon {status.daemon.id}\n{self.daemon.output()}"
        return status


def face_crop(pipeline: FacePipeline, path: Path) -> bytes:
    """An ID-card-sized (102 x 126) JPEG of the face in a photo, as a card's decoded photo would be."""
    image = load_image(path)
    face = pipeline.detect(image)[0]
    x1, y1, x2, y2 = face.box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    width = (x2 - x1) * 1.8
    height = width * 126 / 102
    crop = image[int(cy - height / 2) : int(cy + height / 2), int(cx - width / 2) : int(cx + width / 2)]
    crop = cv2.resize(crop, (102, 126), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return jpeg.tobytes()


def write_config(root: Path, faces: Path) -> Path:
    config = root / "kiosk.toml"
    config.write_text(
        f"""
[ui]
note = "other kiosk processes' tables are ignored by the daemon"

[devices]
runtime_dir = "{root}/run"

[devices.idcard]
port = "{root}/ttyIDCARD"
command_timeout_s = 0.5
read_timeout_s = 1.0
poll_interval_s = 0.1

[devices.fingerprint]
port = "{root}/ttyFINGER"
reply_timeout_s = 1.0
poll_interval_s = 0.05
watch_interval_s = 0.1

[devices.camera]
type = "images"
path = "{faces}"
fps = 5
loop = true

[devices.microphone]
type = "wav"
path = "{SPEECH}"
realtime = false

[devices.video]
preview_fps = 4
face_watch_fps = 2

[devices.supervision]
restart_min_s = 0.2
restart_max_s = 1.0
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    need(MODELS, FACES)
    os.environ.setdefault("CORR_MODELS_DIR", str(MODELS))
    return FacePipeline(VisionConfig())


@pytest.fixture
def kiosk(pipeline: FacePipeline) -> Iterator[Kiosk]:
    need(SPEECH)
    # A short path: Unix socket paths are limited to 107 bytes, pytest's tmp_path can be long.
    root = Path(tempfile.mkdtemp(prefix="kd-"))
    faces = root / "faces"
    faces.mkdir()
    for name in ("obama.jpg", "obama2.jpg"):
        shutil.copy(FACES / name, faces / name)
    photo = face_crop(pipeline, FACES / "obama3.jpg")
    (root / "photo.jpg").write_bytes(photo)
    cards = root / "cards.toml"
    cards.write_text(
        """
[cards.zhang]
name = "张三"
sex = "男"
nation = "汉"
birth_date = 1990-03-07
address = "福建省厦门市海沧区沧林东路123号"
id_number = "350205199003070017"
issuing_authority = "厦门市公安局海沧分局"
valid_from = 2015-06-01
valid_until = 2035-06-01
photo = "photo.jpg"

[cards.li]
name = "李四"
sex = "女"
nation = "汉"
birth_date = 1985-01-02
address = "福建省厦门市思明区"
id_number = "350203198501020026"
issuing_authority = "厦门市公安局思明分局"
valid_from = 2010-01-01
valid_until = "长期"
""",
        encoding="utf-8",
    )
    card_reader = CardReaderProcess(root / "ttyIDCARD", cards)
    card_reader.start()
    sensor = FingerprintSensorSlot(root / "ttyFINGER")
    daemon = DaemonProcess(write_config(root, faces), root / "daemon.log")
    daemon.start()
    client = DeviceClient(f"ipc://{root}/run/devices-events", f"ipc://{root}/run/devices-commands", margin_s=1.0)
    client.subscribe()
    made = Kiosk(root, faces, photo, card_reader, sensor, daemon, client, pipeline)
    try:
        made.wait_ready()
        yield made
    finally:
        client.close()
        code = daemon.stop()
        card_reader.kill()
        sensor.close()
        output = daemon.output()
        shutil.rmtree(root, ignore_errors=True)
        assert code == 0, f"daemon exit code {code} after SIGTERM\n{output}"


# --- the tests -------------------------------------------------------------------------------------


def test_card_inserted_publishes_the_decoded_card_and_read_card_returns_it(kiosk: Kiosk) -> None:
    client = kiosk.client
    assert client.read_card() is None
    kiosk.card_reader.put("zhang")
    event = client.wait_for(CardInserted, WAIT_S)
    assert event is not None
    card = event.card
    assert (card.name, card.sex, card.nation, card.id_number) == ("张三", "男", "汉", "350205199003070017")
    assert (card.valid_from.isoformat(), card.valid_until and card.valid_until.isoformat()) == (
        "2015-06-01",
        "2035-06-01",
    )
    assert card.id_number_valid and card.problems == []
    assert card.photo_decoder_available is False  # no vendor WLT library configured
    assert card.photo_available and card.photo_media_type == "image/jpeg"
    assert card.photo == kiosk.card_photo
    assert client.read_card() == card
    without_photo = client.read_card(include_photo=False)
    assert without_photo is not None and without_photo.photo is None and without_photo.photo_available

    kiosk.card_reader.take()
    removed = client.wait_for(CardRemoved, WAIT_S)
    assert removed is not None and removed.id_number == "350205199003070017"
    assert client.read_card() is None

    # read_card waits for the next card when asked to
    threading.Timer(0.5, kiosk.card_reader.put, args=("li",)).start()
    card = finishes(lambda: client.read_card(wait_s=20))
    assert card is not None and card.name == "李四" and card.long_term and card.valid_until is None
    assert card.photo_available is False and card.photo_unavailable


def test_capture_face_returns_the_best_gated_face_and_scores_it_with_the_real_models(kiosk: Kiosk) -> None:
    client, pipeline = kiosk.client, kiosk.pipeline
    same = pipeline.enrol(load_image(FACES / "obama3.jpg"))
    other = pipeline.enrol(load_image(FACES / "biden.jpg"))

    result = finishes(
        lambda: client.capture_face(
            timeout_s=15, frames=2, reference=same, reference_photo=kiosk.card_photo, include_crop=True
        )
    )
    template = Template.from_bytes(result.template)
    assert (template.backend, template.dim) == (pipeline.embedder.backend, result.dim)
    assert template.model_sha256 == pipeline.embedder.model_sha256 == result.model_sha256
    assert result.frames_accepted == 2 and result.frames_tried >= 2
    assert 0 < result.quality.score <= 1
    assert result.quality.measures["sharpness"] >= pipeline.gate.config.min_sharpness
    assert len(result.quality.box) == 4
    assert result.verification is not None and result.verification.same_person
    assert result.verification.threshold == pipeline.threshold
    assert result.photo_verification is not None and result.photo_verification.same_person
    assert result.photo_problem is None
    assert result.crop_jpeg is not None and decode_image(result.crop_jpeg).shape == (112, 112, 3)
    # the daemon's score is the one this process gets from one of the camera's pictures, same models, same code
    scores = [pipeline.verify(load_image(FACES / name), same).score for name in ("obama.jpg", "obama2.jpg")]
    assert min(abs(result.verification.score - score) for score in scores) < 1e-3

    impostor = client.capture_face(timeout_s=15, frames=1, reference=other)
    assert impostor.verification is not None and not impostor.verification.same_person

    # the UI's mirror and face watch
    preview = client.wait_for(FrameReady, WAIT_S)
    assert preview is not None
    assert max(preview.preview_width, preview.preview_height) <= 320
    assert decode_image(preview.preview).shape == (preview.preview_height, preview.preview_width, 3)
    watch = client.wait_for(FaceFound, WAIT_S, lambda e: e.accepted)
    assert watch is not None and watch.faces == 1 and watch.quality is not None and watch.reasons == []


def test_capture_face_refuses_with_the_gates_reasons_when_no_frame_passes(kiosk: Kiosk) -> None:
    shutil.copy(FACES / "obama_partial_face.jpg", kiosk.faces / "partial.jpg")
    for name in ("obama.jpg", "obama2.jpg"):
        (kiosk.faces / name).unlink()
    # the folder is listed again at each loop; wait until only the cut-off face is seen
    eventually(
        lambda: kiosk.client.wait_for(FaceFound, 2, lambda e: not e.accepted), "a refused face in the face watch"
    )
    with pytest.raises(CommandRefused) as caught:
        finishes(lambda: kiosk.client.capture_face(timeout_s=2, frames=1))
    refusal = caught.value
    assert refusal.code == "quality_refused"
    assert "no face passed the quality gate" in refusal.message and "cut off" in refusal.message
    assert refusal.details["frames_tried"] >= 1
    assert {r["code"] for r in refusal.details["reasons"]} == {"cut_off"}


def test_enrol_then_verify_a_finger_on_the_sensor(kiosk: Kiosk) -> None:
    client, sensor = kiosk.client, kiosk.sensor
    sensor.sim.place_finger("alice-right-index")
    assert client.wait_for(FingerPlaced, WAIT_S, lambda e: e.during == "idle") is not None
    sensor.sim.lift_finger()
    assert client.wait_for(FingerRemoved, WAIT_S, lambda e: e.during == "idle") is not None

    # enrolment: press, lift, press again, prompted by the daemon's events
    sensor.sim.place_finger("alice-right-index")
    outcome: dict[str, Any] = {}
    enrolling = threading.Thread(target=lambda: outcome.setdefault("result", client.enrol_finger(timeout_s=20)))
    enrolling.start()
    assert client.wait_for(FingerPlaced, WAIT_S, lambda e: e.during == "enrol" and e.step == 1)
    sensor.sim.lift_finger()
    assert client.wait_for(FingerRemoved, WAIT_S, lambda e: e.during == "enrol" and e.step == 1)
    sensor.sim.place_finger("alice-right-index")
    assert client.wait_for(FingerPlaced, WAIT_S, lambda e: e.during == "enrol" and e.step == 2)
    enrolling.join(WAIT_S)
    enrolled = outcome["result"]
    assert enrolled.page is None  # a scratch page, erased again
    assert enrolled.template == finger_template("alice-right-index")
    assert enrolled.template_sha256 == hashlib.sha256(enrolled.template).hexdigest() and enrolled.size == 512
    assert sensor.sim.library() == {}

    match = client.verify_finger(enrolled.template, timeout_s=10)
    assert (match.matched, match.score, match.page) == (True, template_score(enrolled.template), None)
    sensor.sim.place_finger("bob-left-thumb")
    assert client.verify_finger(enrolled.template, timeout_s=10).matched is False
    assert sensor.sim.library() == {}  # nothing left on the sensor

    # a template kept on the sensor, verified by its page
    sensor.sim.place_finger("carol")
    kept = threading.Thread(target=lambda: outcome.__setitem__("kept", client.enrol_finger(page=7, timeout_s=20)))
    kept.start()
    assert client.wait_for(FingerPlaced, WAIT_S, lambda e: e.during == "enrol" and e.step == 1)
    sensor.sim.lift_finger()
    assert client.wait_for(FingerRemoved, WAIT_S, lambda e: e.during == "enrol")
    sensor.sim.place_finger("carol")
    kept.join(WAIT_S)
    assert outcome["kept"].page == 7 and sensor.sim.library() == {7: finger_template("carol")}
    assert client.verify_finger(page=7, timeout_s=10).matched

    # nobody presses: a refusal with the driver's words, and the sensor stays up
    sensor.sim.lift_finger()
    with pytest.raises(CommandRefused) as caught:
        client.verify_finger(page=7, timeout_s=0.5)
    assert caught.value.code == "no_finger"
    assert "no finger placed on the sensor within 0.5 s" in caught.value.message
    with pytest.raises(CommandRefused) as empty:
        client.verify_finger(page=8, timeout_s=1)
    assert empty.value.code == "device_error" and "TEMPLATE_READ_FAILED" in empty.value.message
    assert client.status().drivers["fingerprint"].state == "ok"


def test_a_command_that_outlives_its_timeout_gets_a_timeout_reply_and_the_loop_keeps_answering(kiosk: Kiosk) -> None:
    client, sim = kiosk.client, kiosk.sensor.sim
    sim.enrol(0, "dave")
    sim.place_finger("dave")
    # A sluggish sensor: each of the next replies comes 0.9 s late (within its own reply timeout), so a
    # verification takes several seconds, longer than the 1 s this command is given.
    sim.delay_replies(0.9, 4)
    outcome: dict[str, BaseException] = {}

    def slow() -> None:
        try:
            client.verify_finger(page=0, timeout_s=30, call_timeout_s=1.0)
        except BaseException as exc:
            outcome["error"] = exc

    waiting = threading.Thread(target=slow)
    waiting.start()
    with DeviceClient(client.events_address, client.commands_address) as other:
        status = eventually(
            lambda: (s := other.status()).drivers["fingerprint"].busy == "verify_finger" and s, "busy fingerprint"
        )
        assert status.drivers["camera"].state == "ok"
    waiting.join(WAIT_S)
    error = outcome["error"]
    assert isinstance(error, DeviceUnavailable) and error.code == "timeout", error
    assert error.message == "verify_finger: the fingerprint did not finish within 1 s"
    # the driver finishes its call in its own time (its late reply is dropped), and the sensor is usable again
    assert eventually(lambda: client.verify_finger(page=0, timeout_s=5).matched, "verify after the timeout")
    assert client.status().drivers["fingerprint"].state == "ok"


def test_record_from_the_wav_microphone(kiosk: Kiosk) -> None:
    client = kiosk.client
    with pytest.raises(CommandRefused) as nothing:
        client.stop_recording("rec-none")
    assert nothing.value.code == "not_recording"

    started = client.start_recording(max_s=600)
    assert started.source == f"WAV file {SPEECH}"

    chunks: list[bytes] = []
    levels = 0
    stopped = None
    deadline = time.monotonic() + WAIT_S
    while stopped is None and time.monotonic() < deadline:
        event = client.next_event(1.0)
        if event is None or getattr(event, "recording_id", None) != started.recording_id:
            continue
        if isinstance(event, AudioChunk):
            assert event.index == len(chunks)
            chunks.append(event.pcm)
        elif isinstance(event, AudioLevel):
            levels += 1
            assert 0 <= event.meter <= 1 and event.dbfs <= 0
        elif isinstance(event, RecordingStopped):
            stopped = event
    assert stopped is not None, f"no recording_stopped event; {len(chunks)} chunks\n{kiosk.daemon.output()}"
    assert stopped.stopped_by == "source_ended"

    result = client.stop_recording(started.recording_id, include_audio=True)
    with wave.open(str(SPEECH), "rb") as wav:
        frames = wav.getnframes()
        source_pcm = wav.readframes(frames)
    assert result.duration_s == round(frames / 16000, 3) == stopped.duration_s
    assert result.stopped_by == "source_ended"
    assert result.audio is not None
    assert result.sha256 == hashlib.sha256(result.audio).hexdigest() == sha256_of(Path(result.path))
    assert result.bytes == len(result.audio)
    assert Path(result.path).parent == kiosk.runtime / "recordings"
    with wave.open(str(result.path), "rb") as recorded:
        assert (recorded.getframerate(), recorded.getnchannels(), recorded.getsampwidth()) == (16000, 1, 2)
        assert recorded.readframes(frames) == source_pcm
    assert b"".join(chunks) == source_pcm  # the PCM events carry the same audio, in order
    assert levels >= 1
    # collecting it again gives the same file
    assert client.stop_recording().sha256 == result.sha256


def test_malformed_requests_get_error_replies_naming_the_problem(kiosk: Kiosk) -> None:
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(kiosk.client.commands_address)

    def ask(*frames: bytes) -> dict[str, Any]:
        dealer.send_multipart(list(frames))
        assert dealer.poll(int(WAIT_S * 1000)), "no reply to a malformed request"
        (reply,) = dealer.recv_multipart()
        decoded: dict[str, Any] = json.loads(reply)
        return decoded

    try:
        reply = ask(b"not json at all")
        assert reply["ok"] is False and reply["id"] is None
        assert reply["error"]["code"] == "bad_request"
        assert reply["error"]["message"].startswith("request body: not JSON")

        reply = ask(json.dumps({"v": 1, "id": "q1", "command": "fly"}).encode())
        assert (reply["id"], reply["error"]["code"]) == ("q1", "unknown_command")
        assert reply["error"]["message"].startswith("request field 'command': unknown command 'fly'")

        reply = ask(json.dumps({"v": 1, "id": "q2", "command": "enrol_finger", "args": {"page": "seven"}}).encode())
        assert (reply["id"], reply["error"]["code"]) == ("q2", "bad_request")
        assert reply["error"]["message"].startswith("enrol_finger request field 'args.page': Input should be a valid")
        assert reply["error"]["details"] == {"field": "args.page"}

        reply = ask(json.dumps({"v": 2, "id": "q3", "command": "status"}).encode())
        assert reply["error"]["message"] == "request field 'v': Input should be 1 (got 2)"

        reply = ask(b"{}", b"{}")
        assert reply["error"]["message"] == "request: expected one JSON frame, got 2 frames"

        stale = {"v": 1, "id": "q4", "command": "read_card", "timeout_s": 1, "sent_at": time.time() - 100}
        reply = ask(json.dumps(stale).encode())
        assert (reply["id"], reply["error"]["code"]) == ("q4", "expired")

        reply = ask(json.dumps({"v": 1, "id": "q5", "command": "status"}).encode())
        assert reply["ok"] is True and set(reply["result"]["drivers"]) == set(ALL_DRIVERS)

        # a REQ client works too (its empty delimiter is echoed)
        req = context.socket(zmq.REQ)
        req.setsockopt(zmq.LINGER, 0)
        req.connect(kiosk.client.commands_address)
        req.send(json.dumps({"v": 1, "id": "q6", "command": "status"}).encode())
        assert req.poll(int(WAIT_S * 1000))
        assert json.loads(req.recv())["ok"] is True
        req.close()
    finally:
        dealer.close()
        context.term()
    assert kiosk.client.status().daemon.pid == kiosk.daemon.proc.pid  # type: ignore[union-attr]


def test_status_reports_every_driver(kiosk: Kiosk) -> None:
    status = kiosk.client.status()
    assert status.daemon.pid == kiosk.daemon.proc.pid  # type: ignore[union-attr]
    assert status.daemon.events == kiosk.client.events_address
    for name in ALL_DRIVERS:
        driver = status.drivers[name]
        assert (driver.name, driver.configured, driver.state, driver.reason) == (name, True, "ok", None)
    assert status.drivers["idcard"].details["port"] == str(kiosk.root / "ttyIDCARD")
    assert status.drivers["fingerprint"].details["library_size"] == 300
    camera = status.drivers["camera"].details
    assert camera["face_pipeline"] == "ready" and camera["camera"]["state"] == "streaming"
    assert status.drivers["microphone"].details["source"] == f"WAV file {SPEECH}"
    # the ipc sockets are for the kiosk's account only
    for name in ("devices-events", "devices-commands"):
        assert oct((kiosk.runtime / name).stat().st_mode & 0o777) == oct(0o660)
    # heartbeats sent before every driver was up may still be queued: the first one after is all ok
    heartbeat = kiosk.client.wait_for(Heartbeat, WAIT_S, lambda e: e.drivers == dict.fromkeys(ALL_DRIVERS, "ok"))
    assert heartbeat is not None and heartbeat.daemon == status.daemon.id
    assert heartbeat.uptime_s > 0


def test_a_killed_card_reader_fails_alone_and_comes_back_with_its_pty(kiosk: Kiosk) -> None:
    client = kiosk.client
    kiosk.card_reader.kill()
    failed = client.wait_for(DriverState, WAIT_S, lambda e: e.driver == "idcard" and e.state == "failed")
    assert failed is not None and failed.reason

    # meanwhile: the command loop answers, the other drivers work, the card reader says why it cannot
    status = client.status()
    assert status.drivers["idcard"].state in ("failed", "restarting")
    assert all(status.drivers[n].state == "ok" for n in ("fingerprint", "camera", "microphone"))
    with pytest.raises(DeviceUnavailable) as down:
        client.read_card()
    assert down.value.code == "device_unavailable" and "idcard" in down.value.message
    kiosk.sensor.sim.place_finger("erin")
    outcome: dict[str, Any] = {}
    enrolled = threading.Thread(target=lambda: outcome.setdefault("enrolled", client.enrol_finger(timeout_s=20)))
    enrolled.start()
    assert client.wait_for(FingerPlaced, WAIT_S, lambda e: e.during == "enrol" and e.step == 1)
    kiosk.sensor.sim.lift_finger()
    assert client.wait_for(FingerRemoved, WAIT_S, lambda e: e.during == "enrol")
    kiosk.sensor.sim.place_finger("erin")
    enrolled.join(WAIT_S)
    assert outcome["enrolled"].template == finger_template("erin")
    assert client.capture_face(timeout_s=15, frames=1).frames_accepted == 1
    restarting = client.wait_for(DriverState, WAIT_S, lambda e: e.driver == "idcard" and e.state == "restarting")
    assert restarting is not None and restarting.restarts >= 1

    # the reader is plugged in again: a new simulator process behind the same link
    kiosk.card_reader.start()
    ok = client.wait_for(DriverState, WAIT_S, lambda e: e.driver == "idcard" and e.state == "ok")
    assert ok is not None
    kiosk.card_reader.put("zhang")
    inserted = client.wait_for(CardInserted, WAIT_S)
    assert inserted is not None and inserted.card.name == "张三"
    assert client.status().drivers["idcard"].restarts >= 1


def test_a_fingerprint_sensor_unplugged_fails_alone_and_a_new_one_is_picked_up(kiosk: Kiosk) -> None:
    client = kiosk.client
    kiosk.sensor.unplug()
    failed = client.wait_for(DriverState, WAIT_S, lambda e: e.driver == "fingerprint" and e.state == "failed")
    assert failed is not None and failed.reason
    assert client.status().drivers["idcard"].state == "ok"
    with pytest.raises(DeviceUnavailable):
        client.verify_finger(page=1)
    kiosk.sensor.replace()
    assert client.wait_for(DriverState, WAIT_S, lambda e: e.driver == "fingerprint" and e.state == "ok")
    kiosk.sensor.sim.place_finger("frank")
    kiosk.sensor.sim.enrol(3, "frank")
    assert client.verify_finger(page=3, timeout_s=10).matched


def test_a_killed_daemon_makes_calls_fail_within_their_timeout_and_work_again_after_a_restart(kiosk: Kiosk) -> None:
    client = kiosk.client
    first = client.status().daemon.id
    kiosk.daemon.kill()

    with pytest.raises(DeviceUnavailable) as status_down:
        finishes(lambda: client.status(timeout_s=0.5), bound=30)
    assert status_down.value.code in ("unreachable", "no_answer")
    assert "is corr-kiosk-devices running?" in status_down.value.message
    with pytest.raises(DeviceUnavailable):
        finishes(lambda: client.capture_face(timeout_s=1, call_timeout_s=1.0), bound=30)
    with pytest.raises(DeviceUnavailable):
        finishes(lambda: client.read_card(wait_s=0, timeout_s=0.5), bound=30)

    with (kiosk.root / "daemon.log").open("a") as log:
        log.write("--- restarted ---\n")
    kiosk.daemon.start()
    status = kiosk.wait_ready()
    assert status.daemon.id != first
    heartbeat = client.wait_for(Heartbeat, WAIT_S, lambda e: e.daemon == status.daemon.id)
    assert heartbeat is not None and client.daemon_changes >= 1 and client.daemon_id == status.daemon.id
    kiosk.card_reader.put("zhang")
    assert client.wait_for(CardInserted, WAIT_S) is not None


def test_a_recording_cut_short_by_a_killed_daemon_is_kept_and_collected_after_the_restart(kiosk: Kiosk) -> None:
    client = kiosk.client
    kiosk.daemon.stop()
    # a microphone that delivers audio as it is spoken, so the daemon dies in the middle of the report
    kiosk.daemon.start(CORR_DEVICES__MICROPHONE__REALTIME="true")
    kiosk.wait_ready()
    started = client.start_recording()
    with pytest.raises(CommandRefused) as busy:
        client.start_recording()
    assert busy.value.code == "busy" and started.recording_id in busy.value.message
    assert client.wait_for(AudioLevel, WAIT_S, lambda e: e.recording_id == started.recording_id and e.seconds >= 0.5)
    kiosk.daemon.kill()
    kiosk.daemon.start()
    kiosk.wait_ready()
    result = client.stop_recording(started.recording_id, include_audio=True)
    assert result.stopped_by == "source_failed" and result.error is not None
    assert result.audio is not None and result.sha256 == hashlib.sha256(result.audio).hexdigest()
    with wave.open(str(SPEECH), "rb") as source, wave.open(str(result.path), "rb") as kept:
        frames = kept.getnframes()
        assert 0 < frames < source.getnframes()
        assert result.duration_s == round(frames / 16000, 3)
        assert kept.readframes(frames) == source.readframes(frames)  # what was captured, unchanged


def test_a_second_daemon_on_the_same_devices_refuses_to_start(kiosk: Kiosk) -> None:
    second = DaemonProcess(kiosk.daemon.config, kiosk.root / "second.log")
    second.start()
    assert second.proc is not None
    code = second.proc.wait(WAIT_S)
    assert code == 1
    assert f"another device daemon is running (pid {kiosk.daemon.proc.pid}" in second.output()  # type: ignore[union-attr]
    assert kiosk.client.status().daemon.pid == kiosk.daemon.proc.pid  # type: ignore[union-attr]


def test_check_prints_the_resolved_configuration(kiosk: Kiosk) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kiosk.devices", "-c", str(kiosk.daemon.config), "--check"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
        timeout=WAIT_S,
    )
    summary = json.loads(out.stdout)
    assert summary["commands"] == f"ipc://{kiosk.root}/run/devices-commands"
    assert summary["camera"]["type"] == "images"
    bad = kiosk.root / "bad.toml"
    bad.write_text('[devices.idcard]\nport = ""\n', encoding="utf-8")
    refused = subprocess.run(
        [sys.executable, "-m", "kiosk.devices", "-c", str(bad), "--check"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=WAIT_S,
    )
    assert refused.returncode == 2
    assert f"{bad}: key 'devices.idcard.port': String should have at least 1 character" in refused.stderr


def test_preview_jpeg_round_trips_through_base64_on_the_wire(kiosk: Kiosk) -> None:
    # The raw event as a SUB receives it: JSON, with the JPEG as base64 text.
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"frame_ready")
    sub.connect(kiosk.client.events_address)
    try:
        assert sub.poll(int(WAIT_S * 1000))
        topic, body = sub.recv_multipart()
    finally:
        sub.close()
        context.term()
    assert topic == b"frame_ready"
    fields = json.loads(body)
    image = cv2.imdecode(np.frombuffer(base64.b64decode(fields["preview"]), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert image.shape[:2] == (fields["preview_height"], fields["preview_width"])
