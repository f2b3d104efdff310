"""Pure helpers of the camera driver: how good an accepted face is, which capture to keep, preview sizes.

The quality gate only says yes or no. Among several accepted frames `capture_face` keeps the one
most likely to verify well: sharp, frontal, large, evenly lit. `face_score` puts each of those on
0..1 against the gate's own limits and multiplies them, so a frame weak in any one way ranks low.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from vision.quality import QualityConfig

# A face this many times the gate's minimum (sharpness, size) counts as fully sharp or fully large.
_SHARP_FACTOR = 8.0
_SIZE_FACTOR = 3.0

T = TypeVar("T")


def _clip(value: float) -> float:
    return 0.0 if value != value else min(1.0, max(0.0, value))  # NaN counts as worst


def face_score(measures: Mapping[str, float], gate: QualityConfig) -> float:
    """0..1: sharpness, frontality, size and exposure of one face, each against the gate's limits, multiplied."""
    sharp_floor = max(gate.min_sharpness, 1.0)
    sharpness = _clip((measures["sharpness"] - sharp_floor) / (sharp_floor * (_SHARP_FACTOR - 1)))
    yaw = _clip(1.0 - abs(measures["yaw"]) / gate.max_yaw)
    centre = (gate.min_pitch + gate.max_pitch) / 2
    half = (gate.max_pitch - gate.min_pitch) / 2
    pitch = _clip(1.0 - abs(measures["pitch"] - centre) / half)
    size_floor = max(gate.min_face_px, 1.0)
    size = _clip((measures["face_px"] - size_floor) / (size_floor * (_SIZE_FACTOR - 1)))
    mid = (gate.min_brightness + gate.max_brightness) / 2
    span = (gate.max_brightness - gate.min_brightness) / 2
    exposure = _clip(1.0 - abs(measures["brightness"] - mid) / span)
    # Each factor counts at least a little, so a face at one limit still ranks by the others.
    score = 1.0
    for part in (sharpness, yaw, pitch, size, exposure):
        score *= 0.2 + 0.8 * part
    return round(score, 4)


def best(candidates: Sequence[tuple[float, T]]) -> T:
    """The candidate with the highest score; the earliest wins a tie (so the result does not depend on sort order)."""
    if not candidates:
        raise ValueError("no candidates to choose from")
    top = candidates[0]
    for candidate in candidates[1:]:
        if candidate[0] > top[0]:
            top = candidate
    return top[1]


def preview_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The preview's size: the frame scaled down (never up) so its longer side is at most `max_side`, aspect kept."""
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size {width}x{height}: both sides must be positive")
    if max_side <= 0:
        raise ValueError(f"max_side {max_side}: must be positive")
    longer = max(width, height)
    if longer <= max_side:
        return width, height
    scale = max_side / longer
    return max(1, round(width * scale)), max(1, round(height * scale))


def due(now: float, last: float | None, rate_hz: float) -> bool:
    """Whether a periodic job running at `rate_hz` (0: never) is due at `now`, last run at `last` (None: never)."""
    if rate_hz <= 0:
        return False
    return last is None or now - last >= 1.0 / rate_hz
