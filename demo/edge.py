"""The demo's edge agent: `corr-edge` replaying the synthetic camera clip (looping) against the demo's central.

Two calls, in this order once central serves and the broker runs:

    from demo import edge
    edge.enrol_demo_faces(api_url, kiosk_id, kiosk_secret)      # optional: faces the agent can name
    proc = edge.start_edge(workdir, broker_host=..., broker_port=..., password=edge_secret, central_url=api_url)
    ...
    proc.terminate(); proc.wait(15)                              # SIGTERM: open tracks judged, outbox drained

The device `edge-haicang` (kind `edge`) must be registered at central (its secret is the MQTT
password and the gallery key) with a broker login. Faces are enrolled the real way: as a kiosk,
through `POST /device-api/v1/subjects/<id>/templates`; central then seals a new gallery for
every edge agent and kiosk whose jurisdiction holds the subject and publishes the retained
`gallery` command, which the agent follows (download, check, swap). Without an enrolment every
face in the clip is reported as unknown.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from edge_agent import clip
from edge_agent.config import to_toml

DEVICE = "edge-haicang"
# celeb5 people of the clip → the seeded Haicang subjects they play (S-350205-0001/0002 are at township
# 350205001, where the demo's kiosk and officer haicang.town are). The clip's two other enrolled-in-tests
# people and the unknown person stay unknown to central: the agent reports them with subject_id null.
DEMO_CAST: dict[str, str] = {"ben_afflek": "S-350205-0001", "elton_john": "S-350205-0002"}


def build_clip(folder: Path, faces_dir: Path = clip.FACES_DIR, cast: Mapping[str, str] = DEMO_CAST) -> Path:
    """Render the 360-frame 640×480 clip into `folder` (kept if already there); returns the folder."""
    if not (faces_dir / "celeb5").is_dir():
        raise FileNotFoundError(f"the demo clip needs the test photos in {faces_dir} (../shared/testdata/faces)")
    if len(list(folder.glob("*.png"))) != clip.FRAMES:
        clip.render(faces_dir, folder, cast)
    return folder


def enrol_demo_faces(
    api_url: str,
    kiosk_id: str,
    kiosk_secret: str,
    *,
    enrolled_by: str = "haicang.town",
    cast: Mapping[str, str] = DEMO_CAST,
    per_subject: int = 3,
    faces_dir: Path = clip.FACES_DIR,
) -> dict[str, list[int]]:
    """Enrol each cast subject's face from their celeb5 `train` photos through the kiosk device API.

    Returns {device id: [gallery versions announced]}; raises RuntimeError naming the refusal.
    Loads the face models in this process (a few seconds).
    """
    import httpx

    from vision.config import parse_config
    from vision.pipeline import FacePipeline

    pipeline = FacePipeline(parse_config({"runtime": {"threads": 1}}))
    announced: dict[str, list[int]] = {}
    templates = clip.enrol_cast(pipeline, faces_dir, cast, per_subject, persons=list(cast))
    with httpx.Client(base_url=api_url, auth=(kiosk_id, kiosk_secret), timeout=30) as http:
        for subject_id, template in templates:
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
                raise RuntimeError(f"enrolling {subject_id} as {kiosk_id}: HTTP {reply.status_code}: {reply.text}")
            for gallery in reply.json().get("galleries", []):
                announced.setdefault(gallery["device_id"], []).append(gallery["version"])
    return announced


def write_config(
    workdir: Path,
    *,
    broker_host: str,
    broker_port: int,
    password: str,
    central_url: str | None = None,
    device_id: str = DEVICE,
    fps: float = 10.0,
    faces_dir: Path = clip.FACES_DIR,
) -> Path:
    """Build the clip and write `workdir/edge.toml` (mode 600: it holds the device secret); returns its path."""
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    frames = build_clip(workdir / "clip", faces_dir)
    config = {
        "device_id": device_id,
        "state_dir": str(workdir / "state"),
        "journal_path": str(workdir / "sightings.jsonl"),
        "uplink": {
            "host": broker_host,
            "port": broker_port,
            "password": password,
            "outbox_path": str(workdir / "outbox.db"),
            "status_interval_s": 10.0,
        },
        "gallery_sync": {
            # The demo's central speaks plain http on loopback; production uses https (the default).
            "allow_http": bool(central_url and central_url.startswith("http://")),
            **({"central_url": central_url} if central_url else {}),
        },
        "cameras": [
            {"id": "hall-entrance", "source": {"type": "images", "path": str(frames), "fps": fps, "loop": True}}
        ],
        "vision": {"runtime": {"threads": 1}},
    }
    path = workdir / "edge.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    os.chmod(path, 0o600)
    return path


def start_edge(
    workdir: Path,
    *,
    broker_host: str,
    broker_port: int,
    password: str,
    central_url: str | None = None,
    device_id: str = DEVICE,
    fps: float = 10.0,
    faces_dir: Path = clip.FACES_DIR,
) -> subprocess.Popen[bytes]:
    """Write the config and start `corr-edge -c workdir/edge.toml` replaying the clip in a loop; returns the Popen.

    Its output goes to `workdir/edge.log`; it runs in its own session (a terminal's Ctrl-C reaches only
    the demo, which should stop it with SIGTERM). Sightings are also journalled to `workdir/sightings.jsonl`.
    """
    path = write_config(
        workdir,
        broker_host=broker_host,
        broker_port=broker_port,
        password=password,
        central_url=central_url,
        device_id=device_id,
        fps=fps,
        faces_dir=faces_dir,
    )
    script = Path(sys.executable).with_name("corr-edge")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "edge_agent"]
    with (workdir.resolve() / "edge.log").open("ab") as log:
        return subprocess.Popen([*argv, "-c", str(path)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
