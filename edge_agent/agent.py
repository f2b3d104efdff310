"""The edge agent process: one capture thread and one recognition thread per camera, sightings out through the uplink.

Capture never waits on recognition: `peripherals.camera.Camera` keeps only the newest frame and
counts the ones replaced before anyone took them. Each camera's recognition thread takes the
newest frame, detects on every `detect_every`-th one it takes, and hands finished sightings to
the uplink's outbox (QoS 1, kept until PUBACK). It also watches its camera: no new frame for
`stall_after_s` is reported (log, status `camera_state = "stalled"`, a `device_alarm`) and the
camera is replaced by a fresh one (`edge_agent.health`). A status thread publishes the retained
status with each camera's fps, drops, state, queue, the outbox depth, the gallery and the models.

Delivery, exactly once at central: a sighting's event id is derived from the install's epoch and
the track (`edge_agent.state`), track ids are reserved on disk so they never repeat, and a
sighting is handed to the outbox once (kept in memory and retried while the outbox is full).
Tracks still open when the process dies were never sightings; sightings in the outbox survive it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts import DeviceAlarm, Sighting
from edge_agent.config import AgentConfig, CameraEntry
from edge_agent.health import StallWatch
from edge_agent.journal import SightingJournal
from edge_agent.recognition import CameraRecognition
from edge_agent.state import AgentState
from peripherals.camera import FINAL_STATES, Camera
from uplink import OutboxFull, Uplink
from vision.gallery import Gallery
from vision.gallery_sync import Expected, FetchSettings, GalleryHolder, GallerySync
from vision.pipeline import FacePipeline
from vision.template import TemplateCipher, read_sealed

log = logging.getLogger(__name__)

VERSION = "0.2.0"
MAX_HELD = 10_000  # sightings kept in memory while the outbox is full
_POLL_S = 0.5

CameraFactory = Callable[[CameraEntry], Camera]


def default_camera(entry: CameraEntry) -> Camera:
    """The capture thread of one configured camera."""
    return Camera(entry.source, name=entry.id)


def load_gallery(folder: Path, cipher: TemplateCipher) -> Gallery | None:
    """Sealed templates from `folder/<subject id>/*.tpl` (context `subject:<id>/face`); None when there are none."""
    items = [
        (path.parent.name, read_sealed(path, cipher, f"subject:{path.parent.name}/face"))
        for path in sorted(folder.glob("*/*.tpl"))
    ]
    return Gallery.from_templates(items, threads=1) if items else None


def _model_file(backend: object) -> str | None:
    model = getattr(backend, "model", None)
    name, sha = getattr(model, "name", None), getattr(model, "sha256", None)
    return f"{name}:{sha[:12]}" if isinstance(name, str) and isinstance(sha, str) else None


def model_versions(pipeline: FacePipeline) -> dict[str, str]:
    """Versions for the status message: the agent, each model by backend and sha256 prefix, and the model files."""
    embedder = pipeline.embedder
    versions = {
        "edge_agent": VERSION,
        "detector": pipeline.config.detector.type,
        "embedder": f"{embedder.backend}:{embedder.model_sha256[:12]}",
    }
    for role, backend in (("detector_model", pipeline.detector), ("embedder_model", embedder)):
        described = _model_file(backend)
        if described is not None:
            versions[role] = described
    return versions


@dataclass
class CameraSlot:
    """One configured camera: the capture object in use (replaced on a stall), its watch and counters."""

    entry: CameraEntry
    camera: Camera
    watch: StallWatch
    taken_seq: int = 0  # the newest frame seq the recognition thread took from `camera`
    abandoned: int = 0  # capture threads left stuck in a driver call


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
        camera_factory: CameraFactory = default_camera,
    ) -> None:
        self.config = config
        self.pipeline = pipeline or FacePipeline(config.vision)
        self.state = AgentState(config.effective_state_dir())
        self.versions = model_versions(self.pipeline)
        if uplink is None and config.uplink is not None:
            settings = config.uplink.build(config.device_id, self.versions)
            # The agent's status thread sends the heartbeat with fresh camera figures every
            # status_interval_s; the uplink's own heartbeat (stale figures) is only a backstop.
            settings = settings.model_copy(update={"status_interval_s": settings.status_interval_s * 10})
            uplink = Uplink(settings)
        self.uplink = uplink
        self.gallery = GalleryHolder()
        self.sync: GallerySync | None = None
        self._setup_gallery(gallery)
        self._on_sighting = on_sighting
        self.journal = SightingJournal(config.journal_path) if config.journal_path is not None else None
        self._camera_factory = camera_factory
        now = time.monotonic()
        self.slots = {
            c.id: CameraSlot(entry=c, camera=camera_factory(c), watch=StallWatch(c.stall_after_s, now))
            for c in config.cameras
        }
        self.recognitions = {
            c.id: CameraRecognition(
                device_id=config.device_id,
                camera_id=c.id,
                pipeline=self.pipeline,
                gallery=self.gallery.get,
                tracker=config.tracker,
                tracks=config.tracks,
                track_ids=self.state.track_ids(c.id),
                epoch=self.state.epoch,
            )
            for c in config.cameras
        }
        self.sent = 0
        self.held: list[Sighting] = []  # sightings the outbox had no room for yet, oldest first
        self.refused = 0  # sightings dropped because even the in-memory hold was full
        self._lock = threading.Lock()
        self._retrying = threading.Lock()
        self._stop = threading.Event()
        self._stopped = False
        self._threads: list[threading.Thread] = []

    @property
    def cameras(self) -> dict[str, Camera]:
        """The capture object in use per camera id (a stalled camera's is replaced)."""
        return {camera_id: slot.camera for camera_id, slot in self.slots.items()}

    def _setup_gallery(self, given: Gallery | None) -> None:
        config = self.config
        if given is not None:
            self.gallery.swap(given, None, "given")
            return
        if config.gallery_dir is not None:
            key = config.vision.template_key
            if key is None:
                raise ValueError("gallery_dir is set but vision.template_key is not: the templates cannot be opened")
            folder = load_gallery(config.gallery_dir, TemplateCipher.from_base64(key.get_secret_value()))
            self.gallery.swap(folder, None, "folder")
            if config.uplink is not None:
                log.info("gallery_dir is set: central's gallery commands are not followed")
        elif config.gallery_sync_active():
            assert config.uplink is not None
            section = config.gallery_sync
            state_dir = config.effective_state_dir()
            cache_dir = section.cache_dir or (state_dir / "gallery" if state_dir is not None else None)
            if cache_dir is None:  # pragma: no cover - effective_state_dir is set whenever the uplink is
                raise ValueError("gallery sync needs gallery_sync.cache_dir or state_dir")
            embedder = self.pipeline.embedder
            self.sync = GallerySync(
                device_id=config.device_id,
                secret=config.uplink.password.get_secret_value(),
                cache_dir=cache_dir,
                expected=Expected(embedder.backend, embedder.model_sha256, embedder.dim),
                holder=self.gallery,
                settings=FetchSettings(
                    ca_file=section.ca_file,
                    allow_http=section.allow_http,
                    connect_timeout_s=section.connect_timeout_s,
                    read_timeout_s=section.read_timeout_s,
                    total_timeout_s=section.total_timeout_s,
                    max_bytes=section.max_bytes,
                ),
                central_url=section.central_url,
                retry_min_s=section.retry_min_s,
                retry_max_s=section.retry_max_s,
                on_swap=lambda version: self._publish_status_now(),
            )
            self.sync.load_cache()
        if self.gallery.get() is None:
            log.warning("no gallery yet: every face is reported as unknown until one arrives")

    def start(self) -> Agent:
        """Start the gallery sync, the uplink, every camera, its recognition thread, and the status thread."""
        if self.sync is not None:
            self.sync.start()
        if self.uplink is not None:
            if self.sync is not None:
                self.uplink.on_command("gallery", self.sync.offer)
            self.uplink.publish_status(**self.status())
            self.uplink.start()
        for camera_id, slot in self.slots.items():
            slot.camera.start()
            slot.watch.frame(time.monotonic())
            thread = threading.Thread(target=self._recognise, args=(camera_id,), name=f"recognise-{camera_id}")
            thread.start()
            self._threads.append(thread)
        status = threading.Thread(target=self._report_status, name="edge-status", daemon=True)
        status.start()
        return self

    def wait_ended(self, timeout: float | None) -> bool:
        """Block until every camera's source ended and its recognition thread finished (files and folders)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def stop(self, drain_timeout: float = 5.0) -> None:
        """Stop recognition (open tracks are judged and sent), the cameras, the gallery sync, then the uplink.

        A second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for slot in self.slots.values():
            slot.camera.stop()
        if self.sync is not None:
            self.sync.stop()
        self._retry_held()
        if self.uplink is not None:
            self.uplink.publish_status(**self.status())
            self.uplink.stop(drain_timeout=drain_timeout)
        if self.journal is not None:
            self.journal.close()

    def status(self) -> dict[str, Any]:
        """The status extras: per camera fps, drops, state, queue, stalls; the gallery; sightings sent and held."""
        fps: dict[str, float] = {}
        dropped: dict[str, int] = {}
        states: dict[str, str] = {}
        queue: dict[str, int] = {}
        stalls: dict[str, int] = {}
        replaced: dict[str, int] = {}
        age: dict[str, float | None] = {}
        for camera_id, slot in self.slots.items():
            stats = slot.camera.stats()
            fps[camera_id] = round(stats.fps, 2)
            dropped[camera_id] = stats.frames_dropped
            states[camera_id] = "stalled" if slot.watch.stalled and stats.state not in FINAL_STATES else stats.state
            # Frames waiting for recognition: 0 or 1, since capture keeps only the newest (the rest are drops).
            queue[camera_id] = min(1, max(0, stats.frames_read - slot.taken_seq))
            stalls[camera_id] = slot.watch.stalls
            replaced[camera_id] = slot.watch.reconnects
            age[camera_id] = stats.last_frame_age_s
        with self._lock:
            held, sent, refused = len(self.held), self.sent, self.refused
        out: dict[str, Any] = {
            "camera_fps": fps,
            "camera_dropped": dropped,
            "camera_state": states,
            "camera_queue": queue,
            "camera_stalls": stalls,
            "camera_reconnects": replaced,
            "camera_frame_age_s": age,
            "sightings_sent": sent,
            "sightings_held": held,
            "sightings_refused": refused,
        }
        if self.sync is not None:
            out.update(self.sync.status())
        else:
            out.update(
                {
                    "gallery_version": self.gallery.version,
                    "gallery_source": self.gallery.source,
                    "gallery_templates": len(self.gallery),
                }
            )
        return out

    # ---- recognition thread, one per camera ----------------------------------------------------

    def _recognise(self, camera_id: str) -> None:
        slot = self.slots[camera_id]
        recognition = self.recognitions[camera_id]
        taken = 0
        poll = min(_POLL_S, slot.entry.stall_after_s / 4)
        try:
            while not self._stop.is_set():
                camera = slot.camera
                frame = camera.wait_newer(slot.taken_seq, timeout=poll)
                if frame is None:
                    state = camera.state
                    if state in FINAL_STATES:
                        break
                    self._watch(slot, recognition, state)
                    continue
                slot.taken_seq = frame.seq
                stalled_for = slot.watch.frame(time.monotonic())
                if stalled_for is not None:
                    log.warning("camera %s: frames again after a stall of %.1f s", camera_id, stalled_for)
                    self._publish_status_now()
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

    def _watch(self, slot: CameraSlot, recognition: CameraRecognition, state: str) -> None:
        """No new frame: report a stall once, judge the tracks it cut off, replace the camera when due."""
        camera_id = slot.entry.id
        action = slot.watch.check(time.monotonic(), state)
        if action.report:
            silent = slot.watch.silent_for(time.monotonic())
            log.warning(
                "camera %s stalled: no frame for %.1f s (camera state %s); reconnecting",
                camera_id,
                silent,
                state,
            )
            # The faces in view were last seen before the stall: their tracks are over.
            for sighting in recognition.finish():
                self._emit(sighting)
            self._alarm(f"camera {camera_id}: no frame for {silent:.0f} s ({slot.camera.stats().source}); reconnecting")
            self._publish_status_now()
        if action.reconnect:
            self._replace_camera(slot)

    def _replace_camera(self, slot: CameraSlot) -> None:
        old = slot.camera
        if not old.stop(timeout=1.0):
            slot.abandoned += 1
            log.warning("camera %s: old capture thread stuck in a driver call, abandoned", slot.entry.id)
        slot.camera = self._camera_factory(slot.entry)
        slot.taken_seq = 0
        slot.camera.start()
        log.info("camera %s: reconnecting (attempt %d of this stall)", slot.entry.id, slot.watch.reconnects)

    def _alarm(self, detail: str) -> None:
        if self.uplink is None:
            return
        alarm = DeviceAlarm(
            event_id=uuid.uuid4(),
            device_id=self.config.device_id,
            device_time=datetime.now(UTC),
            kind="sensor_fault",
            detail=detail,
        )
        try:
            self.uplink.send(alarm)
        except OutboxFull as exc:
            log.error("camera alarm not stored: %s", exc)

    # ---- sightings -----------------------------------------------------------------------------

    def _emit(self, sighting: Sighting) -> None:
        log.info(
            "camera %s: track %d → %s (score %.3f) event %s",
            sighting.camera_id,
            sighting.track_id,
            sighting.subject_id or "unknown",
            sighting.score,
            sighting.event_id,
        )
        self._retry_held()
        if not self._queue(sighting):
            with self._lock:
                if len(self.held) < MAX_HELD:
                    self.held.append(sighting)
                    if self.journal is not None:
                        self.journal.write("held", sighting)
                    return
                self.refused += 1
            log.error("sighting %s dropped: outbox full and %d sightings already held", sighting.event_id, MAX_HELD)
            return
        if self._on_sighting is not None:
            self._on_sighting(sighting)

    def _queue(self, sighting: Sighting, *, retry: bool = False) -> bool:
        """Hand one sighting to the outbox; False when it is full. The event id is stable, so a retry is safe."""
        if self.journal is not None and not retry:
            self.journal.write("pending", sighting)
        if self.uplink is not None:
            try:
                self.uplink.send(sighting)
            except OutboxFull as exc:
                if not retry:
                    log.warning("sighting %s held in memory: %s", sighting.event_id, exc)
                return False
        if self.journal is not None:
            self.journal.write("queued", sighting)
        with self._lock:
            self.sent += 1
        return True

    def _retry_held(self) -> None:
        """Offer held sightings to the outbox again, oldest first; one thread at a time, the others skip."""
        if not self._retrying.acquire(blocking=False):
            return
        try:
            while True:
                with self._lock:
                    if not self.held:
                        return
                    sighting = self.held[0]
                if not self._queue(sighting, retry=True):
                    return
                with self._lock:
                    self.held.pop(0)
                if self._on_sighting is not None:
                    self._on_sighting(sighting)
        finally:
            self._retrying.release()

    # ---- status --------------------------------------------------------------------------------

    def _publish_status_now(self) -> None:
        if self.uplink is None:
            return
        try:
            self.uplink.publish_status(**self.status())
        except Exception:
            log.exception("status not published")

    def _report_status(self) -> None:
        interval = self.config.uplink.status_interval_s if self.config.uplink is not None else 30.0
        next_status = time.monotonic() + interval
        while not self._stop.wait(min(interval, 1.0)):
            self._retry_held()
            if time.monotonic() >= next_status:
                next_status = time.monotonic() + interval
                self._publish_status_now()
