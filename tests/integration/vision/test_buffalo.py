"""The insightface-pack backend through insightface's own model zoo.

No buffalo pack is available here (research-only weights, on no reachable registry), so the pack
folder built for these tests holds what insightface's zoo does accept: fr_feature.onnx (a real
512-d ArcFace-style recogniser, which the zoo routes to its ArcFaceONNX class) linked under a
pack-style name, and a stand-in SCRFD graph (tests/integration/vision/scrfd_graph.py) that the
zoo routes to its SCRFD class. A real SCRFD detector's accuracy is therefore not tested.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.integration.vision.scrfd_graph import KPS_OFFSETS, write_scrfd_like
from vision.align import align
from vision.backends.buffalo import BuffaloDetectorConfig, BuffaloEmbedderConfig
from vision.config import parse_config
from vision.errors import ConfigError, ModelFileError
from vision.models import resolve
from vision.pipeline import FacePipeline
from vision.runtime import RuntimeConfig

RUNTIME = RuntimeConfig(threads=1)


@pytest.fixture
def pack(models_present: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """CORR_MODELS_DIR with insightface/testpack/{det_standin.onnx, w600k_fr_feature.onnx} (a link, not a copy)."""
    folder = tmp_path / "insightface" / "testpack"
    folder.mkdir(parents=True)
    write_scrfd_like(folder / "det_standin.onnx")
    (folder / "w600k_fr_feature.onnx").symlink_to(resolve("fr_feature").path)
    monkeypatch.setenv("CORR_MODELS_DIR", str(tmp_path))
    return folder


@pytest.fixture(scope="session")
def fr_feature_pipeline(pipeline) -> FacePipeline:
    """Our own yunet + fr_feature pipeline, built before `pack` points CORR_MODELS_DIR elsewhere."""
    built: FacePipeline = pipeline("yunet", "fr_feature")
    return built


def test_recogniser_through_the_zoo_equals_our_fr_feature(fr_feature_pipeline: FacePipeline, pack: Path, photo) -> None:
    """insightface's ArcFaceONNX on fr_feature.onnx gives our fr_feature embedding (its own mean/scale applied)."""
    ours = fr_feature_pipeline
    image = photo("face_recognition/obama.jpg")
    crop = align(image, ours.detect(image)[0])
    zoo = BuffaloEmbedderConfig(pack="testpack").build(RUNTIME)
    assert zoo.dim == 512 and zoo.model_sha256 == ours.embedder.model_sha256
    assert float(zoo.embed(crop) @ ours.embedder.embed(crop)) > 0.9999


@pytest.mark.parametrize("factor", [1, 2])
def test_detector_through_the_zoo_maps_back_to_image_pixels(pack: Path, factor: int) -> None:
    """The stand-in SCRFD "finds" a white square; box and landmarks come back in the caller's pixels."""
    detector = BuffaloDetectorConfig(pack="testpack").build(RUNTIME)
    image = np.zeros((640 * factor, 640 * factor, 3), dtype=np.uint8)
    image[160 * factor : 192 * factor, 224 * factor : 256 * factor] = 255  # stride-32 cell (row 5, column 7)
    (face,) = detector.detect(image)
    anchor = np.array([7 * 32, 5 * 32], dtype=np.float32)
    assert face.box == pytest.approx(tuple(np.array([192, 128, 256, 192]) * factor), abs=0.5)
    np.testing.assert_allclose(face.landmarks, (anchor + KPS_OFFSETS * 32) * factor, atol=0.5)
    assert face.score > 0.9


def test_pack_pipeline_needs_a_threshold(pack: Path) -> None:
    """No threshold is calibrated for a user's pack: the pipeline says so, and runs once one is configured."""
    cfg = {"detector": {"type": "buffalo", "pack": "testpack"}, "embedder": {"type": "buffalo", "pack": "testpack"}}
    with pytest.raises(ConfigError, match="no calibrated threshold for embedder 'buffalo'"):
        FacePipeline(parse_config(cfg | {"runtime": {"threads": 1}}))
    pipe = FacePipeline(parse_config(cfg | {"runtime": {"threads": 1}, "threshold": 0.3}))
    image = np.zeros((640, 640, 3), dtype=np.uint8)
    image[160:192, 224:256] = 255
    (face,) = pipe.detect(image)
    assert pipe.template(image, face).backend == "buffalo"


def test_missing_pack_explains_the_licence(models_present: None, tmp_path: Path, monkeypatch) -> None:
    """Without the pack the error names where it was looked for and why fetch does not get it."""
    monkeypatch.setenv("CORR_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelFileError, match=r"insightface pack 'buffalo_l' not found in .*non-commercial research"):
        BuffaloEmbedderConfig().build(RUNTIME)


def test_pack_file_problems(pack: Path) -> None:
    """Ambiguous files, a wrong pinned sha256, and a file of the wrong kind are each refused by name."""
    (pack / "w600k_other.onnx").symlink_to(pack / "w600k_fr_feature.onnx")
    with pytest.raises(ModelFileError, match="holds several recogniser files"):
        BuffaloEmbedderConfig(pack="testpack").build(RUNTIME)
    with pytest.raises(ModelFileError, match="the configuration pins"):
        BuffaloEmbedderConfig(pack="testpack", file="w600k_other.onnx", sha256="0" * 64).build(RUNTIME)
    with pytest.raises(ModelFileError, match="reads it as a recognition model; expected detection"):
        BuffaloDetectorConfig(pack="testpack", file="w600k_other.onnx").build(RUNTIME)
