"""Real models, a gallery enrolled from celeb5 `train` photos, and the synthetic clip; skipped when either is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.clip import enrol_cast
from tests.integration.edge_agent import clip
from vision.config import parse_config
from vision.errors import ModelFileError
from vision.gallery import Gallery
from vision.models import resolve
from vision.pipeline import FacePipeline
from vision.template import Template

FACES = clip.FACES_DIR
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


@pytest.fixture(scope="session")
def enrolled(faces_dir: Path, pipeline: FacePipeline) -> list[tuple[str, Template]]:
    """The first 6 `train` photos of each enrolled person that pass the gate (never a photo used in the clip)."""
    return enrol_cast(pipeline, faces_dir, per_subject=GALLERY_PER_SUBJECT)


@pytest.fixture(scope="session")
def gallery(enrolled: list[tuple[str, Template]]) -> Gallery:
    """The clip's enrolled subjects as a 1:N gallery."""
    return Gallery.from_templates(enrolled, threads=1)


@pytest.fixture(scope="session")
def clip_dir(faces_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[clip.Passage]]:
    """The clip as a folder of PNG frames, and its ground truth."""
    out = tmp_path_factory.mktemp("clip")
    return out, clip.render(faces_dir, out)
