"""Real models and real photos for the vision integration tests; skipped, with the reason, when either is absent.

Models are found the way the package finds them (CORR_MODELS_DIR, else models/, else
../shared/models); photos come from ../shared/testdata/faces and are never copied into the
repository. Pipelines run onnxruntime on one thread: the machine is shared.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.config import parse_config
from vision.errors import ModelFileError
from vision.image import load_image
from vision.models import REPO_ROOT, resolve
from vision.pipeline import FacePipeline

FACES = REPO_ROOT.parent / "shared" / "testdata" / "faces"
MODELS = ("yunet", "sface", "fr_detect", "fr_landmark", "fr_feature")
COMBINATIONS = [("yunet", "sface"), ("yunet", "fr_feature"), ("fr_detect", "sface"), ("fr_detect", "fr_feature")]


def pytest_configure(config: pytest.Config) -> None:
    """insightface's scikit-image deprecation warning: see tests/unit/vision/conftest.py."""
    config.addinivalue_line("filterwarnings", "ignore:`estimate` is deprecated:FutureWarning")


@pytest.fixture(scope="session")
def models_present() -> None:
    """Skip (naming the file and how to fetch it) unless every model is found; a corrupt one still fails."""
    for name in MODELS:
        try:
            resolve(name)
        except ModelFileError as exc:
            if "not found" in str(exc):
                pytest.skip(f"face models not available: {exc}")
            raise


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """../shared/testdata/faces, or a skip saying it is missing."""
    if not FACES.is_dir():
        pytest.skip(f"test photos not available: {FACES} does not exist")
    return FACES


@pytest.fixture(scope="session")
def photo(faces_dir: Path) -> Callable[[str], np.ndarray]:
    """Load a test photo by its path under testdata/faces (cached)."""
    cache: dict[str, np.ndarray] = {}

    def load(relative: str) -> np.ndarray:
        if relative not in cache:
            cache[relative] = load_image(faces_dir / relative)
        return cache[relative]

    return load


@pytest.fixture(scope="session")
def pipeline(models_present: None) -> Callable[..., FacePipeline]:
    """A pipeline per (detector, embedder), built once per session, one onnxruntime thread."""
    built: dict[tuple[str, str], FacePipeline] = {}

    def get(detector: str = "yunet", embedder: str = "sface") -> FacePipeline:
        if (detector, embedder) not in built:
            cfg = parse_config(
                {"detector": {"type": detector}, "embedder": {"type": embedder}, "runtime": {"threads": 1}}
            )
            built[(detector, embedder)] = FacePipeline(cfg)
        return built[(detector, embedder)]

    return get


def single_face_celeb5(faces_dir: Path) -> list[str]:
    """celeb5 photos that hold one face (detections.csv flags the ones with two)."""
    with (faces_dir / "celeb5" / "detections.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    return [f"celeb5/{r['identity']}/{r['file']}" for r in rows if r["yunet_faces(score>=0.6)"] == "1"]


def masked(image: np.ndarray, box: tuple[float, float, float, float], nose_y: float, mask: np.ndarray) -> np.ndarray:
    """The photo with a surgical-mask picture pasted over the face from just above the nose tip to the chin.

    The test data has mask pictures but no masked faces; this is how the tests make some.
    """
    x1, y1, x2, y2 = box
    h = y2 - y1
    top, bottom = int(nose_y - 0.15 * h), int(min(y2 + 0.05 * h, image.shape[0]))
    left, right = int(max(x1, 0)), int(min(x2, image.shape[1]))
    out = image.copy()
    out[top:bottom, left:right] = cv2.resize(mask, (right - left, bottom - top))
    return out
