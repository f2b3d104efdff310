"""Quality gate (vision/quality.py) on synthetic pictures: blur, dark, bright, tiny, turned, cut off, none, several.

The "face" is a textured square with five landmarks placed where the ArcFace template puts them,
so each test changes exactly one property and checks that exactly that refusal comes back.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from vision.face import Face
from vision.quality import QualityConfig, QualityGate, Refusal, measure

TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def _picture(size: int = 400, level: float = 128, contrast: float = 50) -> np.ndarray:
    rng = np.random.default_rng(7)
    noise = rng.standard_normal((size, size)).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), 1.0)
    texture = level + contrast * texture / texture.std()
    picture: np.ndarray = np.clip(np.dstack([texture] * 3), 0, 255).astype(np.uint8)
    return picture


def _face(x: float = 100, y: float = 100, side: float = 200, nose_shift: tuple[float, float] = (0, 0)) -> Face:
    landmarks = TEMPLATE * (side / 112) + np.array([x, y], dtype=np.float32)
    landmarks[2] += np.array(nose_shift, dtype=np.float32) * side / 112
    return Face(box=(x, y, x + side, y + side), landmarks=landmarks, score=0.9)


def _codes(image: np.ndarray, faces: list[Face], **limits: float) -> list[Refusal]:
    report = QualityGate(QualityConfig(**limits)).check(image, faces)
    return [r.code for r in report.reasons]


def test_good_picture_is_accepted() -> None:
    """A large, sharp, mid-grey, frontal face well inside the picture passes."""
    report = QualityGate().check(_picture(), [_face()])
    assert report.accepted, report.message
    assert report.aligned is not None and report.aligned.shape == (112, 112, 3)
    m = report.measures
    assert m is not None and abs(m.yaw) < 0.05 and 0.4 < m.pitch < 0.6


def test_no_face() -> None:
    """Nothing detected: refused with no_face."""
    report = QualityGate().check(_picture(), [])
    assert [r.code for r in report.reasons] == [Refusal.NO_FACE] and not report.accepted


def test_several_faces() -> None:
    """Two faces of usable size: refused, the count is in the message."""
    report = QualityGate().check(_picture(), [_face(20, 20, 150), _face(220, 220, 150)])
    assert [r.code for r in report.reasons] == [Refusal.SEVERAL_FACES]
    assert report.message.startswith("2 faces found")


def test_small_background_face_does_not_count() -> None:
    """A face below the size limit next to the real one is ignored."""
    assert _codes(_picture(), [_face(), _face(330, 20, 30)]) == []


def test_several_faces_allowed_when_not_expecting_one() -> None:
    """With expect_one=False the largest face is judged on its own."""
    report = QualityGate().check(_picture(), [_face(20, 20, 150), _face(220, 220, 170)], expect_one=False)
    assert report.accepted and report.face is not None and report.face.width == 170


@pytest.mark.parametrize("sigma", [4.0, 8.0])
def test_blurred(sigma: float) -> None:
    """A blurred picture is refused as blurred, and only that."""
    image = cv2.GaussianBlur(_picture(), (0, 0), sigma)
    assert _codes(image, [_face()]) == [Refusal.BLURRED]


def test_dark() -> None:
    """An under-exposed face is refused as too dark."""
    assert _codes(_picture(level=25, contrast=8), [_face()]) == [Refusal.TOO_DARK]


def test_bright() -> None:
    """An over-exposed face is refused as too bright."""
    assert _codes(_picture(level=240, contrast=12), [_face()]) == [Refusal.TOO_BRIGHT]


def test_tiny() -> None:
    """A face smaller than min_face_px is refused as too small, with both numbers in the message."""
    image = _picture()
    small = _face(150, 150, 40)
    report = QualityGate(QualityConfig(min_sharpness=0)).check(image, [small], expect_one=False)
    assert [r.code for r in report.reasons] == [Refusal.TOO_SMALL]
    assert "Face too small (40 px, at least 60)" in report.message


@pytest.mark.parametrize("shift", [(25.0, 0.0), (-25.0, 0.0)])
def test_turned_sideways(shift: tuple[float, float]) -> None:
    """A nose far off the eyes-mouth line (head turned) is refused as not frontal."""
    assert _codes(_picture(), [_face(nose_shift=shift)]) == [Refusal.NOT_FRONTAL]


@pytest.mark.parametrize("shift", [(0.0, -17.0), (0.0, 17.0)])
def test_tilted_up_or_down(shift: tuple[float, float]) -> None:
    """A nose near the eyes or near the mouth (head tilted) is refused as not frontal."""
    report = QualityGate().check(_picture(), [_face(nose_shift=shift)])
    assert [r.code for r in report.reasons] == [Refusal.NOT_FRONTAL]
    assert "Head tilted up or down" in report.message


@pytest.mark.parametrize(("x", "y"), [(-20.0, 100.0), (100.0, 250.0), (0.0, 100.0)])
def test_cut_off(x: float, y: float) -> None:
    """A face reaching or crossing the picture's edge is refused as cut off."""
    assert Refusal.CUT_OFF in _codes(_picture(), [_face(x, y)])


def test_every_reason_is_reported() -> None:
    """Several faults at once are all listed, so the kiosk can show the most useful one."""
    image = cv2.GaussianBlur(_picture(level=25, contrast=8), (0, 0), 6)
    codes = _codes(image, [_face(nose_shift=(25, 0))])
    assert set(codes) == {Refusal.BLURRED, Refusal.TOO_DARK, Refusal.NOT_FRONTAL}


def test_measures_do_not_depend_on_resolution() -> None:
    """The same face at half the resolution measures nearly the same brightness and pose."""
    image = _picture(800)
    big = measure(image, _face(200, 200, 400))
    half = measure(cv2.resize(image, (400, 400), interpolation=cv2.INTER_AREA), _face(100, 100, 200))
    assert half.brightness == pytest.approx(big.brightness, abs=3)
    assert half.yaw == pytest.approx(big.yaw, abs=0.01) and half.pitch == pytest.approx(big.pitch, abs=0.01)


def test_config_ranges_are_checked() -> None:
    """Inverted ranges and unknown keys are configuration errors naming the values."""
    with pytest.raises(ValidationError, match=r"min_brightness \(200.0\) must be below max_brightness \(100.0\)"):
        QualityConfig(min_brightness=200, max_brightness=100)
    with pytest.raises(ValidationError, match="min_pitch"):
        QualityConfig(min_pitch=0.9, max_pitch=0.5)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        QualityConfig(min_face=3)  # type: ignore[call-arg]
