"""Alignment (vision/align.py): insightface's norm_crop onto the ArcFace template, and refused landmarks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vision.align import check_landmarks, norm_crop
from vision.errors import VisionError

TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def _marked(landmarks: np.ndarray, radius: int = 1, size: int = 512) -> np.ndarray:
    """A black picture with a white square dot on each landmark."""
    image = np.zeros((size, size, 3), dtype=np.uint8)
    for x, y in np.round(landmarks).astype(int):
        image[y - radius : y + radius + 1, x - radius : x + radius + 1] = 255
    return image


@settings(max_examples=40)
@given(
    st.floats(0.8, 2.5),
    st.floats(-np.pi / 3, np.pi / 3),
    st.floats(60, 140),
    st.floats(60, 140),
)
def test_landmarks_land_on_the_template(scale: float, angle: float, tx: float, ty: float) -> None:
    """Whatever the face's size, rotation and place, each landmark ends up on its template point."""
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]], dtype=np.float32)
    landmarks = (TEMPLATE - 56) @ rot.T * scale + 56 * scale + np.array([tx, ty], dtype=np.float32)
    # the dot grows with the face so it is still about 3 pixels wide once the crop shrinks it
    crop = norm_crop(_marked(landmarks, radius=int(np.ceil(scale))), landmarks)
    assert crop.shape == (112, 112, 3)
    for x, y in TEMPLATE:
        cx, cy = round(float(x)), round(float(y))
        patch = crop[cy - 2 : cy + 3, cx - 2 : cx + 3]
        assert patch.max() > 100, (x, y)


def test_larger_crops_are_multiples_of_112() -> None:
    """224 is allowed (scaled template), other sizes are refused by name."""
    assert norm_crop(_marked(TEMPLATE * 2), TEMPLATE * 2, size=224).shape == (224, 224, 3)
    with pytest.raises(VisionError, match="aligned size 100; expected a positive multiple of 112"):
        norm_crop(_marked(TEMPLATE), TEMPLATE, size=100)


@pytest.mark.parametrize(
    ("landmarks", "message"),
    [
        (np.zeros((4, 2)), r"landmarks of shape \(4, 2\); expected \(5, 2\)"),
        (np.full((5, 2), np.nan), "NaN, infinite or absurd"),
        (np.full((5, 2), 1e12), "NaN, infinite or absurd"),
        (np.zeros((5, 2)), "both eyes on the same pixel"),
    ],
)
def test_unusable_landmarks_are_refused(landmarks: np.ndarray, message: str) -> None:
    """Wrong shape, non-finite or absurd values and coincident eyes are VisionErrors."""
    with pytest.raises(VisionError, match=message):
        norm_crop(np.zeros((100, 100, 3), dtype=np.uint8), landmarks)


def test_check_landmarks_returns_float32() -> None:
    """Good landmarks come back as a (5, 2) float32 array."""
    out = check_landmarks(TEMPLATE.astype(np.float64))
    assert out.dtype == np.float32 and out.shape == (5, 2)
