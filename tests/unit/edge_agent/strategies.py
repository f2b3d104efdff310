"""Hypothesis strategies for the edge agent's pure parts: boxes, smooth walks, separated pairs."""

from __future__ import annotations

from hypothesis import strategies as st

Box = tuple[float, float, float, float]


@st.composite
def boxes(draw: st.DrawFn, min_size: float = 40, max_size: float = 200, left: float = 0, right: float = 1280) -> Box:
    """A face box inside a 1280x720 picture, between x = `left` and x = `right`."""
    w = draw(st.floats(min_size, max_size))
    h = draw(st.floats(min_size, max_size))
    x = draw(st.floats(left, right - w))
    y = draw(st.floats(0, 720 - h))
    return (x, y, x + w, y + h)


@st.composite
def smooth_walks(draw: st.DrawFn) -> list[Box]:
    """One box moving at most a quarter of its size per frame, for 2–40 frames."""
    start = draw(boxes())
    size = start[2] - start[0]
    steps = draw(st.lists(st.tuples(st.floats(-0.25, 0.25), st.floats(-0.25, 0.25)), min_size=1, max_size=39))
    out = [start]
    for dx, dy in steps:
        x1, y1, x2, y2 = out[-1]
        out.append((x1 + dx * size, y1 + dy * size, x2 + dx * size, y2 + dy * size))
    return out


@st.composite
def separated_pairs(draw: st.DrawFn) -> list[tuple[Box, Box]]:
    """Two boxes per frame that never overlap, each anywhere in its own half of the picture."""
    frames = draw(st.integers(1, 30))
    out = []
    for _ in range(frames):
        a = draw(boxes(max_size=150, right=600))
        b = draw(boxes(max_size=150, left=680))
        out.append((a, b))
    return out


detection_passes = st.lists(st.lists(boxes(), max_size=4), min_size=1, max_size=40)
"""Arbitrary detections: 1–40 passes of 0–4 boxes each."""
