"""faceplugin detector: `fr_detect` (Ultra-Light RFB-320) boxes, `fr_landmark` 68 points → five alignment points.

fr_detect takes the whole image stretched to 320×240, RGB, (x − 127) / 128, and gives per-prior
scores [N, 2] (background, face) and corner-form boxes normalised to 0..1. It has no landmarks,
so each box is cropped, shrunk to a 64×64 grey patch (x / 256) and passed to fr_landmark, whose
136 outputs are 68 (x, y) pairs normalised to the crop. The five points are taken from them as the
faceplugin package does: eye centres from the four eyelid points of each eye, the nose tip, and
each mouth corner averaged between the outer and inner lip contour.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vision.detector import Detector, nms
from vision.errors import ModelFileError
from vision.face import Face
from vision.models import resolve
from vision.runtime import RuntimeConfig, describe_io, run, session_for

_WIDTH, _HEIGHT = 320, 240
_LANDMARK_SIZE = 64
# 68-point (iBUG 300-W) indices; eyes without their corners, as faceplugin averages them
_RIGHT_EYE = (37, 38, 40, 41)  # the eye on the image's left
_LEFT_EYE = (43, 44, 46, 47)
_NOSE_TIP = 30
_MOUTH_RIGHT = (48, 60)  # outer and inner corner on the image's left
_MOUTH_LEFT = (54, 64)


class FrDetectConfig(BaseModel):
    """Settings of the faceplugin detector backend."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["fr_detect"] = Field(default="fr_detect", title="Backend", description="faceplugin detector")
    model: str = Field(default="fr_detect", title="Model", description="manifest name of the box model")
    landmark_model: str = Field(
        default="fr_landmark", title="Landmark model", description="manifest name of the 68-point landmark model"
    )
    score_threshold: float = Field(
        default=0.65, gt=0, lt=1, title="Score threshold", description="faces scoring below this are dropped"
    )
    nms_threshold: float = Field(
        default=0.4, gt=0, lt=1, title="NMS IoU", description="boxes overlapping a better one by more are merged"
    )
    max_faces: int = Field(default=100, ge=1, title="Most faces", description="most faces returned per image")

    def build(self, runtime: RuntimeConfig) -> FrDetectDetector:
        """The detector this configuration describes."""
        return FrDetectDetector(self, runtime)


class FrDetectDetector(Detector):
    """fr_detect + fr_landmark through onnxruntime."""

    backend = "fr_detect"

    def __init__(self, config: FrDetectConfig, runtime: RuntimeConfig) -> None:
        self.config = config
        self.model = resolve(config.model)
        self.landmark_model = resolve(config.landmark_model)
        self.session = session_for(self.model, runtime.threads)
        self.landmark_session = session_for(self.landmark_model, runtime.threads)
        inputs, outputs = describe_io(self.session)
        if [s for _, s in inputs] != [[1, 3, _HEIGHT, _WIDTH]] or [n for n, _ in outputs] != ["scores", "boxes"]:
            raise ModelFileError(
                f"model '{self.model.name}' ({self.model.path}) is not the fr_detect detector: expected input "
                f"[1, 3, {_HEIGHT}, {_WIDTH}] and outputs scores, boxes; found {inputs} and {outputs}"
            )
        lm_inputs, lm_outputs = describe_io(self.landmark_session)
        if [s for _, s in lm_inputs] != [[1, 1, 64, 64]] or [s for _, s in lm_outputs] != [[1, 136]]:
            raise ModelFileError(
                f"model '{self.landmark_model.name}' ({self.landmark_model.path}) is not the 68-point landmark "
                f"model: expected input [1, 1, 64, 64] and output [1, 136]; found {lm_inputs} and {lm_outputs}"
            )
        self._input = inputs[0][0]
        self._lm_input = lm_inputs[0][0]
        if runtime.warmup:
            self._boxes(np.zeros((_HEIGHT, _WIDTH, 3), dtype=np.uint8))
            self._landmarks(np.zeros((_HEIGHT, _WIDTH, 3), dtype=np.uint8), (40.0, 40.0, 140.0, 160.0))

    def _boxes(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        small = cv2.resize(image, (_WIDTH, _HEIGHT), interpolation=cv2.INTER_AREA if w > _WIDTH else cv2.INTER_LINEAR)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32)
        blob = np.ascontiguousarray(((rgb - 127.0) / 128.0).transpose(2, 0, 1)[np.newaxis])
        scores, boxes = run(self.session, self.model, {self._input: blob})
        face_scores = scores[0, :, 1]
        keep = face_scores >= self.config.score_threshold
        return boxes[0][keep] * np.array([w, h, w, h], dtype=np.float32), face_scores[keep]

    def _landmarks(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        ih, iw = image.shape[:2]
        x1, y1, x2, y2 = box
        # The crop is the box itself, shifted (not shrunk) to stay inside the image, as faceplugin does
        bw = min(max(x2 - x1, 1.0), iw - 1.0)
        bh = min(max(y2 - y1, 1.0), ih - 1.0)
        left = float(np.clip(x1, 0, iw - 1 - bw))
        top = float(np.clip(y1, 0, ih - 1 - bh))
        cx0, cy0 = int(left), int(top)
        cx1, cy1 = max(cx0 + 1, int(left + bw)), max(cy0 + 1, int(top + bh))
        crop = image[cy0:cy1, cx0:cx1]
        grey = cv2.cvtColor(cv2.resize(crop, (_LANDMARK_SIZE, _LANDMARK_SIZE)), cv2.COLOR_BGR2GRAY)
        blob = (grey.astype(np.float32) / 256.0)[np.newaxis, np.newaxis]
        (out,) = run(self.landmark_session, self.landmark_model, {self._lm_input: blob})
        pts = out.reshape(68, 2) * np.array([cx1 - cx0, cy1 - cy0], dtype=np.float32) + np.array([cx0, cy0])
        five = np.stack(
            [
                pts[list(_RIGHT_EYE)].mean(axis=0),
                pts[list(_LEFT_EYE)].mean(axis=0),
                pts[_NOSE_TIP],
                pts[list(_MOUTH_RIGHT)].mean(axis=0),
                pts[list(_MOUTH_LEFT)].mean(axis=0),
            ]
        )
        return five.astype(np.float32)

    def _detect(self, image: np.ndarray) -> list[Face]:
        boxes, scores = self._boxes(image)
        keep = nms(boxes, scores, self.config.nms_threshold, self.config.max_faces)
        faces = []
        for i in keep:
            box = (float(boxes[i, 0]), float(boxes[i, 1]), float(boxes[i, 2]), float(boxes[i, 3]))
            faces.append(Face(box=box, landmarks=self._landmarks(image, box), score=float(scores[i])))
        return faces
