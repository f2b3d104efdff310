"""SFace recogniser (OpenCV Zoo) on onnxruntime: 128-d embedding of a 112×112 aligned face.

Input as OpenCV's FaceRecognizerSF feeds it: RGB, 0..255, no mean or scale. The manifest's
`sface` entry is the published graph with its unused inputs removed so onnxruntime runs it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vision.backends.square_onnx import SquareOnnxEmbedder
from vision.runtime import RuntimeConfig


class SFaceConfig(BaseModel):
    """Settings of the SFace embedder backend."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["sface"] = Field(default="sface", title="Backend", description="SFace embedder (128-d)")
    model: str = Field(default="sface", title="Model", description="manifest name of the SFace ONNX file")

    def build(self, runtime: RuntimeConfig) -> SFaceEmbedder:
        """The embedder this configuration describes."""
        return SFaceEmbedder(self, runtime)


class SFaceEmbedder(SquareOnnxEmbedder):
    """SFace through onnxruntime."""

    backend = "sface"
    dim = 128
    wrong_model_hint = " (the published file lists unused inputs: use the manifest's 'sface' entry)"

    def __init__(self, config: SFaceConfig, runtime: RuntimeConfig) -> None:
        super().__init__(config.model, runtime)
