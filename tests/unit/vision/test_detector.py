"""Shared detector arithmetic (vision/detector.py): non-maximum suppression and resizing."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.vision.strategies import boxes_and_scores
from vision.detector import nms, resize


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union)


@given(boxes_and_scores(), st.floats(0.1, 0.9))
def test_nms_invariants(data: tuple[np.ndarray, np.ndarray], iou: float) -> None:
    """Kept boxes overlap each other by at most the threshold, come best first, and every dropped box
    overlaps a better kept one by more than the threshold."""
    boxes, scores = data
    keep = nms(boxes, scores, iou, max_keep=1000)
    assert list(scores[keep]) == sorted(scores[keep], reverse=True)
    if len(boxes):
        assert keep[0] == int(np.argmax(scores))
    for i in range(len(keep)):
        for j in range(i + 1, len(keep)):
            assert _iou(boxes[keep[i]], boxes[keep[j]]) <= iou + 1e-6
    kept = set(keep.tolist())
    for d in set(range(len(boxes))) - kept:
        assert any(_iou(boxes[d], boxes[k]) > iou - 1e-6 and scores[k] > scores[d] for k in kept)


def test_nms_max_keep() -> None:
    """At most max_keep boxes come back, the best ones."""
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]], dtype=np.float32)
    scores = np.array([0.5, 0.9, 0.7], dtype=np.float32)
    assert nms(boxes, scores, 0.3, max_keep=2).tolist() == [1, 2]


def test_resize_either_way() -> None:
    """Shrinking and enlarging give the asked size."""
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    assert resize(image, 50, 25).shape == (25, 50, 3)
    assert resize(image, 400, 200).shape == (200, 400, 3)
