"""Detectors on the real models and photos: one face per single-face photo, six in t1.jpg, YuNet as OpenCV runs it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.integration.vision.conftest import single_face_celeb5
from vision.models import resolve
from vision.pipeline import FacePipeline

SINGLE = [
    "face_recognition/obama.jpg",
    "face_recognition/obama2.jpg",
    "face_recognition/obama3.jpg",
    "face_recognition/biden.jpg",
    "face_recognition/obama_partial_face.jpg",
    "face_recognition/obama_partial_face2.jpg",
    "insightface/Tom_Hanks_54745.png",
]
MASKS = [f"insightface/mask_{c}.jpg" for c in ("black", "blue", "green", "white")]


def test_yunet_finds_exactly_one_face_in_every_single_face_photo(pipeline, photo, faces_dir: Path) -> None:
    """YuNet: exactly one face in each single-face photo (face_recognition, Tom Hanks, 113 celeb5 photos)."""
    pipe = pipeline("yunet", "sface")
    counts = {p: len(pipe.detect(photo(p))) for p in SINGLE + single_face_celeb5(faces_dir)}
    assert {p: n for p, n in counts.items() if n != 1} == {}
    assert len(counts) > 100


def test_fr_detect_finds_one_face_in_every_single_face_photo(pipeline, photo, faces_dir: Path) -> None:
    """fr_detect: exactly one face per single-face photo, not counting boxes under half the face's size.

    Unlike YuNet it also boxes small face-like patches inside or under the face (a lens of Elton
    John's glasses, a microphone, a pattern next to Mindy Kaling: 3 celeb5 photos, 15-43 % of the
    face's size).
    """
    pipe = pipeline("fr_detect", "sface")
    counts = {}
    for p in SINGLE + single_face_celeb5(faces_dir):
        sizes = [min(f.width, f.height) for f in pipe.detect(photo(p))]
        counts[p] = sum(1 for s in sizes if s >= 0.5 * max(sizes)) if sizes else 0
    assert {p: n for p, n in counts.items() if n != 1} == {}


@pytest.mark.parametrize(
    "name",
    [
        "celeb5/elton_john/elton_john_train_08.jpg",
        "celeb5/elton_john/elton_john_train_13.jpg",
        "celeb5/mindy_kaling/mindy_kaling_train_16.jpg",
    ],
)
def test_fr_detect_extra_boxes_are_not_several_faces(pipeline, photo, name: str) -> None:
    """Where fr_detect adds a small false box, the gate does not call the picture "several faces"."""
    pipe = pipeline("fr_detect", "sface")
    assert len(pipe.detect(photo(name))) == 2
    assert "several_faces" not in [r.code.value for r in pipe.assess(photo(name)).reasons]


@pytest.mark.parametrize("detector", ["yunet", "fr_detect"])
def test_six_faces_in_t1(pipeline, photo, detector: str) -> None:
    """insightface's t1.jpg: six people, six faces, each with five landmarks inside its box."""
    faces = pipeline(detector, "sface").detect(photo("insightface/t1.jpg"))
    assert len(faces) == 6
    for f in faces:
        x1, y1, x2, y2 = f.box
        assert np.all((f.landmarks[:, 0] > x1) & (f.landmarks[:, 0] < x2))
        assert np.all((f.landmarks[:, 1] > y1) & (f.landmarks[:, 1] < y2))
        assert f.landmarks[0, 0] < f.landmarks[1, 0]  # the eye on the image's left comes first


@pytest.mark.parametrize("detector", ["yunet", "fr_detect"])
@pytest.mark.parametrize("mask", MASKS)
def test_pictures_of_masks_hold_no_face(pipeline, photo, detector: str, mask: str) -> None:
    """The mask pictures (no person in them) give no face, and the gate says no_face."""
    pipe = pipeline(detector, "sface")
    assert pipe.detect(photo(mask)) == []
    assert [r.code.value for r in pipe.assess(photo(mask)).reasons] == ["no_face"]


@pytest.mark.parametrize(
    "name", ["face_recognition/obama.jpg", "insightface/t1.jpg", "celeb5/madonna/madonna_train_13.jpg"]
)
def test_yunet_matches_opencv_face_detector(pipeline, photo, name: str) -> None:
    """Our onnxruntime YuNet gives OpenCV FaceDetectorYN's boxes, landmarks and scores on the same file."""
    if not hasattr(cv2, "FaceDetectorYN"):
        pytest.skip("this OpenCV build has no FaceDetectorYN")
    image = photo(name)
    pipe: FacePipeline = pipeline("yunet", "sface")
    scale = min(1.0, pipe.config.detector.max_side / max(image.shape[:2]))  # type: ignore[union-attr]
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
    reference = cv2.FaceDetectorYN.create(str(resolve("yunet").path), "", (small.shape[1], small.shape[0]), 0.6, 0.3)
    _, rows = reference.detect(small)
    ours = sorted(pipe.detect(image), key=lambda f: f.box[0])
    theirs = sorted(rows, key=lambda r: r[0])
    assert len(ours) == len(theirs)
    for f, r in zip(ours, theirs, strict=True):
        assert np.allclose(np.array(f.box[:2]) * scale, r[:2], atol=0.5)
        assert np.allclose((np.array(f.box[2:]) - np.array(f.box[:2])) * scale, r[2:4], atol=0.5)
        assert np.allclose(f.landmarks.reshape(-1) * scale, r[4:14], atol=0.5)
        assert f.score == pytest.approx(float(r[14]), abs=1e-3)
