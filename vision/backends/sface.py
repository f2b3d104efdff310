"""SFace recogniser (OpenCV Zoo) on onnxruntime: 128-d embedding of a 112×112 aligned face.

Input as OpenCV's FaceRecognizerSF feeds it: RGB, 0..255, no mean or scale. The manifest's
`sface` entry is the published graph with its unused inputs removed so onnxruntime runs it.
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


class SFaceConfig(BaseModel):
    """Settings of the SFace embedder backend."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["sface"] = Field(default="sface", title="Backend", description="SFace embedder (128-d)")
    model: str = Field(default="sface", title="Model", description="manifest name of the SFace ONNX file")

    def build(self, runtime: RuntimeConfig) -> SFaceEmbedder:
        """The embedder this configuration describes."""
        return SFaceEmbedder(self, runtime)


class SFaceEmbedder(Embedder):
    """SFace through onnxruntime."""

    backend = "sface"
    dim = 128

    def __init__(self, config: SFaceConfig, runtime: RuntimeConfig) -> None:
        self.model = resolve(config.model)
        self.model_sha256 = self.model.sha256
        self.session = session_for(self.model, runtime.threads)
        inputs, outputs = describe_io(self.session)
        if [s for _, s in inputs] != [[1, 3, 112, 112]] or [s for _, s in outputs] != [[1, self.dim]]:
            raise ModelFileError(
                f"model '{self.model.name}' ({self.model.path}) is not an SFace recogniser onnxruntime can feed: "
                f"expected one input [1, 3, 112, 112] and output [1, {self.dim}]; found {inputs} and {outputs} "
                "(the published file lists unused inputs: use the manifest's 'sface' entry)"
            )
        self._input = inputs[0][0]
        if runtime.warmup:
            self._embed(np.zeros((112, 112, 3), dtype=np.uint8))

    def _embed(self, aligned: np.ndarray) -> np.ndarray:
        rgb = cv2.cvtColor(aligned, cv2.COLOR_BGR2RGB).astype(np.float32)
        blob = np.ascontiguousarray(rgb.transpose(2, 0, 1)[np.newaxis])
        (out,) = run(self.session, self.model, {self._input: blob})
        vector: np.ndarray = out[0]
        return vector
