"""The camera's driver: a capture thread (peripherals.camera), low-rate previews, a face watch, `capture_face`.

Full frames never leave the daemon. The UI gets `frame_ready` with a small JPEG a few times a
second, `face_found` with the gate's verdict on the newest frame, and, for `capture_face`, the
template of the best accepted face with its quality figures.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import cv2
from pydantic import BaseModel

from kiosk.devices.config import VideoSection
from kiosk.devices.faces import best, due, face_score, preview_size
from kiosk.devices.protocol import (
    CaptureFaceArgs,
    FaceQuality,
    FaceResult,
    Request,
    Verification,
)
from kiosk.devices.supervisor import CommandFailed, DeviceFailure, Driver, Emit
from peripherals.camera import Camera, CameraConfig, Frame
from vision.config import VisionConfig
from vision.errors import VisionError
from vision.image import decode_image
from vision.pipeline import FacePipeline
from vision.quality import QualityReport
from vision.template import Template
from vision.verify import verify

log = logging.getLogger(__name__)

_LIVE = frozenset({"starting", "streaming"})


class PipelineHolder:
    """The face pipeline, loaded once per daemon and shared by every camera driver made after a restart."""

    def __init__(self, config: VisionConfig | None) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._pipeline: FacePipeline | None = None
        self.error: str | None = None
        if config is None:
            self.error = "the face pipeline is switched off (video.face_pipeline = false)"

    def get(self) -> FacePipeline | None:
        """The pipeline, loading it on first use (or again after a failed load); None with `error` set."""
        with self._lock:
            if self._pipeline is None and self._config is not None:
                try:
                    self._pipeline = FacePipeline(self._config)
                    self.error = None
                    log.info("face pipeline ready: %s + %s", self._config.detector.type, self._config.embedder.type)
                except (VisionError, OSError, ValueError, RuntimeError) as exc:
                    self.error = f"the face pipeline did not load: {exc}"
                    log.error("%s", self.error)
            return self._pipeline

    def describe(self) -> str:
        """ready, or why not."""
        return "ready" if self._pipeline is not None else (self.error or "not loaded")


def _reasons(report: QualityReport) -> list[dict[str, str]]:
    return [{"code": str(r.code), "message": r.message} for r in report.reasons]


def _quality(report: QualityReport, gate_score: float) -> FaceQuality:
    assert report.face is not None and report.measures is not None
    return FaceQuality(
        score=gate_score,
        box=[round(v) for v in report.face.box],
        detector_score=round(report.face.score, 4),
        measures=report.measures.as_dict(),
    )


class CameraDriver(Driver):
    """One camera and, when loaded, the face pipeline."""

    def __init__(self, config: CameraConfig, video: VideoSection, pipelines: PipelineHolder, emit: Emit) -> None:
        self.config = config
        self.video = video
        self._pipelines = pipelines
        self._emit = emit
        rates = [r for r in (video.preview_fps, video.face_watch_fps) if r > 0]
        self.poll_interval_s = max(0.02, min(0.5, 0.5 / max(rates))) if rates else 0.5
        self._camera: Camera | None = None
        self._pipeline: FacePipeline | None = None
        self._last_preview: float | None = None
        self._last_watch: float | None = None
        self._preview_seq = 0
        self._watch_seq = 0
        self._watch_saw_face = False

    def open(self) -> None:
        """Load the face pipeline (once per daemon) and start the capture thread."""
        self._pipeline = self._pipelines.get()
        self._camera = Camera(self.config, name="kiosk").start()

    def close(self) -> None:
        """Stop the capture thread."""
        camera, self._camera = self._camera, None
        if camera is not None:
            camera.stop()

    def details(self) -> dict[str, Any]:
        """The capture thread's figures and the face pipeline's state."""
        camera = self._camera
        out: dict[str, Any] = {"face_pipeline": self._pipelines.describe()}
        if camera is not None:
            out["camera"] = camera.stats().as_dict()
        return out

    def _camera_or_fail(self) -> Camera:
        camera = self._camera
        if camera is None:
            raise DeviceFailure("camera: not open")
        state = camera.state
        if state not in _LIVE:
            stats = camera.stats()
            raise DeviceFailure(stats.last_error or f"{stats.source}: {state}")
        return camera

    # --- periodic work --------------------------------------------------------------------------

    def poll(self) -> None:
        """Check the capture thread, send a preview and run the face watch when they are due."""
        camera = self._camera_or_fail()
        now = time.monotonic()
        if due(now, self._last_preview, self.video.preview_fps):
            self._last_preview = now
            frame = camera.read_latest()
            if frame is not None and frame.seq != self._preview_seq:
                self._preview_seq = frame.seq
                self._send_preview(frame)
        if self._pipeline is not None and due(now, self._last_watch, self.video.face_watch_fps):
            self._last_watch = now
            frame = camera.read_latest()
            if frame is not None and frame.seq != self._watch_seq:
                self._watch_seq = frame.seq
                self._watch(self._pipeline, frame)

    def _send_preview(self, frame: Frame) -> None:
        width, height = preview_size(frame.width, frame.height, self.video.preview_max_side)
        image: Any = frame.image
        if (width, height) != (frame.width, frame.height):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.video.preview_quality])
        if not ok:
            log.warning("preview of frame %d: JPEG encoding failed", frame.seq)
            return
        self._emit(
            "frame_ready",
            {
                "frame_seq": frame.seq,
                "width": frame.width,
                "height": frame.height,
                "preview": jpeg.tobytes(),
                "preview_width": width,
                "preview_height": height,
            },
        )

    def _watch(self, pipeline: FacePipeline, frame: Frame) -> None:
        try:
            report = pipeline.assess(frame.image)
        except VisionError as exc:
            log.warning("face watch, frame %d: %s", frame.seq, exc)
            return
        faces = report.faces_found
        if faces == 0 and not self._watch_saw_face:
            return  # nobody there, and nobody was: nothing to say
        self._watch_saw_face = faces > 0
        quality = None
        if report.face is not None and report.measures is not None:
            quality = _quality(report, face_score(report.measures.as_dict(), pipeline.gate.config))
        self._emit(
            "face_found",
            {
                "frame_seq": frame.seq,
                "faces": faces,
                "accepted": report.accepted,
                "quality": None if quality is None else quality.model_dump(mode="json"),
                "reasons": _reasons(report),
            },
        )

    # --- capture_face ---------------------------------------------------------------------------

    def handle(self, request: Request, deadline: float) -> BaseModel:
        """capture_face: fresh frames until `frames` pass the gate or time runs out; the best one's template."""
        args = request.args
        if not isinstance(args, CaptureFaceArgs):
            raise CommandFailed("bad_request", f"{request.command}: not a camera command")
        pipeline = self._pipeline
        if pipeline is None:
            raise CommandFailed("device_unavailable", f"capture_face: {self._pipelines.describe()}")
        camera = self._camera_or_fail()
        # Leave a little of the deadline for the embedding and the reply.
        end = min(time.monotonic() + args.timeout_s, deadline - 0.25)
        latest = camera.read_latest()
        seq = latest.seq if latest is not None else 0  # only frames taken after the request count
        candidates: list[tuple[float, tuple[float, Frame, QualityReport]]] = []
        tried = 0
        last_refusal: QualityReport | None = None
        while len(candidates) < args.frames:
            left = end - time.monotonic()
            if left <= 0:
                break
            frame = camera.wait_newer(seq, timeout=left)
            if frame is None:
                self._camera_or_fail()
                continue
            seq = frame.seq
            tried += 1
            try:
                report = pipeline.assess(frame.image)
            except VisionError as exc:
                log.warning("capture_face, frame %d: %s", frame.seq, exc)
                continue
            if report.accepted and report.measures is not None:
                score = face_score(report.measures.as_dict(), pipeline.gate.config)
                candidates.append((score, (score, frame, report)))
            else:
                last_refusal = report
        if not candidates:
            if last_refusal is None:
                message = f"capture_face: no camera frame arrived within {args.timeout_s:g} s"
                details: dict[str, Any] = {"frames_tried": tried, "reasons": []}
            else:
                message = f"capture_face: no face passed the quality gate in {tried} frames: {last_refusal.message}"
                details = {"frames_tried": tried, "reasons": _reasons(last_refusal)}
            raise CommandFailed("quality_refused", message, details)
        score, frame, report = best(candidates)
        assert report.face is not None
        template = pipeline.template(frame.image, report.face, report.aligned)
        result: dict[str, Any] = {
            "template": template.to_bytes(),
            "backend": template.backend,
            "model_sha256": template.model_sha256,
            "dim": template.dim,
            "quality": _quality(report, score),
            "frame_seq": frame.seq,
            "frames_tried": tried,
            "frames_accepted": len(candidates),
        }
        if args.reference is not None:
            result["verification"] = self._verify(pipeline, template, Template.from_bytes(args.reference))
        if args.reference_photo is not None:
            result["photo_verification"], result["photo_problem"] = self._verify_photo(
                pipeline, template, args.reference_photo
            )
        if args.include_crop and report.aligned is not None:
            ok, jpeg = cv2.imencode(".jpg", report.aligned, [cv2.IMWRITE_JPEG_QUALITY, 90])
            result["crop_jpeg"] = jpeg.tobytes() if ok else None
        return FaceResult.model_validate(result)

    @staticmethod
    def _verify(pipeline: FacePipeline, probe: Template, reference: Template) -> Verification:
        try:
            outcome = verify(probe, reference, pipeline.threshold)
        except VisionError as exc:
            raise CommandFailed("bad_request", f"capture_face: reference: {exc}") from None
        return Verification(score=round(outcome.score, 4), threshold=outcome.threshold, same_person=outcome.same_person)

    def _verify_photo(
        self, pipeline: FacePipeline, probe: Template, photo: bytes
    ) -> tuple[Verification | None, str | None]:
        # An ID-card photo is small (102 x 126) and taken under other rules than a live frame, so the
        # gate is not applied to it: its largest face is used as it is.
        try:
            image = decode_image(photo, source="reference photo")
            faces = pipeline.detect(image)
            if not faces:
                return None, "no face found in the reference photo"
            face = max(faces, key=lambda f: min(f.width, f.height))
            reference = pipeline.template(image, face)
        except VisionError as exc:
            return None, str(exc)
        return self._verify(pipeline, probe, reference), None
