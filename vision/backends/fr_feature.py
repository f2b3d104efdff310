"""faceplugin `fr_feature` embedder on onnxruntime: 512-d embedding of a 112×112 ArcFace-aligned face.

Input as the faceplugin package feeds it: RGB, (x − 127) / 128.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vision.backends.square_onnx import SquareOnnxEmbedder
from vision.runtime import RuntimeConfig


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


class FrFeatureEmbedder(SquareOnnxEmbedder):
    """fr_feature through onnxruntime."""

    backend = "fr_feature"
    dim = 512
    pixel_offset = 127.0
    pixel_scale = 128.0

    def __init__(self, config: FrFeatureConfig, runtime: RuntimeConfig) -> None:
        super().__init__(config.model, runtime)
