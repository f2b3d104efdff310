"""IoU/centroid tracker: the faces detected in each frame become tracks with stable ids. Pure, no clock.

Each update matches this frame's boxes to the live tracks one to one: first by overlap (IoU,
best pairs first), then, for the boxes and tracks left, by centre distance relative to the box
size (a face that moved further than it overlaps, e.g. when detection runs only every k-th
frame). A box left over starts a new track; a track missing from `max_missed` updates in a row
ends. Ids only grow, so an ended track's id is never given out again.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

Box = tuple[float, float, float, float]
"""x1, y1, x2, y2 in pixels."""


class TrackerConfig(BaseModel):
    """How boxes are tied to tracks."""

    model_config = ConfigDict(extra="forbid")

    min_iou: float = Field(
        default=0.2, gt=0, le=1, title="Least overlap", description="IoU from which a box may continue a track"
    )
    max_centre_shift: float = Field(
        default=1.0,
        ge=0,
        title="Largest jump",
        description="centre distance, in track box sizes, up to which a non-overlapping box may continue a track",
    )
    max_missed: int = Field(
        default=5, ge=1, title="Patience", description="detection passes in a row a track may miss before it ends"
    )


@dataclass
class Track:
    """One face followed across frames; frame numbers count detection passes given to `update`."""

    track_id: int
    box: Box
    first_frame: int
    last_frame: int
    hits: int = 1
    missed: int = 0


@dataclass(frozen=True)
class TrackUpdate:
    """What one frame did: the track id of each detection (same order) and the tracks that ended."""

    track_ids: list[int]
    ended: list[Track]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def _box(b: Sequence[float]) -> Box:
    return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))


def _area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _centre_shift(track: Box, box: Box) -> float:
    size = max(math.sqrt(_area(track)), 1e-6)
    dx = (track[0] + track[2] - box[0] - box[2]) / 2
    dy = (track[1] + track[3] - box[1] - box[3]) / 2
    return math.hypot(dx, dy) / size


class Tracker:
    """Live tracks of one camera; feed it the detections of each detection pass in order."""

    def __init__(self, config: TrackerConfig | None = None, ids: Iterator[int] | None = None) -> None:
        """`ids`: the track ids to give out, increasing (the agent's are reserved on disk, unique across
        restarts); 1, 2, 3, ... by default."""
        self.config = config or TrackerConfig()
        self._tracks: dict[int, Track] = {}
        self._ids = ids if ids is not None else itertools.count(1)

    @property
    def live(self) -> list[Track]:
        """Tracks not ended yet, oldest first."""
        return list(self._tracks.values())

    def update(self, boxes: Sequence[Sequence[float]], frame: int) -> TrackUpdate:
        """Match `boxes` (one detection pass, numbered `frame`) to tracks; start, continue and end tracks."""
        given = [_box(b) for b in boxes]
        ids: list[int | None] = [None] * len(boxes)
        free = dict(self._tracks)
        pairs = sorted(
            ((iou(t.box, b), i, tid) for tid, t in free.items() for i, b in enumerate(given)),
            key=lambda p: (-p[0], p[1], p[2]),
        )
        for overlap, i, tid in pairs:
            if overlap < self.config.min_iou:
                break
            if ids[i] is None and tid in free:
                ids[i] = tid
                del free[tid]
        shifts = sorted(
            (_centre_shift(t.box, given[i]), i, tid)
            for tid, t in free.items()
            for i in range(len(given))
            if ids[i] is None
        )
        for shift, i, tid in shifts:
            if shift > self.config.max_centre_shift:
                break
            if ids[i] is None and tid in free:
                ids[i] = tid
                del free[tid]
        track_ids: list[int] = []
        for box, matched in zip(given, ids, strict=True):
            if matched is None:
                tid = next(self._ids)
                self._tracks[tid] = Track(tid, box, frame, frame)
            else:
                tid = matched
                t = self._tracks[tid]
                t.box, t.last_frame, t.hits, t.missed = box, frame, t.hits + 1, 0
            track_ids.append(tid)
        ended = []
        for tid in free:
            t = self._tracks[tid]
            t.missed += 1
            if t.missed >= self.config.max_missed:
                ended.append(self._tracks.pop(tid))
        return TrackUpdate(track_ids=track_ids, ended=ended)

    def flush(self) -> list[Track]:
        """End every live track (the source ended or the agent stops)."""
        ended = list(self._tracks.values())
        self._tracks.clear()
        return ended
