"""The edge agent process: one capture thread and one recognition thread per camera, sightings out through the uplink.

Capture never waits on recognition: `peripherals.camera.Camera` keeps only the newest frame and
counts the ones replaced before anyone took them. Each camera's recognition thread takes the
newest frame, detects on every `detect_every`-th one it takes, and hands finished sightings to
the uplink's outbox (QoS 1, kept until PUBACK). A status thread publishes the retained status
with each camera's fps, dropped frames and state, and the model names.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts import Sighting
from edge_agent.config import AgentConfig
from edge_agent.recognition import CameraRecognition
from peripherals.camera import FINAL_STATES, Camera
from uplink import OutboxFull, Uplink
from vision.gallery import Gallery
from vision.pipeline import FacePipeline
from vision.template import TemplateCipher, read_sealed

log = logging.getLogger(__name__)

VERSION = "0.1.0"


def load_gallery(folder: Path, cipher: TemplateCipher) -> Gallery | None:
    """Sealed templates from `folder/<subject id>/*.tpl` (context `subject:<id>/face`); None when there are none."""
    items = [
        (path.parent.name, read_sealed(path, cipher, f"subject:{path.parent.name}/face"))
        for path in sorted(folder.glob("*/*.tpl"))
    ]
    return Gallery.from_templates(items, threads=1) if items else None


def model_versions(pipeline: FacePipeline) -> dict[str, str]:
    """Versions for the status message: the agent, and each model by backend and sha256 prefix."""
    embedder = pipeline.embedder
    return {
        "edge_agent": VERSION,
        "detector": pipeline.config.detector.type,
        "embedder": f"{embedder.backend}:{embedder.model_sha256[:12]}",
    }


class Agent:
    """N cameras of one host, recognised and reported; `start()` returns at once, `stop()` flushes open tracks."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        pipeline: FacePipeline | None = None,
        gallery: Gallery | None = None,
        uplink: Uplink | None = None,
        on_sighting: Callable[[Sighting], None] | None = None,
    ) -> None:
        self.config = config
        self.pipeline = pipeline or FacePipeline(config.vision)
        if gallery is None and config.gallery_dir is not None:
            key = config.vision.template_key
            if key is None:
                raise ValueError("gallery_dir is set but vision.template_key is not: the templates cannot be opened")
            gallery = load_gallery(config.gallery_dir, TemplateCipher.from_base64(key.get_secret_value()))
        if gallery is None:
            log.warning("no gallery: every face will be reported as unknown")
        self._gallery = gallery
        self.versions = model_versions(self.pipeline)
        if uplink is None and config.uplink is not None:
            uplink = Uplink(config.uplink.build(config.device_id, self.versions))
        self.uplink = uplink
        self._on_sighting = on_sighting
        self.cameras = {c.id: Camera(c.source, name=c.id) for c in config.cameras}
        self.recognitions = {
            c.id: CameraRecognition(
                device_id=config.device_id,
                camera_id=c.id,
                pipeline=self.pipeline,
                gallery=lambda: self._gallery,
                tracker=config.tracker,
                tracks=config.tracks,
            )
            for c in config.cameras
        }
        self.sent = 0
        self.refused = 0  # sightings the outbox had no room for
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> Agent:
        """Start the uplink, every camera, its recognition thread, and the status thread."""
        if self.uplink is not None:
            self.uplink.start()
        for camera_id, camera in self.cameras.items():
            camera.start()
            thread = threading.Thread(target=self._recognise, args=(camera_id,), name=f"recognise-{camera_id}")
            thread.start()
            self._threads.append(thread)
        status = threading.Thread(target=self._report_status, name="edge-status", daemon=True)
        status.start()
        return self

    def wait_ended(self, timeout: float | None) -> bool:
        """Block until every camera's source ended and its recognition thread finished (files and folders)."""
        for thread in self._threads:
            thread.join(timeout)
        return not any(t.is_alive() for t in self._threads)

    def stop(self, drain_timeout: float = 5.0) -> None:
        """Stop recognition (open tracks are judged and sent), the cameras, then the uplink."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for camera in self.cameras.values():
            camera.stop()
        if self.uplink is not None:
            self.uplink.publish_status(**self.status())
            self.uplink.stop(drain_timeout=drain_timeout)

    def status(self) -> dict[str, Any]:
        """The status extras: per-camera fps, dropped frames and state (model versions go in the uplink's config)."""
        stats = {camera_id: camera.stats() for camera_id, camera in self.cameras.items()}
        return {
            "camera_fps": {i: round(s.fps, 2) for i, s in stats.items()},
            "camera_dropped": {i: s.frames_dropped for i, s in stats.items()},
            "camera_state": {i: s.state for i, s in stats.items()},
        }

    def _recognise(self, camera_id: str) -> None:
        camera = self.cameras[camera_id]
        recognition = self.recognitions[camera_id]
        last = taken = 0
        try:
            while not self._stop.is_set():
                frame = camera.wait_newer(last, timeout=0.5)
                if frame is None:
                    if camera.state in FINAL_STATES:
                        break
                    continue
                last = frame.seq
                taken += 1
                if (taken - 1) % self.config.detect_every:
                    continue
                seen = datetime.fromtimestamp(frame.time, UTC)
                for sighting in recognition.frame(frame.image, seen):
                    self._emit(sighting)
        except Exception:
            log.exception("camera %s: recognition failed", camera_id)
        finally:
            for sighting in recognition.finish():
                self._emit(sighting)

    def _emit(self, sighting: Sighting) -> None:
        log.info(
            "camera %s: track %d → %s (score %.3f)",
            sighting.camera_id,
            sighting.track_id,
            sighting.subject_id or "unknown",
            sighting.score,
        )
        if self.uplink is not None:
            try:
                self.uplink.send(sighting)
            except OutboxFull as exc:
                with self._lock:
                    self.refused += 1
                log.error("sighting of track %d not stored: %s", sighting.track_id, exc)
                return
        with self._lock:
            self.sent += 1
        if self._on_sighting is not None:
            self._on_sighting(sighting)

    def _report_status(self) -> None:
        interval = self.config.uplink.status_interval_s if self.config.uplink is not None else 30.0
        while not self._stop.wait(min(interval, 5.0)):
            if self.uplink is not None:
                try:
                    self.uplink.publish_status(**self.status())
                except Exception:
                    log.exception("status not published")
