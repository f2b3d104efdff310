"""The shared shape of the 112×112 face embedders on onnxruntime (SFace, fr_feature).

Both take one aligned face as a [1, 3, 112, 112] RGB tensor and return [1, dim]; they differ
only in how pixels are scaled, which each backend states as `pixel_offset` and `pixel_scale`.
"""

from __future__ import annotations

import cv2
import numpy as np

from vision.embedder import Embedder
from vision.errors import ModelFileError
from vision.models import resolve
from vision.runtime import RuntimeConfig, describe_io, run, session_for


class SquareOnnxEmbedder(Embedder):
    """An embedder whose model takes one 112×112 RGB face (CHW) and returns one `dim`-vector."""

    pixel_offset = 0.0  # subtracted from 0..255 RGB values
    pixel_scale = 1.0  # then divided by this
    wrong_model_hint = ""  # appended to the error when the file has another shape

    def __init__(self, model_name: str, runtime: RuntimeConfig) -> None:
        self.model = resolve(model_name)
        self.model_sha256 = self.model.sha256
        self.session = session_for(self.model, runtime.threads)
        inputs, outputs = describe_io(self.session)
        if [s for _, s in inputs] != [[1, 3, 112, 112]] or [s for _, s in outputs] != [[1, self.dim]]:
            raise ModelFileError(
                f"model '{self.model.name}' ({self.model.path}) is not a {self.backend} embedder onnxruntime can "
                f"feed: expected one input [1, 3, 112, 112] and output [1, {self.dim}]; found {inputs} and "
                f"{outputs}{self.wrong_model_hint}"
            )
        self._input = inputs[0][0]
        if runtime.warmup:
            self._embed(np.zeros((112, 112, 3), dtype=np.uint8))

    def _embed(self, aligned: np.ndarray) -> np.ndarray:
        rgb = cv2.cvtColor(aligned, cv2.COLOR_BGR2RGB).astype(np.float32)
        if self.pixel_offset or self.pixel_scale != 1.0:
            rgb = (rgb - self.pixel_offset) / self.pixel_scale
        blob = np.ascontiguousarray(rgb.transpose(2, 0, 1)[np.newaxis])
        (out,) = run(self.session, self.model, {self._input: blob})
        vector: np.ndarray = out[0]
        return vector
