"""Per track, the best crops of the face; when the track ends (or has lasted too long), one decision per subject.

The choice of crops and the decision are pure: `FaceTrack` keeps the best-quality aligned crops,
and `decide` turns the best gallery match of each of those crops into at most one sighting
decision. The embedding and the gallery search happen in between, in the caller
(`edge_agent.recognition`), so this module never runs a model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge_agent.tracker import Box
from vision.quality import Measures, QualityConfig
from vision.template import Template


class TrackFacesConfig(BaseModel):
    """Which crops of a track are embedded, and when a track is judged."""

    model_config = ConfigDict(extra="forbid")

    best_crops: int = Field(
        default=3, ge=1, le=20, title="Crops embedded", description="best-quality crops per track that are embedded"
    )
    min_hits: int = Field(
        default=2, ge=1, title="Least detections", description="detections a track needs before it is reported"
    )
    max_track_s: float = Field(
        default=30.0,
        gt=0,
        title="Longest wait",
        description="a track still in view after this many seconds is judged without waiting for its end",
    )
    repeat_after_s: float = Field(
        default=3.0,
        ge=0,
        title="Same presence",
        description="a subject named on a new track that began within this many seconds of another track of theirs "
        "on the same camera (a track split by a missed detection or a busy CPU) is not reported again",
    )
    early: bool = Field(
        default=True,
        title="Name early",
        description="report a subject as soon as the track's best crops match them clearly (threshold + "
        "early_margin), without waiting for the track to end; unknowns are still judged at the end",
    )
    early_margin: float = Field(
        default=0.05,
        ge=0,
        le=1,
        title="Early margin",
        description="how far above the vision threshold an early match must score",
    )
    early_every_s: float = Field(
        default=0.5,
        gt=0,
        title="Early attempts",
        description="least time between two early attempts on one track whose best crops changed, seconds",
    )


def crop_quality(measures: Measures, gate: QualityConfig) -> float:
    """0..1: the geometric mean of size, sharpness and frontal pose, each 1 at twice (size), four times
    (sharpness) the gate's limit or when fully frontal."""
    size = min(measures.face_px / (2 * gate.min_face_px), 1.0)
    sharp = min(measures.sharpness / (4 * max(gate.min_sharpness, 1e-6)), 1.0)
    yaw = measures.yaw if math.isfinite(measures.yaw) else gate.max_yaw
    frontal = max(0.0, 1.0 - abs(yaw) / gate.max_yaw)
    product: float = max(size, 0.0) * max(sharp, 0.0) * frontal
    return float(product ** (1 / 3))


@dataclass(frozen=True, eq=False)
class Crop:
    """One accepted face of a track: the aligned 112x112 crop, its quality, box and time."""

    quality: float
    box: Box
    seen: datetime
    aligned: np.ndarray = field(repr=False)


@dataclass
class FaceTrack:
    """What is kept of one track: its times, its best crops, and the subjects already reported for it."""

    track_id: int
    first_seen: datetime
    last_seen: datetime
    window_start: datetime
    hits: int = 0
    crops: list[Crop] = field(default_factory=list)
    reported: set[str | None] = field(default_factory=set)
    early_at: datetime | None = None  # last early attempt
    early_attempts: int = 0
    early_crops: tuple[datetime, ...] = ()  # the crops (by time) that attempt saw
    probes: dict[datetime, Template] = field(default_factory=dict)  # embeddings of crops, by crop time

    @classmethod
    def start(cls, track_id: int, seen: datetime) -> FaceTrack:
        """A new track first seen at `seen`."""
        return cls(track_id=track_id, first_seen=seen, last_seen=seen, window_start=seen)

    def see(self, seen: datetime, crop: Crop | None, keep: int) -> None:
        """Record one detection of the track, and its crop when the gate accepted it (the `keep` best stay)."""
        self.hits += 1
        self.last_seen = max(self.last_seen, seen)
        if crop is not None:
            self.crops.append(crop)
            self.crops.sort(key=lambda c: -c.quality)
            del self.crops[keep:]

    def due(self, now: datetime, max_track_s: float) -> bool:
        """True when the track has been in view for `max_track_s` since it was last judged."""
        return now - self.window_start >= timedelta(seconds=max_track_s)

    def early_due(self, now: datetime, config: TrackFacesConfig) -> bool:
        """True when an early attempt may run: enabled, nobody named yet, a full set of crops it has not seen,
        and `early_every_s` since the last attempt, doubling after each attempt that named nobody (a face that
        matches no one clearly is not embedded over and over: its track is judged at its end)."""
        if not config.early or self.reported or self.hits < config.min_hits or len(self.crops) < config.best_crops:
            return False
        if tuple(c.seen for c in self.crops) == self.early_crops:
            return False
        if self.early_at is None:
            return True
        spacing = config.early_every_s * 2 ** max(0, self.early_attempts - 1)
        return now - self.early_at >= timedelta(seconds=spacing)

    def tried_early(self, now: datetime) -> None:
        """Record an early attempt on the current crops."""
        self.early_at = now
        self.early_attempts += 1
        self.early_crops = tuple(c.seen for c in self.crops)

    def next_window(self, now: datetime) -> None:
        """Start collecting fresh crops after a judgement made while the track goes on."""
        self.window_start = now
        self.crops = []


@dataclass(frozen=True)
class Candidate:
    """The best gallery match of one crop (subject None: the gallery is empty)."""

    subject_id: str | None
    score: float


@dataclass(frozen=True)
class Decision:
    """One sighting to report: the track, who (None: unknown), the best score, and the best crop's quality."""

    track_id: int
    subject_id: str | None
    score: float
    quality: float
    bbox: Box
    first_seen: datetime
    last_seen: datetime


def decide_early(
    track: FaceTrack, candidates: Sequence[Candidate], threshold: float, margin: float, min_hits: int
) -> Decision | None:
    """A decision naming a subject while the track goes on: only a match at or above threshold + margin, never
    an unknown (that waits for the end, when all crops are in)."""
    if len(candidates) != len(track.crops):
        raise ValueError(f"{len(candidates)} candidates for {len(track.crops)} crops; expected one per crop")
    best = max((c for c in candidates if c.subject_id is not None), key=lambda c: c.score, default=None)
    if best is None or best.score < threshold + margin:
        return None
    return decide(track, candidates, threshold, min_hits)


def decide(track: FaceTrack, candidates: Sequence[Candidate], threshold: float, min_hits: int) -> Decision | None:
    """At most one decision for the track's crops (candidates in the order of `track.crops`).

    The subject is the best-scoring candidate at or above `threshold`; below it the face is unknown.
    None when the track is too short, had no accepted crop, or its answer was reported already
    (an unknown is not reported once the track has been named).
    """
    if len(candidates) != len(track.crops):
        raise ValueError(f"{len(candidates)} candidates for {len(track.crops)} crops; expected one per crop")
    if track.hits < min_hits or not track.crops:
        return None
    best = max(range(len(candidates)), key=lambda i: (candidates[i].score, -i))
    top = candidates[best]
    subject = top.subject_id if top.subject_id is not None and top.score >= threshold else None
    if subject in track.reported or (subject is None and track.reported):
        return None
    crop = track.crops[0]
    return Decision(
        track_id=track.track_id,
        subject_id=subject,
        score=max(-1.0, min(1.0, top.score)) if top.subject_id is not None else 0.0,
        quality=crop.quality,
        bbox=crop.box,
        first_seen=track.first_seen,
        last_seen=track.last_seen,
    )
