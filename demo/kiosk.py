"""The demo's kiosk: the device daemon with simulated devices, and the Kivy UI walked through by a scripted subject.

    from demo import kiosk
    procs = kiosk.start_kiosk(broker_host, broker_port, "kiosk-haicang-01", secret, api_url, workdir)
    ...
    kiosk.stop_kiosk(procs)                          # SIGTERM to each process group, then wait

`start_kiosk` writes the kiosk's TOML file and starts two processes:

1. `corr-kiosk-devices` (python -m kiosk.devices): the device daemon over ZeroMQ;
2. `python -m demo.kiosk run …`: the kiosk runtime and its Kivy UI, hosting the devices' twins (the
   SAM ID-card reader and the AS608 fingerprint sensor simulators on pseudo-terminals the daemon
   opens; a camera fed from a folder of photos; a WAV file as the microphone). With $DISPLAY the
   window opens there; without one the process runs under `xvfb-run`. Either way a scripted subject
   (S-350205-0001, 张伟, played by ben_afflek's celeb5 photos) walks through a check-in and a voice
   report, each step logged; the kiosk then stays up for whoever uses the window.

The subject's face is enrolled through the device API first (as a kiosk enrolment would), unless
central already has a face template for them. The kiosk device must be registered at central (its
secret is the MQTT password, the HTTPS password and the gallery key) with a broker login, and the
officer `enrolled_by` must cover the subject.

Tests and the benchmark use the same pieces: `DeviceRig` (simulators, camera folder, config file)
and `DaemonProcess`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
MODELS = SHARED / "models"
FACES = SHARED / "testdata" / "faces" / "celeb5"
AUDIO = SHARED / "testdata" / "audio"
SPEECH_WAV = AUDIO / "aishell-BAC009S0724W0121.wav"
SUBJECT = "S-350205-0001"
SUBJECT_NAME = "张伟"
PERSON = "ben_afflek"
STRANGER = "madonna"
# Photos the default quality gate passes once scaled to a camera's 480 px height (most celeb5 photos are
# 230-350 px high; turned and tiny faces are left out).
ENROL_PHOTOS = ("ben_afflek_train_02.jpg", "ben_afflek_train_10.jpg", "ben_afflek_train_12.jpg")
CARD_PHOTO = "ben_afflek_train_11.jpg"
LIVE_PHOTO = "ben_afflek_val_01.jpg"
STRANGER_PHOTO = "madonna_val_05.jpg"
CAMERA_HEIGHT = 480
DEFAULT_PIN = "246810"

log = logging.getLogger("demo.kiosk")


def person_photo(name: str) -> Path:
    """A celeb5 photo by file name (ben_afflek_train_01.jpg → celeb5/ben_afflek/…)."""
    person = name.rsplit("_", 2)[0]
    return FACES / person / name


def camera_image(photo: Path) -> Any:
    """A photo as the kiosk's camera would see the person: scaled up to CAMERA_HEIGHT pixels high."""
    import cv2

    image = cv2.imread(str(photo))
    if image is None:
        raise FileNotFoundError(f"{photo} cannot be read")
    scale = max(1.0, CAMERA_HEIGHT / image.shape[0])
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)


def subject_id_number(serial: int = 1, region: str = "350205") -> str:
    """The ID number central's seed gave subject `serial` (S-350205-0001 is serial 1)."""
    from central.seed import id_number_for

    return id_number_for(serial, region=region)


# --- the devices' twins and the kiosk file ---------------------------------------------------------------


def face_crop_jpeg(photo: Path, pipeline: Any) -> bytes:
    """An ID-card-sized (102 × 126) JPEG of the face in a photo, as a card's decoded photo is."""
    import cv2

    image = camera_image(photo)
    faces = pipeline.detect(image)
    if not faces:
        raise ValueError(f"{photo}: no face found for the card photo")
    x1, y1, x2, y2 = faces[0].box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    width = (x2 - x1) * 1.8
    height = width * 126 / 102
    h, w = image.shape[:2]
    top, bottom = max(0, int(cy - height / 2)), min(h, int(cy + height / 2))
    left, right = max(0, int(cx - width / 2)), min(w, int(cx + width / 2))
    crop = cv2.resize(image[top:bottom, left:right], (102, 126), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise ValueError(f"{photo}: the card photo could not be encoded")
    return bytes(jpeg.tobytes())


def cards_toml(card_photo: str | None) -> str:
    """The simulator's cards: the subject's, a strict-level subject's, a stranger's (no record) and a Huli subject's."""
    photo = f'photo = "{card_photo}"\n' if card_photo else ""
    return f"""
[cards.subject]
name = "{SUBJECT_NAME}"
sex = "男"
nation = "汉"
birth_date = 1988-05-12
address = "福建省厦门市海沧区沧林东路123号"
id_number = "{subject_id_number(1)}"
issuing_authority = "厦门市公安局海沧分局"
valid_from = 2015-06-01
valid_until = 2035-06-01
{photo}
[cards.stranger]
name = "李四"
sex = "女"
nation = "汉"
birth_date = 1985-01-02
address = "福建省厦门市思明区"
id_number = "{subject_id_number(900)}"
issuing_authority = "厦门市公安局思明分局"
valid_from = 2010-01-01
valid_until = "长期"

[cards.strict]
name = "王芳"
sex = "女"
nation = "汉"
birth_date = 1988-05-12
address = "福建省厦门市海沧区海沧大道1号"
id_number = "{subject_id_number(2)}"
issuing_authority = "厦门市公安局海沧分局"
valid_from = 2016-01-01
valid_until = 2036-01-01

[cards.huli]
name = "刘洋"
sex = "男"
nation = "汉"
birth_date = 1988-05-12
address = "福建省厦门市湖里区"
id_number = "{subject_id_number(4, "350206")}"
issuing_authority = "厦门市公安局湖里分局"
valid_from = 2016-01-01
valid_until = 2036-01-01
"""


def kiosk_toml(
    *,
    root: Path,
    run_dir: Path,
    device_id: str,
    secret: str,
    broker_host: str,
    broker_port: int,
    central_url: str,
    speech_model: str = "vosk_small_ko",
    enrolled_by: str = "haicang.town",
    pin_hash: str | None = None,
    camera_fps: float = 10.0,
    wav: Path = SPEECH_WAV,
    extra_policy: str = "",
) -> str:
    """The kiosk's one TOML file: the runtime's [kiosk] tables and the daemon's [devices] tables."""
    pin = f'pin_hash = "{pin_hash}"\n' if pin_hash else ""
    return f"""
[kiosk]
device_id = "{device_id}"
secret = "{secret}"
state_dir = "{root}/state"
enrolled_by = "{enrolled_by}"

[kiosk.central]
url = "{central_url}"
allow_http = {"true" if central_url.startswith("http://") else "false"}
connect_timeout_s = 2.0
read_timeout_s = 8.0
probe_interval_s = 1.0

[kiosk.uplink]
host = "{broker_host}"
port = {broker_port}
status_interval_s = 10.0
reconnect_max_s = 2.0

[kiosk.gallery]
retry_min_s = 0.5
retry_max_s = 5.0

[kiosk.speech]
model = "{speech_model}"

[kiosk.policy]
{pin}{extra_policy}

[devices]
runtime_dir = "{run_dir}"

[devices.idcard]
port = "{root}/ttyIDCARD"
command_timeout_s = 0.5
read_timeout_s = 1.0
poll_interval_s = 0.1

[devices.fingerprint]
port = "{root}/ttyFINGER"
reply_timeout_s = 1.0
poll_interval_s = 0.05
watch_interval_s = 0

[devices.camera]
type = "images"
path = "{root}/camera"
fps = {camera_fps}
loop = true

[devices.microphone]
type = "wav"
path = "{wav}"
realtime = true

[devices.video]
preview_fps = 4
face_watch_fps = 1

[devices.supervision]
restart_min_s = 0.2
restart_max_s = 1.0

[vision.runtime]
threads = 1
"""


@dataclass
class DeviceRig:
    """The devices' twins of one kiosk: card reader and fingerprint simulators, camera folder, kiosk file."""

    root: Path
    run_dir: Path
    config_path: Path
    card_reader: Any
    sensor: Any
    camera_dir: Path
    _links: list[Path] = field(default_factory=list)

    def show_face(self, photo: Path) -> None:
        """Put this person in front of the camera (the folder's one image is replaced atomically)."""
        import cv2

        staging = self.camera_dir.parent / f".camera-{os.getpid()}.jpg"
        if not cv2.imwrite(str(staging), camera_image(photo)):
            raise OSError(f"cannot write {staging}")
        os.replace(staging, self.camera_dir / "person.jpg")

    def put_card(self, name: str = "subject") -> None:
        """Lay a card of the simulator's file on the reader."""
        self.card_reader.put_card(name)

    def take_card(self) -> None:
        """Take the card off the reader."""
        self.card_reader.take_card()

    def close(self) -> None:
        """Unplug the simulators."""
        self.card_reader.stop()
        self.sensor.close()
        for link in self._links:
            link.unlink(missing_ok=True)


def make_rig(
    root: Path,
    *,
    device_id: str,
    secret: str,
    broker_host: str,
    broker_port: int,
    central_url: str,
    pipeline: Any,
    run_dir: Path | None = None,
    **options: Any,
) -> DeviceRig:
    """Start the simulators, fill the camera folder with the subject's face and write the kiosk file.

    `run_dir` (the daemon's sockets) must be a short path: Unix socket paths hold at most 107 bytes.
    """
    from peripherals.fingerprint import FingerprintSimulator
    from peripherals.idcard import IdCardSimulator, load_cards

    root.mkdir(parents=True, exist_ok=True)
    run_dir = run_dir or Path(tempfile.mkdtemp(prefix="kk-"))
    (root / "card.jpg").write_bytes(face_crop_jpeg(person_photo(CARD_PHOTO), pipeline))
    cards = root / "cards.toml"
    cards.write_text(cards_toml("card.jpg"), encoding="utf-8")
    camera = root / "camera"
    camera.mkdir(exist_ok=True)
    reader = IdCardSimulator(root / "ttyIDCARD", load_cards(cards))
    reader.start()
    sensor = FingerprintSimulator().start()
    link = root / "ttyFINGER"
    link.unlink(missing_ok=True)
    os.symlink(sensor.port, link)
    config = root / "kiosk.toml"
    config.write_text(
        kiosk_toml(
            root=root,
            run_dir=run_dir,
            device_id=device_id,
            secret=secret,
            broker_host=broker_host,
            broker_port=broker_port,
            central_url=central_url,
            **options,
        ),
        encoding="utf-8",
    )
    os.chmod(config, 0o600)
    rig = DeviceRig(root, run_dir, config, reader, sensor, camera, [link])
    rig.show_face(person_photo(LIVE_PHOTO))
    return rig


class DaemonProcess:
    """`python -m kiosk.devices -c kiosk.toml` (what corr-kiosk-devices runs) as a child process."""

    def __init__(self, config: Path, log_path: Path) -> None:
        self.config, self.log_path = config, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        """Start it (the models from ../shared/models unless CORR_MODELS_DIR says otherwise)."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.setdefault("CORR_MODELS_DIR", str(MODELS))
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kiosk.devices", "-c", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
                start_new_session=True,
            )
        return self.proc

    def stop(self) -> int | None:
        """SIGTERM and wait."""
        return _stop(self.proc)

    def output(self) -> str:
        """The daemon's log so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _stop(proc: subprocess.Popen[Any] | None, timeout: float = 30.0) -> int | None:
    if proc is None:
        return None
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    return proc.returncode


def wait_devices_ready(
    config_path: Path, timeout: float = 120.0, drivers: Sequence[str] = ("idcard", "camera")
) -> None:
    """Wait until the daemon answers and the named drivers are ok (the face models take a few seconds)."""
    from kiosk.devices.client import DeviceClient, DeviceUnavailable
    from kiosk.devices.config import load_config

    client = DeviceClient.from_config(load_config(config_path, environ={}), margin_s=1.0)
    deadline = time.monotonic() + timeout
    last = ""
    try:
        while time.monotonic() < deadline:
            try:
                status = client.status(timeout_s=1.0)
                last = ", ".join(f"{n}: {d.state} {d.reason or ''}" for n, d in status.drivers.items())
                if all(status.drivers[n].state == "ok" for n in drivers):
                    pipeline = status.drivers["camera"].details.get("face_pipeline")
                    if "camera" not in drivers or pipeline == "ready":
                        return
            except DeviceUnavailable as exc:
                last = str(exc)
            time.sleep(0.2)
    finally:
        client.close()
    raise TimeoutError(f"device daemon not ready within {timeout:g} s: {last}")


# --- enrolment through the device API --------------------------------------------------------------------


def enrol_face(
    api_url: str,
    device_id: str,
    secret: str,
    pipeline: Any,
    *,
    subject_id: str = SUBJECT,
    photos: Sequence[str] = ENROL_PHOTOS,
    enrolled_by: str = "haicang.town",
) -> list[int]:
    """Enrol the subject's face from photos as a kiosk does; returns the gallery versions announced to this kiosk."""
    import httpx

    versions: list[int] = []
    with httpx.Client(base_url=api_url, auth=(device_id, secret), timeout=30) as http:
        for name in photos:
            template = pipeline.enrol(camera_image(person_photo(name)))
            reply = http.post(
                f"/device-api/v1/subjects/{subject_id}/templates",
                json={
                    "kind": "face",
                    "model": template.backend,
                    "template": base64.b64encode(template.to_bytes()).decode(),
                    "enrolled_by": enrolled_by,
                },
            )
            if reply.status_code != 201:
                raise RuntimeError(f"enrolment of {subject_id} from {name} refused: {reply.status_code} {reply.text}")
            versions += [g["version"] for g in reply.json()["galleries"] if g["device_id"] == device_id]
    return versions


def face_enrolled(api_url: str, device_id: str, secret: str, id_number: str) -> bool:
    """Whether central already holds a face template for the card's subject."""
    import httpx

    with httpx.Client(base_url=api_url, auth=(device_id, secret), timeout=30) as http:
        reply = http.post("/device-api/v1/subjects/lookup", json={"id_number": id_number})
        return reply.status_code == 200 and "face" in reply.json().get("enrolled", [])


# --- the scripted subject -------------------------------------------------------------------------------


class ScriptError(RuntimeError):
    """A step of the scripted walk-through did not happen; the message names it."""


def _wait_taken(runtime: Any, timeout: float) -> None:
    """Wait until the reader noticed the card was taken (placing it again too soon is not a new card)."""
    deadline = time.monotonic() + timeout
    while runtime.card_present:
        if time.monotonic() > deadline:
            raise ScriptError("the card reader did not notice the card was taken")
        time.sleep(0.05)


def walk_through(
    runtime: Any, rig: DeviceRig, say: Callable[[str], None] = print, timeout: float = 60.0
) -> dict[str, Any]:
    """A subject checks in, then records a voice report and submits it; returns what was published."""
    from kiosk.flows.types import Screen

    def wait(screens: set[Screen], what: str, after: int) -> Any:
        view = runtime.wait_for_view(lambda v: v.screen in screens, timeout, after=after)
        if view is None:
            shown = runtime.view.screen.value if runtime.view else "nothing"
            raise ScriptError(f"{what}: not shown within {timeout:g} s (the screen is {shown})")
        return view

    results: dict[str, Any] = {}
    rig.show_face(person_photo(LIVE_PHOTO))
    wait({Screen.IDLE}, "the idle screen", 0)
    say("subject: places the ID card on the reader")
    mark = runtime.view_seq
    rig.put_card("subject")
    view = wait({Screen.RECEIPT, Screen.REFUSED, Screen.MESSAGE}, "the check-in result", mark)
    say(f"kiosk: {view.screen.value} — {view.data}")
    results["checkin"] = view.screen.value
    time.sleep(2.0)
    say("subject: touches OK and takes the card")
    mark = runtime.view_seq
    runtime.touch("ok")
    rig.take_card()
    wait({Screen.IDLE}, "the idle screen after the receipt", mark)
    _wait_taken(runtime, timeout)
    if not runtime.ctx.speech.available:
        say(f"kiosk: voice report unavailable ({runtime.ctx.speech.reason})")
        results["voice"] = "unavailable"
        return results
    say("subject: touches 语音汇报 (voice report)")
    mark = runtime.view_seq
    runtime.touch("voice_report")
    wait({Screen.CARD}, "the card prompt", mark)
    say("subject: places the ID card again")
    mark = runtime.view_seq
    rig.put_card("subject")
    wait({Screen.VOICE_READY}, "the recording screen", mark)
    say("subject: touches 开始录音 (start) and speaks")
    mark = runtime.view_seq
    runtime.touch("start")
    view = runtime.wait_for_view(
        lambda v: v.screen == Screen.VOICE_RECORDING and v.data.get("partial"), timeout, after=mark
    )
    if view is not None:
        say(f"kiosk: live transcript so far: {view.data.get('partial')!r}")
    time.sleep(3.0)
    say("subject: touches 结束录音 (stop)")
    mark = runtime.view_seq
    runtime.touch("stop")
    view = wait({Screen.VOICE_REVIEW, Screen.MESSAGE}, "the transcript to review", mark)
    say(f"kiosk: transcript {view.data.get('transcript')!r}, {view.data.get('duration_s')} s")
    say("subject: touches 提交 (submit)")
    mark = runtime.view_seq
    runtime.touch("submit")
    view = wait({Screen.VOICE_DONE, Screen.MESSAGE}, "the report confirmation", mark)
    say(f"kiosk: {view.screen.value} — {view.title.id}")
    results["voice"] = view.screen.value
    time.sleep(2.0)
    runtime.touch("ok")
    rig.take_card()
    return results


# --- the two processes ----------------------------------------------------------------------------------


def start_kiosk(
    broker_host: str,
    broker_port: int,
    device_id: str,
    secret: str,
    central_url: str,
    workdir: Path,
    *,
    enrolled_by: str = "haicang.town",
    script: bool = True,
) -> list[subprocess.Popen[bytes]]:
    """Start the device daemon and the kiosk UI (window on $DISPLAY, else headless under xvfb-run).

    Returns [daemon, ui]; stop them with `stop_kiosk`. Logs: workdir/kiosk-devices.log, workdir/kiosk-ui.log.
    The UI process first writes the kiosk file and starts the simulators; the daemon opens their ports
    as soon as they exist (it retries a missing device every second).
    """
    workdir = workdir.resolve()
    root = workdir / "kiosk"
    root.mkdir(parents=True, exist_ok=True)
    run_dir = root / "run"  # the daemon's sockets: Unix socket paths hold at most 107 bytes
    if len(str(run_dir / "devices-commands")) > 100:
        run_dir = Path(tempfile.mkdtemp(prefix="kk-"))
    argv = [
        sys.executable,
        "-m",
        "demo.kiosk",
        "run",
        "--root",
        str(root),
        "--run-dir",
        str(run_dir),
        "--broker",
        f"{broker_host}:{broker_port}",
        "--device-id",
        device_id,
        "--central-url",
        central_url,
        "--enrolled-by",
        enrolled_by,
    ]
    if not script:
        argv.append("--no-script")
    if not os.environ.get("DISPLAY"):
        xvfb = shutil.which("xvfb-run")
        if xvfb is None:
            raise RuntimeError("no $DISPLAY and no xvfb-run: install xvfb to run the kiosk UI headless")
        argv = [xvfb, "-a", "-s", "-screen 0 1280x800x24", *argv]
    env = dict(os.environ, PYTHONUNBUFFERED="1", KIVY_NO_ARGS="1", KIVY_LOG_MODE="PYTHON", CORR_KIOSK__SECRET=secret)
    env.setdefault("CORR_MODELS_DIR", str(MODELS))
    env.setdefault("KIVY_HOME", str(root / "kivy"))
    with (workdir / "kiosk-ui.log").open("ab") as out:
        ui = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True)
    config = root / "kiosk.toml"
    deadline = time.monotonic() + 120
    while not config.exists():
        if ui.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the kiosk UI did not write {config}; see {workdir / 'kiosk-ui.log'}")
        time.sleep(0.1)
    daemon = DaemonProcess(config, workdir / "kiosk-devices.log").start()
    return [daemon, ui]


def stop_kiosk(procs: Sequence[subprocess.Popen[Any]]) -> None:
    """SIGTERM each process's group (xvfb-run's Xvfb included), UI first, and wait."""
    for proc in reversed(procs):
        _stop(proc)


def _run(args: argparse.Namespace) -> int:
    """The UI process: simulators, the kiosk file, the runtime, the Kivy app and the scripted subject."""
    from vision.config import parse_config
    from vision.pipeline import FacePipeline

    root: Path = args.root
    secret = os.environ.get("CORR_KIOSK__SECRET", "")
    host, _, port = args.broker.rpartition(":")
    pipeline = FacePipeline(parse_config({"runtime": {"threads": 1}}))
    from kiosk.config import encode_pin_hash
    from kiosk.flows import PinHash

    rig = make_rig(
        root,
        device_id=args.device_id,
        secret=secret,
        broker_host=host,
        broker_port=int(port),
        central_url=args.central_url,
        pipeline=pipeline,
        run_dir=args.run_dir,
        enrolled_by=args.enrolled_by,
        pin_hash=encode_pin_hash(PinHash.make(DEFAULT_PIN, os.urandom(16))),
    )
    log.info("kiosk file %s written; staff PIN for the demo: %s", rig.config_path, DEFAULT_PIN)
    if not face_enrolled(args.central_url, args.device_id, secret, subject_id_number(1)):
        versions = enrol_face(args.central_url, args.device_id, secret, pipeline, enrolled_by=args.enrolled_by)
        log.info("enrolled %s's face through the device API; gallery versions %s", SUBJECT, versions)
    del pipeline

    from kiosk.config import load_settings
    from kiosk.runtime import Runtime
    from kiosk.ui import configure

    os.environ.pop("CORR_KIOSK__SECRET", None)  # now in the file (mode 600); nothing else needs it
    settings = load_settings(rig.config_path)
    configure(settings.kiosk.ui, kivy_home=root / "kivy")
    from kiosk.ui.app import KioskApp

    wait_devices_ready(rig.config_path)
    runtime = Runtime.from_settings(settings).start()
    app = KioskApp(runtime, settings.kiosk.ui)
    if not args.no_script:

        def scripted() -> None:
            try:
                if runtime.gallery.version is None:
                    runtime.gallery.refresh_now(30.0)
                results = walk_through(runtime, rig, say=lambda line: log.info("demo: %s", line))
                log.info("demo: scripted walk-through done: %s", results)
            except Exception:
                log.exception("demo: the scripted walk-through failed")

        threading.Thread(target=scripted, name="scripted-subject", daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: app.stop())
    try:
        app.run()
    finally:
        runtime.stop()
        rig.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m demo.kiosk run …` (started by start_kiosk)."""
    parser = argparse.ArgumentParser(prog="python -m demo.kiosk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the kiosk UI with simulated devices and a scripted subject")
    run.add_argument("--root", type=Path, required=True)
    run.add_argument("--run-dir", type=Path, required=True)
    run.add_argument("--broker", required=True, help="host:port")
    run.add_argument("--device-id", required=True)
    run.add_argument("--central-url", required=True)
    run.add_argument("--enrolled-by", default="haicang.town")
    run.add_argument("--no-script", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
