"""The detector interface every backend implements, and the box arithmetic they share."""

from __future__ import annotations

from abc import ABC, abstractmethod

import cv2
import numpy as np

from vision.face import Face
from vision.image import check_image


class Detector(ABC):
    """Finds faces (box, five landmarks, score) in a BGR image."""

    #: the configuration `type` that selects this backend
    backend: str

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in the image, most confident first; a bad image is an ImageError."""
        check_image(image)
        faces = self._detect(image)
        return sorted(faces, key=lambda f: f.score, reverse=True)

    @abstractmethod
    def _detect(self, image: np.ndarray) -> list[Face]:
        """Backend work on an image already checked to be H×W×3 uint8."""


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression (boxes as x1, y1, x2, y2), highest score first."""
    if len(boxes) == 0:
        return np.empty(0, dtype=np.intp)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_keep:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize with the interpolation suited to the direction (area when shrinking, linear when growing)."""
    shrinking = width < image.shape[1] or height < image.shape[0]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
