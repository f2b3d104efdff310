"""Real models, a gallery enrolled from celeb5 `train` photos, and the synthetic clip; skipped when either is absent."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.integration.edge_agent import clip
from vision.config import parse_config
from vision.errors import ModelFileError
from vision.gallery import Gallery
from vision.models import REPO_ROOT, resolve
from vision.pipeline import FacePipeline, QualityRefused

FACES = REPO_ROOT.parent / "shared" / "testdata" / "faces"
GALLERY_PER_SUBJECT = 6


def pytest_configure(config: pytest.Config) -> None:
    """insightface's scikit-image deprecation warning: see tests/unit/vision/conftest.py."""
    config.addinivalue_line("filterwarnings", "ignore:`estimate` is deprecated:FutureWarning")


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """../shared/testdata/faces, or a skip saying it is missing."""
    if not FACES.is_dir():
        pytest.skip(f"test photos not available: {FACES} does not exist")
    return FACES


@pytest.fixture(scope="session")
def pipeline() -> FacePipeline:
    """YuNet + SFace on one onnxruntime thread (the machine is shared); skipped when the models are absent."""
    for name in ("yunet", "sface"):
        try:
            resolve(name)
        except ModelFileError as exc:
            if "not found" in str(exc):
                pytest.skip(f"face models not available: {exc}")
            raise
    return FacePipeline(parse_config({"runtime": {"threads": 1}}))


def _enrolment_image(path: Path) -> np.ndarray:
    """celeb5 photos are small: scale them to 360 px high, as an enrolment desk's camera would give."""
    image = cv2.imread(str(path))
    assert image is not None, path
    scale = max(1.0, 360 / image.shape[0])
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="session")
def gallery(faces_dir: Path, pipeline: FacePipeline) -> Gallery:
    """The first 6 `train` photos of each enrolled person that pass the gate (never a photo used in the clip)."""
    items = []
    for person in clip.ENROLLED:
        taken = 0
        for path in sorted((faces_dir / "celeb5" / person).glob("*_train_*.jpg")):
            if taken == GALLERY_PER_SUBJECT:
                break
            try:
                items.append((clip.subject_id(person), pipeline.enrol(_enrolment_image(path))))
                taken += 1
            except QualityRefused:
                continue
        assert taken >= 3, f"{person}: only {taken} enrolment photos pass the gate"
    return Gallery.from_templates(items, threads=1)


@pytest.fixture(scope="session")
def clip_dir(faces_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[clip.Passage]]:
    """The clip as a folder of PNG frames, and its ground truth."""
    out = tmp_path_factory.mktemp("clip")
    return out, clip.render(faces_dir, out)
