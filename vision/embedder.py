"""The embedder interface every backend implements: aligned 112×112 BGR crop in, unit-length float32 vector out."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from vision.errors import VisionError
from vision.image import check_image


class Embedder(ABC):
    """Turns an aligned face into an embedding; `backend` and `model_sha256` go into every template it makes."""

    #: the configuration `type` that selects this backend
    backend: str
    model_sha256: str
    dim: int

    def embed(self, aligned: np.ndarray) -> np.ndarray:
        """Unit-length float32 embedding of an aligned 112×112 BGR face."""
        check_image(aligned, source="aligned face")
        if aligned.shape[:2] != (112, 112):
            raise VisionError(f"aligned face of {aligned.shape[1]}x{aligned.shape[0]} pixels; expected 112x112")
        vector = np.asarray(self._embed(aligned), dtype=np.float32).reshape(-1)
        if vector.shape != (self.dim,):
            raise VisionError(f"{self.backend}: model gave {vector.shape[0]} values; expected {self.dim}")
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm < 1e-6:
            raise VisionError(f"{self.backend}: model gave a zero or non-finite embedding")
        result: np.ndarray = vector / norm
        return result

    @abstractmethod
    def _embed(self, aligned: np.ndarray) -> np.ndarray:
        """Backend work on a checked 112×112 BGR uint8 crop; returns the raw embedding."""
