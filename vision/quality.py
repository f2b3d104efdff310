"""Quality gate: before a face is enrolled or verified, refuse pictures the embedder cannot be trusted on.

Each refusal carries a stable `code` (for the kiosk to pick its own translated text) and an
English `message` that says what was measured, the limit, and what the person can do.
Sharpness and brightness are measured on the aligned 112×112 crop, so they do not depend on the
photo's resolution; pose comes from the five landmarks. The defaults were set on the test photos
(see docs/vision.md): Gaussian blur of σ ≈ 4 px on a 240-pixel face measures about 45–70, a
face at 30 % exposure about 30–45.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vision.align import align
from vision.face import Face


class QualityConfig(BaseModel):
    """Limits of the quality gate."""

    model_config = ConfigDict(extra="forbid")

    min_face_px: float = Field(
        default=60, ge=8, title="Smallest face", description="shorter side of the face box, pixels"
    )
    min_sharpness: float = Field(
        default=50,
        ge=0,
        title="Sharpness",
        description="least variance of the Laplacian of the aligned 112x112 grey face",
    )
    min_brightness: float = Field(
        default=50, ge=0, le=255, title="Darkest", description="least mean grey level of the central face, 0..255"
    )
    max_brightness: float = Field(
        default=215, ge=0, le=255, title="Brightest", description="greatest mean grey level of the central face"
    )
    max_yaw: float = Field(
        default=0.7,
        gt=0,
        title="Turn",
        description="greatest sideways offset of the nose from the eye-mouth axis, in half eye distances "
        "(0 frontal, about 1 when the nose is in front of an eye)",
    )
    min_pitch: float = Field(
        default=0.25,
        ge=0,
        title="Pitch, lowest",
        description="nose position along the eyes-to-mouth line (0 at the eyes, 1 at the mouth); frontal ≈ 0.55",
    )
    max_pitch: float = Field(default=0.85, le=1.5, title="Pitch, highest", description="see min_pitch")
    min_edge_margin: float = Field(
        default=0.02,
        ge=-1,
        le=0.5,
        title="Edge margin",
        description="least gap between face box and picture edge, as a fraction of the box size; a face reaching "
        "the edge is cut off",
    )

    @model_validator(mode="after")
    def _ranges(self) -> QualityConfig:
        if self.min_brightness >= self.max_brightness:
            raise ValueError(
                f"min_brightness ({self.min_brightness}) must be below max_brightness ({self.max_brightness})"
            )
        if self.min_pitch >= self.max_pitch:
            raise ValueError(f"min_pitch ({self.min_pitch}) must be below max_pitch ({self.max_pitch})")
        return self


class Refusal(StrEnum):
    """Why a picture was refused."""

    NO_FACE = "no_face"
    SEVERAL_FACES = "several_faces"
    TOO_SMALL = "too_small"
    BLURRED = "blurred"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"
    NOT_FRONTAL = "not_frontal"
    CUT_OFF = "cut_off"


@dataclass(frozen=True)
class Reason:
    """One refusal: its code and a sentence a kiosk can show."""

    code: Refusal
    message: str


@dataclass(frozen=True)
class Measures:
    """What the gate measured on one face."""

    face_px: float
    eye_distance_px: float
    sharpness: float
    brightness: float
    yaw: float
    pitch: float
    edge_margin: float

    def as_dict(self) -> dict[str, float]:
        """Rounded values, for JSON and logs."""
        return {k: round(float(v), 3) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class QualityReport:
    """The gate's answer: the face to use (when accepted), every reason it was refused, and the measures."""

    face: Face | None
    reasons: tuple[Reason, ...] = ()
    measures: Measures | None = None
    faces_found: int = 0
    aligned: np.ndarray | None = field(default=None, repr=False)

    @property
    def accepted(self) -> bool:
        """True when nothing was refused."""
        return self.face is not None and not self.reasons

    @property
    def message(self) -> str:
        """All reasons in one line ('' when accepted)."""
        return "; ".join(r.message for r in self.reasons)


def measure(image: np.ndarray, face: Face, aligned: np.ndarray | None = None) -> Measures:
    """Size, sharpness, brightness, pose and edge margin of one face."""
    crop = align(image, face) if aligned is None else aligned
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    # the central part of the aligned crop is face (eyes to mouth), the rest may be background
    brightness = float(grey[24:96, 24:88].mean())
    pts = face.landmarks.astype(np.float64)
    eyes = (pts[0] + pts[1]) / 2
    mouth = (pts[3] + pts[4]) / 2
    eye_distance = float(np.linalg.norm(pts[1] - pts[0]))
    axis = mouth - eyes
    axis_len = float(np.linalg.norm(axis))
    if axis_len < 1e-6 or eye_distance < 1e-6:
        yaw, pitch = float("inf"), float("nan")
    else:
        unit = axis / axis_len
        nose = pts[2] - eyes
        # sideways offset of the nose from the eyes-mouth line, in half eye distances
        yaw = float(2.0 * (unit[0] * nose[1] - unit[1] * nose[0]) / eye_distance)
        pitch = float(np.dot(nose, unit) / axis_len)
    h, w = image.shape[:2]
    x1, y1, x2, y2 = face.box
    size = max(min(face.width, face.height), 1e-6)
    margin = min(x1, y1, w - x2, h - y2) / size
    return Measures(
        face_px=min(face.width, face.height),
        eye_distance_px=eye_distance,
        sharpness=sharpness,
        brightness=brightness,
        yaw=yaw,
        pitch=pitch,
        edge_margin=float(margin),
    )


class QualityGate:
    """Applies QualityConfig to detected faces."""

    def __init__(self, config: QualityConfig | None = None) -> None:
        self.config = config or QualityConfig()

    def check(self, image: np.ndarray, faces: list[Face], *, expect_one: bool = True) -> QualityReport:
        """Judge the picture for one person (kiosk): no face, several faces, then the best face's quality."""
        counted = [f for f in faces if min(f.width, f.height) >= self.config.min_face_px]
        if not faces:
            return QualityReport(
                face=None, reasons=(Reason(Refusal.NO_FACE, "No face found: look straight at the camera"),)
            )
        if expect_one and len(counted) > 1:
            return QualityReport(
                face=None,
                faces_found=len(faces),
                reasons=(
                    Reason(
                        Refusal.SEVERAL_FACES,
                        f"{len(counted)} faces found: only the person being checked may be in front of the camera",
                    ),
                ),
            )
        best = max(faces, key=lambda f: min(f.width, f.height))
        report = self.check_face(image, best)
        return QualityReport(
            face=best,
            reasons=report.reasons,
            measures=report.measures,
            faces_found=len(faces),
            aligned=report.aligned,
        )

    def check_face(self, image: np.ndarray, face: Face) -> QualityReport:
        """Judge one face on its own (edge cameras, where several people in view is normal)."""
        c = self.config
        aligned = align(image, face)
        m = measure(image, face, aligned)
        reasons: list[Reason] = []
        if m.face_px < c.min_face_px:
            reasons.append(
                Reason(
                    Refusal.TOO_SMALL,
                    f"Face too small ({m.face_px:.0f} px, at least {c.min_face_px:.0f}): come closer to the camera",
                )
            )
        if m.edge_margin < c.min_edge_margin:
            reasons.append(
                Reason(Refusal.CUT_OFF, "Face cut off by the edge of the picture: move to the middle of the picture")
            )
        if m.sharpness < c.min_sharpness:
            reasons.append(
                Reason(
                    Refusal.BLURRED,
                    f"Picture too blurred (sharpness {m.sharpness:.0f}, at least {c.min_sharpness:.0f}): "
                    "hold still and look at the camera",
                )
            )
        if m.brightness < c.min_brightness:
            reasons.append(
                Reason(
                    Refusal.TOO_DARK,
                    f"Face too dark (brightness {m.brightness:.0f}, at least {c.min_brightness:.0f}): face the light",
                )
            )
        elif m.brightness > c.max_brightness:
            reasons.append(
                Reason(
                    Refusal.TOO_BRIGHT,
                    f"Face too bright (brightness {m.brightness:.0f}, at most {c.max_brightness:.0f}): "
                    "step out of direct light",
                )
            )
        if not abs(m.yaw) <= c.max_yaw:
            reasons.append(
                Reason(
                    Refusal.NOT_FRONTAL,
                    f"Face turned sideways (turn {abs(m.yaw):.2f}, at most {c.max_yaw:.2f}): "
                    "look straight at the camera",
                )
            )
        elif not c.min_pitch <= m.pitch <= c.max_pitch:
            reasons.append(
                Reason(
                    Refusal.NOT_FRONTAL,
                    f"Head tilted up or down (pitch {m.pitch:.2f}, expected {c.min_pitch:.2f} to {c.max_pitch:.2f}): "
                    "look straight at the camera",
                )
            )
        return QualityReport(face=face, reasons=tuple(reasons), measures=m, faces_found=1, aligned=aligned)
