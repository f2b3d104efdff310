"""YuNet detector (OpenCV Zoo) on onnxruntime: boxes, five landmarks and a score in one pass.

The output layout follows OpenCV's FaceDetectorYN post-processing: for strides 8, 16 and 32,
`cls_s` and `obj_s` hold one value per grid cell (score = sqrt(cls × obj), both clamped to
0..1), `bbox_s` holds (dx, dy, log w, log h) and `kps_s` five (dx, dy) pairs, all in units of
the stride relative to the cell's top-left corner, row-major over the grid. Like OpenCV, the
image runs at its own size padded to a multiple of 32 (see vision.model_repair for how the
published 640×640 graph is opened up), scaled down first when larger than `max_side`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vision.detector import Detector, nms, resize
from vision.errors import ModelFileError
from vision.face import Face
from vision.model_repair import yunet_for_onnxruntime
from vision.models import resolve
from vision.runtime import RuntimeConfig, describe_io, run, session_for

_STRIDES = (8, 16, 32)
_DIVISOR = 32


class YuNetConfig(BaseModel):
    """Settings of the YuNet detector backend."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["yunet"] = Field(default="yunet", title="Backend", description="YuNet detector")
    model: str = Field(default="yunet", title="Model", description="manifest name of the YuNet ONNX file")
    score_threshold: float = Field(
        default=0.6, gt=0, lt=1, title="Score threshold", description="faces scoring below this are dropped"
    )
    nms_threshold: float = Field(
        default=0.3, gt=0, lt=1, title="NMS IoU", description="boxes overlapping a better one by more are merged"
    )
    max_faces: int = Field(default=100, ge=1, title="Most faces", description="most faces returned per image")
    max_side: int = Field(
        default=640,
        ge=64,
        le=4096,
        title="Longest side",
        description="images with a longer side are scaled down to this before detection (YuNet finds faces "
        "of about 10 to 300 pixels)",
    )

    def build(self, runtime: RuntimeConfig) -> YuNetDetector:
        """The detector this configuration describes."""
        return YuNetDetector(self, runtime)


class YuNetDetector(Detector):
    """YuNet through onnxruntime; images larger than `max_side` are scaled down, none is scaled up."""

    backend = "yunet"

    def __init__(self, config: YuNetConfig, runtime: RuntimeConfig) -> None:
        self.config = config
        self.model = resolve(config.model)
        self.session = session_for(self.model, runtime.threads, yunet_for_onnxruntime)
        inputs, outputs = describe_io(self.session)
        names = [name for name, _ in outputs]
        expected = [f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in _STRIDES]
        if len(inputs) != 1 or sorted(names) != sorted(expected):
            raise ModelFileError(
                f"model '{self.model.name}' ({self.model.path}) is not a YuNet detector: "
                f"expected one input and outputs {expected}, found inputs {inputs} and outputs {names}"
            )
        self._input_name = inputs[0][0]
        self._index = {name: i for i, name in enumerate(names)}
        if runtime.warmup:
            side = min(config.max_side, 640)
            self._forward(np.zeros((side, side * 3 // 4, 3), dtype=np.uint8))

    def _forward(self, image: np.ndarray) -> tuple[list[np.ndarray], int]:
        h, w = image.shape[:2]
        pad_h, pad_w = -(-h // _DIVISOR) * _DIVISOR, -(-w // _DIVISOR) * _DIVISOR
        canvas = np.zeros((pad_h, pad_w, 3), dtype=np.uint8)
        canvas[:h, :w] = image
        # YuNet takes raw BGR 0..255 (OpenCV's blobFromImage with no scaling, no channel swap)
        blob = np.ascontiguousarray(canvas.transpose(2, 0, 1)[np.newaxis], dtype=np.float32)
        return run(self.session, self.model, {self._input_name: blob}), pad_w

    def _detect(self, image: np.ndarray) -> list[Face]:
        # Never upscale: YuNet is trained for faces of about 10 to 300 pixels, and small photos
        # (ID pictures, web thumbnails) blown up push their face past that range.
        h, w = image.shape[:2]
        scale = min(1.0, self.config.max_side / max(h, w))
        if scale < 1.0:
            image = resize(image, max(1, round(w * scale)), max(1, round(h * scale)))
        out, pad_w = self._forward(image)
        boxes_all, kps_all, scores_all = [], [], []
        for s in _STRIDES:
            cols = pad_w // s
            cls = out[self._index[f"cls_{s}"]].reshape(-1)
            obj = out[self._index[f"obj_{s}"]].reshape(-1)
            score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
            idx = np.nonzero(score >= self.config.score_threshold)[0]
            if idx.size == 0:
                continue
            bbox = out[self._index[f"bbox_{s}"]].reshape(-1, 4)[idx]
            kps = out[self._index[f"kps_{s}"]].reshape(-1, 10)[idx]
            c = (idx % cols).astype(np.float32)
            r = (idx // cols).astype(np.float32)
            cx = (c + bbox[:, 0]) * s
            cy = (r + bbox[:, 1]) * s
            w = np.exp(bbox[:, 2]) * s
            h = np.exp(bbox[:, 3]) * s
            boxes_all.append(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1))
            kx = (kps[:, 0::2] + c[:, None]) * s
            ky = (kps[:, 1::2] + r[:, None]) * s
            kps_all.append(np.stack([kx, ky], axis=2))
            scores_all.append(score[idx])
        if not scores_all:
            return []
        boxes = np.concatenate(boxes_all) / scale
        landmarks = np.concatenate(kps_all) / scale
        scores = np.concatenate(scores_all)
        keep = nms(boxes, scores, self.config.nms_threshold, self.config.max_faces)
        return [
            Face(
                box=(float(boxes[i, 0]), float(boxes[i, 1]), float(boxes[i, 2]), float(boxes[i, 3])),
                landmarks=landmarks[i].astype(np.float32),
                score=float(scores[i]),
            )
            for i in keep
        ]
