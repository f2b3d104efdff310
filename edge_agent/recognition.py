"""One camera's recognition: detect → gate → track → best crops → embed → 1:N match → Sighting messages.

No threads, no MQTT, no camera: `CameraRecognition.frame()` takes an image and its time and
returns the sightings it finished. The agent feeds it from a capture thread; tests and
`recognise_source` feed it a clip frame by frame.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from contracts import Sighting
from edge_agent.track_faces import Candidate, Crop, Decision, FaceTrack, TrackFacesConfig, crop_quality, decide
from edge_agent.tracker import Track, Tracker, TrackerConfig
from peripherals.camera import FileCamera, ImageFolderCamera
from peripherals.camera.driver import open_source
from vision.gallery import Gallery
from vision.pipeline import FacePipeline
from vision.template import Template

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class RecognitionStats:
    """Counters of one camera's recognition."""

    frames: int = 0
    detections: int = 0
    tracks_ended: int = 0
    sightings: int = 0
    crops_embedded: int = 0


class CameraRecognition:
    """The recognition state of one camera: its tracker and the face tracks it is following."""

    def __init__(
        self,
        *,
        device_id: str,
        camera_id: str,
        pipeline: FacePipeline,
        gallery: Callable[[], Gallery | None],
        tracker: TrackerConfig | None = None,
        tracks: TrackFacesConfig | None = None,
        clock: Clock = _utcnow,
    ) -> None:
        self.device_id = device_id
        self.camera_id = camera_id
        self.pipeline = pipeline
        self.gallery = gallery
        self.tracks_config = tracks or TrackFacesConfig()
        self.tracker = Tracker(tracker)
        self.clock = clock
        self.stats = RecognitionStats()
        self._faces: dict[int, FaceTrack] = {}
        self._passes = 0

    def frame(self, image: np.ndarray, seen: datetime) -> list[Sighting]:
        """Detect, track and collect crops in one frame; return the sightings of tracks that ended or are due."""
        self.stats.frames += 1
        self._passes += 1
        gate = self.pipeline.gate
        faces = self.pipeline.detect(image)
        self.stats.detections += len(faces)
        update = self.tracker.update([f.box for f in faces], self._passes)
        keep = self.tracks_config.best_crops
        for face, track_id in zip(faces, update.track_ids, strict=True):
            track = self._faces.setdefault(track_id, FaceTrack.start(track_id, seen))
            report = gate.check_face(image, face)
            crop = None
            if report.accepted and report.measures is not None and report.aligned is not None:
                crop = Crop(crop_quality(report.measures, gate.config), face.box, seen, report.aligned)
            track.see(seen, crop, keep)
        out = [s for t in update.ended for s in self._end(t)]
        for track in self._faces.values():
            if track.due(seen, self.tracks_config.max_track_s):
                out += self._judge(track)
                track.next_window(seen)
        return out

    def finish(self) -> list[Sighting]:
        """End every live track (the source ended or the agent stops) and return their sightings."""
        return [s for t in self.tracker.flush() for s in self._end(t)]

    def _end(self, ended: Track) -> list[Sighting]:
        self.stats.tracks_ended += 1
        track = self._faces.pop(ended.track_id, None)
        return [] if track is None else self._judge(track)

    def _judge(self, track: FaceTrack) -> list[Sighting]:
        if track.hits < self.tracks_config.min_hits or not track.crops:
            return []
        decision = decide(track, self._candidates(track), self.pipeline.threshold, self.tracks_config.min_hits)
        if decision is None:
            return []
        track.reported.add(decision.subject_id)
        self.stats.sightings += 1
        return [self._sighting(decision)]

    def _candidates(self, track: FaceTrack) -> list[Candidate]:
        """Embed the track's best crops and search the gallery: the only model call of a judgement."""
        embedder = self.pipeline.embedder
        self.stats.crops_embedded += len(track.crops)
        gallery = self.gallery()
        if gallery is None or len(gallery) == 0:
            return [Candidate(None, 0.0) for _ in track.crops]
        probes = [
            Template.from_values(embedder.backend, embedder.model_sha256, embedder.embed(c.aligned))
            for c in track.crops
        ]
        found = gallery.search_many(probes, k=1)
        return [Candidate(m[0].subject_id, m[0].score) if m else Candidate(None, 0.0) for m in found]

    def _sighting(self, d: Decision) -> Sighting:
        x1, y1, x2, y2 = (max(0, round(v)) for v in d.bbox)
        return Sighting(
            event_id=uuid.uuid4(),
            device_id=self.device_id,
            device_time=self.clock(),
            camera_id=self.camera_id,
            subject_id=d.subject_id,
            score=round(d.score, 4),
            track_id=d.track_id,
            first_seen=d.first_seen,
            last_seen=d.last_seen,
            quality=round(min(max(d.quality, 0.0), 1.0), 4),
            bbox=[x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)],
        )


def frames_of(
    source: FileCamera | ImageFolderCamera, start: datetime, fps: float
) -> Iterator[tuple[np.ndarray, datetime]]:
    """Every frame of a file or folder, in order, with the time it would have had at `fps` from `start`."""
    src = open_source(source)
    src.open()
    try:
        index = 0
        while (image := src.read()) is not None:
            yield image, start + timedelta(seconds=index / fps)
            index += 1
    finally:
        src.close()


def recognise_source(
    recognition: CameraRecognition,
    source: FileCamera | ImageFolderCamera,
    *,
    detect_every: int = 1,
    start: datetime | None = None,
    fps: float = 10.0,
) -> list[Sighting]:
    """Run one camera's recognition over every frame of a clip, without threads or MQTT; return the sightings."""
    start = start or _utcnow()
    out: list[Sighting] = []
    for index, (image, seen) in enumerate(frames_of(source, start, fps)):
        if index % detect_every == 0:
            out += recognition.frame(image, seen)
    return out + recognition.finish()
