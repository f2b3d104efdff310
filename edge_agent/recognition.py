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
from edge_agent.state import sighting_event_id
from edge_agent.track_faces import (
    Candidate,
    Crop,
    Decision,
    FaceTrack,
    TrackFacesConfig,
    crop_quality,
    decide,
    decide_early,
)
from edge_agent.tracker import Track, Tracker, TrackerConfig
from peripherals.camera import FileCamera, ImageFolderCamera
from peripherals.camera.driver import open_source
from vision.gallery import Gallery
from vision.pipeline import FacePipeline
from vision.template import Template
from vision.verify import similarity

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
    named_early: int = 0  # sightings named while their track went on
    merged: int = 0  # namings not reported: the subject was still present on another track (a split track)
    crops_embedded: int = 0  # embedder runs (a crop is embedded once, however often its track is judged)


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
        track_ids: Iterator[int] | None = None,
        epoch: str | None = None,
    ) -> None:
        """`track_ids` and `epoch` come from the agent's state (`edge_agent.state`): track ids unique across
        restarts, and the epoch that makes each judgement's event id stable; both default to this run only."""
        self.device_id = device_id
        self.camera_id = camera_id
        self.pipeline = pipeline
        self.gallery = gallery
        self.tracks_config = tracks or TrackFacesConfig()
        self.tracker = Tracker(tracker, track_ids)
        self.epoch = epoch or uuid.uuid4().hex
        self.clock = clock
        self.stats = RecognitionStats()
        self._faces: dict[int, FaceTrack] = {}
        self._recent: dict[str, datetime] = {}  # subject → last seen on an ended track that named them
        self._unknowns: list[tuple[datetime, list[Template]]] = []  # ended unknown tracks: last seen, embeddings
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
        forget = seen - timedelta(seconds=self.tracks_config.repeat_after_s + self.tracks_config.max_track_s + 600)
        for sid in [sid for sid, ended in self._recent.items() if ended < forget]:
            del self._recent[sid]  # long gone: no track still open can be their same presence
        self._unknowns = [(ended, probes) for ended, probes in self._unknowns if ended >= forget]
        # Early naming embeds at most one crop per frame, so a frame never stalls on several embeddings
        # while faces move on (a stall long enough to lose a track would split it in two).
        gallery = self.gallery()
        budget = 1 if gallery is not None and len(gallery) > 0 else 0
        for track in self._faces.values():
            if track.due(seen, self.tracks_config.max_track_s):
                out += self._judge(track)
                track.next_window(seen)
            elif budget and track.early_due(seen, self.tracks_config):
                missing = [c for c in track.crops if c.seen not in track.probes]
                if missing:
                    self._embed(track, missing[0])
                    budget -= 1
                    missing = missing[1:]
                if not missing:
                    out += self._judge_early(track, seen)
        return out

    def finish(self) -> list[Sighting]:
        """End every live track (the source ended or the agent stops) and return their sightings."""
        return [s for t in self.tracker.flush() for s in self._end(t)]

    def _end(self, ended: Track) -> list[Sighting]:
        self.stats.tracks_ended += 1
        track = self._faces.pop(ended.track_id, None)
        if track is None:
            return []
        out = self._judge(track)
        for subject_id in track.reported:
            if subject_id is not None:
                self._recent[subject_id] = max(self._recent.get(subject_id, track.last_seen), track.last_seen)
        if None in track.reported and track.probes:
            self._unknowns.append((track.last_seen, list(track.probes.values())))
        return out

    def _judge(self, track: FaceTrack) -> list[Sighting]:
        if track.hits < self.tracks_config.min_hits or not track.crops:
            return []
        decision = decide(track, self._candidates(track), self.pipeline.threshold, self.tracks_config.min_hits)
        return [] if decision is None else self._report(track, decision)

    def _judge_early(self, track: FaceTrack, seen: datetime) -> list[Sighting]:
        track.tried_early(seen)
        cfg = self.tracks_config
        decision = decide_early(track, self._candidates(track), self.pipeline.threshold, cfg.early_margin, cfg.min_hits)
        if decision is None:
            return []
        out = self._report(track, decision)
        self.stats.named_early += len(out)
        return out

    def _report(self, track: FaceTrack, decision: Decision) -> list[Sighting]:
        """The sighting of a decision, unless the subject is still present on another track of this camera."""
        track.reported.add(decision.subject_id)
        subject_id = decision.subject_id
        if self._present(subject_id, track) if subject_id is not None else self._same_unknown(track):
            self.stats.merged += 1
            return []
        self.stats.sightings += 1
        return [self._sighting(decision)]

    def _present(self, subject_id: str, track: FaceTrack) -> bool:
        """Another live track of this camera named the subject, or one of theirs ended less than repeat_after_s
        before this track began: the same presence, already reported."""
        if any(t is not track and subject_id in t.reported for t in self._faces.values()):
            return True
        window = timedelta(seconds=self.tracks_config.repeat_after_s)
        previous = self._recent.get(subject_id)
        return previous is not None and track.first_seen - previous <= window

    def _same_unknown(self, track: FaceTrack) -> bool:
        """An unknown whose face matches (at the vision threshold) an unknown track of this camera that ended less
        than repeat_after_s before this one began: the same stranger, already reported."""
        window = timedelta(seconds=self.tracks_config.repeat_after_s)
        mine = list(track.probes.values())
        return any(
            track.first_seen - ended <= window
            and any(similarity(a, b) >= self.pipeline.threshold for a in mine for b in theirs)
            for ended, theirs in self._unknowns
        )

    def _candidates(self, track: FaceTrack) -> list[Candidate]:
        """Embed the track's best crops (each crop once: kept with the track) and search the gallery."""
        gallery = self.gallery()
        if gallery is None or len(gallery) == 0:
            return [Candidate(None, 0.0) for _ in track.crops]
        probes = [track.probes.get(crop.seen) or self._embed(track, crop) for crop in track.crops]
        kept = {c.seen for c in track.crops}
        for stale in [k for k in track.probes if k not in kept]:
            del track.probes[stale]
        found = gallery.search_many(probes, k=1)
        return [Candidate(m[0].subject_id, m[0].score) if m else Candidate(None, 0.0) for m in found]

    def _embed(self, track: FaceTrack, crop: Crop) -> Template:
        """The crop's template, made once and kept with the track (the one model call of a judgement)."""
        embedder = self.pipeline.embedder
        self.stats.crops_embedded += 1
        probe = Template.from_values(embedder.backend, embedder.model_sha256, embedder.embed(crop.aligned))
        track.probes[crop.seen] = probe
        return probe

    def _sighting(self, d: Decision) -> Sighting:
        x1, y1, x2, y2 = (max(0, round(v)) for v in d.bbox)
        return Sighting(
            event_id=sighting_event_id(self.epoch, self.device_id, self.camera_id, d.track_id, d.subject_id),
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
