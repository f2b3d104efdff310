"""insightface model packs ("buffalo_l", "buffalo_s", "antelopev2", …) loaded through insightface's model zoo.

The packs' weights are licensed for non-commercial research only and are not in the manifest: a
user who may use them places the pack folder in CORR_MODELS_DIR/insightface/<pack>/ (or names
the files), and may pin each file's sha256 in the configuration. insightface's `get_model`
recognises a file by its graph (SCRFD detectors have five or more outputs; recognisers take a
square input of 112 or more) and applies the pack's own pre-processing; this module only adds
our session options, our landmark order and our errors.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field

from vision.detector import Detector
from vision.embedder import Embedder
from vision.errors import ModelFileError
from vision.face import Face
from vision.models import ModelFile, search_dirs, user_file
from vision.runtime import RuntimeConfig

PACKS_FOLDER = "insightface"
# File names the published packs use, so a pack folder works without naming its files
_DETECTOR_PREFIXES = ("det_", "scrfd")
_RECOGNISER_PREFIXES = ("w600k", "glint", "arcface", "ms1m")

_models: dict[tuple[str, int], Any] = {}
_lock = threading.Lock()


class _PackFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pack: str = Field(
        default="buffalo_l",
        min_length=1,
        title="Pack",
        description=f"folder of the pack under CORR_MODELS_DIR/{PACKS_FOLDER}/",
    )
    file: str | None = Field(
        default=None,
        title="File",
        description="ONNX file inside the pack (or an absolute path); by default found from the pack's file names",
    )
    sha256: str | None = Field(
        default=None,
        pattern="^[0-9a-fA-F]{64}$",
        title="Pinned sha256",
        description="refuse the file unless its sha256 is this",
    )

    def locate(self, prefixes: tuple[str, ...], role: str) -> ModelFile:
        """The pack file for `role`, hashed (and checked when pinned)."""
        if self.file is not None and Path(self.file).is_absolute():
            return user_file(Path(self.file), self.sha256)
        folders = [d / PACKS_FOLDER / self.pack for d in search_dirs()]
        for folder in folders:
            if not folder.is_dir():
                continue
            if self.file is not None:
                return user_file(folder / self.file, self.sha256)
            found = sorted(p for p in folder.glob("*.onnx") if p.name.lower().startswith(prefixes))
            if len(found) == 1:
                return user_file(found[0], self.sha256)
            if len(found) > 1:
                raise ModelFileError(
                    f"insightface pack '{self.pack}' ({folder}) holds several {role} files "
                    f"{[p.name for p in found]}; name one with `file`"
                )
            raise ModelFileError(
                f"insightface pack '{self.pack}' ({folder}) has no {role} file (names starting with "
                f"{', '.join(prefixes)}); name it with `file`"
            )
        raise ModelFileError(
            f"insightface pack '{self.pack}' not found in {', '.join(str(f) for f in folders)}; its weights are "
            "for non-commercial research only and are not fetched by `python -m models.fetch`: place the pack "
            "there if your licence allows"
        )


def _zoo_model(model: ModelFile, threads: int, task: str) -> Any:
    key = (model.sha256, threads)
    with _lock:
        loaded = _models.get(key)
        if loaded is None:
            loaded = _load(model, threads)
            _models[key] = loaded
    if getattr(loaded, "taskname", None) != task:
        raise ModelFileError(
            f"{model.path}: insightface's model zoo reads it as a "
            f"{getattr(loaded, 'taskname', 'unrecognised')} model; expected {task}"
        )
    return loaded


def _load(model: ModelFile, threads: int) -> Any:
    # heavy import (onnx, scikit-image), so only when this backend is configured
    from insightface.model_zoo import get_model  # type: ignore[import-untyped]

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        loaded = get_model(str(model.path), providers=["CPUExecutionProvider"], sess_options=options)
    except Exception as exc:  # insightface raises assertions, onnx and onnxruntime errors alike
        raise ModelFileError(f"{model.path}: insightface's model zoo cannot load it: {exc}") from exc
    if loaded is None:
        raise ModelFileError(f"{model.path}: insightface's model zoo does not recognise this graph")
    return loaded


class BuffaloDetectorConfig(_PackFile):
    """Settings of the insightface pack detector (SCRFD)."""

    type: Literal["buffalo"] = Field(default="buffalo", title="Backend", description="insightface pack detector")
    score_threshold: float = Field(
        default=0.5, gt=0, lt=1, title="Score threshold", description="faces scoring below this are dropped"
    )
    nms_threshold: float = Field(
        default=0.4, gt=0, lt=1, title="NMS IoU", description="boxes overlapping a better one by more are merged"
    )
    input_size: int = Field(
        default=640, ge=64, le=2048, multiple_of=32, title="Input size", description="square detector input, pixels"
    )

    def build(self, runtime: RuntimeConfig) -> BuffaloDetector:
        """The detector this configuration describes."""
        return BuffaloDetector(self, runtime)


class BuffaloDetector(Detector):
    """SCRFD from an insightface pack."""

    backend = "buffalo"

    def __init__(self, config: BuffaloDetectorConfig, runtime: RuntimeConfig) -> None:
        self.config = config
        self.model = config.locate(_DETECTOR_PREFIXES, "detector")
        self._scrfd = _zoo_model(self.model, runtime.threads, "detection")
        if not getattr(self._scrfd, "use_kps", False):
            raise ModelFileError(f"{self.model.path}: this SCRFD detector gives no landmarks; alignment needs five")
        self._scrfd.nms_thresh = config.nms_threshold
        self._size = (config.input_size, config.input_size)
        if runtime.warmup:
            self._detect(np.zeros((config.input_size, config.input_size, 3), dtype=np.uint8))

    def _detect(self, image: np.ndarray) -> list[Face]:
        try:
            dets, kpss = self._scrfd.detect(image, input_size=self._size, det_thresh=self.config.score_threshold)
        except Exception as exc:
            raise ModelFileError(f"{self.model.path}: detection failed inside insightface: {exc}") from exc
        return [
            Face(
                box=(float(d[0]), float(d[1]), float(d[2]), float(d[3])),
                landmarks=np.asarray(k, dtype=np.float32).reshape(5, 2),
                score=float(d[4]),
            )
            for d, k in zip(dets, kpss, strict=True)
        ]


class BuffaloEmbedderConfig(_PackFile):
    """Settings of the insightface pack recogniser (ArcFace)."""

    type: Literal["buffalo"] = Field(default="buffalo", title="Backend", description="insightface pack recogniser")

    def build(self, runtime: RuntimeConfig) -> BuffaloEmbedder:
        """The embedder this configuration describes."""
        return BuffaloEmbedder(self, runtime)


class BuffaloEmbedder(Embedder):
    """ArcFace from an insightface pack; the pack's own mean and scale, decided by insightface, apply."""

    backend = "buffalo"

    def __init__(self, config: BuffaloEmbedderConfig, runtime: RuntimeConfig) -> None:
        self.model = config.locate(_RECOGNISER_PREFIXES, "recogniser")
        self.model_sha256 = self.model.sha256
        self._arcface = _zoo_model(self.model, runtime.threads, "recognition")
        if tuple(self._arcface.input_size) != (112, 112):
            raise ModelFileError(
                f"{self.model.path}: recogniser input is {self._arcface.input_size}; the aligner makes 112x112 crops"
            )
        self.dim = int(self._arcface.output_shape[-1])
        if runtime.warmup:
            self._embed(np.zeros((112, 112, 3), dtype=np.uint8))

    def _embed(self, aligned: np.ndarray) -> np.ndarray:
        try:
            out: np.ndarray = self._arcface.get_feat(aligned)
        except Exception as exc:
            raise ModelFileError(f"{self.model.path}: embedding failed inside insightface: {exc}") from exc
        return out.reshape(-1)
