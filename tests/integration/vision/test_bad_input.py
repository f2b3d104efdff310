"""Bad input ends in a VisionError that says what was wrong: images, colour formats, missing or corrupt models."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.integration.vision.conftest import FACES
from vision.config import parse_config
from vision.errors import ImageError, ModelFileError, VisionError
from vision.image import load_image
from vision.models import ModelFile, load_manifest, resolve
from vision.pipeline import FacePipeline
from vision.runtime import session_for

OBAMA = FACES / "face_recognition" / "obama.jpg"


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (None, "expected a numpy array"),
        (np.zeros((480, 640), dtype=np.uint8), "single-channel"),
        (np.zeros((480, 640, 4), dtype=np.uint8), "four-channel"),
        (np.zeros((480, 640, 3), dtype=np.float32), "pixel type float32"),
        (np.zeros((480, 640, 3), dtype=np.uint16), "pixel type uint16"),
        (np.zeros((4, 4, 3), dtype=np.uint8), "4x4 pixels"),
        (np.zeros((8000, 6000, 3), dtype=np.uint8), "48000000 pixels; at most 40000000"),
    ],
)
def test_arrays_in_the_wrong_format(pipeline, image: object, message: str) -> None:
    """detect, assess and enrol refuse arrays they cannot use, naming what was expected."""
    pipe = pipeline("yunet", "sface")
    for call in (pipe.detect, pipe.assess, pipe.enrol):
        with pytest.raises(ImageError, match=message):
            call(image)


def test_rgb_order_is_the_callers_business_but_still_works(pipeline, photo) -> None:
    """An RGB array is a valid 3-channel image: the face is still found (colour order only shifts scores)."""
    rgb = cv2.cvtColor(photo("face_recognition/obama.jpg"), cv2.COLOR_BGR2RGB)
    assert len(pipeline("yunet", "sface").detect(rgb)) == 1


@pytest.mark.parametrize("keep", [0, 100, 5000, 40000])
def test_truncated_or_empty_files(pipeline, faces_dir: Path, tmp_path: Path, keep: int) -> None:
    """A real JPEG cut short (or empty) is an ImageError naming the file, before any model runs."""
    path = tmp_path / "cut.jpg"
    path.write_bytes(OBAMA.read_bytes()[:keep])
    with pytest.raises(ImageError, match=str(path)):
        load_image(path)


def test_not_an_image_file(faces_dir: Path) -> None:
    """A text file is refused as not readable."""
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(faces_dir / "celeb5" / "detections.csv")


def test_missing_model_says_how_to_fetch(models_present: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With CORR_MODELS_DIR pointing at an empty folder, building the pipeline names the file and the fix."""
    monkeypatch.setenv("CORR_MODELS_DIR", str(tmp_path))
    with pytest.raises(
        ModelFileError,
        match=r"model 'yunet' \(face/face_detection_yunet_2023mar_int8bq.onnx\) not "
        r"found in .*python -m models.fetch yunet",
    ):
        FacePipeline(parse_config({"runtime": {"threads": 1}, "threshold": 0.3}))


@pytest.mark.parametrize("name", ["yunet", "sface", "fr_feature"])
def test_corrupt_model_is_refused_before_loading(
    models_present: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A model file with one byte changed fails the sha256 check, with both digests and the fetch command."""
    source = resolve(name)
    target = tmp_path / load_manifest()[name].file  # a copy in a temporary folder, never in the repository
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source.path, target)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    monkeypatch.setenv("CORR_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelFileError, match=f"model '{name}': .* the manifest expects {source.sha256}.*models.fetch"):
        resolve(name)


def test_unloadable_model_file_is_a_model_error(tmp_path: Path) -> None:
    """Bytes onnxruntime cannot parse end in a ModelFileError naming the file, not an onnxruntime exception."""
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07garbage that is not a graph" * 100)
    with pytest.raises(ModelFileError, match=f"onnxruntime cannot load {path}"):
        session_for(ModelFile(name="broken", path=path, sha256="b" * 64), threads=1)


def test_every_refusal_is_a_vision_error(pipeline) -> None:
    """The caller needs to catch one exception class for all of the above."""
    assert issubclass(ImageError, VisionError) and issubclass(ModelFileError, VisionError)
    with pytest.raises(VisionError):
        pipeline("yunet", "sface").enrol(np.zeros((480, 640, 3), dtype=np.uint8))
