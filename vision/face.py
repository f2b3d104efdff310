"""A detected face: box, five landmarks and the detector's confidence, in the pixel coordinates of the input image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Landmark order, as YuNet, SCRFD and insightface's ArcFace template all use it: the eye on the
# image's left (the subject's right eye) first, then the other eye, nose tip, and the mouth
# corners image-left then image-right.
LANDMARK_NAMES = ("right_eye", "left_eye", "nose_tip", "right_mouth_corner", "left_mouth_corner")


@dataclass(frozen=True, eq=False)
class Face:
    """One face found in an image."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2; may reach past the image edge
    landmarks: np.ndarray  # shape (5, 2), float32, order LANDMARK_NAMES
    score: float  # detector confidence, 0..1

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return self.box[3] - self.box[1]

    @property
    def eye_distance(self) -> float:
        """Distance between the two eye landmarks in pixels."""
        return float(np.linalg.norm(self.landmarks[1] - self.landmarks[0]))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: box as [x1, y1, x2, y2] integers (as in the sighting message), landmarks, score."""
        return {
            "box": [round(v) for v in self.box],
            "landmarks": {
                n: [round(float(x), 1), round(float(y), 1)]
                for n, (x, y) in zip(LANDMARK_NAMES, self.landmarks, strict=True)
            },
            "score": round(self.score, 4),
        }
