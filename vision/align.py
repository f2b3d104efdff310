"""Alignment: warp a face onto the 112×112 ArcFace five-point template with insightface's `face_align.norm_crop`.

Every embedder here (SFace, fr_feature, ArcFace packs) was trained on crops made this way, so
one function serves them all.
"""

from __future__ import annotations

import warnings

import numpy as np

from vision.errors import VisionError
from vision.face import Face

# scikit-image 0.26 deprecated SimilarityTransform.estimate, which insightface 2.1 still calls on
# every crop; the call works until scikit-image 2.2 (hence the pin), and the warning would
# otherwise repeat once per face in every log.
warnings.filterwarnings("ignore", message="`estimate` is deprecated", category=FutureWarning)

from insightface.utils import face_align  # type: ignore[import-untyped]  # noqa: E402 (filter first)

ALIGNED_SIZE = 112
_MAX_COORD = 1e6


def check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """`landmarks` as a (5, 2) float32 array, or a VisionError saying why they cannot be aligned."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (5, 2):
        raise VisionError(f"landmarks of shape {pts.shape}; expected (5, 2): eyes, nose tip, mouth corners")
    if not np.all(np.isfinite(pts)) or np.any(np.abs(pts) > _MAX_COORD):
        raise VisionError("landmarks hold NaN, infinite or absurd coordinates; expected pixel positions")
    if np.linalg.norm(pts[1] - pts[0]) < 2.0:
        raise VisionError("landmarks put both eyes on the same pixel; a face cannot be aligned from them")
    return pts.astype(np.float32)


def norm_crop(image: np.ndarray, landmarks: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
    """The face warped onto the ArcFace template: a size×size BGR crop (size a multiple of 112)."""
    pts = check_landmarks(landmarks)
    if size <= 0 or size % 112:
        raise VisionError(f"aligned size {size}; expected a positive multiple of 112")
    matrix = face_align.estimate_norm(pts, image_size=size)
    if not np.all(np.isfinite(matrix)):
        raise VisionError("landmarks do not define a similarity transform (collinear or degenerate points)")
    crop: np.ndarray = face_align.norm_crop(image, pts, image_size=size)
    return crop


def align(image: np.ndarray, face: Face, size: int = ALIGNED_SIZE) -> np.ndarray:
    """The aligned crop of a detected face."""
    return norm_crop(image, face.landmarks, size)
