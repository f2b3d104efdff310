"""The embedder interface (vision/embedder.py) with a stand-in backend: input checks, output checks, unit length."""

from __future__ import annotations

import numpy as np
import pytest

from vision.embedder import Embedder
from vision.errors import ImageError, VisionError
from vision.face import Face


class Constant(Embedder):
    """Returns whatever it was given to return."""

    backend = "constant"
    model_sha256 = "0" * 64
    dim = 3

    def __init__(self, out: np.ndarray) -> None:
        self.out = out

    def _embed(self, aligned: np.ndarray) -> np.ndarray:
        return self.out


CROP = np.zeros((112, 112, 3), dtype=np.uint8)


def test_output_is_scaled_to_unit_length() -> None:
    """The backend's raw vector comes back as float32 of length 1."""
    v = Constant(np.array([3.0, 0.0, 4.0])).embed(CROP)
    assert v.dtype == np.float32 and v.tolist() == pytest.approx([0.6, 0.0, 0.8])


@pytest.mark.parametrize(
    ("out", "message"),
    [
        (np.array([1.0, 2.0]), "model gave 2 values; expected 3"),
        (np.zeros(3), "zero or non-finite embedding"),
        (np.array([np.nan, 1.0, 1.0]), "zero or non-finite embedding"),
    ],
)
def test_bad_model_output_is_refused(out: np.ndarray, message: str) -> None:
    """A wrong-sized, zero or NaN embedding is a VisionError naming the backend."""
    with pytest.raises(VisionError, match=f"constant: .*{message}"):
        Constant(out).embed(CROP)


def test_crop_must_be_aligned_112() -> None:
    """Anything but a 112×112 BGR crop is refused before the model runs."""
    with pytest.raises(VisionError, match="aligned face of 100x112 pixels; expected 112x112"):
        Constant(np.ones(3)).embed(np.zeros((112, 100, 3), dtype=np.uint8))
    with pytest.raises(ImageError, match="aligned face: single-channel"):
        Constant(np.ones(3)).embed(np.zeros((112, 112), dtype=np.uint8))


def test_face_to_dict_matches_the_sighting_box() -> None:
    """Face.to_dict gives the box as integers [x1, y1, x2, y2], named landmarks and the score."""
    face = Face(box=(10.4, 20.6, 110.2, 150.9), landmarks=np.arange(10, dtype=np.float32).reshape(5, 2), score=0.91234)
    d = face.to_dict()
    assert d["box"] == [10, 21, 110, 151] and d["score"] == 0.9123
    assert d["landmarks"]["right_eye"] == [0.0, 1.0] and d["landmarks"]["left_mouth_corner"] == [8.0, 9.0]
    assert face.width == pytest.approx(99.8) and face.eye_distance == pytest.approx(np.hypot(2, 2))
