"""The quality gate on real photos: partial faces, and photos made too blurred, dark, bright or small."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.integration.vision.conftest import COMBINATIONS
from vision.pipeline import QualityRefused

PARTIAL = ["face_recognition/obama_partial_face.jpg", "face_recognition/obama_partial_face2.jpg"]
GOOD = ["face_recognition/obama.jpg", "face_recognition/obama2.jpg", "face_recognition/obama3.jpg"]


@pytest.mark.parametrize(("detector", "embedder"), COMBINATIONS[::3])
@pytest.mark.parametrize("name", PARTIAL)
def test_partial_faces_are_cut_off(pipeline, photo, detector: str, embedder: str, name: str) -> None:
    """A face cut by the frame edge is refused as cut_off, and enrolment says so."""
    pipe = pipeline(detector, embedder)
    report = pipe.assess(photo(name))
    assert [r.code.value for r in report.reasons] == ["cut_off"]
    with pytest.raises(QualityRefused, match="Face cut off by the edge of the picture"):
        pipe.enrol(photo(name))


@pytest.mark.parametrize("detector", ["yunet", "fr_detect"])
@pytest.mark.parametrize("name", GOOD)
def test_good_portraits_pass(pipeline, photo, detector: str, name: str) -> None:
    """The three Obama portraits pass the gate as they are."""
    report = pipeline(detector, "sface").assess(photo(name))
    assert report.accepted, report.message


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda im: cv2.GaussianBlur(im, (0, 0), 6), "blurred"),
        (lambda im: (im * 0.2).astype(np.uint8), "too_dark"),
        (lambda im: np.clip(im.astype(np.float32) * 3.0, 0, 255).astype(np.uint8), "too_bright"),
        (lambda im: cv2.resize(im, None, fx=0.15, fy=0.15, interpolation=cv2.INTER_AREA), "too_small"),
    ],
)
def test_degraded_photos_are_refused_for_that_reason(pipeline, photo, change, code: str) -> None:
    """Obama's portrait blurred, darkened, over-exposed or shrunk is refused, and the reason is the one changed."""
    report = pipeline("yunet", "sface").assess(change(photo("face_recognition/obama.jpg")))
    assert report.face is not None, "the detector should still find the face"
    assert code in [r.code.value for r in report.reasons], report.message


def test_two_people_side_by_side_are_several_faces(pipeline, photo) -> None:
    """Two portraits in one picture: refused as several faces; the edge camera path judges each face instead."""
    pipe = pipeline("yunet", "sface")
    a = photo("face_recognition/obama.jpg")
    b = cv2.resize(photo("face_recognition/biden.jpg"), (int(a.shape[0] * 970 / 2204), a.shape[0]))
    both = np.hstack([a, b])
    assert [r.code.value for r in pipe.assess(both).reasons] == ["several_faces"]
    judged = pipe.faces_with_templates(both)
    assert len(judged) == 2 and all(t is not None for _, _, t in judged)
