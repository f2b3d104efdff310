"""faceplugin `fr_feature` embedder on onnxruntime: 512-d embedding of a 112×112 ArcFace-aligned face.

Input as the faceplugin package feeds it: RGB, (x − 127) / 128.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vision.embedder import Embedder
from vision.errors import ModelFileError
from vision.models import resolve
from vision.runtime import RuntimeConfig, describe_io, run, session_for


class FrFeatureConfig(BaseModel):
    """Settings of the faceplugin embedder backend."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["fr_feature"] = Field(
        default="fr_feature", title="Backend", description="faceplugin fr_feature embedder (512-d)"
    )
    model: str = Field(default="fr_feature", title="Model", description="manifest name of the fr_feature ONNX file")

    def build(self, runtime: RuntimeConfig) -> FrFeatureEmbedder:
        """The embedder this configuration describes."""
        return FrFeatureEmbedder(self, runtime)


class FrFeatureEmbedder(Embedder):
    """fr_feature through onnxruntime."""

    backend = "fr_feature"
    dim = 512

    def __init__(self, config: FrFeatureConfig, runtime: RuntimeConfig) -> None:
        self.model = resolve(config.model)
        self.model_sha256 = self.model.sha256
        self.session = session_for(self.model, runtime.threads)
        inputs, outputs = describe_io(self.session)
        if [s for _, s in inputs] != [[1, 3, 112, 112]] or [s for _, s in outputs] != [[1, self.dim]]:
            raise ModelFileError(
                f"model '{self.model.name}' ({self.model.path}) is not the fr_feature embedder: expected input "
                f"[1, 3, 112, 112] and output [1, {self.dim}]; found {inputs} and {outputs}"
            )
        self._input = inputs[0][0]
        if runtime.warmup:
            self._embed(np.zeros((112, 112, 3), dtype=np.uint8))

    def _embed(self, aligned: np.ndarray) -> np.ndarray:
        rgb = cv2.cvtColor(aligned, cv2.COLOR_BGR2RGB).astype(np.float32)
        blob = np.ascontiguousarray(((rgb - 127.0) / 128.0).transpose(2, 0, 1)[np.newaxis])
        (out,) = run(self.session, self.model, {self._input: blob})
        vector: np.ndarray = out[0]
        return vector
